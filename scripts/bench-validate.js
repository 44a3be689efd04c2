#!/usr/bin/env node
/* global URL, Buffer, performance */
// `npm run bench:validate`: how long `fable results validate` takes against the size of its input, for the
// worst inputs of the hostile corpus (each the costliest per byte for some stage: the limits pass, the
// parse, the privacy scan, the schema, the checks of meaning), from 1 KiB to the size limit of a result
// file: to show that it grows linearly and that any input up to the limit is validated or refused in
// under 2 s.
//
// Each input is checked as a file's bytes are (checkResultBytes: UTF-8, limits, parse, scan, schema,
// meaning); a figure is the median of --runs runs (default 3) after one warm-up. Linearity: a least-squares
// line per family over the sizes from 256 KiB (below, fixed costs and timer noise dominate), its slope in
// ms per MiB and how far the measured times stray from it. `fable results report` reads a file another way
// (the exact limits pass, then the schema, no scan): it is timed on each family at the limit too.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { printMachine } from "./lib/machine.js";

const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;
const { checkResultBytes, readResultText } = await import(dist("src/results/validate.js"));
const { parseResult } = await import(dist("src/bench/result.js"));
const { RESULT_LIMITS } = await import(dist("src/results/limits.js"));

const args = process.argv.slice(2);
const runsAt = args.indexOf("--runs");
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
const CAP = RESULT_LIMITS.fileBytes;
const MiB = 2 ** 20;
const real = JSON.parse(readFileSync(new URL("../test/results/data/real-quick-trimmed.json", import.meta.url), "utf8"));

/**
 * `[item(0),item(1),...]` up to `size` characters, in arrays of at most 100,000 items (the limit of one
 * array is 200,000), each array an item of the outer one.
 */
function items(size, item) {
  const outer = [];
  let length = 2;
  let inner = [];
  let innerLength = 2;
  for (let i = 0; ; i++) {
    const text = item(i);
    if (length + innerLength + text.length + 2 > size) break;
    if (inner.length === 100_000) {
      outer.push(`[${inner.join(",")}]`);
      length += innerLength + 1;
      inner = [];
      innerLength = 2;
    }
    inner.push(text);
    innerLength += text.length + 1;
  }
  if (inner.length > 0) outer.push(`[${inner.join(",")}]`);
  return `[${outer.join(",")}]`;
}

/**
 * The real result with its runs (each changed by `run`) repeated up to `size` (at least once: 12.6 KB, so
 * below that these families are of that size).
 */
function realRuns(size, run = (r) => r) {
  const runText = real.runs.map((r, i) => JSON.stringify(run(r, i))).join(",");
  const doc = JSON.stringify({ ...real, runs: [] });
  const count = Math.max(1, Math.floor((size - doc.length) / (runText.length + 1)));
  return doc.replace('"runs":[]', `"runs":[${Array(count).fill(runText).join(",")}]`);
}

/** Text of `length` characters from repeats of `token` after a distinct prefix. */
const distinctText = (i, token, length) => `q${i} ${token.repeat(Math.ceil(length / token.length))}`.slice(0, length);

// One string that sets off every pattern of the privacy and markup scan (problems are listed up to 1000).
const NASTY = "a1.b2@c3.com:d4/home/e5-f6<g7 1.2.3.4 ab:cd:ef:01:23:45 javascript: ".repeat(60).slice(0, 4096);
// Tokens holding what the scan's patterns need (".", ":", "-", "/", "@") without matching any of them.
const NEAR_MISS = "ab.cd-ef:12/gh@ij kl.mn-op:34/qr@st ";

const FAMILIES = {
  // Valid runs: the whole pipeline runs, the checks of meaning included.
  "real runs": (size) => realRuns(size),
  // An unknown key in every run (one walk finds them all; validating again per key took 377 s at 16 MiB).
  "unknown keys": (size) => realRuns(size, (r, i) => ({ ...r, [`extra${i}`]: 1 })),
  // Impossible figures in every run: problems of meaning, listed up to 1000.
  "bad figures": (size) => realRuns(size, (r) => (r.stats ? { ...r, stats: { ...r.stats, min: 1e15 } } : r)),
  // The most values per byte: the parse allocates most.
  "empty arrays": (size) => items(size, () => "[]"),
  // Objects of 256 keys (the limit), all distinct: each object a new shape for the parse.
  "distinct keys": (size) =>
    items(size, (j) => `{${Array.from({ length: 256 }, (_, i) => `"k${j}_${i}":${i}`).join(",")}}`),
  // Short distinct strings (no memo of clean strings helps).
  "distinct strings": (size) => items(size, (i) => `"a${i}"`),
  // Short distinct strings that set off the scan's patterns without matching.
  "near-miss words": (size) => items(size, (i) => JSON.stringify(`${i}${NEAR_MISS.slice(0, 9)}`)),
  // Distinct strings of 4000 characters of the same.
  "near-miss text": (size) => items(size, (i) => JSON.stringify(distinctText(i, NEAR_MISS, 4000))),
  // Strings at the string limit that match every pattern, under a key the schema does not know.
  "scan-heavy": (size) => {
    const doc = JSON.stringify({ ...real, runs: [] });
    return doc.replace(/}$/, `,"x":${items(size - doc.length - 8, () => JSON.stringify(NASTY))}}`);
  },
  // The two documents that crashed or stalled: refused at the string and the depth limits.
  "one long string": (size) => JSON.stringify("x".repeat(Math.max(1, size - 2))),
  "deep nesting": (size) => "[".repeat(size / 2) + "]".repeat(size / 2),
};

const sizes = [1, 4, 16, 64, 256].map((k) => k * 1024).concat([1, 2, 4, 8, 16].map((m) => m * MiB));
if (sizes.at(-1) !== CAP) throw new Error(`the sizes end at ${sizes.at(-1)}, not at the limit ${CAP}`);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sizeName = (s) => (s >= MiB ? `${s / MiB} MiB` : `${s / 1024} KiB`);
const ms = (t) => (t < 10 ? t.toFixed(2) : t.toFixed(0));
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

await printMachine();
console.log(`load average (1, 5, 15 min) before: ${load()}`);
console.log(`\nvalidation time (ms, median of ${RUNS} runs after a warm-up) by input size; limit ${CAP} bytes`);
const names = Object.keys(FAMILIES);
const header = ["size", ...names];
const widths = header.map((h) => Math.max(h.length, 7));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(line(header));
console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
const points = Object.fromEntries(names.map((n) => [n, []]));
const atLimit = {};
let worst = { ms: 0, family: "", size: 0 };
for (const size of sizes) {
  const row = [sizeName(size)];
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
    const t = median(times);
    if (t > worst.ms) worst = { ms: t, family, size };
    points[family].push({ size: bytes.length, ms: t });
    if (size === CAP) atLimit[family] = bytes;
    row.push(ms(t));
  }
  console.log(line(row));
}

// Least squares t = a + b * size over the sizes from 256 KiB; the largest relative residual says how far
// from the line the measured times are.
console.log(`\nlinear fit t = a + b x size per family, sizes from 256 KiB to the limit:`);
const fitHeader = ["family", "b (ms per MiB)", "a (ms)", "largest residual", "ms per MiB at 1 MiB", "at the limit"];
const fitWidths = fitHeader.map((h) => h.length);
const fitLine = (cells) => `| ${cells.map((c, i) => c.padEnd(fitWidths[i])).join(" | ")} |`;
console.log(fitLine(fitHeader));
console.log(`| ${fitWidths.map((w) => "-".repeat(w)).join(" | ")} |`);
for (const family of names) {
  const ps = points[family].filter((p) => p.size >= 256 * 1024 * 0.9);
  const xs = ps.map((p) => p.size / MiB);
  const ys = ps.map((p) => p.ms);
  const mx = xs.reduce((s, x) => s + x, 0) / xs.length;
  const my = ys.reduce((s, y) => s + y, 0) / ys.length;
  const sxx = xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  const b = xs.reduce((s, x, i) => s + (x - mx) * (ys[i] - my), 0) / sxx;
  const a = my - b * mx;
  // Residuals relative to the larger of the fitted time and 10 ms (a few ms of noise on a 1 ms input is
  // not a departure from the line).
  const residual = Math.max(...xs.map((x, i) => Math.abs(ys[i] - (a + b * x)) / Math.max(a + b * x, 10)));
  const one = points[family].find((p) => p.size >= MiB * 0.9);
  const last = points[family].at(-1);
  console.log(
    fitLine([
      family,
      b.toFixed(1),
      a.toFixed(1),
      `${(residual * 100).toFixed(0)}%`,
      ((one.ms / one.size) * MiB).toFixed(1),
      `${ms(last.ms)} ms (${((last.ms / last.size) * MiB).toFixed(1)} ms/MiB)`,
    ]),
  );
}

// `fable results report` on each family at the limit: read from a file, the exact limits pass, one parse,
// the schema (a file refused is refused by the limits or the schema).
const dir = mkdtempSync(join(tmpdir(), "fable-bench-validate-"));
let worstReport = { ms: 0, family: "" };
try {
  for (const [family, bytes] of Object.entries(atLimit)) {
    const path = join(dir, "r.json");
    writeFileSync(path, bytes);
    const times = [];
    for (let i = 0; i <= RUNS; i++) {
      const start = performance.now();
      const read = readResultText(path);
      if ("text" in read) {
        try {
          parseResult(read.text, path);
        } catch {
          // Refused: what is timed is the time to refuse.
        }
      }
      if (i > 0) times.push(performance.now() - start);
    }
    const t = median(times);
    if (t > worstReport.ms) worstReport = { ms: t, family };
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `\nslowest validation: ${worst.family} at ${sizeName(worst.size)}, ${ms(worst.ms)} ms: ` +
    `${worst.ms < 2000 ? "under" : "NOT under"} 2 s`,
);
console.log(
  `slowest read by \`fable results report\` at the limit: ${worstReport.family}, ${ms(worstReport.ms)} ms: ` +
    `${worstReport.ms < 2000 ? "under" : "NOT under"} 2 s`,
);
console.log(`load average (1, 5, 15 min) after: ${load()}`);
