/**
 * The verdict of `npm run bench:stability` (scripts/bench-stability.js): several identical `fable bench` runs,
 * each test's figure against the median of its figures over the runs. The promise is that every figure
 * is within {@link STABILITY_TOLERANCE} of that median, or its run is flagged in its result: the test carries
 * "unstable" or "machine-state", or one of its rounds was taken while the sentinel saw another state.
 * A state that lasts a whole run cannot be seen from inside it; comparing runs, as here, is what shows it.
 */
import type { ResultFile, RunOk } from "./result.js";
import { medianOf, roundFigure } from "./rounds.js";

export const STABILITY_TOLERANCE = 0.2;

export interface StabilityCell {
  run: number;
  figure: number;
  /** figure / the median over runs. */
  ratio: number;
  outlier: boolean;
  flagged: boolean;
}

export interface StabilityRow {
  mechanism: string;
  size: number;
  cpus: [number, number];
  median: number;
  cells: StabilityCell[];
}

/** Flagged in its result: the run's own flags, or a round the sentinel put in another state. */
export function flaggedInResult(run: RunOk): boolean {
  return (
    run.flags.includes("unstable") ||
    run.flags.includes("machine-state") ||
    (run.rounds?.list.some((r) => r.state === "other") ?? false)
  );
}

/** One row per test measured by at least one of `docs`; `holds` when every outlier is flagged. */
export function stabilityVerdict(docs: readonly ResultFile[]): { rows: StabilityRow[]; holds: boolean } {
  const rows = new Map<string, StabilityRow>();
  docs.forEach((doc, i) => {
    for (const r of doc.runs) {
      if (r.status !== "ok") continue;
      const key = `${r.mechanism}|${r.mode}|${r.size}|${r.cpus.join("-")}`;
      const row = rows.get(key) ?? { mechanism: r.mechanism, size: r.size, cpus: r.cpus, median: 0, cells: [] };
      rows.set(key, row);
      row.cells.push({ run: i, figure: roundFigure(r), ratio: 1, outlier: false, flagged: flaggedInResult(r) });
    }
  });
  for (const row of rows.values()) {
    row.median = medianOf(row.cells.map((c) => c.figure));
    for (const c of row.cells) {
      c.ratio = row.median > 0 ? c.figure / row.median : 1;
      c.outlier = Math.abs(c.ratio - 1) > STABILITY_TOLERANCE;
    }
  }
  const list = [...rows.values()];
  return { rows: list, holds: list.every((r) => r.cells.every((c) => !c.outlier || c.flagged)) };
}
