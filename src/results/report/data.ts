/**
 * The figures the report draws, taken out of a result document: latency cells per mechanism, the figure of
 * each (mechanism, size, placement class), the pair that stands for "two processes on two CPUs", and the
 * heatmap axis. Pure functions of the document; nothing here formats or draws.
 *
 * Which number stands for a test: latency, the median round trip (`stats.p50`); throughput, the payload
 * bytes per second over the whole measured phase (`rate.bytesPerSecond`, else the median of `stats`).
 * Several pairs of one placement class: the median of their figures stands for the class.
 */
import type { ResultFile, RunFailed, RunOk } from "../../bench/result.js";
import type { ProbeMode } from "../../bench/probe.js";
import { percentile } from "../../bench/statistics.js";
import { orderedCpus, PLACEMENT_CLASSES, type PlacementClass, type Topology } from "../../bench/topology.js";

/**
 * One test's measurement as the report draws it, whichever suite measured it: a fable run, or a run of the
 * original ipc-bench converted into the result (`legacy.runs`), which has only some statistics and no samples.
 */
export interface Measurement {
  mechanism: string;
  mode: ProbeMode;
  size: number;
  cpus: readonly [number, number];
  placement: PlacementClass;
  /** The figure that stands for the test (see the module comment). */
  value: number;
  /** The statistics the test has, in its unit (round-trip ns, or bytes per second). */
  stats: { n?: number; min?: number; p50?: number; p99?: number; max?: number; mean?: number };
  /** Kept samples in the order taken; none for a converted ipc-bench run. */
  samples: readonly number[];
  /** How many samples were taken (the kept ones are a thinned copy). */
  samplesOf: number;
  flags: readonly string[];
  params: Readonly<Record<string, number | string | boolean>>;
  /** Measured by the original ipc-bench. */
  legacy: boolean;
  /** The test's rounds (results since rounds): how many counted of how many, and their figures' range. */
  rounds?: { kept: number; of: number; min: number; max: number };
}

/** Flags that say a figure is not to be trusted as it stands (see bench/rounds.ts and bench/sentinel.ts). */
export const DOUBT_FLAGS: readonly string[] = ["unstable", "machine-state", "asymmetric"];

export function doubtful(m: { flags: readonly string[] }): boolean {
  return m.flags.some((f) => DOUBT_FLAGS.includes(f));
}

/** `{ rounds }` for a result with rounds, `{}` for one from before them. */
function roundsOf(r: RunOk): Pick<Measurement, "rounds"> {
  const kept = r.rounds?.list.filter((x) => x.kept).map((x) => x.figure) ?? [];
  if (r.rounds === undefined || kept.length === 0) return {};
  return { rounds: { kept: kept.length, of: r.rounds.list.length, min: Math.min(...kept), max: Math.max(...kept) } };
}

/** The fields of a converted ipc-bench run that the report reads (see `legacy` in the result schema). */
interface LegacyRunView {
  mechanism: string;
  mode: ProbeMode;
  size: number;
  cpus: [number, number];
  placement: PlacementClass;
  stats: { n?: number; min?: number; p50?: number; max?: number; mean?: number };
  flags: string[];
  params: Record<string, number | string | boolean>;
}

/** The converted ipc-bench runs of a result, read structurally: a fable result has none. */
function legacyRuns(doc: ResultFile): LegacyRunView[] {
  const legacy = (doc as { legacy?: { runs?: unknown } }).legacy;
  return Array.isArray(legacy?.runs) ? (legacy.runs as LegacyRunView[]) : [];
}

/** The number that stands for one fable run (see the module comment). */
export function runValue(run: RunOk): number {
  return run.mode === "latency" ? run.stats.p50 : (run.rate?.bytesPerSecond ?? run.stats.p50);
}

const measured = new WeakMap<ResultFile, Measurement[]>();

/** Every successful measurement of a result: its fable runs, then its converted ipc-bench runs. */
export function measurements(doc: ResultFile): Measurement[] {
  let list = measured.get(doc);
  if (list === undefined) {
    const fable = doc.runs
      .filter((r): r is RunOk => r.status === "ok")
      .map((r): Measurement => ({
        mechanism: r.mechanism,
        mode: r.mode,
        size: r.size,
        cpus: r.cpus,
        placement: r.placement,
        value: runValue(r),
        stats: r.stats,
        samples: r.samples.values,
        samplesOf: r.samples.of,
        flags: r.flags,
        params: r.params,
        legacy: false,
        ...roundsOf(r),
      }));
    const legacy = legacyRuns(doc).flatMap((r): Measurement[] => {
      const value = r.stats.p50 ?? r.stats.mean ?? r.stats.min ?? r.stats.max;
      if (value === undefined) return [];
      return [
        {
          mechanism: r.mechanism,
          mode: r.mode,
          size: r.size,
          cpus: r.cpus,
          placement: r.placement,
          value,
          stats: r.stats,
          samples: [],
          samplesOf: 0,
          flags: r.flags,
          params: r.params,
          legacy: true,
        },
      ];
    });
    list = [...fable, ...legacy];
    measured.set(doc, list);
  }
  return list;
}

export function failedRuns(doc: ResultFile): RunFailed[] {
  return doc.runs.filter((r): r is RunFailed => r.status === "failed");
}

/** What a result measured, successful or not: mechanism, mode, size, pair and class of each test. */
function tests(doc: ResultFile): { mechanism: string; mode: ProbeMode; size: number; placement: PlacementClass }[] {
  return [...measurements(doc), ...failedRuns(doc)];
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** Mechanisms in the order the result lists its benchmarks, then any other that a run names. */
export function mechanismsOf(doc: ResultFile, mode?: ProbeMode): string[] {
  const inRuns = new Set(
    tests(doc)
      .filter((r) => mode === undefined || r.mode === mode)
      .map((r) => r.mechanism),
  );
  const listed = Object.keys(doc.benchmarks).filter((m) => inRuns.has(m));
  return [...listed, ...[...inRuns].filter((m) => !listed.includes(m))];
}

/** A Node-level mechanism (measured by the Node probe) rather than a native one. */
export function isNodeMechanism(doc: ResultFile, mechanism: string): boolean {
  const probe = doc.benchmarks[mechanism]?.probe;
  return probe === undefined ? mechanism.startsWith("node-") : probe === "node";
}

export function sizesOf(doc: ResultFile, mode: ProbeMode): number[] {
  return [
    ...new Set(
      tests(doc)
        .filter((r) => r.mode === mode)
        .map((r) => r.size),
    ),
  ].sort((a, b) => a - b);
}

export function placementsOf(doc: ResultFile, mode?: ProbeMode): PlacementClass[] {
  const present = new Set(
    tests(doc)
      .filter((r) => mode === undefined || r.mode === mode)
      .map((r) => r.placement),
  );
  return PLACEMENT_CLASSES.filter((c) => present.has(c));
}

export type Cell = { kind: "ok"; run: Measurement; value: number } | { kind: "failed"; run: RunFailed };

export function pairKey(a: number, b: number): string {
  return `${a}-${b}`;
}

/** Latency cells of one mechanism and size, by ordered pair; a pair measured twice keeps its first success. */
export function latencyCells(doc: ResultFile, mechanism: string, size: number): Map<string, Cell> {
  const cells = new Map<string, Cell>();
  const wanted = (r: { mode: ProbeMode; mechanism: string; size: number }) =>
    r.mode === "latency" && r.mechanism === mechanism && r.size === size;
  for (const run of measurements(doc).filter(wanted)) {
    const key = pairKey(run.cpus[0], run.cpus[1]);
    if (!cells.has(key)) cells.set(key, { kind: "ok", run, value: run.value });
  }
  for (const run of failedRuns(doc).filter(wanted)) {
    const key = pairKey(run.cpus[0], run.cpus[1]);
    if (!cells.has(key)) cells.set(key, { kind: "failed", run });
  }
  return cells;
}

export interface LatencySeries {
  mechanism: string;
  size: number;
}

/** Every (mechanism, size) measured for latency, mechanisms in result order, sizes ascending. */
export function latencySeries(doc: ResultFile): LatencySeries[] {
  const sizes = sizesOf(doc, "latency");
  return mechanismsOf(doc, "latency").flatMap((mechanism) =>
    sizes
      .filter((size) => tests(doc).some((r) => r.mode === "latency" && r.mechanism === mechanism && r.size === size))
      .map((size) => ({ mechanism, size })),
  );
}

export interface ClassFigure {
  /** The median of the figures of the class's successful runs. */
  value: number;
  runs: Measurement[];
  failed: number;
  /** Some run of the class spun with both sides on one CPU. */
  spinOnSharedCpu: boolean;
  /** A run of the class carries a flag that puts its figure in doubt (unstable, machine-state, asymmetric). */
  doubtful: boolean;
}

export function figureKey(mechanism: string, size: number, placement: PlacementClass): string {
  return `${mechanism}|${size}|${placement}`;
}

/** The figure of each (mechanism, size, placement class) of one mode; classes whose runs all failed have none. */
export function classFigures(doc: ResultFile, mode: ProbeMode): Map<string, ClassFigure> {
  const groups = new Map<string, { ok: Measurement[]; failed: number }>();
  const group = (r: { mechanism: string; size: number; placement: PlacementClass }) => {
    const key = figureKey(r.mechanism, r.size, r.placement);
    const g = groups.get(key) ?? { ok: [], failed: 0 };
    groups.set(key, g);
    return g;
  };
  for (const run of measurements(doc)) if (run.mode === mode) group(run).ok.push(run);
  for (const run of failedRuns(doc)) if (run.mode === mode) group(run).failed++;
  const figures = new Map<string, ClassFigure>();
  for (const [key, { ok, failed }] of groups) {
    if (ok.length === 0) continue;
    figures.set(key, {
      value: median(ok.map((r) => r.value)),
      runs: ok,
      failed,
      spinOnSharedCpu: ok.some((r) => r.flags.includes("spin-on-shared-cpu")),
      doubtful: ok.some(doubtful),
    });
  }
  return figures;
}

export interface FocusPair {
  cpus: readonly [number, number];
  placement: PlacementClass;
}

/** Nearest first, but two cores sharing a last-level cache is what most people mean by "another CPU". */
const FOCUS_PREFERENCE: readonly PlacementClass[] = [
  "shared-l3",
  "same-package",
  "shared-l2",
  "cross-package",
  "smt-sibling",
];

/**
 * The pair of two different CPUs that stands for the machine in the distribution and "what Node gives you"
 * charts: the one where the most mechanisms were measured (latency and throughput), then the preferred class,
 * then the lowest CPU numbers. Null when no test ran on two different CPUs.
 */
export function focusPair(doc: ResultFile): FocusPair | null {
  const score = new Map<
    string,
    { cpus: readonly [number, number]; placement: PlacementClass; mechanisms: Set<string> }
  >();
  for (const run of measurements(doc)) {
    const [a, b] = run.cpus;
    if (a === b) continue;
    const key = pairKey(a, b);
    const entry = score.get(key) ?? { cpus: [a, b], placement: run.placement, mechanisms: new Set<string>() };
    entry.mechanisms.add(`${run.mode} ${run.mechanism}`);
    score.set(key, entry);
  }
  const rank = (c: PlacementClass) => {
    const i = FOCUS_PREFERENCE.indexOf(c);
    return i < 0 ? FOCUS_PREFERENCE.length : i;
  };
  const best = [...score.values()].sort(
    (x, y) =>
      y.mechanisms.size - x.mechanisms.size ||
      rank(x.placement) - rank(y.placement) ||
      x.cpus[0] - y.cpus[0] ||
      x.cpus[1] - y.cpus[1],
  )[0];
  return best === undefined ? null : { cpus: best.cpus, placement: best.placement };
}

export type BoundaryLevel = "package" | "die" | "cache" | "core";

export interface HeatmapAxis {
  /** Online CPUs in axis order: package > die > last-level cache > core > SMT sibling. */
  cpus: number[];
  /** A boundary at index i lies between positions i - 1 and i; its level is the largest group that changes. */
  boundaries: { index: number; level: BoundaryLevel }[];
}

/** The last-level data or unified cache of each CPU, as the sorted list of CPUs sharing it. */
export function lastLevelCaches(t: Topology): Map<number, number[]> {
  const llc = new Map<number, { level: number; cpus: number[] }>();
  for (const cache of t.caches) {
    if (cache.type === "instruction") continue;
    for (const cpu of cache.cpus) {
      const had = llc.get(cpu);
      if (had === undefined || cache.level > had.level) llc.set(cpu, cache);
    }
  }
  return new Map([...llc].map(([cpu, cache]) => [cpu, cache.cpus]));
}

export function heatmapAxis(t: Topology): HeatmapAxis {
  const cpus = orderedCpus(t);
  const byCpu = new Map(t.cpus.map((c) => [c.cpu, c]));
  const llc = lastLevelCaches(t);
  const groups = (cpu: number): [string, string, string, string] => {
    const c = byCpu.get(cpu);
    return [
      `${c?.package}`,
      `${c?.package}/${c?.die}`,
      (llc.get(cpu) ?? [cpu]).join(","),
      `${c?.package}/${c?.die}/${c?.core}/${(c?.smtSiblings ?? [cpu]).join(",")}`,
    ];
  };
  const levels: readonly BoundaryLevel[] = ["package", "die", "cache", "core"];
  const boundaries: HeatmapAxis["boundaries"] = [];
  for (let i = 1; i < cpus.length; i++) {
    const before = groups(cpus[i - 1] ?? 0);
    const here = groups(cpus[i] ?? 0);
    const changed = levels.findIndex((_, k) => before[k] !== here[k]);
    const level = levels[changed];
    if (level !== undefined) boundaries.push({ index: i, level });
  }
  return { cpus, boundaries };
}
