/**
 * The pages of the results site, as pure functions of result documents (no file system): the machines
 * index, a page per machine with its report, the cross-machine comparison per mechanism and placement
 * class, the series, and the 2012 paper's figures from its own data. Every string from a result file is
 * escaped (html.ts); the report renderer escapes its own.
 */
import { methodNotesFor } from "../../bench/method-notes.js";
import type { ProbeMode } from "../../bench/probe.js";
import type { ResultFile, RunLegacy } from "../../bench/result.js";
import { PLACEMENT_CLASSES, type PlacementClass } from "../../bench/topology.js";
import { onlineCount, virtualizationText } from "../describe.js";
import { renderReport } from "../report/index.js";
import { barChart, type Bar, type Cell, heatmap, mergeScales, type Scale, scaleOf } from "./charts.js";
import {
  type ClassFigure,
  classFigures,
  formatFigure,
  formatSize,
  methodOf,
  type Point,
  pointsOf,
  seriesOf,
} from "./figures.js";
import { h, type Html, joinHtml, nav, page, scopedCss, trustedHtml } from "./html.js";

export interface SiteEntry {
  doc: ResultFile;
  /** The file's path in the database ("results/1/x64/..."). */
  file: string;
}

export interface Machine {
  id: string;
  id8: string;
  /** Oldest first. */
  entries: SiteEntry[];
  legacy: boolean;
}

export function machinesOf(entries: readonly SiteEntry[]): Machine[] {
  const byId = new Map<string, SiteEntry[]>();
  for (const e of entries) byId.set(e.doc.machine.id, [...(byId.get(e.doc.machine.id) ?? []), e]);
  return [...byId.entries()]
    .map(([id, list]) => ({
      id,
      id8: id.slice(0, 8),
      entries: list.sort((a, b) =>
        a.doc.createdAt < b.doc.createdAt ? -1 : a.doc.createdAt > b.doc.createdAt ? 1 : 0,
      ),
      legacy: list.every((e) => e.doc.legacy !== undefined),
    }))
    .sort((a, b) => latest(b).doc.createdAt.localeCompare(latest(a).doc.createdAt) || a.id.localeCompare(b.id));
}

function latest(m: Machine): SiteEntry {
  return m.entries[m.entries.length - 1] as SiteEntry;
}

export function machinePath(m: Machine): string {
  // The id names a file: validated documents have a hex id; anything else is refused here too.
  if (!/^[0-9a-f]{8}$/.test(m.id8)) throw new RangeError(`machine id ${JSON.stringify(m.id8)} cannot name a page`);
  return `machines/${m.id8}.html`;
}

function machineName(m: Machine): string {
  return `${latest(m).doc.machine.environment.cpu.model ?? "unknown CPU"}`;
}

function tags(m: Machine): Html {
  const doc = latest(m).doc;
  return joinHtml([
    m.legacy ? h`<span class="tag legacy">legacy ipc-bench</span>` : h``,
    doc.machine.environment.virtualization.hypervisor ? h`<span class="tag vm">VM</span>` : h``,
    paperEnvironment(m) === null ? h`` : h`<span class="tag">2012 paper, ${paperEnvironment(m)}</span>`,
  ]);
}

/** For a machine of the paper's data: which of its three environments it is. */
function paperEnvironment(m: Machine): string | null {
  for (const e of m.entries) {
    const found = PAPER_ENVIRONMENTS.find(([v]) => e.doc.legacy?.archive === "resolve" && e.doc.legacy.variant === v);
    if (found !== undefined) return found[1];
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Index

export function indexPage(machines: readonly Machine[]): string {
  const results = machines.reduce((n, m) => n + m.entries.length, 0);
  const legacy = machines.filter((m) => m.legacy).length;
  const years = machines.flatMap((m) => m.entries.map((e) => e.doc.createdAt.slice(0, 4))).sort();
  const rows = machines.map((m) => {
    const doc = latest(m).doc;
    const t = doc.machine.topology;
    const suites = [...new Set(m.entries.map((e) => `${e.doc.suite.name} ${e.doc.suite.version}`))].join(", ");
    return h`<tr>
<td><a href="${machinePath(m)}">${machineName(m)}</a>${tags(m)}<div class="small muted">${m.id8} · ${doc.machine.arch}</div></td>
<td class="num">${onlineCount(doc)}</td><td class="num">${t.cores}</td><td class="num">${t.packages}</td>
<td>${virtualizationText(doc)}</td><td>${doc.machine.environment.kernel.release}</td>
<td class="num">${doc.createdAt.slice(0, 10)}</td><td>${suites}</td><td class="num">${m.entries.length}</td></tr>`;
  });
  const body = h`<h1>IPC benchmark results</h1>
<p class="lead">${machines.length} machines and ${results} results from ${years[0] ?? "-"} to ${years.at(-1) ?? "-"}: runs of <code>fable bench</code> beside ${legacy} machines of the original ipc-bench (2012-2016), converted with what they measured and nothing more. Latency is a round trip; throughput is payload bytes per second one way.</p>
<table>
<thead><tr><th>Machine (CPU)</th><th class="num">CPUs</th><th class="num">cores</th><th class="num">packages</th><th>virtualisation</th><th>kernel</th><th class="num">last run</th><th>suite</th><th class="num">results</th></tr></thead>
<tbody>${rows}</tbody>
</table>`;
  return page("Machines", "", body);
}

// ---------------------------------------------------------------------------------------------------------------
// Machine pages

function legacyCells(runs: readonly RunLegacy[], mechanism: string, size: number): Map<string, Cell> {
  const cells = new Map<string, Cell>();
  for (const r of runs) {
    if (r.mode !== "latency" || r.mechanism !== mechanism || r.size !== size) continue;
    const value = r.stats.p50 ?? r.stats.mean;
    if (value === undefined) continue;
    cells.set(`${r.cpus[0]}-${r.cpus[1]}`, { value, spin: r.flags.includes("spin-on-shared-cpu") });
  }
  return cells;
}

/** Floor of the colour scale: the original's matrices print "0" below half their resolution. */
function floorOf(runs: readonly RunLegacy[]): number {
  const res = runs.filter((r) => r.mode === "latency" && r.resolution !== null).map((r) => r.resolution ?? 0);
  return res.length === 0 ? 1 : Math.min(...res) / 2;
}

/** Where a converted result came from and what its figures are: the report draws them. */
function legacyNote(entry: SiteEntry): Html {
  const l = entry.doc.legacy;
  if (l === undefined) return h``;
  const sources = new Set(l.runs.filter((r) => r.mode === "latency").map((r) => r.source));
  return h`<p class="small muted">${entry.doc.createdAt.slice(0, 10)}${l.variant === null ? "" : ` (${l.variant})`}: converted from <code>${l.archive}</code>${l.machineFrom === null ? "" : h`, machine described by <code>${l.machineFrom}</code>`}, dated by ${l.dateFrom === "archive-mtime" ? "the archive's last file" : "the month of publication"}. ${sources.has("matrix") ? "Latency figures from the original's matrices are means printed in whole microseconds (“0” is under half a microsecond); " : ""}${sources.has("tsc-log") ? "latency figures from its per-pair TSC logs are medians; " : ""}mempipe's figures are halved (its iteration was two round trips).</p>`;
}

function resultList(m: Machine): Html {
  const rows = m.entries.map((e) => {
    const d = e.doc;
    const runs = d.legacy === undefined ? `${d.runs.length} runs` : `${d.legacy.runs.length} converted runs`;
    return h`<tr><td class="num">${d.createdAt.replace("T", " ").replace("Z", "")}</td><td>${d.suite.name} ${d.suite.version}${d.legacy?.variant ? ` (${d.legacy.variant})` : ""}</td><td class="num">${runs}</td><td><code class="small">${e.file}</code></td></tr>`;
  });
  return h`<table><thead><tr><th>date (UTC)</th><th>suite</th><th class="num">runs</th><th>file in the database</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/**
 * A machine's page: the site's navigation and the machine's results (with the figures of converted runs),
 * then the report of all its results (renderReport), in one document.
 */
export function machinePage(m: Machine): string {
  const docs = m.entries.map((e) => e.doc);
  const header = h`<style>${trustedHtml(scopedCss())}</style>${nav("../")}
<div class="fable-site">
<section style="max-width:1280px;margin:0 auto;padding:8px 24px">
<h1>${machineName(m)}${tags(m)}</h1>
<p class="lead">Machine ${m.id8} · ${onlineCount(latest(m).doc)} CPUs · ${virtualizationText(latest(m).doc)} · Linux ${latest(m).doc.machine.environment.kernel.release} · ${m.entries.length} result(s). The report of ${m.entries.length > 1 ? "all of them" : "it"} follows.</p>
${resultList(m)}
${joinHtml(m.entries.map(legacyNote))}
</section>
</div>`;
  const report = renderReport(docs, { title: `${machineName(m)} (${m.id8})` });
  const body = /<body\b[^>]*>/i.exec(report);
  if (body === null) return page(machineName(m), "../", header);
  const at = body.index + body[0].length;
  return report.slice(0, at) + "\n" + header.text + "\n" + report.slice(at);
}

// ---------------------------------------------------------------------------------------------------------------
// Comparison

interface Row {
  machine: Machine;
  doc: ResultFile;
  size: number;
  figures: Map<PlacementClass, ClassFigure>;
}

function cell(mode: ProbeMode, f: ClassFigure | undefined): Html {
  if (f === undefined) return h`<td class="num muted">-</td>`;
  const mark = f.spin ? "!" : f.approximate ? "≈" : "";
  const stat = f.stat === "mean" ? " mean" : "";
  const text = f.floor !== null && f.value < f.floor ? `< ${formatFigure(mode, f.floor)}` : formatFigure(mode, f.value);
  return h`<td class="num" title="${`median of ${f.pairs} pair(s)${stat}`}">${mark}${text}${stat ? h`<span class="small muted">${stat}</span>` : h``}</td>`;
}

export function comparePage(machines: readonly Machine[]): string {
  // Each machine's latest result that measured a (mechanism, mode, size).
  const groups = new Map<string, { mechanism: string; mode: ProbeMode; size: number | null; rows: Row[] }>();
  for (const m of machines) {
    const done = new Set<string>();
    for (const e of [...m.entries].reverse()) {
      const points = pointsOf(e.doc);
      const keys = new Set(points.map((p) => `${p.mode}|${p.mechanism}|${p.size}`));
      for (const key of keys) {
        const [mode = "latency", mechanism = "", sizeText = "0"] = key.split("|");
        const size = Number(sizeText);
        // Latency: one table per mechanism (64 B and 128 B round trips side by side); throughput: per size.
        const group = mode === "latency" ? `latency|${mechanism}` : `throughput|${mechanism}|${size}`;
        const rowKey = `${group}|${m.id}|${mode === "latency" ? size : ""}`;
        if (done.has(rowKey)) continue;
        done.add(rowKey);
        const of: Point[] = points.filter((p) => p.mode === mode && p.mechanism === mechanism && p.size === size);
        const g = groups.get(group) ?? {
          mechanism,
          mode: mode as ProbeMode,
          size: mode === "latency" ? null : size,
          rows: [],
        };
        g.rows.push({ machine: m, doc: e.doc, size, figures: classFigures(of) });
        groups.set(group, g);
      }
    }
  }
  const ordered = [...groups.values()].sort(
    (a, b) => a.mode.localeCompare(b.mode) || a.mechanism.localeCompare(b.mechanism) || (a.size ?? 0) - (b.size ?? 0),
  );
  const sections = ordered.map((g) => {
    const classes = PLACEMENT_CLASSES.filter((c) => g.rows.some((r) => r.figures.has(c)));
    const sortBy = (r: Row) => r.figures.get("shared-l3")?.value ?? r.figures.get("same-package")?.value ?? Infinity;
    const rows = [...g.rows].sort((a, b) => (g.mode === "latency" ? sortBy(a) - sortBy(b) : sortBy(b) - sortBy(a)));
    const body = rows.map(
      (r) =>
        h`<tr><td><a href="${machinePath(r.machine)}">${machineName(r.machine)}</a>${tags(r.machine)}</td><td class="num">${r.doc.createdAt.slice(0, 10)}</td><td>${r.doc.suite.name} ${methodOf(r.doc, g.mechanism)}</td>${g.mode === "latency" ? h`<td class="num">${formatSize(r.size)}</td>` : h``}${classes.map((c) => cell(g.mode, r.figures.get(c)))}</tr>`,
    );
    const title =
      g.mode === "latency"
        ? `${g.mechanism}: round-trip latency`
        : `${g.mechanism}: throughput of ${formatSize(g.size ?? 0)} messages`;
    const notes = methodNotesFor(g.mechanism).map(
      ({ mechanism, note }) => h`<p class="method-note small"><strong>fable-io ${mechanism}</strong>: ${note.text}</p>`,
    );
    return h`<h3 id="${`${g.mode}-${g.mechanism}-${g.size ?? ""}`}">${title}</h3>
${notes}<table><thead><tr><th>machine</th><th class="num">date</th><th>suite method</th>${g.mode === "latency" ? h`<th class="num">size</th>` : h``}${classes.map((c) => h`<th class="num">${c}</th>`)}</tr></thead><tbody>${body}</tbody></table>`;
  });
  const body = h`<h1>Machines compared, per mechanism and placement class</h1>
<p class="lead">Each cell is the median over the pairs of CPUs of that placement class of the machine's latest result with the mechanism: latency is the median round trip (“mean” when the original only kept a mean; ≈ when it printed whole microseconds), throughput the payload bytes per second. ! marks a figure of both sides spinning on one CPU. Figures of different suites or methods are side by side here but never in one series; under each native mechanism, what one iteration does and how it differs from the original ipc-bench's mechanism of that name, so that you know which legacy figures compare.</p>
${sections}`;
  return page("Compare", "", body);
}

// ---------------------------------------------------------------------------------------------------------------
// Series

export function seriesPage(entries: readonly SiteEntry[], machines: readonly Machine[]): string {
  const byDoc = new Map<ResultFile, Machine>();
  for (const m of machines) for (const e of m.entries) byDoc.set(e.doc, m);
  const all = seriesOf(entries.map((e) => e.doc));
  const sections = all.map((s) => {
    const lines = new Map<string, typeof s.points>();
    for (const p of s.points) {
      const key = `${p.mode}|${p.size}|${p.placement}`;
      lines.set(key, [...(lines.get(key) ?? []), p]);
    }
    const rows = [...lines.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, points]) => {
        const [mode = "latency", size = "0", placement = ""] = key.split("|");
        const cells = points.map((p) => {
          const m = byDoc.get(p.doc);
          return h`<span class="small">${p.doc.createdAt.slice(0, 10)} <a href="${m === undefined ? "" : machinePath(m)}">${m === undefined ? "?" : m.id8}</a> ${p.doc.suite.version}: <strong>${formatFigure(p.mode, p.figure.value)}</strong></span>`;
        });
        return h`<tr><td>${mode}</td><td class="num">${formatSize(Number(size))}</td><td>${placement}</td><td class="num">${points.length}</td><td>${joinHtml(cells, ", ")}</td></tr>`;
      });
    return h`<h3>${s.mechanism} · ${s.suite} method ${s.method}.x</h3>
<table><thead><tr><th>mode</th><th class="num">size</th><th>placement</th><th class="num">results</th><th>figures, oldest first (date, machine, suite version)</th></tr></thead><tbody>${rows}</tbody></table>`;
  });
  const body = h`<h1>Series</h1>
<p class="lead">A series is one suite's mechanism measured by one method MAJOR.MINOR: its figures are comparable across suite versions, machines and years. A new MINOR changes the measurement and starts a new series, so figures of different MINOR versions never appear in one series. ${all.length} series.</p>
${sections}`;
  return page("Series", "", body);
}

// ---------------------------------------------------------------------------------------------------------------
// The paper's figures

const PAPER_ENVIRONMENTS: readonly [string, string][] = [
  ["48native", "native Linux"],
  ["48xenpin", "Xen, vCPUs pinned"],
  ["48xennopin", "Xen, vCPUs not pinned"],
];

/** "48 CPUs of AMD Opteron(tm) Processor 6168 in 4 packages, 8 last-level caches of 6". */
function machineShape(doc: ResultFile): string {
  const t = doc.machine.topology;
  const llc = new Map<number, number[]>();
  for (const c of t.caches) if (c.type !== "instruction") for (const cpu of c.cpus) llc.set(cpu, c.cpus);
  const groups = new Set([...llc.values()].map((cpus) => cpus.join(",")));
  const sizes = [...new Set([...groups].map((g) => g.split(",").length))];
  return `${onlineCount(doc)} CPUs of ${doc.machine.environment.cpu.model ?? "unknown model"} in ${t.packages} packages, ${groups.size} last-level caches of ${sizes.join(" or ")} CPUs`;
}

export function paperPage(entries: readonly SiteEntry[]): string {
  const paper = (variant: string) =>
    entries.find((e) => e.doc.legacy?.archive === "resolve" && e.doc.legacy.variant === variant)?.doc;
  const present = PAPER_ENVIRONMENTS.filter(([v]) => paper(v) !== undefined);
  if (present.length === 0) {
    return page(
      "The 2012 paper's figures",
      "",
      h`<h1>The 2012 paper's figures</h1><p class="lead">The paper's data (ipc-bench's <code>resolve/</code>) is not in this database: import it with <code>fable results import-legacy path/to/resolve</code>.</p>`,
    );
  }
  const mechanisms = ["mempipe", "pipe", "tcp", "unix"];
  const fig3 = mechanisms.map((mechanism) => {
    const maps = present.map(([v, label]) => {
      const doc = paper(v) as ResultFile;
      const runs = doc.legacy?.runs ?? [];
      const size = runs.find((r) => r.mode === "latency" && r.mechanism === mechanism)?.size ?? 0;
      return { label, doc, runs, cells: legacyCells(runs, mechanism, size), floor: floorOf(runs) };
    });
    const scale: Scale = mergeScales(maps.map((m) => scaleOf(m.cells.values(), m.floor))) ?? { lo: 1, hi: 10 };
    return h`<h3>${mechanism}</h3><div class="grid">${maps.map((m) =>
      heatmap(`${mechanism} · ${m.label}`, m.doc.machine.topology, m.cells, scale, { floor: m.floor, cellSize: 7 }),
    )}</div>`;
  });
  const native = paper("48native");
  const fig4: Html[] = [];
  if (native !== undefined) {
    const runs = (native.legacy?.runs ?? []).filter((r) => r.mode === "throughput");
    const sizes = [...new Set(runs.map((r) => r.size))].sort((a, b) => a - b);
    for (const size of sizes) {
      const of = runs.filter((r) => r.size === size);
      const mechanisms4 = [...new Set(of.map((r) => r.mechanism))];
      const bars: Bar[] = mechanisms4.map((mechanism) => ({
        label: mechanism,
        values: of
          .filter((r) => r.mechanism === mechanism)
          .map((r) => ({
            series: `cpus ${r.cpus[0]}-${r.cpus[1]} (${r.placement})`,
            mean: r.stats.mean ?? 0,
            sd: r.stats.stddev ?? null,
          })),
      }));
      const n = Math.max(...of.map((r) => r.stats.n ?? 1));
      fig4.push(barChart(`Throughput of ${formatSize(size)} messages, native: mean ± sd of ${n} runs`, bars));
    }
  }
  const body = h`<h1>“The Case for Reconfigurable I/O Channels” (2012), from its data</h1>
<p class="lead">The paper's machine, ${machineShape(paper(present[0]?.[0] ?? "") as ResultFile)}, converted from ipc-bench's <code>resolve/</code> data. Figure 3: round-trip latency between every pair of CPUs, natively and under Xen with and without pinned vCPUs, one colour scale per mechanism; the original printed whole microseconds (mempipe's figures are halves: its iteration was two round trips); grey diagonal cells spun on one CPU. Figure 4: throughput over 10 repeated runs.</p>
<h2>Figure 3: latency heatmaps</h2>
${fig3}
<h2>Figure 4: throughput</h2>
<div class="grid">${fig4}</div>`;
  return page("The 2012 paper's figures", "", body);
}
