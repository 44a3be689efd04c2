/**
 * What every chart is made of: a Chart is a size and a body of SVG markup drawn from (0, 0), so charts can
 * be placed inside one another, embedded in the page, or rendered alone (to a PNG). Text uses DejaVu Sans
 * (installed with most Linux desktops, and the font the PNG renderer is given), whose widths the layout
 * estimates with {@link textWidth}.
 */
import { markup, join, type Markup } from "./html.js";
import { logScale, logTicks } from "./scale.js";

export interface Chart {
  width: number;
  height: number;
  body: Markup;
}

export const FONT_FAMILY = "'DejaVu Sans', Verdana, 'Segoe UI', sans-serif";
export const INK = "#1d232b";
export const MUTED = "#5c6670";
export const GRID = "#e3e6ea";

/** Width of a text run in DejaVu Sans: about 0.6 em per character on average. */
export function textWidth(text: string, fontSize: number): number {
  return text.length * fontSize * 0.6;
}

/** A standalone SVG document; `label` is its accessible name. */
export function svgDocument(chart: Chart, label: string, className = "chart"): Markup {
  return markup`<svg
    xmlns="http://www.w3.org/2000/svg"
    class="${className}"
    role="img"
    aria-label="${label}"
    width="${chart.width}"
    height="${chart.height}"
    viewBox="0 0 ${chart.width} ${chart.height}"
    font-family="${FONT_FAMILY}"
    font-size="11"
    fill="${INK}"
  >
    <rect class="background" width="${chart.width}" height="${chart.height}" fill="#fff" />
    ${chart.body}
  </svg>`;
}

export function translate(x: number, y: number, body: Markup): Markup {
  return markup`<g transform="translate(${x} ${y})">${body}</g>`;
}

/** Charts side by side in rows no wider than `maxWidth`, each row as tall as its tallest chart. */
export function gridOf(charts: readonly Chart[], maxWidth: number, gap = 16): Chart {
  const parts: Markup[] = [];
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  let width = 0;
  for (const chart of charts) {
    if (x > 0 && x + chart.width > maxWidth) {
      y += rowHeight + gap;
      x = 0;
      rowHeight = 0;
    }
    parts.push(translate(x, y, chart.body));
    x += chart.width + gap;
    width = Math.max(width, x - gap);
    rowHeight = Math.max(rowHeight, chart.height);
  }
  return { width, height: y + rowHeight, body: join(parts) };
}

/** One chart above another, left-aligned. */
export function stack(charts: readonly Chart[], gap = 12): Chart {
  const parts: Markup[] = [];
  let y = 0;
  for (const chart of charts) {
    parts.push(translate(0, y, chart.body));
    y += chart.height + gap;
  }
  return { width: Math.max(0, ...charts.map((c) => c.width)), height: Math.max(0, y - gap), body: join(parts) };
}

export interface LogAxis {
  /** x (or y) of a value. */
  at(value: number): number;
  ticks: number[];
}

export function logAxis(domain: [number, number], start: number, length: number, maxTicks: number): LogAxis {
  const scale = logScale(domain);
  return { at: (v) => start + scale(v) * length, ticks: logTicks(domain, maxTicks) };
}

/** A horizontal log axis: grid lines from `top` to `bottom`, tick labels below `bottom`. */
export function horizontalAxis(
  axis: LogAxis,
  top: number,
  bottom: number,
  format: (v: number) => string,
  caption?: string,
): Markup {
  const ticks = axis.ticks.map(
    (v) =>
      markup`<line x1="${axis.at(v)}" x2="${axis.at(v)}" y1="${top}" y2="${bottom}" stroke="${GRID}" /><text
          x="${axis.at(v)}"
          y="${bottom + 12}"
          text-anchor="middle"
          font-size="9"
          fill="${MUTED}"
          >${format(v)}</text
        >`,
  );
  const first = axis.ticks[0] ?? 0;
  const last = axis.ticks.at(-1) ?? 0;
  const label =
    caption === undefined
      ? markup``
      : markup`<text
          x="${(axis.at(first) + axis.at(last)) / 2}"
          y="${bottom + 25}"
          text-anchor="middle"
          font-size="9"
          fill="${MUTED}"
          >${caption}</text
        >`;
  return markup`<g class="axis">${ticks}${label}</g>`;
}

/** A row of coloured swatches with labels, for series legends. */
export function swatches(
  items: readonly { color: string; label: string; dashed?: boolean }[],
  maxWidth: number,
): Chart {
  const parts: Markup[] = [];
  let x = 0;
  let y = 0;
  for (const item of items) {
    const w = 22 + textWidth(item.label, 10) + 14;
    if (x > 0 && x + w > maxWidth) {
      x = 0;
      y += 16;
    }
    const mark = item.dashed
      ? markup`<line
          x1="${x}"
          x2="${x + 16}"
          y1="${y + 6}"
          y2="${y + 6}"
          stroke="${item.color}"
          stroke-width="2.5"
          stroke-dasharray="4 2"
        />`
      : markup`<rect x="${x}" y="${y}" width="16" height="11" rx="2" fill="${item.color}" />`;
    parts.push(markup`${mark}<text x="${x + 21}" y="${y + 9.5}" font-size="10">${item.label}</text>`);
    x += w;
  }
  return { width: maxWidth, height: y + 14, body: join(parts) };
}
