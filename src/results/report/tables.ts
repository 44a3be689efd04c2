/**
 * The report's tables of one result, for exact figures: latency and throughput per mechanism and placement
 * class, the mechanisms with their method versions and parameters, and the failed tests with their reasons.
 * Every value comes from the result file and is escaped by the `markup` tag.
 */
import type { ResultFile } from "../../bench/result.js";
import type { ProbeMode } from "../../bench/probe.js";
import { classFigures, failedRuns, figureKey, measurements, mechanismsOf, placementsOf, sizesOf } from "./data.js";
import { formatLatency, formatSize, formatThroughput } from "./format.js";
import { type Interpolation, join, markup, type Markup } from "./html.js";

/** Header cells, one per label. */
export function th(...labels: readonly Interpolation[]): Markup {
  return join(labels.map((label) => markup`<th>${label}</th>`));
}

/** A table of figures: a header row of cells, then the rows. */
export function dataTable(header: Markup, rows: readonly Markup[], className = "data"): Markup {
  return markup`<table class="${className}"><thead><tr>${header}</tr></thead><tbody>${rows}</tbody></table>`;
}

/**
 * Rows: mechanisms; columns: size × placement class; cells: the class figure ("!" when a side spun on one CPU,
 * "?" when a run of the class is flagged unstable, machine-state or asymmetric).
 */
export function figureTable(doc: ResultFile, mode: ProbeMode): Markup | null {
  const mechanisms = mechanismsOf(doc, mode);
  const sizes = sizesOf(doc, mode);
  const classes = placementsOf(doc, mode);
  if (mechanisms.length === 0) return null;
  const figures = classFigures(doc, mode);
  const format = mode === "latency" ? formatLatency : formatThroughput;
  const columns = sizes.flatMap((size) => classes.map((placement) => ({ size, placement })));
  const head = columns.map(
    (c) => markup`<th>${sizes.length > 1 ? markup`${formatSize(c.size)}<br />` : ""}${c.placement}</th>`,
  );
  const rows = mechanisms.map((m) => {
    const cells = columns.map(({ size, placement }) => {
      const f = figures.get(figureKey(m, size, placement));
      const failed = failedRuns(doc).some(
        (r) => r.mode === mode && r.mechanism === m && r.size === size && r.placement === placement,
      );
      if (f === undefined) return markup`<td class="num muted">${failed ? "failed" : "—"}</td>`;
      return markup`<td class="num${f.doubtful ? " doubt" : ""}">${format(f.value)}${f.spinOnSharedCpu ? " !" : ""}${f.doubtful ? " ?" : ""}</td>`;
    });
    return markup`<tr>
      <td>${m}</td>
      ${cells}
    </tr>`;
  });
  return dataTable(markup`${th("mechanism")}${head}`, rows);
}

/** Mechanisms with their probe, method version, measured modes, test counts and distinct parameters. */
export function mechanismTable(doc: ResultFile): Markup {
  const names = [...new Set([...Object.keys(doc.benchmarks), ...mechanismsOf(doc)])];
  const rows = names.map((name) => {
    const ok = measurements(doc).filter((r) => r.mechanism === name);
    const failed = failedRuns(doc).filter((r) => r.mechanism === name);
    const runs = [...ok, ...failed];
    const params = new Map<string, Set<string>>();
    for (const r of ok) {
      for (const [k, v] of Object.entries(r.params)) params.set(k, (params.get(k) ?? new Set()).add(String(v)));
    }
    const paramText = [...params].map(([k, vs]) => `${k}=${[...vs].join(" | ")}`).join("; ");
    const b = doc.benchmarks[name];
    const modes = [...new Set(runs.map((r) => r.mode))].join(", ");
    return markup`<tr>
      <td>${name}</td>
      <td>${b?.probe ?? "?"}</td>
      <td>${b?.method ?? "?"}</td>
      <td>${modes}</td>
      <td class="num">${ok.length}</td>
      <td class="num">${failed.length}</td>
      <td class="params">${paramText}</td>
    </tr>`;
  });
  return dataTable(th("mechanism", "probe", "method", "modes", "ok", "failed", "parameters"), rows);
}

export function failedTable(doc: ResultFile): Markup | null {
  const failed = failedRuns(doc);
  if (failed.length === 0) return null;
  const rows = failed.map(
    (r) =>
      markup`<tr>
        <td>${r.mechanism}</td>
        <td>${r.mode}</td>
        <td class="num">${formatSize(r.size)}</td>
        <td>${r.cpus[0]} → ${r.cpus[1]}</td>
        <td>${r.placement}</td>
        <td><code>${r.error.code}</code></td>
        <td>${r.error.message}</td>
      </tr>`,
  );
  return dataTable(th("mechanism", "mode", "size", "CPUs", "placement", "error", "message"), rows);
}
