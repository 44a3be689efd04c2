/**
 * `fable results validate`: everything a result file must satisfy before it enters a results database.
 *
 * 1. The JSON Schema (bench/result.ts): no key outside the allow-list (each unknown key is reported), every
 *    value in shape.
 * 2. The privacy and markup scan over every string (scan.ts), which runs even when the schema fails.
 * 3. Known suite and method versions (methods.ts); every run's mechanism listed in `benchmarks`.
 * 4. Sanity: percentiles in order and the mean within [min, max]; counts that agree (n, samples,
 *    iterations); CPUs that exist in the topology, placement classes and NUMA distances that match it, and
 *    complete latency matrices; throughput below 1 TB/s and rates that agree with bytes and time; real dates.
 * 5. Every name a database path is made of matches its strict pattern (layout.ts).
 *
 * Before all of these, the limits (limits.ts): a file over the size cap is not read, and text over a depth,
 * length or count cap, not UTF-8, or starting with a byte order mark is refused before it is parsed; a key
 * given twice in one object, once parsed (the parsed value has fewer keys than the text). The text is parsed
 * once and walked once for the scan; the schema stops at its first problem.
 *
 * Checks 3-5 need a document in shape, so they run only when the schema passes. Every problem is a
 * {@link ResultProblem} naming the file and the field; the caller decides what to do with a file that has any.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../native/load.js";
import {
  RESULT_SCHEMA_VERSION,
  resultOf,
  resultSchema,
  type ResultFile,
  ResultFormatError,
  type RunLegacy,
  type RunOk,
  validateResult,
} from "../bench/result.js";
import { THROUGHPUT_WINDOW_NS } from "../bench/statistics.js";
import { numaDistance, placementClass, type Topology } from "../bench/topology.js";
import { badComponents, COMPONENT_FIELDS, placeOf } from "./layout.js";
import {
  compareVersions,
  knownMethodSeries,
  knownProbe,
  LEGACY_CONVERSIONS,
  LEGACY_SUITE_VERSIONS,
  methodSeries,
} from "./methods.js";
import { checkLimits, measureLimits, RESULT_LIMITS } from "./limits.js";
import { pointerOf, ResultProblem } from "./problems.js";
import { type ScanOptions, walkDocument } from "./scan.js";
import { unknownKeys } from "./unknown-keys.js";

/** No IPC mechanism between two processes of one machine moves a terabyte per second. */
export const MAX_BYTES_PER_SECOND = 1e12;
/** Relative tolerance for figures computed from each other (float rounding in the probe). */
const TOLERANCE = 1e-6;
/** A latency of an hour is a broken clock, not a measurement. */
const MAX_LATENCY_NS = 3600e9;

export type ValidateOptions = ScanOptions;

export interface Checked {
  /** The file as named in problems. */
  file: string;
  /** The document when it is in shape (even if other problems were found); null otherwise. */
  doc: ResultFile | null;
  problems: ResultProblem[];
}

let ourVersion: string | undefined;

/** This fable's package version: the newest fable-io suite version it can know. */
function packageVersion(): string {
  ourVersion ??= (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
  return ourVersion;
}

/** Checks one document's text; never throws for anything the text holds. */
export function checkResultText(text: string, file: string, options: ValidateOptions = {}): Checked {
  if (text.charCodeAt(0) === 0xfeff) return { file, doc: null, problems: [byteOrderMark(file)] };
  const { problem, keys } = measureLimits(text, file);
  if (problem !== null) return { file, doc: null, problems: [problem] };
  return checkWithinLimits(text, file, options, keys);
}

/**
 * The checks of the module comment, on text within the limits that has `keys` keys in all: one parse,
 * one walk for the privacy scan (which counts the parsed value's keys: fewer when a key was given twice,
 * and then the file is refused as the limits pass would refuse it), the schema, then the meaning.
 */
function checkWithinLimits(text: string, file: string, options: ValidateOptions, keys: number): Checked {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    return {
      file,
      doc: null,
      problems: [new ResultProblem("EJSON", file, "", `not JSON: ${(cause as Error).message}`)],
    };
  }
  const walked = walkDocument(raw, file, options);
  if (walked.keys !== keys) {
    const twice = checkLimits(text, file) ?? new ResultProblem("EJSON", file, "", "a key appears twice in one object");
    return { file, doc: null, problems: [twice] };
  }
  const problems = walked.problems;
  const { doc, problems: shape } = checkShape(raw, file);
  problems.push(...shape);
  if (doc !== null) problems.push(...checkMeaning(doc, file));
  return { file, doc, problems: sortProblems(problems) };
}

function byteOrderMark(file: string): ResultProblem {
  return new ResultProblem("EJSON", file, "", "starts with a byte order mark: save it as UTF-8 without one");
}

function tooLarge(size: number, name: string): ResultProblem {
  return new ResultProblem(
    "ELIMIT",
    name,
    "",
    `the file has ${size} bytes, more than the limit of ${RESULT_LIMITS.fileBytes} bytes (fileBytes); a result never needs more, so it is refused unread`,
  );
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

type Read<T> = T | { problem: ResultProblem };

/**
 * A result file's text, or the problem that stops it being read: unreadable, over the size cap (checked
 * before reading), not UTF-8, starting with a byte order mark, or over a limit of limits.ts (the exact
 * pass: a key given twice is refused too, since the text is not validated further).
 */
export function readResultText(path: string, name = path): Read<{ text: string }> {
  const read = readResultBytes(path, name);
  if ("problem" in read) return read;
  const decoded = decodeResult(read.bytes, name);
  if ("problem" in decoded) return decoded;
  const { text } = decoded;
  const refused = text.charCodeAt(0) === 0xfeff ? byteOrderMark(name) : checkLimits(text, name);
  return refused === null ? { text } : { problem: refused };
}

/** A file's bytes, read only when within the size cap. */
function readResultBytes(path: string, name: string): Read<{ bytes: Buffer }> {
  try {
    const size = statSync(path).size;
    if (size > RESULT_LIMITS.fileBytes) return { problem: tooLarge(size, name) };
    if (!statSync(path).isFile()) return { problem: new ResultProblem("EJSON", name, "", "not a regular file") };
    return { bytes: readFileSync(path) };
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
    return { problem: new ResultProblem("EJSON", name, "", `cannot be read (${code})`) };
  }
}

/** The text of a result file's bytes, or that they are not UTF-8. */
function decodeResult(bytes: Uint8Array, name: string): Read<{ text: string }> {
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    return { problem: new ResultProblem("EJSON", name, "", "not UTF-8 text: a result file is JSON in UTF-8") };
  }
}

/** Checks one document's bytes as a file holds them (UTF-8 first); never throws for anything they hold. */
export function checkResultBytes(bytes: Uint8Array, file: string, options: ValidateOptions = {}): Checked {
  if (bytes.length > RESULT_LIMITS.fileBytes) return { file, doc: null, problems: [tooLarge(bytes.length, file)] };
  const read = decodeResult(bytes, file);
  if ("problem" in read) return { file, doc: null, problems: [read.problem] };
  return checkResultText(read.text, file, options);
}

/** Reads and checks one file. */
export function checkResultFile(path: string, options: ValidateOptions = {}, name = path): Checked {
  const read = readResultBytes(path, name);
  if ("problem" in read) return { file: name, doc: null, problems: [read.problem] };
  return checkResultBytes(read.bytes, name, options);
}

function sortProblems(problems: ResultProblem[]): ResultProblem[] {
  return problems.sort((a, b) => (a.pointer < b.pointer ? -1 : a.pointer > b.pointer ? 1 : 0));
}

/** Unknown keys reported at most per document; the rest are counted. */
const MAX_UNKNOWN_KEYS = 200;

/**
 * The schema, reporting every unknown key: the validator stops at its first problem; when that is an
 * unknown key, one walk along the schema finds them all (unknown-keys.ts), and once they are removed
 * from the document (which is then refused anyway) it is validated again for a problem of another kind.
 */
function checkShape(raw: unknown, file: string): { doc: ResultFile | null; problems: ResultProblem[] } {
  let first: ResultProblem;
  try {
    return { doc: resultOf(raw, file), problems: [] };
  } catch (err) {
    if (!(err instanceof ResultFormatError)) throw err;
    first = shapeProblem(err, file);
    if (err.unknownKey === null) return { doc: null, problems: [first] };
  }
  const { found, more } = unknownKeys(resultSchema(), raw, MAX_UNKNOWN_KEYS);
  const problems = found.map(({ at, key }) => unknownKeyProblem(file, at, key));
  // The walk and the validator agree (a test checks it); should they not, the validator's word stands.
  if (!problems.some((p) => p.pointer === first.pointer)) problems.push(first);
  if (more > 0) {
    problems.push(
      new ResultProblem("EUNKNOWNKEY", file, "", `${more} more unknown keys were not listed: remove these first`),
    );
    return { doc: null, problems };
  }
  for (const { at, key } of found) removeAt(raw, at, key);
  try {
    validateResult(raw);
  } catch (err) {
    if (!(err instanceof ResultFormatError)) throw err;
    const next = shapeProblem(err, file);
    if (!problems.some((p) => p.pointer === next.pointer)) problems.push(next);
  }
  return { doc: null, problems };
}

function unknownKeyProblem(file: string, at: readonly (string | number)[], key: string): ResultProblem {
  return new ResultProblem(
    "EUNKNOWNKEY",
    file,
    pointerOf([...at, key]),
    `unknown key "${key}": results hold allow-listed fields only (schema/result-v${RESULT_SCHEMA_VERSION}.schema.json); remove it`,
  );
}

function shapeProblem(err: ResultFormatError, file: string): ResultProblem {
  const detail = err.message.replace(/^\/\S*: /, "");
  if (err.field === "") return new ResultProblem("EJSON", file, "", detail);
  if (err.field === "/schema") return new ResultProblem("EVERSION", file, "/schema", detail);
  if (err.unknownKey !== null) {
    const at = err.field === "/" ? [] : pathOf(err.field);
    return unknownKeyProblem(file, at, err.unknownKey);
  }
  return new ResultProblem("ESCHEMA", file, err.field === "/" ? "" : err.field, detail);
}

/** The segments of a JSON pointer. */
function pathOf(pointer: string): string[] {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** Deletes a key of the object at a path (of a document about to be refused, to find its other problems). */
function removeAt(root: unknown, at: readonly (string | number)[], key: string): void {
  let node: unknown = root;
  for (const p of at) node = (node as Record<string, unknown> | undefined)?.[p];
  if (typeof node === "object" && node !== null) delete (node as Record<string, unknown>)[key];
}

/** Problems of meaning (checks 3-5) listed at most per document; the rest are counted. */
const MAX_MEANING_PROBLEMS = 1000;

/** Checks 3-5 of the module comment, on a document in shape. */
export function checkMeaning(doc: ResultFile, file: string): ResultProblem[] {
  const problems: ResultProblem[] = [];
  let unlisted = 0;
  // A document of 200,000 bad runs would otherwise cost as many problems (each an error object).
  const add = (code: ResultProblem["code"], path: (string | number)[], detail: string) => {
    if (problems.length < MAX_MEANING_PROBLEMS) problems.push(new ResultProblem(code, file, pointerOf(path), detail));
    else unlisted++;
  };

  checkSuite(doc, add);
  checkDate(doc, add);
  for (const { component, value } of badComponents(placeOf(doc))) {
    const field = COMPONENT_FIELDS[component];
    add("EPATH", field.split("/").slice(1), `${JSON.stringify(value)} cannot name a database directory (${component})`);
  }
  checkTopologyShape(doc.machine.topology, add);
  doc.runs.forEach((run, i) => {
    const at = ["runs", i];
    checkRunMechanism(doc, run.mechanism, at, add);
    checkPlacement(doc.machine.topology, run, at, add);
    if (run.status === "ok") checkRunOk(run, knownMethod(doc, run.mechanism), at, add);
  });
  doc.legacy?.runs.forEach((run, i) => {
    const at = ["legacy", "runs", i];
    checkRunMechanism(doc, run.mechanism, at, add);
    checkPlacement(doc.machine.topology, run, at, add);
    checkRunLegacy(run, at, add);
  });
  checkMatrices(doc, add);
  if (unlisted > 0) {
    problems.push(
      new ResultProblem(
        problems[0]?.code ?? "ESTATS",
        file,
        "",
        `${unlisted} more problems were not listed: fix these first`,
      ),
    );
  }
  return problems;
}

type Add = (code: ResultProblem["code"], path: (string | number)[], detail: string) => void;

function checkSuite(doc: ResultFile, add: Add): void {
  const { name, version } = doc.suite;
  if (name === "fable-io") {
    if (compareVersions(version, packageVersion()) > 0) {
      add(
        "ESUITE",
        ["suite", "version"],
        `fable-io ${version} is newer than this fable (${packageVersion()}), whose methods it cannot know: upgrade fable-io`,
      );
    }
  } else if (!LEGACY_SUITE_VERSIONS.includes(version)) {
    add(
      "ESUITE",
      ["suite", "version"],
      `ipc-bench ${version} is not a version fable knows (${LEGACY_SUITE_VERSIONS.join(", ")})`,
    );
  }
  if (doc.legacy !== undefined && !LEGACY_CONVERSIONS.includes(doc.legacy.conversion)) {
    add(
      "ESUITE",
      ["legacy", "conversion"],
      `legacy conversion ${doc.legacy.conversion} is not one this fable knows (${LEGACY_CONVERSIONS.join(", ")}): upgrade fable-io`,
    );
  }
  for (const [mechanism, { method, probe }] of Object.entries(doc.benchmarks)) {
    const known = knownMethodSeries(name, mechanism);
    if (known.length === 0) {
      add("EMETHOD", ["benchmarks", mechanism], `${name} has no mechanism "${mechanism}" that this fable knows`);
      continue;
    }
    if (!known.includes(methodSeries(method))) {
      add(
        "EMETHOD",
        ["benchmarks", mechanism, "method"],
        `method ${method} of ${mechanism} is not one this fable knows (${known.map((k) => `${k}.x`).join(", ")}): its figures could not be put in a series`,
      );
    }
    const expected = knownProbe(name, mechanism);
    if (expected !== probe) {
      add(
        "EMETHOD",
        ["benchmarks", mechanism, "probe"],
        `${mechanism} is measured by the ${expected} probe, not "${probe}"`,
      );
    }
  }
}

function checkDate(doc: ResultFile, add: Add): void {
  const t = Date.parse(doc.createdAt);
  const day = doc.createdAt.slice(0, 10);
  if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== day) {
    add("EDATE", ["createdAt"], `${JSON.stringify(doc.createdAt)} is not a real date and time`);
  } else if (t > Date.now() + 86_400_000) {
    add("EDATE", ["createdAt"], `${doc.createdAt} is in the future`);
  } else if (t < Date.UTC(2000, 0, 1)) {
    add("EDATE", ["createdAt"], `${doc.createdAt} is before any IPC benchmark this database holds (2000)`);
  }
}

function checkTopologyShape(t: Topology, add: Add): void {
  const cpus = new Set<number>();
  t.cpus.forEach((c, i) => {
    if (cpus.has(c.cpu)) add("ETOPOLOGY", ["machine", "topology", "cpus", i, "cpu"], `cpu${c.cpu} is listed twice`);
    cpus.add(c.cpu);
    if (c.online && !c.smtSiblings.includes(c.cpu)) {
      add(
        "ETOPOLOGY",
        ["machine", "topology", "cpus", i, "smtSiblings"],
        `cpu${c.cpu}'s SMT siblings do not include it`,
      );
    }
  });
  const unknown = (list: number[]) => list.filter((c) => !cpus.has(c));
  t.caches.forEach((cache, i) => {
    const missing = unknown(cache.cpus);
    if (missing.length > 0) {
      add(
        "ETOPOLOGY",
        ["machine", "topology", "caches", i, "cpus"],
        `CPUs ${missing.join(",")} are not in the topology`,
      );
    }
  });
  t.numa.forEach((node, i) => {
    const missing = unknown(node.cpus);
    if (missing.length > 0) {
      add("ETOPOLOGY", ["machine", "topology", "numa", i, "cpus"], `CPUs ${missing.join(",")} are not in the topology`);
    }
    if (node.distances.length !== 0 && node.distances.length !== t.numa.length) {
      add(
        "ETOPOLOGY",
        ["machine", "topology", "numa", i, "distances"],
        `${node.distances.length} distances for ${t.numa.length} nodes`,
      );
    }
  });
}

function checkRunMechanism(doc: ResultFile, mechanism: string, at: (string | number)[], add: Add): void {
  if (!Object.hasOwn(doc.benchmarks, mechanism)) {
    add("EMETHOD", [...at, "mechanism"], `"${mechanism}" is not listed in benchmarks, so its method is unknown`);
  }
}

interface Placed {
  mode: "latency" | "throughput";
  cpus: [number, number];
  placement: string;
  numaDistance: number | null;
}

function checkPlacement(t: Topology, run: Placed, at: (string | number)[], add: Add): void {
  const [a, b] = run.cpus;
  const byCpu = new Map(t.cpus.map((c) => [c.cpu, c]));
  for (const [i, cpu] of [a, b].entries()) {
    const c = byCpu.get(cpu);
    if (c === undefined) {
      add("ETOPOLOGY", [...at, "cpus", i], `cpu${cpu} is not in the machine's topology (${t.cpus.length} CPUs)`);
      return;
    }
    if (c.smtSiblings.length === 0) {
      add("ETOPOLOGY", [...at, "cpus", i], `cpu${cpu} is offline with unknown topology: nothing can have run on it`);
      return;
    }
  }
  const expected = placementClass(t, a, b);
  if (run.placement !== expected) {
    add(
      "ETOPOLOGY",
      [...at, "placement"],
      `cpus ${a} and ${b} are "${expected}" in the topology, not "${run.placement}"`,
    );
  }
  const distance = numaDistance(t, a, b);
  if (run.numaDistance !== distance) {
    add("ETOPOLOGY", [...at, "numaDistance"], `the topology gives NUMA distance ${distance}, not ${run.numaDistance}`);
  }
}

const differs = (x: number, y: number) => Math.abs(x - y) > TOLERANCE * Math.max(Math.abs(x), Math.abs(y), 1e-300);

/** Keys in the order their values must be ascending; absent ones are skipped. */
function checkOrder(
  stats: Record<string, number | undefined>,
  keys: readonly string[],
  at: (string | number)[],
  add: Add,
): void {
  const present = keys.filter((k) => stats[k] !== undefined);
  for (let i = 1; i < present.length; i++) {
    const lo = present[i - 1] ?? "";
    const hi = present[i] ?? "";
    const x = stats[lo] ?? 0;
    const y = stats[hi] ?? 0;
    if (x > y && differs(x, y)) {
      add(
        "ESTATS",
        [...at, "stats", hi],
        `${hi} ${y} is below ${lo} ${x}: percentiles must be in order (${present.join(" <= ")})`,
      );
    }
  }
  const { mean, min, max } = stats;
  if (mean !== undefined && min !== undefined && max !== undefined) {
    if ((mean < min && differs(mean, min)) || (mean > max && differs(mean, max))) {
      add("ESTATS", [...at, "stats", "mean"], `mean ${mean} is outside [min ${min}, max ${max}]`);
    }
  }
}

function checkUnit(run: { mode: string; unit: string }, at: (string | number)[], add: Add): void {
  const expected = run.mode === "latency" ? "ns" : "B/s";
  if (run.unit !== expected) add("ESCHEMA", [...at, "unit"], `a ${run.mode} run is in ${expected}, not ${run.unit}`);
}

function checkBounds(
  run: { mode: string },
  values: Record<string, number | undefined>,
  at: (string | number)[],
  add: Add,
): void {
  for (const [key, v] of Object.entries(values)) {
    if (v === undefined) continue;
    if (v < 0) add("ESTATS", [...at, "stats", key], `${key} ${v} is negative`);
    if (run.mode === "throughput" && v >= MAX_BYTES_PER_SECOND) {
      add("ETHROUGHPUT", [...at, "stats", key], `${key} ${v} B/s is above the physical bound of 1 TB/s`);
    }
    if (run.mode === "latency" && v > MAX_LATENCY_NS) {
      add("ESTATS", [...at, "stats", key], `${key} ${v} ns is over an hour: not a latency`);
    }
  }
}

/** The method a run's mechanism was measured with, if this fable knows it (else it is reported as unknown). */
function knownMethod(doc: ResultFile, mechanism: string): string | undefined {
  const method = doc.benchmarks[mechanism]?.method;
  if (method === undefined) return undefined;
  return knownMethodSeries(doc.suite.name, mechanism).includes(methodSeries(method)) ? method : undefined;
}

/** `method`: the run's known method, or undefined (then only what holds for every method is checked). */
function checkRunOk(run: RunOk, method: string | undefined, at: (string | number)[], add: Add): void {
  const s = run.stats;
  checkUnit(run, at, add);
  checkOrder({ ...s }, ["min", "p50", "p90", "p99", "p999", "max"], at, add);
  checkBounds(run, { min: s.min, p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, max: s.max, mean: s.mean }, at, add);
  if (run.samples.values.length > run.samples.of) {
    add("ESTATS", [...at, "samples", "values"], `${run.samples.values.length} samples kept of ${run.samples.of} taken`);
  }
  // Throughput statistics are of time windows from method 1.1 on (bench/statistics.ts), of batches before.
  if (run.mode === "throughput" && method === undefined) {
    checkRate(run, at, add);
    return;
  }
  if (run.mode === "throughput" && methodSeries(method ?? "") !== "1.0") {
    checkWindows(run, at, add);
    return;
  }
  if (run.statsWindowNs !== undefined) {
    add("ESCHEMA", [...at, "statsWindowNs"], `a ${run.mode} run of method ${method} has no statistics windows`);
  }
  if (s.n !== run.samples.of) {
    add("ESTATS", [...at, "stats", "n"], `n ${s.n} differs from the ${run.samples.of} samples taken (samples.of)`);
  }
  // Samples are round trips in ns (latency) or batch durations in ns (throughput, whose stats are batch rates).
  const asStat = (v: number) => (run.mode === "latency" ? v : (run.batchMessages * run.size * 1e9) / v);
  const outside = run.samples.values.findIndex((v) => {
    const x = asStat(v);
    return (x < s.min && differs(x, s.min)) || (x > s.max && differs(x, s.max));
  });
  if (outside >= 0) {
    const v = run.samples.values[outside] ?? 0;
    add(
      "ESTATS",
      [...at, "samples", "values", outside],
      `sample ${v} ns (${asStat(v)} ${run.unit}) is outside the statistics' [min ${s.min}, max ${s.max}]`,
    );
  }
  if (run.mode === "latency" && run.iterations !== s.n) {
    add("ESTATS", [...at, "iterations"], `${run.iterations} iterations but ${s.n} round trips timed`);
  }
  if (run.mode === "throughput") {
    const batch = run.batchMessages;
    if (run.iterations < s.n * batch || run.iterations >= (s.n + 1) * batch) {
      add("ESTATS", [...at, "iterations"], `${run.iterations} messages do not make ${s.n} batches of ${batch}`);
    }
    checkRate(run, at, add);
  }
}

/**
 * A windowed throughput run: `stats.n` equal windows of `statsWindowNs` (at least THROUGHPUT_WINDOW_NS unless
 * the phase was shorter) cover the measured phase, `samples` are its batches, and since the windows cover it
 * all, their mean is the phase's rate.
 */
function checkWindows(run: RunOk, at: (string | number)[], add: Add): void {
  const s = run.stats;
  const w = run.statsWindowNs;
  if (w === undefined) {
    add("ESCHEMA", [...at, "statsWindowNs"], `a throughput run of method 1.1 or later states its statistics window`);
  } else {
    if (w < THROUGHPUT_WINDOW_NS && differs(w, THROUGHPUT_WINDOW_NS) && s.n > 1) {
      add("ESTATS", [...at, "statsWindowNs"], `${s.n} windows of ${w} ns: shorter than ${THROUGHPUT_WINDOW_NS} ns`);
    }
    if (Math.abs(s.n * w - run.elapsedNs) > 0.01 * run.elapsedNs) {
      add("ESTATS", [...at, "stats", "n"], `${s.n} windows of ${w} ns do not cover the ${run.elapsedNs} ns measured`);
    }
  }
  const batch = run.batchMessages;
  if (run.iterations !== run.samples.of * batch) {
    add(
      "ESTATS",
      [...at, "iterations"],
      `${run.iterations} messages are not the ${run.samples.of} batches of ${batch}`,
    );
  }
  const rate = run.rate?.bytesPerSecond;
  if (rate !== undefined && Math.abs(s.mean - rate) > 0.01 * rate) {
    add("ESTATS", [...at, "stats", "mean"], `the windows' mean ${s.mean} B/s is not the phase's rate ${rate} B/s`);
  }
  checkRate(run, at, add);
}

/** The whole phase's rate: physically possible, and what the messages, bytes and time say. */
function checkRate(run: RunOk, at: (string | number)[], add: Add): void {
  const rate = run.rate;
  if (rate !== undefined) {
    if (rate.bytesPerSecond >= MAX_BYTES_PER_SECOND) {
      add(
        "ETHROUGHPUT",
        [...at, "rate", "bytesPerSecond"],
        `${rate.bytesPerSecond} B/s is above the physical bound of 1 TB/s`,
      );
    }
    if (run.elapsedNs > 0) {
      const expected = (run.iterations * run.size * 1e9) / run.elapsedNs;
      if (Math.abs(rate.bytesPerSecond - expected) > 0.01 * expected) {
        add(
          "ETHROUGHPUT",
          [...at, "rate", "bytesPerSecond"],
          `${rate.bytesPerSecond} B/s disagrees with ${run.iterations} messages of ${run.size} B in ${run.elapsedNs} ns (${expected} B/s)`,
        );
      }
    }
    const fromMessages = rate.messagesPerSecond * run.size;
    if (Math.abs(fromMessages - rate.bytesPerSecond) > 0.01 * Math.max(fromMessages, rate.bytesPerSecond)) {
      add(
        "ETHROUGHPUT",
        [...at, "rate", "messagesPerSecond"],
        `${rate.messagesPerSecond} messages/s of ${run.size} B disagree with ${rate.bytesPerSecond} B/s`,
      );
    }
  }
}

function checkRunLegacy(run: RunLegacy, at: (string | number)[], add: Add): void {
  const s = run.stats;
  checkUnit(run, at, add);
  if (Object.keys(s).length === 0) add("ESTATS", [...at, "stats"], "no statistics: a converted run keeps at least one");
  checkOrder({ ...s }, ["min", "p5", "p50", "p95", "max"], at, add);
  checkBounds(run, { min: s.min, p5: s.p5, p50: s.p50, p95: s.p95, max: s.max, mean: s.mean }, at, add);
  if (run.mode === "latency" && run.resolution === null) {
    for (const key of ["min", "p50", "mean"] as const) {
      if (s[key] === 0) add("ESTATS", [...at, "stats", key], `${key} 0 ns at full precision: not a latency`);
    }
  }
}

/**
 * A latency matrix is complete: when the configuration says every pair was run (and always in a converted
 * ipc-bench result, whose latency tests ran every pair), each mechanism and size has every ordered pair of
 * the machine's online CPUs.
 */
function checkMatrices(doc: ResultFile, add: Add): void {
  const legacy = doc.legacy !== undefined;
  if (!legacy && doc.config.pairs !== "all") return;
  const online = doc.machine.topology.cpus.filter((c) => c.online && c.smtSiblings.length > 0).length;
  const runs: { mode: string; mechanism: string; size: number; cpus: [number, number] }[] = legacy
    ? (doc.legacy?.runs ?? [])
    : doc.runs;
  const pairs = new Map<string, Set<string>>();
  for (const r of runs) {
    if (r.mode !== "latency") continue;
    const key = `${r.mechanism} ${r.size}`;
    const set = pairs.get(key) ?? new Set<string>();
    set.add(`${r.cpus[0]}-${r.cpus[1]}`);
    pairs.set(key, set);
  }
  for (const [key, set] of pairs) {
    if (set.size !== online * online) {
      const [mechanism, size] = key.split(" ");
      add(
        "ETOPOLOGY",
        [legacy ? "legacy" : "config", legacy ? "runs" : "pairs"],
        `the latency matrix of ${mechanism} at ${size} B has ${set.size} pairs, not ${online} x ${online} (one per ordered pair of the ${online} online CPUs)`,
      );
    }
  }
}
