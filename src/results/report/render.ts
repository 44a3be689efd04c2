/**
 * The report: one self-contained HTML document for one or more results. No network at all: charts are
 * inline SVG, the style sheet and the one small script are inline, and a Content-Security-Policy forbids
 * every load and every script but that one (by its hash), so even markup that escaped escaping could not
 * run or call out. Everything from a result file is escaped (see html.ts).
 *
 * With two or more results, a comparison comes first, then each result's own sections.
 * `renderCharts` gives the same charts as standalone SVG documents, for PNG export and the results site.
 */
import { createHash } from "node:crypto";
import type { ResultFile } from "../../bench/result.js";
import { cdfChart } from "./cdf.js";
import { comparisonChart, comparisonTable, resultColor, resultLabel, resultLetter } from "./compare.js";
import { focusPair, heatmapAxis, latencySeries } from "./data.js";
import { machineLine } from "./format.js";
import { heatmapChart, heatmapSet, sharedLegendChart, smallMultiplesChart } from "./heatmap.js";
import { markup, join, type Markup, trusted } from "./html.js";
import { machineSummary } from "./machine.js";
import { roundsNote, sentinelChart } from "./sentinel.js";
import { nodeLatencyChart, nodeThroughputChart } from "./node-vs-native.js";
import { type Chart, svgDocument } from "./svg.js";
import { failedTable, figureTable, mechanismTable } from "./tables.js";
import { throughputChart } from "./throughput.js";
import { topologyChart } from "./topology-svg.js";

export interface ReportOptions {
  /** The page title; by default it names the machine (one result) or the number of results. */
  title?: string;
}

export interface NamedChart {
  /** A file-name-safe name: "topology", "heatmaps", "heatmap-<mechanism>", "throughput", ... */
  name: string;
  /** A standalone SVG document. */
  svg: string;
}

/** Mechanism names are tokens already; this keeps a name usable as a file name whatever it holds. */
export function chartFileName(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-")
      .replace(/-{2,}/g, "-")
      .replace(/^-+|-+$/g, "") || "chart"
  );
}

/** Every chart of one result, each as a standalone SVG document. Heatmaps alone use their own scale. */
export function renderCharts(doc: ResultFile): NamedChart[] {
  const out: NamedChart[] = [];
  const add = (name: string, label: string, chart: Chart | null) => {
    if (chart !== null) out.push({ name: chartFileName(name), svg: svgDocument(chart, label).text });
  };
  add("topology", "CPU topology", topologyChart(doc.machine.topology));
  const axis = heatmapAxis(doc.machine.topology);
  const series = latencySeries(doc);
  if (series.length > 0) {
    const set = heatmapSet(doc, axis, series, false);
    add("heatmaps", "latency heatmaps of every mechanism on one scale", smallMultiplesChart(set));
    for (const { series: s, title, own } of set.charts) {
      const name =
        set.charts.length > new Set(set.charts.map((c) => c.series.mechanism)).size
          ? `${s.mechanism}-${s.size}`
          : s.mechanism;
      add(`heatmap-${name}`, `latency heatmap: ${title}`, heatmapChart(doc, s, axis, title, { scale: own }));
    }
  }
  add("throughput", "throughput by mechanism, message size and placement class", throughputChart(doc));
  add("sentinel", "sentinel timeline", sentinelChart(doc));
  const pair = focusPair(doc);
  if (pair !== null) {
    add("latency-cdf", "latency distributions", cdfChart(doc, pair));
    add("node-latency", "what Node gives you: latency", nodeLatencyChart(doc, pair));
    add("node-throughput", "what Node gives you: throughput", nodeThroughputChart(doc, pair));
  }
  return out;
}

/** The comparison charts of two or more results. */
export function renderComparisonCharts(docs: readonly ResultFile[]): NamedChart[] {
  if (docs.length < 2) return [];
  const out: NamedChart[] = [];
  for (const mode of ["latency", "throughput"] as const) {
    const chart = comparisonChart(docs, mode);
    if (chart !== null) out.push({ name: `compare-${mode}`, svg: svgDocument(chart, `comparison: ${mode}`).text });
  }
  return out;
}

function figure(chart: Chart | null, label: string, className = "chart"): Markup {
  return chart === null ? markup`` : markup`<figure class="${className}">${svgDocument(chart, label)}</figure>`;
}

function details(summary: string, body: Markup | null): Markup {
  return body === null
    ? markup``
    : markup`<details>
        <summary>${summary}</summary>
        <div class="scroll">${body}</div>
      </details>`;
}

function resultSection(doc: ResultFile, index: number, many: boolean): Markup {
  const id = `r${index}`;
  const heading = many
    ? markup`<h2 id="${id}">
        <span class="badge" style="background:${resultColor(index)}">${resultLetter(index)}</span> ${resultLabel(doc)}
      </h2>`
    : markup`<h2 id="${id}">Machine</h2>`;
  const axis = heatmapAxis(doc.machine.topology);
  const series = latencySeries(doc);
  const pair = focusPair(doc);

  let heatmaps: Markup;
  if (series.length === 0) {
    heatmaps = markup`<p class="muted">No latency tests in this result.</p>`;
  } else {
    const set = heatmapSet(doc, axis, series, true);
    const grid = set.charts.map(
      (c) =>
        markup`<figure class="heatmap">${svgDocument(c.chart, `latency heatmap: ${c.title}`, "chart heatmap")}</figure>`,
    );
    heatmaps = markup`<div class="heatmaps" data-scale="shared">
      <div class="toolbar" hidden>
        Colour scale: <button type="button" data-scale="shared" aria-pressed="true">one for all</button
        ><button type="button" data-scale="own" aria-pressed="false">each its own</button>
      </div>
      <figure class="shared-legend">
        ${svgDocument(sharedLegendChart(set.shared), "heatmap colour scale", "chart legend")}
      </figure>
      <div class="grid">${grid}</div>
    </div>`;
  }

  const pairText =
    pair === null
      ? markup``
      : markup`<p class="note">
          The pair of CPUs that stands for “two processes on two cores” below: CPU ${pair.cpus[0]} → CPU ${pair.cpus[1]}
          (${pair.placement}), where the most mechanisms were measured.
        </p>`;

  return markup`<section class="result" aria-labelledby="${id}">
    ${heading}
    <div class="machine">
      ${machineSummary(doc)}${figure(topologyChart(doc.machine.topology), "CPU topology", "chart topology")}
    </div>
    <h3 id="${id}-latency">Latency between every pair of CPUs</h3>
    <p class="note">
      Each cell is the median round trip of a ${series.length > 0 ? "small message" : "message"} between the CPU of its
      row (which sends first) and the CPU of its column. Axes run package › die › shared cache › core › SMT sibling;
      white lines mark the groups.
    </p>
    ${heatmaps} ${details("Latency figures by placement class", figureTable(doc, "latency"))}
    <h3 id="${id}-throughput">Throughput</h3>
    ${figure(throughputChart(doc), "throughput by mechanism, message size and placement class")}
    ${details("Throughput figures", figureTable(doc, "throughput"))}
    ${
      pair === null
        ? markup``
        : markup`<h3 id="${id}-cdf">Latency distribution</h3>
            ${pairText}${figure(cdfChart(doc, pair), "latency distributions")}`
    }
    ${
      pair === null
        ? markup``
        : markup`<h3 id="${id}-node">What Node gives you</h3>
            <div class="charts">
              ${figure(nodeLatencyChart(doc, pair), "what Node gives you: latency")}${figure(nodeThroughputChart(doc, pair), "what Node gives you: throughput")}
            </div>`
    }
    <h3 id="${id}-rounds">Rounds and machine state</h3>
    ${roundsNote(doc)}${figure(sentinelChart(doc), "sentinel timeline")}
    ${details("Mechanisms, method versions and parameters", mechanismTable(doc))}
    ${details("Failed tests", failedTable(doc))}
  </section>`;
}

function comparisonSection(docs: readonly ResultFile[]): Markup {
  const legend = docs.map(
    (d, i) =>
      markup`<li>
        <span class="badge" style="background:${resultColor(i)}">${resultLetter(i)}</span>
        <a href="#r${i}">${resultLabel(d)}</a>
      </li>`,
  );
  const part = (mode: "latency" | "throughput") => {
    const table = comparisonTable(docs, mode);
    if (table === null) return markup`<p class="muted">No ${mode} figure was measured by two of these results.</p>`;
    return markup`${figure(comparisonChart(docs, mode), `comparison: ${mode}`)}${details(`${mode === "latency" ? "Latency" : "Throughput"} figures side by side`, table)}`;
  };
  return markup`<section class="comparison" aria-labelledby="compare">
    <h2 id="compare">Comparison</h2>
    <ul class="results">
      ${legend}
    </ul>
    <p class="note">
      Per mechanism, message size and placement class: each result's median (of the medians of its pairs of that class),
      and its ratio to result A. Green is better than A, red worse.
    </p>
    <h3>Latency</h3>
    ${part("latency")}
    <h3>Throughput</h3>
    ${part("throughput")}
  </section>`;
}

const STYLE = `
:root{--ink:#1d232b;--muted:#5c6670;--line:#e3e6ea;--bg:#f5f6f8;--card:#fff;--accent:#2a6f97}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header{background:#18212b;color:#f2f4f7;padding:22px 32px 18px}
header h1{margin:0 0 4px;font-size:22px;font-weight:650;letter-spacing:.01em}
header p{margin:0;color:#b8c2cd}
header nav{margin-top:12px;display:flex;flex-wrap:wrap;gap:6px 16px}
header nav a{color:#9fd0ef;text-decoration:none;font-size:13px}
header nav a:hover{text-decoration:underline}
main{max-width:1320px;margin:0 auto;padding:20px 24px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:0 0 22px}
h2{font-size:19px;margin:0 0 12px;display:flex;align-items:center;gap:8px}
h3{font-size:15px;margin:26px 0 6px;padding-top:14px;border-top:1px solid var(--line)}
.note,.muted{color:var(--muted)}
.note{margin:2px 0 10px;font-size:13px;max-width:900px}
figure{margin:8px 0;overflow-x:auto}
figure svg{display:block;max-width:none}
.machine,.charts{display:flex;flex-wrap:wrap;gap:18px 40px;align-items:flex-start}
.machine figure{margin:0}
table{border-collapse:collapse;font-size:13px}
table.facts th{text-align:left;font-weight:600;color:var(--muted);padding:3px 14px 3px 0;vertical-align:top;white-space:nowrap}
table.facts td{padding:3px 0;max-width:560px}
table.data{margin:6px 0}
table.data th,table.data td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
table.data th{background:#f0f2f5;font-weight:600;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.doubt{color:#d4380d}
td.params{font-size:12px;color:var(--muted);max-width:520px;word-break:break-word}
details{margin:8px 0}
summary{cursor:pointer;color:var(--accent);font-size:13px}
.scroll{overflow-x:auto}
.heatmaps .grid{display:flex;flex-wrap:wrap;gap:10px 26px;align-items:flex-start}
.heatmaps figure.heatmap{margin:0}
.toolbar{font-size:13px;color:var(--muted);margin:4px 0 2px}
.toolbar button{font:inherit;border:1px solid #c5ccd4;background:#fff;padding:2px 10px;cursor:pointer}
.toolbar button:first-of-type{border-radius:6px 0 0 6px;margin-left:6px}
.toolbar button:last-of-type{border-radius:0 6px 6px 0;border-left:0}
.toolbar button[aria-pressed=true]{background:var(--accent);border-color:var(--accent);color:#fff}
.heatmaps[data-scale=own] .shared-legend{visibility:hidden}
.badge{display:inline-block;min-width:22px;padding:0 6px;border-radius:6px;color:#fff;font-weight:700;text-align:center;font-size:13px}
ul.results{list-style:none;padding:0;margin:0 0 8px}
ul.results li{margin:3px 0}
ul.results a{color:inherit}
footer{color:var(--muted);font-size:12px;text-align:center;padding:0 20px 30px}
`;

/** Switches the heatmaps between the shared scale and each one's own (the colours are in data-own). */
const SCRIPT = `
for (const box of document.querySelectorAll(".heatmaps")) {
  const bar = box.querySelector(".toolbar");
  if (bar) bar.hidden = false;
  for (const button of box.querySelectorAll("button[data-scale]")) {
    button.addEventListener("click", () => {
      const want = button.dataset.scale;
      if (box.dataset.scale === want) return;
      box.dataset.scale = want;
      for (const b of box.querySelectorAll("button[data-scale]")) b.setAttribute("aria-pressed", String(b === button));
      const swap = (el, attr, data) => { const v = el.getAttribute(data); el.setAttribute(data, el.getAttribute(attr)); el.setAttribute(attr, v); };
      for (const cell of box.querySelectorAll("[data-own]")) swap(cell, "fill", "data-own");
      for (const text of box.querySelectorAll("[data-own-ink]")) swap(text, "fill", "data-own-ink");
      for (const g of box.querySelectorAll(".legend-main, .legend-own")) {
        if (g.getAttribute("display") === "none") g.removeAttribute("display"); else g.setAttribute("display", "none");
      }
    });
  }
}
`;

function contentSecurityPolicy(): string {
  const hash = createHash("sha256").update(SCRIPT).digest("base64");
  return `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${hash}'; img-src data:; base-uri 'none'; form-action 'none'`;
}

/** One self-contained HTML document for one or more results (see the module comment). */
export function renderReport(docs: readonly ResultFile[], options: ReportOptions = {}): string {
  if (docs.length === 0) throw new RangeError("renderReport needs at least one result");
  const many = docs.length > 1;
  const first = docs[0] as ResultFile;
  const title =
    options.title ??
    (many
      ? `fable bench: ${docs.length} results compared`
      : `fable bench: ${first.machine.environment.cpu.model ?? "a machine"}`);
  const nav = many
    ? [
        markup`<a href="#compare">Comparison</a>`,
        ...docs.map((d, i) => markup`<a href="#r${i}">${resultLetter(i)}: ${resultLabel(d)}</a>`),
      ]
    : [
        markup`<a href="#r0">Machine</a>`,
        markup`<a href="#r0-latency">Latency heatmaps</a>`,
        markup`<a href="#r0-throughput">Throughput</a>`,
        markup`<a href="#r0-cdf">Distribution</a>`,
        markup`<a href="#r0-node">What Node gives you</a>`,
        markup`<a href="#r0-rounds">Rounds and machine state</a>`,
      ];
  const lede = many
    ? `${docs.length} results. Latency is a round trip; throughput is payload bytes per second, one way.`
    : `${machineLine(first)} · ${first.createdAt.slice(0, 10)}. Latency is a round trip; throughput is payload bytes per second, one way.`;
  const suites = [...new Set(docs.map((d) => `${d.suite.name} ${d.suite.version}`))].join(", ");
  const page = markup`<!DOCTYPE html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy()}" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="generator" content="fable-io" />
        <title>${title}</title>
        <style>${trusted(STYLE)}</style>
      </head>
      <body>
        <header>
          <h1>${title}</h1>
          <p>${lede}</p>
          <nav>${nav}</nav>
        </header>
        <main>${many ? comparisonSection(docs) : markup``} ${join(docs.map((d, i) => resultSection(d, i, many)))}</main>
        <footer>
          Measured by ${suites}. Hover a cell or bar for its figures. This page loads nothing from the network.
        </footer>
        <script>${trusted(SCRIPT)}</script>
      </body>
    </html> `;
  return page.text;
}
