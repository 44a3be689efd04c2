/**
 * The table `fable bench` prints at the end: latency medians by placement class and throughput by
 * message size, one line per mechanism, with the machine it ran on.
 */
import type { ResultFile, Run, RunOk } from "../bench/result.js";
import { percentile } from "../bench/statistics.js";
import { PLACEMENT_CLASSES } from "../bench/topology.js";
import { formatNs, formatRate, formatSize, machineLine } from "../results/report/format.js";

// Moved to the report's formatting module, which both the table and the report use.
export { formatNs, formatRate, formatSize, machineLine };

function ok(runs: readonly Run[]): RunOk[] {
  return runs.filter((r): r is RunOk => r.status === "ok");
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

export function formatSummary(doc: ResultFile): string {
  const runs = ok(doc.runs);
  const mechanisms = Object.keys(doc.benchmarks);
  const out: string[] = [`machine: ${machineLine(doc)}`];

  const latency = runs.filter((r) => r.mode === "latency");
  const classes = PLACEMENT_CLASSES.filter((c) => latency.some((r) => r.placement === c));
  for (const size of [...new Set(latency.map((r) => r.size))]) {
    const rows = mechanisms
      .map((m) => [
        m,
        ...classes.map((c) => {
          // Several pairs may share a class: the median of their medians stands for the class.
          const p50s = latency
            .filter((r) => r.mechanism === m && r.size === size && r.placement === c)
            .map((r) => r.stats.p50);
          if (p50s.length === 0) return "-";
          const flagged = latency.some(
            (r) => r.mechanism === m && r.placement === c && r.flags.includes("spin-on-shared-cpu"),
          );
          return (
            formatNs(
              percentile(
                p50s.sort((a, b) => a - b),
                0.5,
              ),
            ) + (flagged ? " !" : "")
          );
        }),
      ])
      .filter((row) => row.slice(1).some((c) => c !== "-"));
    if (rows.length === 0) continue;
    out.push("", `latency: ${formatSize(size)} round trip, median`, table(["mechanism", ...classes], rows));
    if (rows.some((r) => r.some((c) => c.endsWith(" !"))))
      out.push("! both sides spin on one CPU: each wait lasts a scheduler time slice");
  }

  const throughput = runs.filter((r) => r.mode === "throughput" && r.rate !== undefined);
  for (const placement of PLACEMENT_CLASSES) {
    const here = throughput.filter((r) => r.placement === placement);
    if (here.length === 0) continue;
    const sizes = [...new Set(here.map((r) => r.size))].sort((a, b) => a - b);
    const rows = mechanisms
      .map((m) => [
        m,
        ...sizes.map((s) => {
          const r = here.filter((x) => x.mechanism === m && x.size === s);
          return r.length === 0 ? "-" : formatRate(Math.max(...r.map((x) => x.rate?.bytesPerSecond ?? 0)));
        }),
      ])
      .filter((row) => row.slice(1).some((c) => c !== "-"));
    out.push("", `throughput: one-way, ${placement}`, table(["mechanism", ...sizes.map(formatSize)], rows));
  }

  const failed = doc.runs.filter((r) => r.status === "failed");
  if (failed.length > 0) {
    out.push("", "failed tests:");
    for (const r of failed) {
      if (r.status === "failed")
        out.push(`  ${r.mechanism} ${r.mode} ${r.size} B cpus ${r.cpus.join("-")}: ${r.error.code} ${r.error.message}`);
    }
  }
  return out.join("\n");
}
