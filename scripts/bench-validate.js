#!/usr/bin/env node
/* global URL, Buffer, performance */
// `npm run bench:validate`: how long `fable results validate` takes against the size of its input, for the
// worst inputs of the hostile corpus, from 1 KiB to the size limit of a result file: to show that it grows
// linearly and that any input up to the limit is validated or refused in under 2 s.
//
// Each input is checked as a file's bytes would be (checkResultBytes: UTF-8, limits, parse, scan, schema,
// sanity); a figure is the median of --runs runs (default 5) after one warm-up, with the spread.
import { readFileSync } from "node:fs";
import { printMachine } from "./lib/machine.js";

const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;
const { checkResultBytes } = await import(dist("src/results/validate.js"));
const { RESULT_LIMITS } = await import(dist("src/results/limits.js"));

const args = process.argv.slice(2);
const runsAt = args.indexOf("--runs");
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 5;
const CAP = RESULT_LIMITS.fileBytes;
const real = JSON.parse(readFileSync(new URL("../test/results/data/real-quick-trimmed.json", import.meta.url), "utf8"));

/** Repeats `unit` (joined by commas) inside `open`/`close` until the text reaches `size` characters. */
function fill(open, unit, close, size) {
  const count = Math.max(1, Math.floor((size - open.length - close.length) / (unit.length + 1)));
  return open + Array(count).fill(unit).join(",") + close;
}

// One string that sets off every pattern of the privacy and markup scan.
const NASTY = "a1.b2@c3.com:d4/home/e5-f6<g7 1.2.3.4 ab:cd:ef:01:23:45 javascript: ".repeat(60).slice(0, 4096);

const FAMILIES = {
  // A real result's runs repeated: the whole pipeline runs, schema and sanity checks included.
  "real runs": (size) => {
    const runText = real.runs.map((r) => JSON.stringify(r)).join(",");
    const doc = JSON.stringify({ ...real, runs: [] });
    const count = Math.max(1, Math.floor((size - doc.length) / (runText.length + 1)));
    return doc.replace('"runs":[]', `"runs":[${Array(count).fill(runText).join(",")}]`);
  },
  // Strings at the string limit that set off every scan pattern, under a key the schema does not know.
  "scan-heavy strings": (size) =>
    JSON.stringify({ ...real, runs: [] }).replace(/}$/, `,"x":${fill("[", JSON.stringify(NASTY), "]", size - 20000)}}`),
  // Distinct strings (the scan's memo of clean strings cannot help).
  "distinct strings": (size) => {
    const items = [];
    let length = 0;
    for (let i = 0; ; i++) {
      const s = JSON.stringify(`w${i} `.repeat(400).slice(0, 4000));
      if (length + s.length + 1 > size - 16) break;
      items.push(s);
      length += s.length + 1;
    }
    return `{"x":[${items.join(",")}]}`;
  },
  // Numbers of the longest allowed form.
  numbers: (size) => fill("[", "-1.2345678901234567e-300", "]", size),
  // Objects of many keys each.
  "many keys": (size) => {
    const object = `{${Array.from({ length: 4000 }, (_, i) => `"k${i}":${i}`).join(",")}}`;
    return fill("[", object, "]", size);
  },
  // A single string as long as the file: refused at the string limit.
  "one long string": (size) => JSON.stringify("x".repeat(Math.max(1, size - 2))),
  // Nesting as deep as the file allows: refused at the depth limit.
  "deep nesting": (size) => "[".repeat(size / 2) + "]".repeat(size / 2),
};

const sizes = [];
for (let s = 1024; s < CAP; s *= 4) sizes.push(s);
sizes.push(CAP);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await printMachine();
console.log(`validation time (ms, median of ${RUNS} runs [min-max]) by input size; limit ${CAP} bytes`);
const header = ["size", ...Object.keys(FAMILIES)];
const widths = header.map((h) => Math.max(h.length, 16));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(line(header));
console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
let worst = { ms: 0, family: "", size: 0 };
const perByte = {};
for (const size of sizes) {
  const row = [size >= 1 << 20 ? `${size / (1 << 20)} MiB` : `${size / 1024} KiB`];
  for (const [family, make] of Object.entries(FAMILIES)) {
    const bytes = Buffer.from(make(size));
    if (bytes.length > CAP) throw new Error(`${family} at ${size}: ${bytes.length} bytes, over the limit`);
    checkResultBytes(bytes, "bench.json");
    const times = [];
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      checkResultBytes(bytes, "bench.json");
      times.push(performance.now() - start);
    }
    const ms = median(times);
    if (ms > worst.ms) worst = { ms, family, size };
    (perByte[family] ??= []).push({ size: bytes.length, ms });
    row.push(`${ms.toFixed(ms < 10 ? 2 : 0)} [${Math.min(...times).toFixed(1)}-${Math.max(...times).toFixed(1)}]`);
  }
  console.log(line(row));
}

// Linear: time per byte at the limit against time per byte at 1 MiB (small sizes are dominated by fixed costs).
console.log("\ntime per MiB at the limit / time per MiB at 1 MiB (1.0 = linear):");
for (const [family, points] of Object.entries(perByte)) {
  const at = (s) => points.find((p) => p.size >= s * 0.9) ?? points.at(-1);
  const a = at(1 << 20);
  const b = points.at(-1);
  const ratio = b.ms / b.size / (a.ms / a.size);
  console.log(
    `  ${family}: ${ratio.toFixed(2)} (${((a.ms / a.size) * 2 ** 20).toFixed(1)} -> ${((b.ms / b.size) * 2 ** 20).toFixed(1)} ms/MiB)`,
  );
}
console.log(
  `\nslowest: ${worst.family} at ${worst.size} bytes, ${worst.ms.toFixed(0)} ms: ${worst.ms < 2000 ? "under" : "NOT under"} 2 s`,
);
