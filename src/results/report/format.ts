/**
 * How figures are written for people, shared by `fable bench`'s table and the report: latency is a round
 * trip in ns (µs and ms where that reads better), throughput payload bytes per second one way, sizes in
 * binary units. Plain text: callers escape where they embed it.
 */
import type { ResultFile } from "../../bench/result.js";

/** `micro` is "us" for terminals that may not show "µ". */
export function formatNs(ns: number, micro = "us"): string {
  if (ns < 1_000) return `${ns.toFixed(0)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(ns < 10_000 ? 2 : 1)} ${micro}`;
  return `${(ns / 1_000_000).toFixed(1)} ms`;
}

/** Latency for the report. */
export function formatLatency(ns: number): string {
  return formatNs(ns, "µs");
}

export function formatRate(bytesPerSecond: number): string {
  const mb = bytesPerSecond / 1e6;
  return mb >= 100 ? `${mb.toFixed(0)} MB/s` : `${mb.toFixed(1)} MB/s`;
}

/** Throughput for the report, in decimal units up to GB/s. */
export function formatThroughput(bytesPerSecond: number): string {
  return scaled(bytesPerSecond, RATE_UNITS, "B/s", (v) => v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0));
}

export function formatSize(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes >> 20} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes >> 10} KiB`;
  return `${bytes} B`;
}

/** A ratio such as 1.23× or 45×. */
export function formatRatio(ratio: number): string {
  if (ratio >= 100) return `${ratio.toFixed(0)}×`;
  if (ratio >= 10) return `${ratio.toFixed(1)}×`;
  return `${ratio.toFixed(2)}×`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function machineLine(doc: ResultFile): string {
  const env = doc.machine.environment;
  const t = doc.machine.topology;
  const virt = env.virtualization.hypervisor ? `${env.virtualization.vendor ?? "unknown"} guest` : "bare metal";
  return [
    `${t.cpus.length} CPUs (${plural(t.packages, "package")}, ${plural(t.cores, "core")}, ${t.threadsPerCore} thread/core)`,
    env.cpu.model ?? "unknown CPU",
    virt,
    `Linux ${env.kernel.release}`,
    // A converted ipc-bench result has no runtime: the original suite was C.
    ...(env.runtime.node === null ? [] : [`Node ${env.runtime.node}`]),
  ].join(", ");
}

/** The value in the largest unit it reaches (at the rounding edge too), else in `base`. */
function scaled(
  value: number,
  units: readonly (readonly [number, string])[],
  base: string,
  digits: (v: number) => string,
) {
  for (const [scale, unit] of units) {
    if (value >= scale * 0.9995) return `${digits(value / scale)} ${unit}`;
  }
  return `${digits(value)} ${base}`;
}

const TIME_UNITS = [
  [1e9, "s"],
  [1e6, "ms"],
  [1e3, "µs"],
] as const;

const RATE_UNITS = [
  [1e9, "GB/s"],
  [1e6, "MB/s"],
  [1e3, "kB/s"],
] as const;

/** Two significant digits, for ticks and heatmap cells: 240 ns, 2.2 µs, 48 µs, 8 ms. */
export function formatNsShort(ns: number): string {
  return scaled(ns, TIME_UNITS, "ns", significant);
}

/** Two significant digits of bytes per second, for ticks: 50 MB/s, 1.2 GB/s. */
export function formatThroughputShort(bytesPerSecond: number): string {
  return scaled(bytesPerSecond, RATE_UNITS, "B/s", significant);
}

function significant(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(0);
  const s = v.toFixed(1);
  return s.endsWith(".0") ? s.slice(0, -2) : s;
}
