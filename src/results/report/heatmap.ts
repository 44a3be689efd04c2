/**
 * CPU-by-CPU latency heatmaps: one cell per ordered pair (row: the CPU that sends first, column: its peer),
 * coloured by the median round trip on a logarithmic scale. Axes run in topology order (package > die >
 * last-level cache > core > SMT sibling) with white lines between groups, thicker for larger groups and
 * ticks beyond the edge, so a machine's topology shows at a glance. A pair that was not run is grey and
 * hatched, a failed test is pink with a cross, and a test both of whose sides spun on one CPU carries a
 * corner mark (its figure is a scheduler time slice, not the mechanism's cost). A test flagged unstable,
 * machine-state or asymmetric (its rounds disagree, it was taken in an odd machine state, or its mirrored cell
 * disagrees: bench/rounds.ts) carries a dashed ring, and its tooltip says which and gives its rounds' range.
 *
 * The title gives min, median and max of the cells; the legend under the matrix gives the scale in ns.
 * In the page, heatmaps are small multiples on one shared scale; each may also carry its own scale, which
 * the page's "scale: each its own" switch shows (the cells keep their own-scale colour in `data-own`).
 */
import type { ResultFile } from "../../bench/result.js";
import {
  type Cell,
  DOUBT_FLAGS,
  doubtful,
  type HeatmapAxis,
  latencyCells,
  type LatencySeries,
  median,
  pairKey,
} from "./data.js";
import { formatLatency, formatNsShort, formatSize } from "./format.js";
import { markup, join, type Markup } from "./html.js";
import { type ColorScale, colorScale, inkOn, logDomain, logScale, logTicks, sequentialColor } from "./scale.js";
import { type Chart, gridOf, MUTED, stack, textWidth } from "./svg.js";

const LEFT = 30;
const TOP = 58;
const LEGEND_MIN_WIDTH = 180;
const MISSING_FILL = "#f0f1f3";
const FAILED_FILL = "#f6c9c4";
const FLAG_INK = "#d4380d";

export interface HeatmapOptions {
  /** The scale the cells are drawn with (a shared one for small multiples). */
  scale: ColorScale;
  /** A second scale, the heatmap's own, that the page can switch to. */
  alternate?: ColorScale;
  /** Cell size in px; by default the matrix is about 300 px wide. */
  cellSize?: number;
  /** Per-cell tooltips; they weigh on big machines. Default: up to 48 CPUs. */
  tooltips?: boolean;
}

export function defaultCellSize(cpus: number): number {
  return Math.max(4, Math.min(52, Math.floor(300 / Math.max(1, cpus))));
}

export function heatmapTitle(series: LatencySeries, sizes: number): string {
  return sizes > 1 ? `${series.mechanism} · ${formatSize(series.size)}` : series.mechanism;
}

function onAxis(cells: ReadonlyMap<string, Cell>, axis: HeatmapAxis): Cell[] {
  const cpus = new Set(axis.cpus);
  return [...cells.values()].filter((c) => cpus.has(c.run.cpus[0]) && cpus.has(c.run.cpus[1]));
}

function spins(cell: Cell): boolean {
  return cell.kind === "ok" && cell.run.flags.includes("spin-on-shared-cpu");
}

/**
 * The figures a heatmap's title and colour scale are made of: its successful cells, less those where both
 * sides spun on one CPU (their figure is a scheduler time slice, orders of magnitude off the mechanism's
 * cost, and would flatten the scale; they are drawn clamped, marked, and named in the legend). When every
 * cell spun, all of them.
 */
export function cellValues(cells: ReadonlyMap<string, Cell>, axis: HeatmapAxis): number[] {
  const ok = onAxis(cells, axis).filter((c): c is Extract<Cell, { kind: "ok" }> => c.kind === "ok");
  const measured = ok.filter((c) => !spins(c));
  return (measured.length > 0 ? measured : ok).map((c) => c.value);
}

/** The figures of the cells where both sides spun on one CPU. */
export function spinValues(cells: ReadonlyMap<string, Cell>, axis: HeatmapAxis): number[] {
  return onAxis(cells, axis).flatMap((c) => (c.kind === "ok" && spins(c) ? [c.value] : []));
}

const BOUNDARY_WIDTH = { package: 3, die: 2, cache: 1.5, core: 0.75 } as const;

/** The scale bar: a gradient of the log colour scale with ticks in ns. */
function legendBar(scale: ColorScale, width: number, className: string, hidden: boolean): Markup {
  const steps = 48;
  const rects: Markup[] = [];
  for (let i = 0; i < steps; i++) {
    rects.push(
      markup`<rect
        x="${(i * width) / steps}"
        y="0"
        width="${i === steps - 1 ? width / steps : width / steps + 1}"
        height="9"
        fill="${sequentialColor(i / (steps - 1))}"
      />`,
    );
  }
  const at = logScale(scale.domain);
  const ticks = logTicks(scale.domain, Math.max(2, Math.floor(width / 46))).map(
    (v) =>
      markup`<line x1="${at(v) * width}" x2="${at(v) * width}" y1="9" y2="12" stroke="${MUTED}" /><text
          x="${at(v) * width}"
          y="21"
          text-anchor="middle"
          font-size="9"
          fill="${MUTED}"
          >${formatNsShort(v)}</text
        >`,
  );
  return markup`<g class="${className}"${hidden ? markup` display="none"` : markup``}>${rects}${ticks}</g>`;
}

function cellTooltip(from: number, to: number, cell: Cell): Markup {
  if (cell.kind === "failed") {
    const { code, message } = cell.run.error;
    return markup`<title>CPU ${from} → CPU ${to} · ${cell.run.placement}${"\n"}failed: ${code} ${message}</title>`;
  }
  const s = cell.run.stats;
  const figures = [
    s.p50 === undefined ? `mean ${formatLatency(cell.value)}` : `median ${formatLatency(s.p50)}`,
    s.p99 === undefined ? null : `p99 ${formatLatency(s.p99)}`,
    s.min === undefined ? null : `min ${formatLatency(s.min)}`,
    s.n === undefined ? null : `n ${s.n}`,
    cell.run.legacy ? "ipc-bench" : null,
  ].filter((f) => f !== null);
  const spin = cell.run.flags.includes("spin-on-shared-cpu")
    ? "\nboth sides spin on one CPU: a scheduler time slice"
    : "";
  const r = cell.run.rounds;
  const rounds =
    r === undefined ? "" : `\n${r.kept} of ${r.of} rounds counted: ${formatLatency(r.min)} to ${formatLatency(r.max)}`;
  const doubt = doubtful(cell.run)
    ? `\nflagged: ${cell.run.flags.filter((f) => DOUBT_FLAGS.includes(f)).join(", ")}`
    : "";
  return markup`<title>CPU ${from} → CPU ${to} · ${cell.run.placement}${"\n"}${figures.join(" · ")}${spin}${rounds}${doubt}</title>`;
}

/** One mechanism's heatmap. */
export function heatmapChart(
  doc: ResultFile,
  series: LatencySeries,
  axis: HeatmapAxis,
  title: string,
  options: HeatmapOptions,
): Chart {
  const cells = latencyCells(doc, series.mechanism, series.size);
  const n = axis.cpus.length;
  const s = options.cellSize ?? defaultCellSize(n);
  const side = n * s;
  const tooltips = options.tooltips ?? n <= 48;
  const parts: Markup[] = [];

  // Title: mechanism, then min / median / max of the cells.
  const values = cellValues(cells, axis);
  const stats =
    values.length === 0
      ? "no successful test"
      : `min ${formatLatency(Math.min(...values))} · median ${formatLatency(median(values))} · max ${formatLatency(Math.max(...values))}`;
  parts.push(
    markup`<text class="title" x="0" y="14" font-size="13" font-weight="bold">${title}</text
      ><text class="stats" x="0" y="30" font-size="10" fill="${MUTED}">${stats}</text>`,
  );

  // CPU labels, spaced so that they do not collide.
  const stride = Math.ceil(13 / s);
  const labels: Markup[] = [];
  axis.cpus.forEach((cpu, i) => {
    if (i % stride !== 0) return;
    const c = i * s + s / 2;
    labels.push(
      markup`<text x="${LEFT + c}" y="${TOP - 5}" text-anchor="middle" font-size="9" fill="${MUTED}">${cpu}</text
        ><text x="${LEFT - 5}" y="${TOP + c + 3}" text-anchor="end" font-size="9" fill="${MUTED}">${cpu}</text>`,
    );
  });
  parts.push(
    markup`<g class="labels">${labels}</g><text x="0" y="${TOP - 16}" font-size="8" fill="${MUTED}">from ↓ to →</text>`,
  );

  // Cells.
  const cellMarks: Markup[] = [];
  let missing = 0;
  let failed = 0;
  let spinning = 0;
  let flagged = 0;
  axis.cpus.forEach((from, i) => {
    axis.cpus.forEach((to, j) => {
      const x = LEFT + j * s;
      const y = TOP + i * s;
      const cell = cells.get(pairKey(from, to));
      if (cell === undefined) {
        missing++;
        const hatch =
          s >= 6 ? markup`<path d="M${x} ${y + s}L${x + s} ${y}" stroke="#d3d6db" stroke-width="1" />` : markup``;
        cellMarks.push(
          markup`<rect
              class="cell-missing"
              x="${x}"
              y="${y}"
              width="${s}"
              height="${s}"
              fill="${MISSING_FILL}"
            />${hatch}`,
        );
        return;
      }
      const tip = tooltips ? cellTooltip(from, to, cell) : markup``;
      if (cell.kind === "failed") {
        failed++;
        const m = s * 0.25;
        cellMarks.push(
          markup`<rect class="cell-failed" x="${x}" y="${y}" width="${s}" height="${s}" fill="${FAILED_FILL}">${tip}</rect
            ><path
              d="M${x + m} ${y + m}L${x + s - m} ${y + s - m}M${x + s - m} ${y + m}L${x + m} ${y + s - m}"
              stroke="#b3261e"
              stroke-width="${Math.max(1, s / 16)}"
            />`,
        );
        return;
      }
      const fill = options.scale.color(cell.value);
      const own = options.alternate?.color(cell.value);
      cellMarks.push(
        markup`<rect
          class="cell"
          x="${x}"
          y="${y}"
          width="${s}"
          height="${s}"
          fill="${fill}"
          ${own === undefined ? markup`` : markup` data-own="${own}"`}
          >${tip}</rect
        >`,
      );
      if (doubtful(cell.run)) {
        // A dashed ring inside the cell: its rounds disagree, it was taken in an odd state, or its mirror disagrees.
        flagged++;
        const k = Math.max(1, s * 0.12);
        cellMarks.push(
          markup`<rect
            class="flagged"
            x="${x + k}"
            y="${y + k}"
            width="${s - 2 * k}"
            height="${s - 2 * k}"
            fill="none"
            stroke="${FLAG_INK}"
            stroke-width="${Math.max(1, s / 20)}"
            stroke-dasharray="${Math.max(2, s / 10)} ${Math.max(1.5, s / 16)}"
          />`,
        );
      }
      if (cell.run.flags.includes("spin-on-shared-cpu")) {
        spinning++;
        const k = Math.max(3, s * 0.38);
        cellMarks.push(
          markup`<path class="spin" d="M${x} ${y}h${k}L${x} ${y + k}z" fill="#fff" stroke="#111" stroke-width="0.5" />`,
        );
      }
      if (s >= 44) {
        cellMarks.push(
          markup`<text
            class="value"
            x="${x + s / 2}"
            y="${y + s / 2 + 3.5}"
            text-anchor="middle"
            font-size="10"
            fill="${inkOn(fill)}"
            ${own === undefined ? markup`` : markup` data-own-ink="${inkOn(own)}"`}
            >${formatNsShort(cell.value)}</text
          >`,
        );
      }
    });
  });
  parts.push(markup`<g class="cells">${cellMarks}</g>`);

  // Group boundaries: white lines across the matrix, and ticks beyond its edges for the larger groups.
  const lines: Markup[] = [];
  for (const b of axis.boundaries) {
    if (b.level === "core" && s < 8) continue;
    const p = b.index * s;
    const w = BOUNDARY_WIDTH[b.level];
    const tick = b.level === "core" ? 0 : b.level === "cache" ? 5 : 9;
    lines.push(
      markup`<path
        class="boundary boundary-${b.level}"
        d="M${LEFT + p} ${TOP}V${TOP + side}M${LEFT} ${TOP + p}H${LEFT + side}"
        stroke="#fff"
        stroke-width="${w}"
      />`,
    );
    if (tick > 0) {
      lines.push(
        markup`<path
          d="M${LEFT + p} ${TOP - tick}V${TOP}M${LEFT - tick} ${TOP + p}H${LEFT}M${LEFT + p} ${TOP + side}v${tick}M${LEFT + side} ${TOP + p}h${tick}"
          stroke="#444"
          stroke-width="${Math.min(w, 2)}"
        />`,
      );
    }
  }
  parts.push(
    markup`<g class="boundaries">${lines}</g
      ><rect
        x="${LEFT}"
        y="${TOP}"
        width="${side}"
        height="${side}"
        fill="none"
        stroke="#9aa3ad"
        stroke-width="0.75"
      />`,
  );

  // Legend: the scale bar (and the alternate one, hidden), then what the marks mean.
  const legendWidth = Math.max(side, LEGEND_MIN_WIDTH);
  let y = TOP + side + 14;
  const bars = [legendBar(options.scale, legendWidth, "legend legend-main", false)];
  if (options.alternate !== undefined) bars.push(legendBar(options.alternate, legendWidth, "legend legend-own", true));
  parts.push(markup`<g transform="translate(${LEFT} ${y})">${bars}</g>`);
  y += 26;
  const keys: Markup[] = [];
  let kx = LEFT;
  const key = (mark: Markup, label: string) => {
    keys.push(
      markup`<g transform="translate(${kx} ${y})"
        >${mark}<text x="14" y="9" font-size="9" fill="${MUTED}">${label}</text></g
      >`,
    );
    kx += 14 + textWidth(label, 9) + 12;
  };
  if (missing > 0) {
    key(
      markup`<rect width="10" height="10" fill="${MISSING_FILL}" stroke="#c9cdd2" stroke-width="0.5" /><path
          d="M0 10L10 0"
          stroke="#c9cdd2"
        />`,
      `not run (${missing})`,
    );
  }
  if (failed > 0) {
    key(
      markup`<rect width="10" height="10" fill="${FAILED_FILL}" /><path
          d="M2.5 2.5L7.5 7.5M7.5 2.5L2.5 7.5"
          stroke="#b3261e"
        />`,
      `failed (${failed})`,
    );
  }
  const spun = spinValues(cells, axis);
  if (spinning > 0 && spun.length > 0) {
    const lo = Math.min(...spun);
    const hi = Math.max(...spun);
    const range = lo === hi ? formatLatency(lo) : `${formatLatency(lo)}–${formatLatency(hi)}`;
    key(
      markup`<rect width="10" height="10" fill="#777" /><path
          d="M0 0h5L0 5z"
          fill="#fff"
          stroke="#111"
          stroke-width="0.5"
        />`,
      `spin on one CPU (${spinning}): ${range}`,
    );
  }
  if (flagged > 0) {
    key(
      markup`<rect x="1" y="1" width="8" height="8" fill="#fff" stroke="${FLAG_INK}" stroke-dasharray="2 1.5" />`,
      `flagged (${flagged}): hover for why`,
    );
  }
  if (keys.length > 0) {
    parts.push(markup`<g class="keys">${keys}</g>`);
    y += 14;
  }
  const width = Math.max(LEFT + legendWidth + 8, textWidth(stats, 10) + 4, textWidth(title, 13) + 4, kx);
  return { width, height: y + 2, body: join(parts) };
}

export interface HeatmapSet {
  /** The scale every heatmap of the set shares. */
  shared: ColorScale;
  charts: { series: LatencySeries; title: string; chart: Chart; own: ColorScale }[];
}

/**
 * Every latency heatmap of a result on one shared logarithmic scale, each also carrying its own scale
 * (as the alternate when `withAlternate`, else not at all).
 */
export function heatmapSet(
  doc: ResultFile,
  axis: HeatmapAxis,
  all: readonly LatencySeries[],
  withAlternate: boolean,
): HeatmapSet {
  const sizes = new Set(all.map((s) => s.size)).size;
  const valuesOf = new Map(all.map((s) => [s, cellValues(latencyCells(doc, s.mechanism, s.size), axis)] as const));
  const shared = colorScale(logDomain([...valuesOf.values()].flat()));
  const charts = all.map((series) => {
    const own = colorScale(logDomain(valuesOf.get(series) ?? []));
    const title = heatmapTitle(series, sizes);
    const chart = heatmapChart(doc, series, axis, title, {
      scale: shared,
      ...(withAlternate ? { alternate: own } : {}),
    });
    return { series, title, chart, own };
  });
  return { shared, charts };
}

/** The small multiples as one picture (for a PNG): a title line, then the heatmaps in rows. */
export function smallMultiplesChart(set: HeatmapSet, maxWidth = 1240): Chart {
  const [lo, hi] = set.shared.domain;
  const heading: Chart = {
    width: 600,
    height: 18,
    body: markup`<text x="0" y="13" font-size="12" fill="${MUTED}"
      >Latency, round trip, median per pair, one scale for all: ${formatLatency(lo)} to ${formatLatency(hi)}</text
    >`,
  };
  return stack([
    heading,
    gridOf(
      set.charts.map((c) => c.chart),
      maxWidth,
      28,
    ),
  ]);
}

/** The page's legend above the small multiples: the shared scale and what the marks mean. */
export function sharedLegendChart(scale: ColorScale, width = 440): Chart {
  const keys = markup`<g transform="translate(20 52)"
    ><rect width="10" height="10" fill="${MISSING_FILL}" stroke="#c9cdd2" stroke-width="0.5" /><path
      d="M0 10L10 0"
      stroke="#c9cdd2"
    /><text x="14" y="9" font-size="9" fill="${MUTED}">not run</text
    ><g transform="translate(72 0)"
      ><rect width="10" height="10" fill="${FAILED_FILL}" /><path
        d="M2.5 2.5L7.5 7.5M7.5 2.5L2.5 7.5"
        stroke="#b3261e"
      /><text x="14" y="9" font-size="9" fill="${MUTED}">failed</text></g
    ><g transform="translate(136 0)"
      ><rect width="10" height="10" fill="#777" /><path
        d="M0 0h5L0 5z"
        fill="#fff"
        stroke="#111"
        stroke-width="0.5"
      /><text x="14" y="9" font-size="9" fill="${MUTED}"
        >both sides spin on one CPU: a scheduler time slice, off the scale</text
      ></g
    ><g transform="translate(0 16)"
      ><rect x="1" y="1" width="8" height="8" fill="#fff" stroke="${FLAG_INK}" stroke-dasharray="2 1.5" /><text
        x="14"
        y="9"
        font-size="9"
        fill="${MUTED}"
        >flagged: rounds disagree, taken in an odd machine state, or its mirrored cell disagrees</text
      ></g
    ></g
  >`;
  return {
    width: width + 40,
    height: 82,
    body: markup`<text x="0" y="12" font-size="11">Median round trip, one logarithmic scale for every heatmap</text
      ><g transform="translate(20 20)">${legendBar(scale, width, "legend legend-shared", false)}</g>${keys}`,
  };
}
