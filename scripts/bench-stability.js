#!/usr/bin/env node
// Five identical runs of the throughput command of issue 8, each 64 KiB figure against the five-run
// median, which runs and tests were flagged in their results, and each run's sentinel timeline. The
// promise it shows: every figure within 20 % of the median, or its run flagged in its result (see
// src/bench/stability.ts). Run it with `npm run bench:stability`; options:
//   --runs N    runs (default 5)
/* global URL */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { printMachine } from "./lib/machine.js";

const dist = (p) => new URL(`../dist/src/${p}`, import.meta.url).href;
const { readResult } = await import(dist("bench/result.js"));
const { stabilityVerdict, STABILITY_TOLERANCE } = await import(dist("bench/stability.js"));
const { formatRate, formatNs } = await import(dist("results/report/format.js"));

const { values } = parseArgs({ options: { runs: { type: "string", default: "5" } } });
const runs = Number(values.runs);
if (!(runs >= 2)) throw new Error("usage: bench-stability.js [--runs N>=2]");
const fable = new URL("../bin/fable.js", import.meta.url).pathname;
const COMMAND = [
  "bench",
  "-m",
  "mempipe-spin-unsafe,mempipe-futex-unsafe,pipe",
  "--mode",
  "throughput",
  "--pairs",
  "0-1",
  "--sizes",
  "64K",
  "--no-report",
];

await printMachine([0, 1]);
console.log(`command: fable ${COMMAND.join(" ")} (x${runs})`);
const dir = mkdtempSync(join(tmpdir(), "fable-stability-"));
const docs = [];
try {
  for (let i = 0; i < runs; i++) {
    const out = join(dir, `run-${i + 1}.json`);
    const r = spawnSync(process.execPath, [fable, ...COMMAND, "-o", out], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`run ${i + 1} failed (${r.status}): ${r.stderr}`);
    docs.push(readResult(out));
    process.stderr.write(`run ${i + 1} of ${runs} done\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const { rows, holds } = stabilityVerdict(docs);
const pad = (s, n) => String(s).padStart(n);
console.log(
  `\n64 KiB one-way throughput, CPUs 0-1: each run's figure / the ${runs}-run median (* flagged in its result)`,
);
console.log(
  ["mechanism".padEnd(22), "median".padStart(11), ...docs.map((_, i) => ` ${pad(`run ${i + 1}`, 16)}`)].join(""),
);
for (const row of rows) {
  const cells = docs.map((_, i) => {
    const c = row.cells.find((x) => x.run === i);
    if (c === undefined) return pad("failed", 16);
    return pad(`${formatRate(c.figure)} ${c.ratio.toFixed(2)}${c.flagged ? "*" : " "}${c.outlier ? "!" : " "}`, 16);
  });
  console.log([row.mechanism.padEnd(22), pad(formatRate(row.median), 11), ...cells.map((c) => ` ${c}`)].join(""));
}
console.log(`! more than ${STABILITY_TOLERANCE * 100} % off the median`);

console.log("\nflags and the sentinel, per run:");
docs.forEach((doc, i) => {
  const s = doc.sentinel;
  const flagged = doc.runs.filter(
    (r) => r.status === "ok" && (r.flags.includes("unstable") || r.flags.includes("machine-state")),
  );
  const tests = flagged.map((r) => `${r.mechanism} (${r.flags.join(", ")})`).join("; ") || "no test flagged";
  console.log(
    `run ${i + 1}: ${tests}; ${s ? `${s.roundsFlagged} rounds flagged, ${s.roundsRerun} re-run` : "no sentinel"}`,
  );
  if (s) {
    const line = s.readings.map(
      (r) => `${(r.atMs / 1000).toFixed(1)}s ${formatNs(r.p50Ns)}${r.state === "other" ? "*" : ""}`,
    );
    console.log(
      `  sentinel p50 (median ${s.reference === null ? "-" : formatNs(s.reference)}; * another state): ${line.join(", ")}`,
    );
  }
});
console.log(
  `\n${holds ? "holds" : "DOES NOT HOLD"}: every 64 KiB figure within ${STABILITY_TOLERANCE * 100} % of the median, or its run flagged`,
);
process.exitCode = holds ? 0 : 1;
