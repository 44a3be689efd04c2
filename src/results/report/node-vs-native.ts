/**
 * "What Node gives you": the Node-level mechanisms beside the native ones on one pair of CPUs, fastest first.
 * Latency: a bar to the median round trip and a whisker to the 99th percentile. Throughput: one panel per
 * message size. Node-level bars are orange, native ones blue; the headline compares the best of each,
 * computed from the result.
 */
import type { ResultFile } from "../../bench/result.js";
import { pairLatencyRuns } from "./cdf.js";
import { type FocusPair, isNodeMechanism, type Measurement, measurements, sizesOf } from "./data.js";
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
import { type Chart, horizontalAxis, logAxis, MUTED, swatches, textWidth, translate } from "./svg.js";

export const NODE_COLOR = "#f28e2b";
export const NATIVE_COLOR = "#4e79a7";

function legend(width: number): Chart {
  return swatches(
    [
      { color: NATIVE_COLOR, label: "native (C engine)" },
      { color: NODE_COLOR, label: "Node (node:net, worker_threads, child_process)" },
    ],
    width,
  );
}

/** "Node's best, X, is N× slower than the native best, Y": computed, never typed in. */
export function nodeHeadline(
  doc: ResultFile,
  runs: readonly Measurement[],
  better: "lower" | "higher",
  format: (v: number) => string,
): string | null {
  const best = (node: boolean) =>
    runs
      .filter((r) => isNodeMechanism(doc, r.mechanism) === node)
      .sort((a, b) => (better === "lower" ? a.value - b.value : b.value - a.value))[0];
  const node = best(true);
  const native = best(false);
  if (node === undefined || native === undefined) return null;
  const named = (r: Measurement) => `${r.mechanism} (${format(r.value)})`;
  const [a, b] = [node.value, native.value];
  if (better === "lower") {
    return a >= b
      ? `Node's best, ${named(node)}, takes ${formatRatio(a / b)} the round trip of the native best, ${named(native)}`
      : `Node's best, ${named(node)}, beats the native best, ${named(native)}, by ${formatRatio(b / a)}`;
  }
  return a <= b
    ? `Node's best, ${named(node)}, moves ${formatRatio(b / a)} less than the native best, ${named(native)}`
    : `Node's best, ${named(node)}, moves ${formatRatio(a / b)} more than the native best, ${named(native)}`;
}

export function nodeLatencyChart(doc: ResultFile, pair: FocusPair): Chart | null {
  const runs = pairLatencyRuns(doc, pair).sort((a, b) => a.value - b.value);
  if (runs.length === 0 || !runs.some((r) => isNodeMechanism(doc, r.mechanism))) return null;
  const domain = decadeDomain(logDomain(runs.flatMap((r) => [r.value, r.stats.p99 ?? r.value])));
  const left = Math.max(...runs.map((r) => textWidth(r.mechanism, 10))) + 12;
  const plotW = 460;
  const key = legend(left + plotW);
  const headline = nodeHeadline(doc, runs, "lower", formatLatency);
  const top = 40 + key.height + 8;
  const row = 17;
  const axis = logAxis(domain, left, plotW, 9);
  const parts: Markup[] = [
    markup`<text class="title" x="0" y="14" font-size="13" font-weight="bold"
        >What Node gives you: latency, CPU ${pair.cpus[0]} → CPU ${pair.cpus[1]} (${pair.placement})</text
      ><text class="headline" x="0" y="30" font-size="10" fill="${MUTED}">${headline ?? ""}</text>`,
    translate(0, 38, key.body),
    horizontalAxis(
      axis,
      top - 4,
      top + runs.length * row,
      formatNsShort,
      "round trip: bar to the median, whisker to p99",
    ),
  ];
  runs.forEach((r, i) => {
    const y = top + i * row;
    const color = isNodeMechanism(doc, r.mechanism) ? NODE_COLOR : NATIVE_COLOR;
    const x50 = axis.at(r.value);
    const x99 = axis.at(r.stats.p99 ?? r.value);
    const p99 = r.stats.p99 === undefined ? "" : `, p99 ${formatLatency(r.stats.p99)}`;
    parts.push(
      markup`<text x="${left - 8}" y="${y + 10}" text-anchor="end" font-size="10">${r.mechanism}</text
        ><rect class="bar" x="${left}" y="${y + 2}" width="${Math.max(1, x50 - left)}" height="11" fill="${color}"
          ><title>${r.mechanism}: median ${formatLatency(r.value)}${p99}</title></rect
        ><path d="M${x50} ${y + 7.5}H${x99}M${x99} ${y + 4}V${y + 11}" stroke="${color}" stroke-width="1.2" /><text
          x="${Math.max(x50, x99) + 5}"
          y="${y + 11}"
          font-size="9"
          fill="${MUTED}"
          >${formatLatency(r.value)}</text
        >`,
    );
  });
  return { width: left + plotW + 70, height: top + runs.length * row + 34, body: join(parts) };
}

export function nodeThroughputChart(doc: ResultFile, pair: FocusPair): Chart | null {
  const onPair = measurements(doc).filter(
    (r) => r.mode === "throughput" && r.cpus[0] === pair.cpus[0] && r.cpus[1] === pair.cpus[1],
  );
  if (!onPair.some((r) => isNodeMechanism(doc, r.mechanism))) return null;
  const sizes = sizesOf(doc, "throughput").filter((s) => onPair.some((r) => r.size === s));
  const domain = decadeDomain(logDomain(onPair.map((r) => r.value)));
  const panel = 300;
  const gap = 26;
  const row = 15;
  const bySize = sizes.map((size) => onPair.filter((r) => r.size === size).sort((a, b) => b.value - a.value));
  const rows = Math.max(...bySize.map((r) => r.length));
  const labelW = Math.max(...onPair.map((r) => textWidth(r.mechanism, 9))) + 8;
  const width = sizes.length * (labelW + panel + gap) - gap;
  const key = legend(width);
  const headlines = sizes
    .map((size, i) => {
      const h = nodeHeadline(doc, bySize[i] ?? [], "higher", formatThroughput);
      return h === null ? null : `${formatSize(size)}: ${h}`;
    })
    .filter((h): h is string => h !== null);
  const top = 38 + headlines.length * 13 + key.height + 26;
  const parts: Markup[] = [
    markup`<text class="title" x="0" y="14" font-size="13" font-weight="bold"
      >What Node gives you: throughput, CPU ${pair.cpus[0]} → CPU ${pair.cpus[1]} (${pair.placement})</text
    >`,
    ...headlines.map(
      (h, i) => markup`<text class="headline" x="0" y="${30 + i * 13}" font-size="10" fill="${MUTED}">${h}</text>`,
    ),
    translate(0, 36 + headlines.length * 13, key.body),
  ];
  sizes.forEach((size, p) => {
    const x0 = p * (labelW + panel + gap) + labelW;
    const axis = logAxis(domain, x0, panel - 20, 6);
    parts.push(
      markup`<text x="${x0 - labelW}" y="${top - 10}" font-size="11" font-weight="bold"
        >${formatSize(size)} messages</text
      >`,
      horizontalAxis(axis, top - 4, top + rows * row, formatThroughputShort),
    );
    (bySize[p] ?? []).forEach((r, i) => {
      const y = top + i * row;
      const color = isNodeMechanism(doc, r.mechanism) ? NODE_COLOR : NATIVE_COLOR;
      parts.push(
        markup`<text x="${x0 - 5}" y="${y + 9.5}" text-anchor="end" font-size="9">${r.mechanism}</text
          ><rect
            class="bar"
            x="${x0}"
            y="${y + 2}"
            width="${Math.max(1, axis.at(r.value) - x0)}"
            height="10"
            fill="${color}"
            ><title>${r.mechanism}, ${formatSize(size)}: ${formatThroughput(r.value)}</title></rect
          >`,
      );
    });
  });
  return { width, height: top + rows * row + 22, body: join(parts) };
}
