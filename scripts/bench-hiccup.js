#!/usr/bin/env node
// How long a busy thread loses its CPU on this machine: the floor under any pause a benchmark
// reports (a switch's, a round trip's tail). Busy loops read the clock back to back, one alone and
// then one per online CPU at once (each its own process, pinned to nothing); every gap between two
// reads over 20 us is time the loop did not run (an interrupt, another thread, the hypervisor).
// Printed per loop: the share of time lost, the gaps over 1 ms, and the time-weighted p99 and the
// longest gap. Steal time from /proc/stat is summed over each phase. Run with
// `npm run bench:hiccup`; `--ms N` sets each phase's length (default 3000).
/* global URL, performance */
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { printMachine } from "./lib/machine.js";

const MIN_GAP_MS = 0.02;

if (process.argv[2] === "--loop") loop(Number(process.argv[3]));
else await main();

async function main() {
  const { values } = parseArgs({ options: { ms: { type: "string", default: "3000" } } });
  const ms = Number(values.ms);
  if (!(ms >= 100)) throw new Error("usage: bench-hiccup.js [--ms N] (N >= 100)");
  await printMachine();
  console.log(`\nbusy loops reading the clock for ${ms} ms; gaps over ${MIN_GAP_MS} ms are time a loop did not run`);
  console.log(
    `${"loops".padEnd(6)} ${"lost %".padStart(7)} ${">1ms".padStart(6)} ${"p99 ms".padStart(7)} ${"max ms".padStart(7)} ${"steal ms".padStart(9)}`,
  );
  for (const n of [1, availableParallelism()]) {
    const before = steal();
    const results = await Promise.all(Array.from({ length: n }, () => run(ms)));
    const stolen = steal() - before;
    for (const r of results) {
      console.log(
        `${`${n}`.padEnd(6)} ${((100 * r.lost) / ms).toFixed(2).padStart(7)} ${String(r.over1).padStart(6)} ${r.p99.toFixed(3).padStart(7)} ${r.max.toFixed(3).padStart(7)} ${stolen === null ? "n/a".padStart(9) : stolen.toFixed(0).padStart(9)}`,
      );
    }
  }
}

/** One loop in its own process. */
function run(ms) {
  return new Promise((resolve, reject) => {
    const child = fork(new URL(import.meta.url).pathname, ["--loop", String(ms)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child.once("message", resolve);
    child.once("error", reject);
    child.once("exit", (code) => code !== 0 && reject(new Error(`loop exited with ${code}`)));
  });
}

/** Steal time of all CPUs so far, ms (null without /proc/stat). */
function steal() {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
    // cpu user nice system idle iowait irq softirq steal: clock ticks, usually 100 per second.
    return (Number(fields[8]) * 1000) / 100;
  } catch {
    return null;
  }
}

function loop(ms) {
  const gaps = [];
  const start = performance.now();
  let last = start;
  for (;;) {
    const now = performance.now();
    if (now - last > MIN_GAP_MS) gaps.push(now - last);
    last = now;
    if (now - start > ms) break;
  }
  gaps.sort((a, b) => b - a);
  let covered = 0;
  let p99 = 0;
  for (const g of gaps) {
    covered += g;
    if (covered >= 0.01 * ms) {
      p99 = g;
      break;
    }
  }
  process.send(
    {
      lost: gaps.reduce((a, b) => a + b, 0),
      over1: gaps.filter((g) => g > 1).length,
      p99,
      max: gaps[0] ?? 0,
    },
    () => process.exit(0),
  );
}
