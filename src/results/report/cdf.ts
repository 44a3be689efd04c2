/**
 * Latency distributions: the cumulative distribution of each mechanism's kept samples (a thinned copy of every
 * round trip, in the order taken) on one pair of CPUs, on a log time axis. Node-level mechanisms are dashed.
 * The axis ends at the slowest series' 99.9th percentile; slower samples are drawn on the right edge.
 */
import type { ResultFile } from "../../bench/result.js";
import { percentile } from "../../bench/statistics.js";
import { type FocusPair, isNodeMechanism, type Measurement, measurements, mechanismsOf } from "./data.js";
import { formatLatency, formatNsShort, formatSize } from "./format.js";
import { markup, join, type Markup } from "./html.js";
import { decadeDomain, logDomain, seriesColor } from "./scale.js";
import { type Chart, GRID, horizontalAxis, logAxis, MUTED, textWidth } from "./svg.js";

const MAX_POINTS = 300;

/** The colour of a mechanism in every chart of one result: by its position in the result's list. */
export function mechanismColor(doc: ResultFile, mechanism: string): string {
  const i = mechanismsOf(doc).indexOf(mechanism);
  return seriesColor(i < 0 ? 0 : i);
}

/** The latency runs on exactly this ordered pair at the smallest latency size measured there. */
export function pairLatencyRuns(doc: ResultFile, pair: FocusPair): Measurement[] {
  const runs = measurements(doc).filter(
    (r) => r.mode === "latency" && r.cpus[0] === pair.cpus[0] && r.cpus[1] === pair.cpus[1],
  );
  const size = Math.min(...runs.map((r) => r.size));
  return runs.filter((r) => r.size === size);
}

export function cdfChart(doc: ResultFile, pair: FocusPair): Chart | null {
  const series = pairLatencyRuns(doc, pair)
    .filter((r) => r.samples.length > 0)
    .map((run) => ({ run, sorted: [...run.samples].sort((a, b) => a - b) }))
    .sort((a, b) => a.run.value - b.run.value);
  if (series.length === 0) return null;

  const lo = Math.min(...series.map((s) => s.sorted[0] ?? 1));
  const hi = Math.max(...series.map((s) => percentile(s.sorted, 0.999)));
  const domain = decadeDomain(logDomain([lo, hi]));
  const left = 42;
  const top = 44;
  const plotW = 540;
  const plotH = 250;
  const axis = logAxis(domain, left, plotW, 9);
  const yOf = (q: number) => top + plotH - q * plotH;

  const parts: Markup[] = [
    markup`<text class="title" x="0" y="14" font-size="13" font-weight="bold"
        >Latency distribution, CPU ${pair.cpus[0]} → CPU ${pair.cpus[1]} (${pair.placement})</text
      ><text x="0" y="30" font-size="10" fill="${MUTED}"
        >Cumulative fraction of round trips (${formatSize(series[0]?.run.size ?? 0)}) at or below a time; kept samples
        of each test</text
      >`,
    horizontalAxis(axis, top, top + plotH, formatNsShort, "round trip"),
  ];
  for (const q of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    const label = q === 0.5 ? "p50" : q === 0.9 ? "p90" : `${q * 100}%`;
    parts.push(
      markup`<line x1="${left}" x2="${left + plotW}" y1="${yOf(q)}" y2="${yOf(q)}" stroke="${GRID}" /><text
          x="${left - 5}"
          y="${yOf(q) + 3}"
          text-anchor="end"
          font-size="9"
          fill="${MUTED}"
          >${label}</text
        >`,
    );
  }

  const legendX = left + plotW + 24;
  series.forEach(({ run, sorted }, i) => {
    const color = mechanismColor(doc, run.mechanism);
    const dashed = isNodeMechanism(doc, run.mechanism);
    const n = sorted.length;
    const count = Math.min(n, MAX_POINTS);
    const points: string[] = [];
    for (let k = 0; k < count; k++) {
      const index = count === 1 ? 0 : Math.round((k * (n - 1)) / (count - 1));
      const x = Math.min(axis.at(sorted[index] ?? 0), left + plotW);
      points.push(`${x.toFixed(1)},${yOf((index + 1) / n).toFixed(1)}`);
    }
    const x0 = Math.min(axis.at(sorted[0] ?? 0), left + plotW);
    const path = `M${x0.toFixed(1)},${yOf(0).toFixed(1)}L${points.join("L")}`;
    const p99 = run.stats.p99 === undefined ? "" : `, p99 ${formatLatency(run.stats.p99)}`;
    parts.push(
      markup`<path
        class="cdf"
        d="${path}"
        fill="none"
        stroke="${color}"
        stroke-width="1.8"
        ${dashed ? markup` stroke-dasharray="5 3"` : markup``}
        ><title>${run.mechanism}: median ${formatLatency(run.value)}${p99}, ${n} of ${run.samplesOf} samples kept</title></path
      >`,
    );
    const ly = top + i * 16;
    const mark = dashed
      ? markup`<line x1="0" x2="16" y1="5" y2="5" stroke="${color}" stroke-width="2.5" stroke-dasharray="4 2" />`
      : markup`<line x1="0" x2="16" y1="5" y2="5" stroke="${color}" stroke-width="2.5" />`;
    parts.push(
      markup`<g transform="translate(${legendX} ${ly})"
        >${mark}<text x="21" y="9" font-size="10">${run.mechanism}</text
        ><text x="${21 + textWidth(run.mechanism, 10) + 6}" y="9" font-size="9" fill="${MUTED}"
          >${formatLatency(run.value)}</text
        ></g
      >`,
    );
  });
  const legendWidth = Math.max(...series.map((s) => textWidth(s.run.mechanism, 10) + 80));
  const height = Math.max(top + plotH + 34, top + series.length * 16 + 8);
  return { width: legendX + legendWidth, height, body: join(parts) };
}
