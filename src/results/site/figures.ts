/**
 * The figures the site compares, taken out of result documents of both kinds: fable's own runs and the
 * original ipc-bench's converted ones. One number stands for a test, as the report has it: latency, the
 * median round trip (a converted run without a median: its mean, marked); throughput, the payload bytes
 * per second of the whole run. Several pairs of one placement class: the median of their figures.
 *
 * A series is one suite's mechanism at one method MAJOR.MINOR (DESIGN.md "Results"): figures measured by
 * different MINOR versions are never in the same series, whatever their dates or machines.
 */
import type { ProbeMode } from "../../bench/probe.js";
import type { ResultFile } from "../../bench/result.js";
import { percentile } from "../../bench/statistics.js";
import { PLACEMENT_CLASSES, type PlacementClass } from "../../bench/topology.js";
import { methodSeries } from "../methods.js";

export interface Point {
  mechanism: string;
  mode: ProbeMode;
  size: number;
  cpus: [number, number];
  placement: PlacementClass;
  /** ns (latency) or B/s (throughput). */
  value: number;
  /** Which statistic the value is. */
  stat: "p50" | "mean" | "rate";
  /** The source printed with a coarse resolution (the original's 1 us matrices, its whole Mbps). */
  resolution: number | null;
  /** Both sides spun on one CPU: the figure is a scheduler time slice, not the mechanism's cost. */
  spin: boolean;
  legacy: boolean;
}

/**
 * Every figure of a document: its successful runs, then its converted runs. Failed runs have none. The rule
 * is the report's (report/data.ts), so that the site's tables and the reports agree.
 */
export function pointsOf(doc: ResultFile): Point[] {
  const point = (
    r: { mechanism: string; mode: ProbeMode; size: number; cpus: [number, number]; placement: PlacementClass },
    value: number,
    stat: Point["stat"],
    resolution: number | null,
    flags: readonly string[],
    legacy: boolean,
  ): Point => {
    const { mechanism, mode, size, cpus, placement } = r;
    return {
      mechanism,
      mode,
      size,
      cpus,
      placement,
      value,
      stat,
      resolution,
      spin: flags.includes("spin-on-shared-cpu"),
      legacy,
    };
  };
  const points: Point[] = [];
  for (const r of doc.runs) {
    if (r.status !== "ok") continue;
    const rate = r.mode === "throughput" ? r.rate?.bytesPerSecond : undefined;
    points.push(point(r, rate ?? r.stats.p50, rate === undefined ? "p50" : "rate", null, r.flags, false));
  }
  for (const r of doc.legacy?.runs ?? []) {
    const { p50, mean } = r.stats;
    const value = p50 ?? mean;
    if (value === undefined) continue;
    const stat = p50 !== undefined ? "p50" : r.mode === "latency" ? "mean" : "rate";
    points.push(point(r, value, stat, r.resolution, r.flags, true));
  }
  return points;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

export interface ClassFigure {
  value: number;
  /** Half the coarsest resolution of the figures: a value under it was printed as 0. Null at full precision. */
  floor: number | null;
  /** How many pairs the median is of. */
  pairs: number;
  stat: Point["stat"];
  approximate: boolean;
  spin: boolean;
}

/** The figure of each placement class for one mechanism, mode and size. */
export function classFigures(points: readonly Point[]): Map<PlacementClass, ClassFigure> {
  const out = new Map<PlacementClass, ClassFigure>();
  for (const cls of PLACEMENT_CLASSES) {
    const of = points.filter((p) => p.placement === cls);
    if (of.length === 0) continue;
    const resolutions = of.map((p) => p.resolution).filter((r): r is number => r !== null);
    out.set(cls, {
      value: median(of.map((p) => p.value)),
      floor: resolutions.length === 0 ? null : Math.max(...resolutions) / 2,
      pairs: of.length,
      stat: of[0]?.stat ?? "p50",
      approximate: of.some((p) => p.resolution !== null && p.mode === "latency"),
      spin: of.some((p) => p.spin),
    });
  }
  return out;
}

/** The method of a mechanism in a document. */
export function methodOf(doc: ResultFile, mechanism: string): string {
  return doc.benchmarks[mechanism]?.method ?? "?";
}

/** "ipc-bench pipe 0.2": a series' key (see the module comment). */
export function seriesKey(doc: ResultFile, mechanism: string): string {
  return `${doc.suite.name} ${mechanism} ${methodSeries(methodOf(doc, mechanism))}`;
}

export interface SeriesPoint {
  doc: ResultFile;
  mode: ProbeMode;
  size: number;
  placement: PlacementClass;
  figure: ClassFigure;
}

export interface Series {
  key: string;
  suite: string;
  mechanism: string;
  /** MAJOR.MINOR. */
  method: string;
  points: SeriesPoint[];
}

/** Every series of a set of documents, each point one document's figure of one (mode, size, class). */
export function seriesOf(docs: readonly ResultFile[]): Series[] {
  const byKey = new Map<string, Series>();
  for (const doc of docs) {
    const points = pointsOf(doc);
    const mechanisms = [...new Set(points.map((p) => p.mechanism))];
    for (const mechanism of mechanisms) {
      const key = seriesKey(doc, mechanism);
      let series = byKey.get(key);
      if (series === undefined) {
        series = {
          key,
          suite: doc.suite.name,
          mechanism,
          method: methodSeries(methodOf(doc, mechanism)),
          points: [],
        };
        byKey.set(key, series);
      }
      const mine = points.filter((p) => p.mechanism === mechanism);
      const groups = new Map<string, Point[]>();
      for (const p of mine) {
        const g = `${p.mode}|${p.size}`;
        groups.set(g, [...(groups.get(g) ?? []), p]);
      }
      for (const group of groups.values()) {
        const first = group[0];
        if (first === undefined) continue;
        for (const [placement, figure] of classFigures(group)) {
          series.points.push({ doc, mode: first.mode, size: first.size, placement, figure });
        }
      }
    }
  }
  for (const s of byKey.values()) s.points.sort((a, b) => (a.doc.createdAt < b.doc.createdAt ? -1 : 1));
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

const UNITS_NS: readonly [number, string][] = [
  [1e9, "s"],
  [1e6, "ms"],
  [1e3, "µs"],
  [1, "ns"],
];

function threeDigits(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** 1234 → "1.23 µs". */
export function formatNs(ns: number): string {
  for (const [scale, unit] of UNITS_NS) if (ns >= scale) return `${threeDigits(ns / scale)} ${unit}`;
  return `${threeDigits(ns)} ns`;
}

/** 1.5e9 → "1.50 GB/s" (decimal units, as network and bus figures are given). */
export function formatRate(bps: number): string {
  const units: [number, string][] = [
    [1e12, "TB/s"],
    [1e9, "GB/s"],
    [1e6, "MB/s"],
    [1e3, "kB/s"],
  ];
  for (const [scale, unit] of units) if (bps >= scale) return `${threeDigits(bps / scale)} ${unit}`;
  return `${bps.toFixed(0)} B/s`;
}

export function formatSize(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

export function formatFigure(mode: ProbeMode, value: number): string {
  return mode === "latency" ? formatNs(value) : formatRate(value);
}
