/**
 * The site's own charts, as inline SVG, for what the report does not draw: converted ipc-bench runs
 * (latency heatmaps on a shared scale, for the paper's Figure 3) and throughput bars with error bars
 * (mean ± sd of repeated runs, for its Figure 4). Axes in topology order (package > die > last-level cache
 * > core > SMT sibling) with lines between packages and caches, so a machine's layout shows at a glance.
 */
import { orderedCpus, type Topology } from "../../bench/topology.js";
import { formatNs, formatRate } from "./figures.js";
import { h, type Html, joinHtml, trustedHtml } from "./html.js";

/** A logarithmic colour scale over [lo, hi] (ns), light (fast) to dark (slow). */
export interface Scale {
  lo: number;
  hi: number;
}

const STOPS: readonly [number, number, number][] = [
  [255, 247, 188],
  [254, 196, 79],
  [236, 112, 20],
  [204, 76, 2],
  [102, 37, 6],
];

export function colour(scale: Scale, value: number): string {
  const { lo, hi } = scale;
  const t =
    hi > lo ? (Math.log(Math.max(lo, Math.min(hi, value))) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) : 0.5;
  const x = t * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = STOPS[i] ?? [0, 0, 0];
  const b = STOPS[i + 1] ?? [0, 0, 0];
  const c = a.map((v, k) => Math.round(v + f * ((b[k] ?? 0) - v)));
  return `rgb(${c.join(",")})`;
}

export interface Cell {
  value: number;
  /** The figure is a scheduler time slice (both sides spun on one CPU): drawn hatched, left out of scales. */
  spin: boolean;
}

/** A scale covering the cells that are figures of the mechanism (not spin artefacts, not below zero). */
export function scaleOf(cells: Iterable<Cell>, floor: number): Scale | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of cells) {
    if (c.spin) continue;
    const v = Math.max(c.value, floor);
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return Number.isFinite(lo) ? { lo, hi: Math.max(hi, lo * 1.01) } : null;
}

export function mergeScales(scales: readonly (Scale | null)[]): Scale | null {
  const real = scales.filter((s): s is Scale => s !== null);
  if (real.length === 0) return null;
  return { lo: Math.min(...real.map((s) => s.lo)), hi: Math.max(...real.map((s) => s.hi)) };
}

function groups(t: Topology): { package: Map<number, number>; llc: Map<number, string> } {
  const pkg = new Map(t.cpus.map((c) => [c.cpu, c.package]));
  const llc = new Map<number, { level: number; key: string }>();
  for (const cache of t.caches) {
    if (cache.type === "instruction") continue;
    for (const cpu of cache.cpus) {
      const had = llc.get(cpu);
      if (had === undefined || cache.level > had.level) llc.set(cpu, { level: cache.level, key: cache.cpus.join(",") });
    }
  }
  return { package: pkg, llc: new Map([...llc].map(([cpu, v]) => [cpu, v.key])) };
}

/** A CPU-by-CPU heatmap (row: first CPU, column: second) of `cells` keyed "a-b". */
export function heatmap(
  title: string,
  topology: Topology,
  cells: ReadonlyMap<string, Cell>,
  scale: Scale,
  options: { cellSize?: number; floor?: number } = {},
): Html {
  const cpus = orderedCpus(topology);
  const n = cpus.length;
  const size = options.cellSize ?? Math.max(4, Math.min(28, Math.floor(336 / Math.max(1, n))));
  const left = 26;
  const top = 8;
  const width = left + n * size + 8;
  const height = top + n * size + 44;
  const rects: string[] = [];
  const values: number[] = [];
  for (const [i, a] of cpus.entries()) {
    for (const [j, b] of cpus.entries()) {
      const cell = cells.get(`${a}-${b}`);
      const x = left + j * size;
      const y = top + i * size;
      if (cell === undefined) {
        rects.push(`<rect x="${x}" y="${y}" width="${size}" height="${size}" fill="#eceff3"/>`);
        continue;
      }
      if (!cell.spin) values.push(cell.value);
      const fill = cell.spin ? "#b9c0cc" : colour(scale, Math.max(cell.value, options.floor ?? 0));
      const tip =
        n <= 24
          ? `<title>cpu ${a} → cpu ${b}: ${formatNs(cell.value)}${cell.spin ? " (spin on one CPU)" : ""}</title>`
          : "";
      rects.push(`<rect x="${x}" y="${y}" width="${size}" height="${size}" fill="${fill}">${tip}</rect>`);
    }
  }
  // Lines between last-level caches (thin) and packages (thick).
  const g = groups(topology);
  const sharedLlc = [...g.llc.values()].some((key) => key.includes(","));
  const lines: string[] = [];
  for (let i = 1; i < n; i++) {
    const prev = cpus[i - 1] ?? 0;
    const cur = cpus[i] ?? 0;
    const llcLines = sharedLlc; // a cache per CPU (a VM's view) draws no line per CPU
    const w = g.package.get(prev) !== g.package.get(cur) ? 2 : llcLines && g.llc.get(prev) !== g.llc.get(cur) ? 1 : 0;
    if (w === 0) continue;
    const p = i * size;
    lines.push(
      `<line x1="${left + p}" y1="${top}" x2="${left + p}" y2="${top + n * size}" stroke="#fff" stroke-width="${w}"/>`,
    );
    lines.push(
      `<line x1="${left}" y1="${top + p}" x2="${left + n * size}" y2="${top + p}" stroke="#fff" stroke-width="${w}"/>`,
    );
  }
  const labels: string[] = [];
  const every = Math.max(1, Math.ceil(10 / size));
  for (const [i, cpu] of cpus.entries()) {
    if (i % every !== 0) continue;
    const c = top + i * size + size / 2 + 3;
    labels.push(`<text x="${left - 3}" y="${c}" text-anchor="end" font-size="8" fill="#6b7280">${cpu}</text>`);
  }
  const sorted = values.sort((a, b) => a - b);
  const med = sorted.length === 0 ? null : (sorted[Math.floor((sorted.length - 1) / 2)] ?? null);
  // A figure under the floor was printed as 0 by a source with a coarse resolution.
  const show = (v: number) => (v < (options.floor ?? 0) ? `< ${formatNs(options.floor ?? 0)}` : formatNs(v));
  const summary =
    sorted.length === 0
      ? "no figures"
      : `min ${show(sorted[0] ?? 0)} · median ${show(med ?? 0)} · max ${show(sorted.at(-1) ?? 0)}`;
  const legend = legendBar(scale, left, top + n * size + 10, Math.max(120, n * size));
  return h`<figure><svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${title}">${trustedSvg(rects.join("") + lines.join("") + labels.join(""))}${legend}</svg><figcaption><strong>${title}</strong><br>${summary}</figcaption></figure>`;
}

/** SVG this module generated: from numbers, or with every text escaped by {@link escapeText}. */
const trustedSvg = trustedHtml;

function legendBar(scale: Scale, x: number, y: number, width: number): Html {
  const steps = 32;
  const parts: string[] = [];
  for (let i = 0; i < steps; i++) {
    const v = Math.exp(Math.log(scale.lo) + ((i + 0.5) / steps) * (Math.log(scale.hi) - Math.log(scale.lo)));
    parts.push(
      `<rect x="${x + (i * width) / steps}" y="${y}" width="${width / steps + 0.5}" height="8" fill="${colour(scale, v)}"/>`,
    );
  }
  return joinHtml([
    trustedSvg(parts.join("")),
    h`<text x="${x}" y="${y + 20}" font-size="9" fill="#4a5568">${formatNs(scale.lo)}</text>`,
    h`<text x="${x + width}" y="${y + 20}" font-size="9" fill="#4a5568" text-anchor="end">${formatNs(scale.hi)}</text>`,
  ]);
}

export interface Bar {
  label: string;
  /** Bars of one group: one per series (a pair of CPUs, an environment). */
  values: { series: string; mean: number; sd: number | null }[];
}

const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f", "#edc948"];

/** Grouped bars of throughput (B/s) with ±sd error bars, a legend of the series. */
export function barChart(title: string, groupsOf: readonly Bar[]): Html {
  const series = [...new Set(groupsOf.flatMap((g) => g.values.map((v) => v.series)))];
  const barW = 9;
  const gap = 14;
  const groupW = series.length * barW + gap;
  const left = 58;
  const top = 10;
  const plotH = 180;
  const width = left + groupsOf.length * groupW + 10;
  const height = top + plotH + 80 + Math.ceil(series.length / 4) * 14;
  const max = Math.max(1, ...groupsOf.flatMap((g) => g.values.map((v) => v.mean + (v.sd ?? 0))));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    parts.push(
      `<line x1="${left}" y1="${y(v)}" x2="${width - 10}" y2="${y(v)}" stroke="#e5e7eb"/>`,
      `<text x="${left - 4}" y="${y(v) + 3}" font-size="9" text-anchor="end" fill="#4a5568">${escapeText(formatRate(v))}</text>`,
    );
  }
  groupsOf.forEach((group, gi) => {
    const gx = left + gi * groupW + gap / 2;
    group.values.forEach((v) => {
      const si = series.indexOf(v.series);
      const x = gx + si * barW;
      parts.push(
        `<rect x="${x}" y="${y(v.mean)}" width="${barW - 1}" height="${top + plotH - y(v.mean)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeText(`${group.label} · ${v.series}: ${formatRate(v.mean)}${v.sd === null ? "" : ` ± ${formatRate(v.sd)}`}`)}</title></rect>`,
      );
      if (v.sd !== null && v.sd > 0) {
        const cx = x + (barW - 1) / 2;
        parts.push(
          `<line x1="${cx}" y1="${y(v.mean + v.sd)}" x2="${cx}" y2="${y(Math.max(0, v.mean - v.sd))}" stroke="#111" stroke-width="1"/>`,
        );
      }
    });
    parts.push(
      `<text transform="translate(${gx + (series.length * barW) / 2},${top + plotH + 8}) rotate(35)" font-size="9" fill="#1d2330">${escapeText(group.label)}</text>`,
    );
  });
  series.forEach((s, i) => {
    const lx = left + (i % 4) * 180;
    const ly = top + plotH + 62 + Math.floor(i / 4) * 14;
    parts.push(
      `<rect x="${lx}" y="${ly - 8}" width="9" height="9" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text x="${lx + 13}" y="${ly}" font-size="10" fill="#1d2330">${escapeText(s)}</text>`,
    );
  });
  return h`<figure><svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${title}">${trustedSvg(parts.join(""))}</svg><figcaption><strong>${title}</strong></figcaption></figure>`;
}

/** Escapes text placed in SVG built as strings (labels may come from result files). */
function escapeText(text: string): string {
  return h`${text}`.text;
}
