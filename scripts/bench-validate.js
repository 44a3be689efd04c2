#!/usr/bin/env node
/* global URL, Buffer, performance */
// `npm run bench:validate`: how long `fable results validate` takes against the size of its input, for the
// worst inputs of the hostile corpus (each the costliest per byte for some stage: the limits pass, the
// parse, the privacy scan, the schema, the checks of meaning), from 1 KiB to the size limit of a result
// file: to show that it grows linearly and that any input up to the limit is validated or refused in
// under 2 s.
//
// Each input is checked as a file's bytes are (checkResultBytes: UTF-8, limits, parse, scan, schema,
// meaning); a figure is the median of --runs interleaved runs (default 5) after one warm-up. Linearity: a
// least-squares line per family over the sizes from 256 KiB, its slope in ms per MiB and r2, of the elapsed
// and of the CPU time. `fable results report` reads a file another way (the exact limits pass, then the
// schema, no scan): it is timed on each family at the limit too.
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
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 5;
const CAP = RESULT_LIMITS.fileBytes;
/** Empty arrays that keep a file within the limit of objects and arrays (with the arrays that group them). */
const CONTAINERS = RESULT_LIMITS.containers - 1000;
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
  // The most values per byte: `[]` up to the limit of objects and arrays (3 MB), then short distinct strings
  // (the parse allocates most; without that limit, 5.6 million arrays took 1.4 s at 16 MiB).
  "empty arrays": (size) => items(size, (i) => (i < CONTAINERS ? "[]" : `"a${i}"`)),
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
const cpuMs = (since) => {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1000;
};

await printMachine();
console.log(`load average (1, 5, 15 min) before: ${load()}`);

// Every input is made (and validated once, to warm up) first; then the runs are interleaved, a round over
// every input at a time, so that a burst of load from other work on the machine falls on one run of many
// inputs rather than on every run of one.
const names = Object.keys(FAMILIES);
const cells = [];
for (const size of sizes) {
  for (const family of names) {
    const bytes = Buffer.from(FAMILIES[family](size));
    if (bytes.length > CAP) throw new Error(`${family} at ${size}: ${bytes.length} bytes, over the limit`);
    checkResultBytes(bytes, "bench.json");
    cells.push({ size, family, bytes, wall: [], cpu: [] });
  }
}
for (let round = 0; round < RUNS; round++) {
  for (const cell of cells) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    checkResultBytes(cell.bytes, "bench.json");
    cell.wall.push(performance.now() - start);
    cell.cpu.push(cpuMs(cpu));
  }
}

console.log(
  `\nvalidation time (ms, median of ${RUNS} interleaved runs after a warm-up) by input size; limit ${CAP} bytes`,
);
const header = ["size", ...names];
const widths = header.map((h) => Math.max(h.length, 7));
const line = (cs) => `| ${cs.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(line(header));
console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
const points = Object.fromEntries(names.map((n) => [n, []]));
const atLimit = {};
let worst = { ms: 0, family: "", size: 0 };
for (const size of sizes) {
  const row = [sizeName(size)];
  for (const cell of cells.filter((c) => c.size === size)) {
    const t = median(cell.wall);
    if (t > worst.ms) worst = { ms: t, family: cell.family, size };
    points[cell.family].push({ size: cell.bytes.length, ms: t, cpu: median(cell.cpu) });
    if (size === CAP) atLimit[cell.family] = cell.bytes;
    row.push(ms(t));
  }
  console.log(line(row));
}

/** Least squares y = a + b x over the points from 256 KiB, x in MiB; r2 says how much of y the line explains. */
function fit(ps, y) {
  const xs = ps.map((p) => p.size / MiB);
  const ys = ps.map(y);
  const mx = xs.reduce((s, x) => s + x, 0) / xs.length;
  const my = ys.reduce((s, v) => s + v, 0) / ys.length;
  const b = xs.reduce((s, x, i) => s + (x - mx) * (ys[i] - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  const a = my - b * mx;
  const rss = xs.reduce((s, x, i) => s + (ys[i] - a - b * x) ** 2, 0);
  const tss = ys.reduce((s, v) => s + (v - my) ** 2, 0);
  return { a, b, r2: tss === 0 ? 1 : 1 - rss / tss };
}

// Linear: a straight line fits the times from 256 KiB up (below, fixed costs and timer noise dominate), and
// the time per MiB stays put from 1 MiB to the limit. CPU time (this process, GC threads included) is shown
// beside the elapsed time: other work on the machine stretches the elapsed time of a run, not its CPU time.
console.log(`\nlinear fit t = a + b x size per family, sizes from 256 KiB to the limit (b in ms per MiB):`);
const fitHeader = ["family", "elapsed b", "elapsed r2", "CPU b", "CPU r2", "CPU ms/MiB at 1, 4, 16 MiB"];
const fitWidths = fitHeader.map((h, i) => Math.max(h.length, i === 0 ? 16 : 0));
const fitLine = (cs) => `| ${cs.map((c, i) => c.padEnd(fitWidths[i])).join(" | ")} |`;
console.log(fitLine(fitHeader));
console.log(`| ${fitWidths.map((w) => "-".repeat(w)).join(" | ")} |`);
for (const family of names) {
  const ps = points[family].filter((p) => p.size >= 256 * 1024 * 0.9);
  const wall = fit(ps, (p) => p.ms);
  const cpu = fit(ps, (p) => p.cpu);
  const perMiB = [1, 4, 16].map((m) => {
    const p = points[family].find((q) => q.size >= m * MiB * 0.9) ?? points[family].at(-1);
    return ((p.cpu / p.size) * MiB).toFixed(0);
  });
  console.log(
    fitLine([family, wall.b.toFixed(1), wall.r2.toFixed(3), cpu.b.toFixed(1), cpu.r2.toFixed(3), perMiB.join(", ")]),
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
