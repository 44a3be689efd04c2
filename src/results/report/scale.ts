/**
 * Scales and colours of the report's charts: logarithmic axes (latencies span six decades, from a cache
 * line's 50 ns to a spinning pair's time slice), their ticks, the sequential colour map of heatmaps and the
 * categorical colours of series. Every scale accepts any positive domain, a single value included.
 */

/** A positive domain, widened when it is one value so that it still has a direction. */
export function logDomain(values: readonly number[]): [number, number] {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return [1, 10];
  let lo = Math.min(...positive);
  let hi = Math.max(...positive);
  if (hi / lo < 1.5) {
    const mid = Math.sqrt(lo * hi);
    lo = mid / 1.5;
    hi = mid * 1.5;
  }
  return [lo, hi];
}

/** The domain widened to whole decades, for axes whose ticks should sit at the ends. */
export function decadeDomain([lo, hi]: [number, number]): [number, number] {
  return [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi))];
}

export interface LogScale {
  readonly domain: [number, number];
  /** Position of a value in 0..1, clamped. */
  (value: number): number;
}

export function logScale(domain: [number, number]): LogScale {
  const [lo, hi] = domain;
  const a = Math.log(lo);
  const span = Math.log(hi) - a || 1;
  const f = (value: number): number => {
    if (!(value > 0)) return 0;
    return Math.min(1, Math.max(0, (Math.log(value) - a) / span));
  };
  return Object.assign(f, { domain });
}

/**
 * Ticks of a log axis: powers of ten, with 2 and 5 between them when the domain spans few decades, and
 * the domain's ends when they are not close to a tick.
 */
export function logTicks([lo, hi]: [number, number], maxTicks = 8): number[] {
  const first = Math.floor(Math.log10(lo));
  const last = Math.ceil(Math.log10(hi));
  for (const steps of [[1, 2, 5], [1, 3], [1]]) {
    const ticks: number[] = [];
    for (let e = first; e <= last; e++) {
      for (const m of steps) {
        const v = m * 10 ** e;
        if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
      }
    }
    if (ticks.length <= maxTicks && ticks.length >= 2) return ticks;
    if (ticks.length > maxTicks && steps.length === 1) {
      const stride = Math.ceil(ticks.length / maxTicks);
      return ticks.filter((_, i) => i % stride === 0);
    }
  }
  return [lo, hi];
}

type Rgb = [number, number, number];

function hexToRgb(hex: string): Rgb {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function rgbToHex([r, g, b]: Rgb): string {
  return "#" + [r, g, b].map((c) => Math.round(c).toString(16).padStart(2, "0")).join("");
}

/** Viridis (perceptually uniform, readable by colour-blind people and in grey): dark is fast, yellow slow. */
const VIRIDIS = [
  "#440154",
  "#482475",
  "#414487",
  "#355f8d",
  "#2a788e",
  "#21918c",
  "#22a884",
  "#44bf70",
  "#7ad151",
  "#bddf26",
  "#fde725",
].map(hexToRgb);

/** The colour at t in 0..1 of the sequential map. */
export function sequentialColor(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const a = VIRIDIS[i] as Rgb;
  const b = VIRIDIS[i + 1] as Rgb;
  const f = x - i;
  return rgbToHex([a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f]);
}

/** Black or white, whichever reads better on a background colour. */
export function inkOn(background: string): string {
  const [r, g, b] = hexToRgb(background);
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? "#111" : "#fff";
}

export interface ColorScale {
  readonly domain: [number, number];
  color(value: number): string;
}

export function colorScale(domain: [number, number]): ColorScale {
  const scale = logScale(domain);
  return { domain, color: (value) => sequentialColor(scale(value)) };
}

/** Distinct colours for series (Tableau 10, then darker variants). */
export const SERIES_COLORS: readonly string[] = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#79706e",
  "#1f4e79",
  "#a0522d",
  "#2e7d32",
  "#6a1b9a",
  "#c62828",
  "#00838f",
  "#5d4037",
];

export function seriesColor(i: number): string {
  return SERIES_COLORS[i % SERIES_COLORS.length] ?? "#555";
}
