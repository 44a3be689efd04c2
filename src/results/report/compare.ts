/**
 * Comparison of two or more results (two machines, or one machine native and virtualised): per mechanism,
 * message size and placement class, each result's figure side by side with its ratio to the first result.
 * As a table (exact figures, ratios coloured: green is better, red worse) and as a dumbbell chart (one dot
 * per result on a log axis, joined by a line).
 */
import type { ResultFile } from "../../bench/result.js";
import type { ProbeMode } from "../../bench/probe.js";
import { PLACEMENT_CLASSES, type PlacementClass } from "../../bench/topology.js";
import { classFigures, figureKey, mechanismsOf, sizesOf } from "./data.js";
import {
  formatLatency,
  formatNsShort,
  formatRatio,
  formatSize,
  formatThroughput,
  formatThroughputShort,
} from "./format.js";
import { markup, join, type Markup } from "./html.js";
import { decadeDomain, logDomain } from "./scale.js";
import { dataTable, th } from "./tables.js";
import { type Chart, horizontalAxis, logAxis, MUTED, swatches, textWidth, translate } from "./svg.js";

export const RESULT_COLORS: readonly string[] = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#e15759", "#76b7b2"];

export function resultColor(i: number): string {
  return RESULT_COLORS[i % RESULT_COLORS.length] ?? "#555";
}

/** A, B, ..., Z, AA, AB, ... */
export function resultLetter(i: number): string {
  const letter = String.fromCharCode(65 + (i % 26));
  return i < 26 ? letter : resultLetter(Math.floor(i / 26) - 1) + letter;
}

/** What tells one result from another in a legend: CPU, virtualisation, date and time (UTC). */
export function resultLabel(doc: ResultFile): string {
  const env = doc.machine.environment;
  const virt = env.virtualization.hypervisor ? `${env.virtualization.vendor ?? "hypervisor"} guest` : "bare metal";
  const when = doc.createdAt.slice(0, 16).replace("T", " ");
  return `${env.cpu.model ?? "unknown CPU"} · ${doc.machine.topology.cpus.length} CPUs · ${virt} · ${when}`;
}

export interface ComparisonRow {
  mechanism: string;
  size: number;
  placement: PlacementClass;
  /** One figure per result, null where that result has none. */
  values: (number | null)[];
}

/** Every (mechanism, size, class) that at least two of the results measured. */
export function comparisonRows(docs: readonly ResultFile[], mode: ProbeMode): ComparisonRow[] {
  const figures = docs.map((d) => classFigures(d, mode));
  const mechanisms = [...new Set(docs.flatMap((d) => mechanismsOf(d, mode)))];
  const sizes = [...new Set(docs.flatMap((d) => sizesOf(d, mode)))].sort((a, b) => a - b);
  const rows: ComparisonRow[] = [];
  for (const mechanism of mechanisms) {
    for (const size of sizes) {
      for (const placement of PLACEMENT_CLASSES) {
        const key = figureKey(mechanism, size, placement);
        const values = figures.map((f) => f.get(key)?.value ?? null);
        if (values.filter((v) => v !== null).length >= 2) rows.push({ mechanism, size, placement, values });
      }
    }
  }
  return rows;
}

/** Green when better than the first result, red when worse, white when within a few percent. */
export function ratioColor(ratio: number, better: "lower" | "higher"): string {
  const l = Math.log2(ratio) * (better === "lower" ? -1 : 1);
  const t = Math.max(-1, Math.min(1, l / 2));
  if (Math.abs(t) < 0.03) return "#ffffff";
  const [r, g, b] = t > 0 ? [46, 160, 67] : [215, 58, 73];
  const mix = (c: number) => Math.round(255 + (c - 255) * Math.abs(t) * 0.7);
  return `#${[mix(r), mix(g), mix(b)].map((c) => c.toString(16).padStart(2, "0")).join("")}`;
}

function formatter(mode: ProbeMode): (v: number) => string {
  return mode === "latency" ? formatLatency : formatThroughput;
}

/** The table: mechanism, size, class, then each result's figure and (after the first) its ratio to the first. */
export function comparisonTable(docs: readonly ResultFile[], mode: ProbeMode): Markup | null {
  const rows = comparisonRows(docs, mode);
  if (rows.length === 0) return null;
  const format = formatter(mode);
  const better = mode === "latency" ? "lower" : "higher";
  const head = docs.map((_, i) =>
    i === 0
      ? markup`<th>${resultLetter(i)}</th>`
      : markup`<th>${resultLetter(i)}</th>
          <th class="ratio">${resultLetter(i)}/${resultLetter(0)}</th>`,
  );
  const body = rows.map((row) => {
    const first = row.values[0] ?? null;
    const cells = row.values.map((v, i) => {
      const value = markup`<td class="num">${v === null ? "—" : format(v)}</td>`;
      if (i === 0) return value;
      if (v === null || first === null)
        return markup`${value}
          <td class="num ratio">—</td>`;
      const ratio = v / first;
      return markup`${value}
        <td class="num ratio" style="background:${ratioColor(ratio, better)}">${formatRatio(ratio)}</td>`;
    });
    return markup`<tr>
      <td>${row.mechanism}</td>
      <td class="num">${formatSize(row.size)}</td>
      <td>${row.placement}</td>
      ${cells}
    </tr>`;
  });
  return dataTable(markup`${th("mechanism", "size", "placement")}${head}`, body, "data compare");
}

/** The dumbbell chart: a row per (mechanism, size, class), a dot per result, the ratio of the last to the first. */
export function comparisonChart(docs: readonly ResultFile[], mode: ProbeMode): Chart | null {
  const rows = comparisonRows(docs, mode);
  if (rows.length === 0) return null;
  const format = formatter(mode);
  const short = mode === "latency" ? formatNsShort : formatThroughputShort;
  const multipleSizes = new Set(rows.map((r) => r.size)).size > 1;
  const rowLabel = (r: ComparisonRow) =>
    multipleSizes ? `${r.mechanism} · ${formatSize(r.size)} · ${r.placement}` : `${r.mechanism} · ${r.placement}`;
  const left = Math.max(...rows.map((r) => textWidth(rowLabel(r), 9))) + 12;
  const plotW = 440;
  const row = 14;
  const legend = swatches(
    docs.map((d, i) => ({ color: resultColor(i), label: `${resultLetter(i)}: ${resultLabel(d)}` })),
    left + plotW + 90,
  );
  const top = 24 + legend.height + 16;
  const domain = decadeDomain(logDomain(rows.flatMap((r) => r.values.filter((v): v is number => v !== null))));
  const axis = logAxis(domain, left, plotW, 9);
  const title =
    mode === "latency"
      ? "Comparison: latency, round trip, median (lower is better)"
      : "Comparison: throughput, one way (higher is better)";
  const bands = rows.map((_, i) =>
    i % 2 === 0
      ? markup`<rect x="0" y="${top + i * row}" width="${left + plotW}" height="${row}" fill="#f6f7f9" />`
      : markup``,
  );
  const parts: Markup[] = [
    markup`<text class="title" x="0" y="14" font-size="13" font-weight="bold">${title}</text>`,
    translate(0, 22, legend.body),
    ...bands,
    horizontalAxis(axis, top - 4, top + rows.length * row, short),
  ];
  const better = mode === "latency" ? "lower" : "higher";
  rows.forEach((r, i) => {
    const y = top + i * row + row / 2;
    const present = r.values.flatMap((v, k) => (v === null ? [] : [{ v, k }]));
    const xs = present.map((p) => axis.at(p.v));
    const dots = present.map(
      ({ v, k }) =>
        markup`<circle
          class="dot"
          cx="${axis.at(v)}"
          cy="${y}"
          r="4"
          fill="${resultColor(k)}"
          stroke="#fff"
          stroke-width="0.8"
          ><title>${resultLetter(k)}: ${r.mechanism}, ${formatSize(r.size)}, ${r.placement}: ${format(v)}</title></circle
        >`,
    );
    const first = r.values[0] ?? null;
    const last = r.values.at(-1) ?? null;
    const ratio =
      first !== null && last !== null
        ? markup`<text x="${left + plotW + 8}" y="${y + 3}" font-size="9" fill="${MUTED}"
            >${resultLetter(r.values.length - 1)}/A ${formatRatio(last / first)}</text
          >`
        : markup``;
    parts.push(
      markup`<text x="${left - 8}" y="${y + 3}" text-anchor="end" font-size="9">${rowLabel(r)}</text
        ><line
          x1="${Math.min(...xs)}"
          x2="${Math.max(...xs)}"
          y1="${y}"
          y2="${y}"
          stroke="${first !== null && last !== null ? ratioStroke(last / first, better) : "#bbb"}"
          stroke-width="2"
        />${dots}${ratio}`,
    );
  });
  return { width: left + plotW + 90, height: top + rows.length * row + 24, body: join(parts) };
}

function ratioStroke(ratio: number, better: "lower" | "higher"): string {
  const improved = better === "lower" ? ratio < 1 : ratio > 1;
  return Math.abs(Math.log2(ratio)) < 0.05 ? "#b8bec6" : improved ? "#7cc08a" : "#e49aa2";
}
