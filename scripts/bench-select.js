#!/usr/bin/env node
// How the daemon's transport selection decides on this machine, end to end: runs the same short
// calibration a daemon runs when it has no result (into a temporary data dir, timed), then prints
// `fable explain`'s text for a few requests. Run it with `npm run bench:select`; options:
//   --dir PATH   use the results in PATH (e.g. ~/.local/share/fable/results) instead of calibrating
/* global URL */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { printMachine } from "./lib/machine.js";

const dist = (p) => new URL(`../dist/src/${p}`, import.meta.url).href;
const { createMeasuredSelector } = await import(dist("bench/selection.js"));
const { formatExplanation } = await import(dist("cli/explanation.js"));

const { values } = parseArgs({ options: { dir: { type: "string" } } });

await printMachine();
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const scratch = values.dir === undefined ? mkdtempSync(join(tmpdir(), "fable-bench-select-")) : undefined;
const dir = values.dir ?? join(scratch, "results");
try {
  console.log(`load average before: ${load()}`);
  const started = Date.now();
  const selector = createMeasuredSelector({
    dir,
    calibration: values.dir === undefined ? {} : false,
    log: (line) => console.log(`selector: ${line}`),
  });
  const outcome = await selector.calibrated();
  if (outcome !== null) {
    console.log(`calibration: ${outcome.kind} after ${Date.now() - started} ms; load average after: ${load()}`);
  }
  // The CPUs this process may run on: the "unpinned" ends below may run on all of them.
  const status = readFileSync("/proc/self/status", "utf8");
  const allowed = (/Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? "0").split(",").flatMap((part) => {
    const [a, b = a] = part.split("-").map(Number);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
  const [first, second = first] = allowed;
  const end = (cpus) => ({ pid: process.pid, allowedCpus: cpus, currentCpu: cpus[0] });
  const scenarios = [
    ["pinned to two CPUs, critical latency", end([first]), end([second]), {}],
    ["pinned to two CPUs, critical latency, spin: false", end([first]), end([second]), { spin: false }],
    ["both pinned to one CPU", end([first]), end([first]), {}],
    ["unpinned, bulk, 64 KiB messages", end(allowed), end(allowed), { latency: "bulk", sizes: [65536] }],
    ["pinned to two CPUs, untrusted, 4 KiB", end([first]), end([second]), { trust: "untrusted", sizes: [4096] }],
  ];
  for (const [title, listener, connector, requirements] of scenarios) {
    const request = {
      listener,
      connector,
      requirements: { latency: "critical", spin: true, trust: "trusted", sizes: [], ...requirements },
      offered: ["shm", "unix", "tcp"],
    };
    console.log(`\n== ${title}`);
    console.log(formatExplanation(selector.select(request), { name: "xio://example", request }));
  }
  console.log(`\nselector: ${selector.describe()}`);
  await selector.close();
} finally {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
}
