/**
 * The report's view of how a result was measured: its rounds and the machine-state sentinel (bench/rounds.ts,
 * bench/sentinel.ts). A timeline chart of the sentinel's readings (median round trip of a short cacheline
 * probe, and its mean, on a log axis; readings in another state than most of the run in red) with the rounds
 * it flagged marked under the axis, and one paragraph of counts. A result from before rounds says so.
 */
import type { ResultFile } from "../../bench/result.js";
import { doubtful, measurements } from "./data.js";
import { formatLatency } from "./format.js";
import { join, markup, type Markup } from "./html.js";
import { logDomain, logScale, logTicks } from "./scale.js";
import { type Chart, GRID, MUTED } from "./svg.js";

const USUAL = "#2a6f97";
const OTHER = "#d4380d";
const LEFT = 58;
const TOP = 24;
const PLOT_W = 620;
const PLOT_H = 130;

/** The sentinel's timeline, or null when the result has no reading. */
export function sentinelChart(doc: ResultFile): Chart | null {
  const s = doc.sentinel;
  if (s === undefined || s.readings.length === 0) return null;
  const rounds = doc.runs.flatMap((r) => (r.status === "ok" ? (r.rounds?.list ?? []) : []));
  const endMs = Math.max(1, ...s.readings.map((r) => r.atMs), ...rounds.map((r) => r.startMs));
  const domain = logDomain(s.readings.flatMap((r) => [r.p50Ns, r.meanNs]));
  const y = logScale(domain);
  const yAt = (ns: number) => TOP + PLOT_H - y(ns) * PLOT_H;
  const xAt = (ms: number) => LEFT + (ms / endMs) * PLOT_W;
  const parts: Markup[] = [
    markup`<text x="0" y="13" font-size="12"
      >Sentinel: cacheline round trip on CPUs ${s.cpus[0]}–${s.cpus[1]} between rounds (● median, ○ mean)</text
    >`,
  ];
  for (const t of logTicks(domain, 5)) {
    parts.push(
      markup`<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${yAt(t)}" y2="${yAt(t)}" stroke="${GRID}" /><text
          x="${LEFT - 4}"
          y="${yAt(t) + 3}"
          text-anchor="end"
          font-size="9"
          fill="${MUTED}"
          >${formatLatency(t)}</text
        >`,
    );
  }
  if (s.reference !== null) {
    parts.push(
      markup`<line
        x1="${LEFT}"
        x2="${LEFT + PLOT_W}"
        y1="${yAt(s.reference)}"
        y2="${yAt(s.reference)}"
        stroke="${USUAL}"
        stroke-dasharray="4 3"
      />`,
    );
  }
  for (const r of s.readings) {
    const color = r.state === "other" ? OTHER : USUAL;
    const tip = markup`<title>${(r.atMs / 1000).toFixed(1)} s: median ${formatLatency(r.p50Ns)}, mean ${formatLatency(r.meanNs)}${r.state === "other" ? " · another state" : ""}</title>`;
    parts.push(
      markup`<circle class="reading reading-${r.state}" cx="${xAt(r.atMs)}" cy="${yAt(r.p50Ns)}" r="3" fill="${color}"
        >${tip}</circle
      ><circle cx="${xAt(r.atMs)}" cy="${yAt(r.meanNs)}" r="2.5" fill="none" stroke="${color}" />`,
    );
  }
  // Rounds under the axis: a tick per round, red when flagged, hollow when it was a re-run.
  const base = TOP + PLOT_H + 6;
  for (const r of rounds) {
    const color = r.state === "other" ? OTHER : "#9aa3ad";
    parts.push(
      markup`<rect
        class="round round-${r.state}"
        x="${xAt(r.startMs) - 1}"
        y="${base}"
        width="2"
        height="${r.rerun ? 5 : 8}"
        fill="${color}"
      />`,
    );
  }
  parts.push(
    markup`<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${TOP + PLOT_H}" y2="${TOP + PLOT_H}" stroke="#9aa3ad" /><text
        x="${LEFT}"
        y="${base + 22}"
        font-size="9"
        fill="${MUTED}"
        >0 s · rounds below the axis (red: flagged; short: re-runs) · dashed: the run's median</text
      ><text x="${LEFT + PLOT_W}" y="${base + 22}" text-anchor="end" font-size="9" fill="${MUTED}"
        >${(endMs / 1000).toFixed(0)} s</text
      >`,
  );
  return { width: LEFT + PLOT_W + 12, height: base + 28, body: join(parts) };
}

/** One paragraph: rounds per test, the sentinel's counts and rule, and the flagged tests. */
export function roundsNote(doc: ResultFile): Markup {
  if (doc.config.rounds === undefined) {
    return markup`<p class="note">This result predates rounds: each test ran once, with no machine-state sentinel.</p>`;
  }
  const flagged = measurements(doc).filter((m) => !m.legacy && doubtful(m));
  const count = (f: string) => flagged.filter((m) => m.flags.includes(f)).length;
  const s = doc.sentinel;
  const sentinel =
    s === undefined
      ? markup`No sentinel ran, so no round was flagged.`
      : markup`${s.readings.length} sentinel readings (median ${s.reference === null ? "—" : formatLatency(s.reference)});
          ${s.readings.filter((r) => r.state === "other").length} said the machine was in another state than most of
          the run (median more than ${s.ratio}× off the run's, or waiting for a CPU more than ${s.stallRatio}× as
          much). <strong>${s.roundsFlagged} rounds were flagged, ${s.roundsRerun} re-run.</strong>
          ${s.error === null ? "" : markup`Sentinel problem: ${s.error}.`}`;
  return markup`<p class="note">
    Each test ran in ${doc.config.rounds} rounds spread over the run in a shuffled order (seed
    ${doc.config.seed ?? "—"}); a figure is the median of its counted rounds. ${sentinel} Tests flagged:
    ${count("unstable")} unstable (rounds disagree beyond their own noise), ${count("machine-state")} taken wholly in
    an odd state, ${count("asymmetric")} latency pairs whose reverse disagrees; they are marked “?” in the tables and
    ringed in the heatmaps.
  </p>`;
}
