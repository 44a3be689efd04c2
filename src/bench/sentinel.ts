/**
 * The machine-state sentinel: a short cacheline ping-pong (the engine's `cacheline` mechanism with a
 * budget of a few ms) run between the rounds of a `fable bench` run on one fixed pair of CPUs. Its
 * readings form a timeline of the machine's state, kept in the result; a round taken while the
 * sentinel said the machine was in another state than most of the run is flagged (and re-run by the
 * orchestrator, within bounds).
 *
 * The rule (also in README "fable bench"): a reading is the median round trip (p50) of the probe and its
 * stall, the mean round trip (measured time over iterations) over that median. The run's reference is
 * the median p50 and the median stall of all its readings. A reading is "other" when
 * - its p50 is more than {@link STATE_RATIO} times off the reference p50, either way: the whole guest's
 *   fast/slow states (~80 vs ~370 ns on the cloud guests fable was built on) move the median; or
 * - its stall exceeds {@link STALL_RATIO} times the reference stall: a side waited for its CPU far more
 *   than usual in this run (a CPU hog on a measured CPU), which the median of many fast round trips
 *   does not show but the mean does;
 * else "usual". A round is "other" when the reading just before it or the one just after it is: the
 * state may have changed anywhere between two readings, so both count.
 */
import type { Mechanism } from "./mechanisms.js";
import type { Pair, RunSettings } from "./orchestrator.js";
import { medianOf, type RoundState } from "./rounds.js";

/** A p50 this many times off the run's (either way) is another state. */
export const STATE_RATIO = 1.5;
/** A stall this many times the run's is another state. */
export const STALL_RATIO = 2;

export interface SentinelSettings {
  /** The pair the sentinel runs on; null disables it (a 1-CPU machine, or asked). */
  readonly cpus: Pair | null;
  readonly budgetMs: number;
  readonly warmupMs: number;
  /** A reading is taken between rounds once at least this long has passed since the last one. */
  readonly everyMs: number;
}

export interface SentinelReading {
  /** ms since the run started, when the reading began. */
  atMs: number;
  /** Mean round trip, ns: measured time over round trips. */
  meanNs: number;
  /** Median round trip, ns. */
  p50Ns: number;
}

export interface SentinelReference {
  /** Median of the readings' p50, ns. */
  p50Ns: number;
  /** Median of the readings' stall (mean over p50). */
  stall: number;
}

function stallOf(r: SentinelReading): number {
  return r.p50Ns > 0 ? r.meanNs / r.p50Ns : 1;
}

/** The fixed pair: the first pair of two different CPUs the run measures, else the first two online CPUs. */
export function sentinelPair(pairs: readonly Pair[], online: readonly number[]): Pair | null {
  const measured = pairs.find(([a, b]) => a !== b);
  if (measured !== undefined) return [measured[0], measured[1]];
  const [a, b] = online;
  return a !== undefined && b !== undefined ? [a, b] : null;
}

/** The reference of a set of readings (module comment); null when there are none. */
export function sentinelReference(readings: readonly SentinelReading[]): SentinelReference | null {
  if (readings.length === 0) return null;
  return { p50Ns: medianOf(readings.map((r) => r.p50Ns)), stall: medianOf(readings.map(stallOf)) };
}

export function readingState(reading: SentinelReading, reference: SentinelReference | null): RoundState {
  if (reference === null || reference.p50Ns <= 0) return "unknown";
  const ratio = reading.p50Ns / reference.p50Ns;
  if (ratio > STATE_RATIO || ratio < 1 / STATE_RATIO) return "other";
  return stallOf(reading) > STALL_RATIO * reference.stall ? "other" : "usual";
}

/**
 * A round's state from the readings around it (indices into `readings`; null when there is none on
 * that side): "other" if either is, "unknown" if neither exists.
 */
export function roundState(
  readings: readonly SentinelReading[],
  reference: SentinelReference | null,
  before: number | null,
  after: number | null,
): RoundState {
  const states = [before, after].flatMap((i) => {
    const r = i === null ? undefined : readings[i];
    return r === undefined ? [] : [readingState(r, reference)];
  });
  if (states.includes("other")) return "other";
  return states.includes("usual") ? "usual" : "unknown";
}

/** The probe settings of one sentinel reading. */
export function sentinelRunSettings(s: SentinelSettings): RunSettings {
  return { budgetMs: s.budgetMs, warmupMs: s.warmupMs, maxSamples: 1_000_000 };
}

export function sentinelMechanism(all: readonly Mechanism[]): Mechanism | undefined {
  return all.find((m) => m.name === "cacheline");
}
