/**
 * Summary statistics of one test's samples. Percentiles interpolate linearly between the two
 * nearest ranks (Hyndman & Fan type 7, as numpy and R default), so they are exact for any n and
 * never quantised. The input is never modified.
 */

export interface Statistics {
  readonly n: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
  /** Sample standard deviation (n - 1). 0 when n is 1. */
  readonly stddev: number;
  /** Noise: coefficient of variation, stddev / mean. */
  readonly cv: number;
  /**
   * Drift: (median of the last quarter - median of the first quarter) / overall median, in the
   * order the samples were taken. Near 0 for a steady test; large when the machine changed under
   * it (frequency scaling, a noisy neighbour, thermal throttling). 0 when n < 8.
   */
  readonly drift: number;
}

export class StatisticsError extends Error {
  readonly code = "ESTATS";
}

/** Percentile q (0..1) of ascending-sorted values, linear between closest ranks. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new StatisticsError("percentile of no samples");
  if (!(q >= 0 && q <= 1)) throw new StatisticsError(`percentile rank ${q} is outside 0..1`);
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (h - lo) * (b - a);
}

function median(values: Float64Array): number {
  return percentile(Float64Array.from(values).sort(), 0.5);
}

export function summarize(samples: ArrayLike<number>): Statistics {
  const n = samples.length;
  if (n === 0) throw new StatisticsError("no samples to summarise");
  const sorted = Float64Array.from(samples);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(sorted[i])) throw new StatisticsError(`sample ${i} is not a finite number: ${sorted[i]}`);
  }
  sorted.sort();

  // Welford's update keeps the variance accurate when values are large and close together.
  let mean = 0;
  let m2 = 0;
  for (let i = 0; i < n; i++) {
    const x = sorted[i] as number;
    const d = x - mean;
    mean += d / (i + 1);
    m2 += d * (x - mean);
  }
  const stddev = n > 1 ? Math.sqrt(m2 / (n - 1)) : 0;
  const p50 = percentile(sorted, 0.5);

  let drift = 0;
  if (n >= 8 && p50 !== 0) {
    const quarter = Math.floor(n / 4);
    const ordered = Float64Array.from(samples);
    drift = (median(ordered.subarray(n - quarter)) - median(ordered.subarray(0, quarter))) / p50;
  }

  return {
    n,
    min: sorted[0] as number,
    p50,
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted[n - 1] as number,
    mean,
    stddev,
    cv: mean !== 0 ? stddev / mean : 0,
    drift,
  };
}

/** At most `cap` samples, evenly spaced in the order taken (so drift stays visible), first and last kept. */
export function thin(samples: ArrayLike<number>, cap: number): number[] {
  const n = samples.length;
  if (n <= cap) return Array.from(samples);
  if (cap < 2) return cap === 1 ? [samples[0] as number] : [];
  const out: number[] = [];
  for (let i = 0; i < cap; i++) out.push(samples[Math.round((i * (n - 1)) / (cap - 1))] as number);
  return out;
}

/**
 * The shortest window a throughput run's statistics are taken over. A throughput probe times batches of
 * 64 KiB; the rate of one batch is not a throughput a reader sees: a reader that slept (futex, pipe) drains
 * the queued batches at memory speed, so per-batch rates run far above the real one. A window of 1 ms holds
 * many batches at every rate above 64 MB/s and many of a sleeping reader's wake-and-drain cycles, so its rate
 * is a rate over time; and the default budgets still give a hundred windows or more, enough for a
 * distribution in which a slow spell of the machine shows.
 */
export const THROUGHPUT_WINDOW_NS = 1_000_000;

export interface ThroughputWindows {
  /** Bytes per second of each window, in time order. */
  readonly rates: Float64Array;
  /** The windows' common length in ns: THROUGHPUT_WINDOW_NS up to twice that, or the whole phase if shorter. */
  readonly windowNs: number;
}

/**
 * Throughput over fixed time windows: the measured phase, given as its consecutive batch durations
 * (`batchNs`, each batch moving `batchBytes`), cut into k = max(1, floor(T / minWindowNs)) equal windows
 * (so none is left over and the windows' mean is exactly the phase's rate). A batch that straddles a window
 * boundary is shared between the windows in proportion to its time in each.
 */
export function throughputWindows(
  batchNs: ArrayLike<number>,
  batchBytes: number,
  minWindowNs = THROUGHPUT_WINDOW_NS,
): ThroughputWindows {
  let total = 0;
  for (let i = 0; i < batchNs.length; i++) {
    const d = batchNs[i] as number;
    if (!(Number.isFinite(d) && d >= 0)) throw new StatisticsError(`batch ${i} lasted ${d} ns: not a duration`);
    total += d;
  }
  if (!(total > 0)) throw new StatisticsError(`${batchNs.length} batches took no time: no throughput to window`);
  const k = Math.max(1, Math.floor(total / minWindowNs));
  const windowNs = total / k;
  const bytes = new Float64Array(k);
  let t = 0;
  let w = 0;
  for (let i = 0; i < batchNs.length; i++) {
    const d = batchNs[i] as number;
    const end = t + d;
    // Walk the windows this batch covers, giving each its share of the batch's bytes.
    let at = t;
    for (;;) {
      while (w < k - 1 && (w + 1) * windowNs <= at) w++;
      const until = w === k - 1 ? end : Math.min(end, (w + 1) * windowNs);
      bytes[w] = (bytes[w] as number) + (d === 0 ? batchBytes : (batchBytes * (until - at)) / d);
      if (until >= end) break;
      at = until;
    }
    t = end;
  }
  return { rates: bytes.map((b) => (b * 1e9) / windowNs), windowNs };
}
