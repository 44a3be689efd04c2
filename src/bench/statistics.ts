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
