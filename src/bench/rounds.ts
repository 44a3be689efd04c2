/**
 * Rounds: every test of a `fable bench` run is measured in several rounds spread over the run, so
 * that a slow spell of the machine (a cloud guest's slow state, a busy neighbour) hits different
 * tests' different rounds instead of the whole of one test. This module holds the pure parts: the
 * seeded schedule, a round's figure and within-round noise, and the rules that turn a test's rounds
 * into its figure and its flags. It runs nothing.
 *
 * The rules (also in README "fable bench"):
 * - Schedule: the run is `rounds` passes; each pass runs every test once, in its own shuffled order
 *   (mulberry32 seeded with the run's recorded seed). A test's rounds therefore sit in different
 *   parts of the run.
 * - Figure of a round: the median round trip (latency) or the bytes per second over its measured
 *   phase (throughput): the same headline one-round results always had.
 * - Noise of a round: the spread (max - min) / median of the medians of its samples' four consecutive
 *   quarters, in the order taken: how much the figure moved within the round.
 * - Kept rounds: the successful rounds the sentinel did not flag (see sentinel.ts); when every round
 *   was flagged, all of them, and the test carries "machine-state".
 * - The test's statistics are those of its median kept round (with an even count, the more
 *   conservative of the two middle ones: the slower round trip or the lower rate).
 * - "asymmetric" (latency): a pair A->B and its reverse B->A measure the same round trip, so the two
 *   mirrored cells of a heatmap must agree. They are flagged, both, when max/min - 1 of their figures
 *   exceeds {@link UNSTABLE_FLOOR}, each one's rounds' spread, and twice each one's noise.
 * - "unstable": at least two kept rounds, and their spread (max - min) / median exceeds both twice the
 *   largest noise of a kept round and {@link UNSTABLE_FLOOR}: rounds disagree by more than a round
 *   moves within itself.
 */
import type { Run, RunFlag, RunOk } from "./result.js";
import { percentile } from "./statistics.js";

/** Rounds disagreeing by less than this (relative) are never called unstable: below it is nobody's concern. */
export const UNSTABLE_FLOOR = 0.1;

/** A small, fast, seedable PRNG (mulberry32): the schedule must be reproducible from the recorded seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export interface Slot {
  /** Index of the test in the plan. */
  test: number;
  /** Which of the test's rounds (0-based). */
  round: number;
}

/** `rounds` passes over `tests` tests, each pass in its own seeded shuffled order. */
export function roundSchedule(tests: number, rounds: number, seed: number): Slot[] {
  const random = seededRandom(seed);
  const order = Array.from({ length: tests }, (_, i) => i);
  const slots: Slot[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const test of shuffled(order, random)) slots.push({ test, round });
  }
  return slots;
}

/** The headline of one round (or of a run): median round trip in ns, or bytes per second. */
export function roundFigure(run: RunOk): number {
  return run.mode === "throughput" && run.rate !== undefined ? run.rate.bytesPerSecond : run.stats.p50;
}

/** True when a larger figure is better (throughput). */
export function higherIsBetter(run: Pick<RunOk, "mode" | "rate">): boolean {
  return run.mode === "throughput" && run.rate !== undefined;
}

/** The median of some figures (of at least one). */
export function medianOf(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** Relative spread (max - min) / median of some figures; 0 for fewer than two or a zero median. */
export function relativeSpread(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = medianOf(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
}

/**
 * Within-round noise: the relative spread of the medians of four consecutive quarters of the samples,
 * in the order taken (see the module comment). 0 with fewer than 8 samples.
 */
export function roundNoise(samples: readonly number[]): number {
  const n = samples.length;
  if (n < 8) return 0;
  const quarter = Math.floor(n / 4);
  const medians = [0, 1, 2, 3].map((q) => medianOf(samples.slice(q * quarter, q === 3 ? n : (q + 1) * quarter)));
  return relativeSpread(medians);
}

/** The sentinel's verdict on a round: taken in the run's usual state, in another one, or not known. */
export type RoundState = "usual" | "other" | "unknown";

export interface RoundOutcome {
  /** The round's run entry (its statistics), or its failure. */
  run: RunOk;
  state: RoundState;
}

export interface Combined {
  /** Index (into the given rounds) of the round whose statistics stand for the test. */
  chosen: number;
  /** Which rounds count toward the figure. */
  kept: boolean[];
  flags: RunFlag[];
  /** (max - min) / median of the kept rounds' figures. */
  spread: number;
  /** The largest within-round noise among the kept rounds. */
  noise: number;
}

/** Turns a test's successful rounds into its figure and flags by the rules of the module comment. */
export function combineRounds(rounds: readonly RoundOutcome[]): Combined {
  if (rounds.length === 0) throw new RangeError("combineRounds needs at least one round");
  const usual = rounds.map((r) => r.state !== "other");
  const anyUsual = usual.some(Boolean);
  const kept = anyUsual ? usual : rounds.map(() => true);
  const flags: RunFlag[] = anyUsual ? [] : ["machine-state"];
  const keptIdx = rounds.flatMap((_, i) => (kept[i] ? [i] : []));
  const figure = (i: number) => roundFigure((rounds[i] as RoundOutcome).run);
  const higher = higherIsBetter((rounds[0] as RoundOutcome).run);
  // Ascending by figure; the lower middle is the conservative one for throughput, the upper for latency.
  const sorted = [...keptIdx].sort((a, b) => figure(a) - figure(b));
  const k = sorted.length;
  const middle = k % 2 === 1 ? (k - 1) / 2 : higher ? k / 2 - 1 : k / 2;
  const chosen = sorted[middle] as number;
  const spread = relativeSpread(keptIdx.map(figure));
  const noise = Math.max(...keptIdx.map((i) => roundNoise((rounds[i] as RoundOutcome).run.samples.values)));
  if (k >= 2 && spread > Math.max(2 * noise, UNSTABLE_FLOOR)) flags.push("unstable");
  return { chosen, kept, flags, spread, noise };
}

/** What a run's figure may move by and still be itself: its rounds' spread, twice its noise, the floor. */
function tolerance(run: RunOk): number {
  const noise = run.rounds?.noise ?? roundNoise(run.samples.values);
  return Math.max(UNSTABLE_FLOOR, run.rounds?.spread ?? 0, 2 * noise);
}

/** Flags both runs of every latency pair whose reverse disagrees with it beyond noise (module comment). */
export function markAsymmetric(runs: readonly Run[]): void {
  const byKey = new Map<string, RunOk>();
  const key = (r: RunOk, a: number, b: number) => `${r.mechanism}|${r.size}|${a}|${b}`;
  for (const r of runs) if (r.status === "ok" && r.mode === "latency") byKey.set(key(r, r.cpus[0], r.cpus[1]), r);
  for (const r of byKey.values()) {
    const [a, b] = r.cpus;
    if (a >= b) continue;
    const mirror = byKey.get(key(r, b, a));
    if (mirror === undefined) continue;
    const x = roundFigure(r);
    const y = roundFigure(mirror);
    if (Math.min(x, y) <= 0) continue;
    const apart = Math.max(x, y) / Math.min(x, y) - 1;
    if (apart > Math.max(tolerance(r), tolerance(mirror))) {
      for (const run of [r, mirror]) if (!run.flags.includes("asymmetric")) run.flags.push("asymmetric");
    }
  }
}
