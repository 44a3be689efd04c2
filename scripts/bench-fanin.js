#!/usr/bin/env node
// One shm listener process serving many connections from one client process: the round trip of a
// 64 B ping sent on each connection in turn, for each wait strategy (both ends), with 1, 10 and 50
// connections open. Shows what a server with many idle connections costs each message
// (a thread's spin waits are polled by one loop; see src/ring/wait.ts). `npm run bench:fanin`;
// options: --pings N (per configuration, default 2000), --counts 1,10,50, --runs N (default 3;
// the median run is shown with the min-max of the runs' p50s).
/* global URL, performance */
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { printMachine } from "./lib/machine.js";

const { listen, connect } = await import(new URL("../dist/src/naming/api.js", import.meta.url).href);

if (process.argv[2] === "--listener") {
  const l = await listen(process.argv[3], { wait: process.argv[4] });
  process.send("ready");
  for await (const c of l) {
    void (async () => {
      for await (const m of c) await c.send(m);
    })().catch(() => {});
  }
} else {
  const { values } = parseArgs({
    options: {
      pings: { type: "string", default: "2000" },
      counts: { type: "string", default: "1,10,50" },
      runs: { type: "string", default: "3" },
    },
  });
  const pings = Number(values.pings);
  const runs = Number(values.runs);
  const counts = values.counts.split(",").map(Number);
  if (!(pings > 0) || !(runs > 0) || counts.some((n) => !(n > 0))) throw new Error("bad options");
  await printMachine();
  const dir = mkdtempSync(join(tmpdir(), "fable-fanin-"));
  const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
  const one = async (wait, n) => {
    const uri = `shm://${join(dir, `${wait}-${n}-${Math.random().toString(36).slice(2)}.sock`)}`;
    const child = fork(new URL(import.meta.url).pathname, ["--listener", uri, wait]);
    try {
      await new Promise((resolve) => child.once("message", resolve));
      // Both ends wait the same way (two adaptive ends used to spin out their budgets in turn;
      // see src/ring/wait.ts).
      const conns = [];
      for (let i = 0; i < n; i++) conns.push(await connect(uri, { wait }));
      const its = conns.map((c) => c[Symbol.asyncIterator]());
      const ping = new Uint8Array(64);
      const times = [];
      for (let i = 0; i < pings; i++) {
        const k = i % n;
        const t0 = performance.now();
        await conns[k].send(ping);
        await its[k].next();
        times.push((performance.now() - t0) * 1000);
      }
      for (const c of conns) await c.close();
      return { p50: pct(times, 0.5), p99: pct(times, 0.99) };
    } finally {
      child.kill("SIGKILL");
    }
  };
  console.log(`64 B ping, round robin over the connections, ${pings} pings; both ends wait the same way`);
  console.log("wait           connections   p50 µs (min-max of runs)   p99 µs");
  try {
    for (const n of counts) {
      for (const wait of ["spin", "adaptive", "block"]) {
        const results = [];
        // Interleaved with the other rows run by run would need all listeners up at once; rows are
        // run back to back instead, and each row's runs show its spread.
        for (let r = 0; r < runs; r++) results.push(await one(wait, n));
        const p50s = results.map((x) => x.p50);
        const median = [...results].sort((a, b) => a.p50 - b.p50)[Math.floor(runs / 2)];
        console.log(
          `${wait.padEnd(14)} ${String(n).padStart(11)}   ${median.p50.toFixed(0).padStart(6)} (${Math.min(...p50s).toFixed(0)}-${Math.max(...p50s).toFixed(0)})`.padEnd(
            55,
          ) + `${median.p99.toFixed(0).padStart(6)}`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(0);
}
