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

/** Flags that say a figure is not to be trusted as it stands. */
export const DOUBT_FLAGS = ["unstable", "machine-state", "asymmetric"] as const;
const DOUBT_LEGEND =
  "rounds disagree beyond their noise (unstable), all rounds were taken in an odd machine state, " +
  "or a latency pair and its reverse disagree (asymmetric): see the run's flags";

function doubtful(r: RunOk): boolean {
  return DOUBT_FLAGS.some((f) => r.flags.includes(f));
}

/** Rounds, the sentinel's verdicts and the flags, in one line (results from before rounds say so). */
export function roundsLine(doc: ResultFile): string {
  const runs = ok(doc.runs);
  const count = (flag: (typeof DOUBT_FLAGS)[number]) => runs.filter((r) => r.flags.includes(flag)).length;
  const flags = `${count("unstable")} unstable, ${count("asymmetric")} asymmetric, ${count("machine-state")} all in an odd state`;
  if (doc.config.rounds === undefined) return `rounds: one per test (a result from before rounds); ${flags}`;
  const s = doc.sentinel;
  const sentinel =
    s === undefined
      ? "no sentinel"
      : `sentinel on CPUs ${s.cpus.join("-")}: ${s.readings.length} readings` +
        `${s.reference === null ? "" : `, median ${formatNs(s.reference)}`}, ` +
        `${s.readings.filter((r) => r.state === "other").length} in another state; ` +
        `${s.roundsFlagged} rounds flagged, ${s.roundsRerun} re-run${s.error === null ? "" : ` (sentinel failed: ${s.error})`}`;
  return `rounds: ${doc.config.rounds} per test (seed ${doc.config.seed ?? "-"}); ${sentinel}; tests: ${flags}`;
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
          const here = latency.filter((r) => r.mechanism === m && r.size === size && r.placement === c);
          const flagged = here.some((r) => r.flags.includes("spin-on-shared-cpu"));
          return (
            formatNs(
              percentile(
                p50s.sort((a, b) => a - b),
                0.5,
              ),
            ) +
            (flagged ? " !" : "") +
            (here.some(doubtful) ? " ?" : "")
          );
        }),
      ])
      .filter((row) => row.slice(1).some((c) => c !== "-"));
    if (rows.length === 0) continue;
    out.push("", `latency: ${formatSize(size)} round trip, median`, table(["mechanism", ...classes], rows));
    if (rows.some((r) => r.some((c) => c.includes(" !"))))
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
          if (r.length === 0) return "-";
          return formatRate(Math.max(...r.map((x) => x.rate?.bytesPerSecond ?? 0))) + (r.some(doubtful) ? " ?" : "");
        }),
      ])
      .filter((row) => row.slice(1).some((c) => c !== "-"));
    out.push("", `throughput: one-way, ${placement}`, table(["mechanism", ...sizes.map(formatSize)], rows));
  }

  if (runs.some(doubtful)) out.push("", `? ${DOUBT_LEGEND}`);
  out.push("", roundsLine(doc));

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
