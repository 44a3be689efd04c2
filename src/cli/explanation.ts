/**
 * What `fable explain` prints for one selection: what was asked and where both ends run, what the
 * selector worked from (a bench result of this machine, or the fixed order), then every candidate,
 * best first, with its predicted round trip and throughput in human units, their source, and why it
 * won, ranks where it does, or was excluded. Plain text, one candidate per block.
 */
import { candidateName, type EndPlacement, type Selection, type SelectionRequest } from "../daemon/selector.js";
import { formatNs, formatRate, formatSize } from "../results/report/format.js";

export interface ExplanationContext {
  /** The name explained, e.g. "xio://cache". */
  readonly name?: string;
  /** The request the selection answered: what was declared and where both ends run. */
  readonly request?: SelectionRequest;
  /** The selector's own line on what it works from (Selector.describe()). */
  readonly selector?: string;
}

/** "0-3,8" for [0, 1, 2, 3, 8]. */
export function cpuRanges(cpus: readonly number[]): string {
  const parts: string[] = [];
  let start: number | undefined;
  let prev: number | undefined;
  for (const cpu of [...cpus].sort((a, b) => a - b)) {
    if (start !== undefined && prev !== undefined && cpu === prev + 1) {
      prev = cpu;
      continue;
    }
    if (start !== undefined) parts.push(start === prev ? `${start}` : `${start}-${prev}`);
    start = prev = cpu;
  }
  if (start !== undefined) parts.push(start === prev ? `${start}` : `${start}-${prev}`);
  return parts.join(",");
}

function endLine(role: string, end: EndPlacement): string {
  const cpus =
    end.allowedCpus.length === 0
      ? "unknown CPUs"
      : `CPU${end.allowedCpus.length === 1 ? "" : "s"} ${cpuRanges(end.allowedCpus)}`;
  const now = end.currentCpu === null ? "" : ` (last ran on ${end.currentCpu})`;
  return `${role} pid ${end.pid} may run on ${cpus}${now}`;
}

export function formatExplanation(selection: Selection, context: ExplanationContext = {}): string {
  const lines: string[] = [];
  const r = context.request;
  if (r !== undefined) {
    const q = r.requirements;
    const sizes = q.sizes.length === 0 ? "no sizes declared" : `sizes ${q.sizes.map(formatSize).join(", ")}`;
    lines.push(
      `${context.name ?? "connection"}: latency ${q.latency}, spin ${q.spin ? "allowed" : "forbidden"}, ${q.trust}, ${sizes}${q.socket === true ? ", a node:net socket (transparent mode)" : ""}; listener offers ${r.offered.join(", ")}${r.nativeStream === true ? " and native unix streams" : ""}`,
    );
    lines.push(`  ${endLine("listener", r.listener)}`, `  ${endLine("connector", r.connector)}`);
  } else if (context.name !== undefined) {
    lines.push(context.name);
  }
  lines.push(
    selection.basis === "measured"
      ? `basis: measured, from ${selection.result ?? "an unnamed result"}`
      : "basis: the fixed order (no bench result of this machine to predict from)",
  );
  if (context.selector !== undefined) lines.push(`selector: ${context.selector}`);
  if (r !== undefined) {
    const sizes = r.requirements.sizes;
    const rt = sizes.length === 0 ? 64 : Math.min(...sizes);
    const rate = sizes.length === 0 ? "the largest measured size" : formatSize(Math.max(...sizes));
    lines.push(`figures: round trip at ${formatSize(rt)}, one-way throughput at ${rate}`);
  }
  lines.push("");
  const width = Math.max(...selection.verdicts.map((v) => candidateName(v.candidate).length));
  lines.push(`rank  ${"candidate".padEnd(width)}  ${"round trip".padStart(10)}  ${"throughput".padStart(10)}`);
  for (const v of selection.verdicts) {
    const p = v.prediction;
    const rt = p === null || p.roundTripNs === null ? "-" : formatNs(p.roundTripNs);
    const rate = p === null || p.bytesPerSecond === null ? "-" : formatRate(p.bytesPerSecond);
    const rank = v.rank === undefined ? "x" : String(v.rank);
    lines.push(
      `${rank.padEnd(4)}  ${candidateName(v.candidate).padEnd(width)}  ${rt.padStart(10)}  ${rate.padStart(10)}`,
    );
    lines.push(`      ${v.excluded !== undefined ? "excluded" : "why"}: ${v.reason}`);
    lines.push(
      `      source: ${p !== null ? p.source : selection.basis === "measured" ? "none: not measured in this result" : "none (the fixed order)"}`,
    );
  }
  return lines.join("\n");
}
