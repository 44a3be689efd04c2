/**
 * Throughput: mechanism × message size × placement class, as grouped horizontal bars on a shared log axis.
 * One panel per message size, one row per mechanism (Node-level ones on a tinted band), one bar per
 * placement class, coloured by class. A class whose tests all failed shows "failed"; a bar whose test spun
 * with both sides on one CPU ends with "!".
 */
import type { ResultFile } from "../../bench/result.js";
import type { PlacementClass } from "../../bench/topology.js";
import {
  classFigures,
  failedRuns,
  figureKey,
  isNodeMechanism,
  mechanismsOf,
  placementsOf,
  sizesOf,
  type ClassFigure,
} from "./data.js";
import { formatSize, formatThroughput, formatThroughputShort } from "./format.js";
import { markup, join, type Markup } from "./html.js";
import { decadeDomain, logDomain } from "./scale.js";
import { type Chart, horizontalAxis, logAxis, MUTED, swatches, textWidth, translate } from "./svg.js";

export const PLACEMENT_COLORS: Readonly<Record<PlacementClass, string>> = {
  "same-cpu": "#9aa3ad",
  "smt-sibling": "#b07aa1",
  "shared-l2": "#4e79a7",
  "shared-l3": "#59a14f",
  "same-package": "#f28e2b",
  "cross-package": "#e15759",
};

export const NODE_BAND = "#fff3e0";

function barTooltip(mechanism: string, size: number, placement: PlacementClass, figure: ClassFigure): Markup {
  const pairs = figure.runs.map((r) => r.cpus.join("→")).join(", ");
  const spin = figure.spinOnSharedCpu ? "\nboth sides spin on one CPU" : "";
  const failed = figure.failed > 0 ? `\n${figure.failed} failed` : "";
  return markup`<title>${mechanism}, ${formatSize(size)}, ${placement}: ${formatThroughput(figure.value)} (CPUs ${pairs})${spin}${failed}</title>`;
}

export function throughputChart(doc: ResultFile): Chart | null {
  const mechanisms = mechanismsOf(doc, "throughput");
  const sizes = sizesOf(doc, "throughput");
  const classes = placementsOf(doc, "throughput");
  if (mechanisms.length === 0) return null;
  const figures = classFigures(doc, "throughput");
  const domain = decadeDomain(logDomain([...figures.values()].map((f) => f.value)));

  const left = Math.max(...mechanisms.map((m) => textWidth(m, 10))) + 12;
  const panel = sizes.length > 2 ? 230 : 300;
  const gap = 22;
  const bar = 8;
  const rowHeight = classes.length * (bar + 1) + 9;
  const legend = swatches(
    classes.map((c) => ({ color: PLACEMENT_COLORS[c], label: c })),
    left + sizes.length * (panel + gap),
  );
  const top = 22 + legend.height + 26;
  const bottom = top + mechanisms.length * rowHeight;

  const parts: Markup[] = [
    markup`<text class="title" x="0" y="14" font-size="13" font-weight="bold"
      >Throughput, one way (payload bytes per second)</text
    >`,
    translate(0, 24, legend.body),
  ];
  mechanisms.forEach((m, i) => {
    const y = top + i * rowHeight;
    if (isNodeMechanism(doc, m)) {
      parts.push(
        markup`<rect
          x="0"
          y="${y - 2}"
          width="${left + sizes.length * (panel + gap) - gap}"
          height="${rowHeight - 3}"
          fill="${NODE_BAND}"
        />`,
      );
    }
    parts.push(markup`<text x="${left - 8}" y="${y + rowHeight / 2}" text-anchor="end" font-size="10">${m}</text>`);
  });

  sizes.forEach((size, p) => {
    const x0 = left + p * (panel + gap);
    const axis = logAxis(domain, x0, panel - 36, Math.floor(panel / 55));
    parts.push(
      markup`<text x="${x0}" y="${top - 10}" font-size="11" font-weight="bold">${formatSize(size)} messages</text>`,
      horizontalAxis(axis, top - 4, bottom, formatThroughputShort),
    );
    mechanisms.forEach((m, i) => {
      const y = top + i * rowHeight;
      classes.forEach((c, k) => {
        const by = y + k * (bar + 1);
        const figure = figures.get(figureKey(m, size, c));
        if (figure === undefined) {
          const failed = failedRuns(doc).some(
            (r) => r.mode === "throughput" && r.mechanism === m && r.size === size && r.placement === c,
          );
          if (failed) {
            parts.push(markup`<text x="${x0 + 2}" y="${by + 7.5}" font-size="8" fill="#b3261e">failed (${c})</text>`);
          }
          return;
        }
        const x1 = axis.at(figure.value);
        parts.push(
          markup`<rect
            class="bar"
            x="${x0}"
            y="${by}"
            width="${Math.max(1, x1 - x0)}"
            height="${bar}"
            fill="${PLACEMENT_COLORS[c]}"
            >${barTooltip(m, size, c, figure)}</rect
          >`,
        );
        if (figure.spinOnSharedCpu) {
          parts.push(markup`<text x="${x1 + 2}" y="${by + 7.5}" font-size="8" font-weight="bold">!</text>`);
        }
      });
    });
  });
  const note = classes.includes("same-cpu")
    ? markup`<text x="0" y="${bottom + 30}" font-size="9" fill="${MUTED}"
        >Tinted rows: Node-level mechanisms. ! both sides spin on one CPU: each wait lasts a scheduler time slice.</text
      >`
    : markup`<text x="0" y="${bottom + 30}" font-size="9" fill="${MUTED}">Tinted rows: Node-level mechanisms.</text>`;
  parts.push(note);
  return { width: left + sizes.length * (panel + gap) - gap + 4, height: bottom + 36, body: join(parts) };
}
