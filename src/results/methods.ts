/**
 * The suites and method versions this fable knows, so that a result's figures can be put in a series
 * (DESIGN.md "Results": a series is one mechanism at one method MAJOR.MINOR) and a result from an unknown
 * suite or method is refused rather than compared with figures it does not measure like.
 *
 * fable-io: every mechanism of bench/mechanisms.ts at its current method, plus the methods it had before
 * ({@link PAST_METHODS}: when a method is bumped there, its old version is added here, so that results
 * measured with it stay valid). ipc-bench: the original suite's tests as legacy import converts them.
 */
import { MECHANISMS } from "../bench/mechanisms.js";

/**
 * Methods that fable-io mechanisms had before their current one. 1.0: a throughput run's statistics were
 * the rates of single batches (a reader that slept drains queued batches at memory speed, so they overstated
 * the rate); 1.1 takes them over fixed time windows. Latency-only mechanisms are still at 1.0. 1.2 (the Node
 * probe's mechanisms): rounds run in a serving probe with a warm side B, not in freshly started processes.
 */
export const PAST_METHODS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  MECHANISMS.filter((m) => m.modes.includes("throughput")).map((m) => [
    m.name,
    m.probe === "node" ? ["1.0.0", "1.1.0"] : ["1.0.0"],
  ]),
);

/**
 * Versions of the original ipc-bench, as fable names them (it had no releases): 0.1 is the code behind the
 * paper's data (resolve/, early 2012), 0.2 the self-test that users ran and contributed (results/, 2012-2016).
 * They measure the same way as far as the data shows, but nothing proves it: each starts its own series.
 */
export const LEGACY_SUITE_VERSIONS: readonly string[] = ["0.1.0", "0.2.0"];

/** Versions of fable's legacy conversion. */
export const LEGACY_CONVERSIONS: readonly string[] = ["1.0.0"];

/** The original tests and what legacy import calls them. */
export interface OriginalTest {
  /** e.g. "mempipe_thr". */
  name: string;
  mode: "latency" | "throughput";
  /** The mechanism, or for a test run both ways, the mechanism when the reader copies and when it reads in place. */
  mechanism: string | { safe: string; unsafe: string };
  /** The original spins while it waits: both sides on one CPU measure a scheduler time slice. */
  spins: boolean;
  /** Round trips in one timed iteration of a latency test (two in the original mempipe_lat). */
  roundTripsPerIteration?: number;
}

export const ORIGINAL_TESTS: readonly OriginalTest[] = [
  { name: "mempipe_lat", mode: "latency", mechanism: "mempipe", spins: true, roundTripsPerIteration: 2 },
  { name: "pipe_lat", mode: "latency", mechanism: "pipe", spins: false },
  { name: "tcp_lat", mode: "latency", mechanism: "tcp", spins: false },
  { name: "tcp_nodelay_lat", mode: "latency", mechanism: "tcp-nodelay", spins: false },
  { name: "unix_lat", mode: "latency", mechanism: "unix", spins: false },
  {
    name: "mempipe_thr",
    mode: "throughput",
    mechanism: { safe: "mempipe-safe", unsafe: "mempipe-unsafe" },
    spins: false,
  },
  {
    name: "mempipe_spin_thr",
    mode: "throughput",
    mechanism: { safe: "mempipe-spin-safe", unsafe: "mempipe-spin-unsafe" },
    spins: true,
  },
  {
    name: "shmem_pipe_thr",
    mode: "throughput",
    mechanism: { safe: "shmem-pipe-safe", unsafe: "shmem-pipe-unsafe" },
    spins: false,
  },
  { name: "pipe_thr", mode: "throughput", mechanism: "pipe", spins: false },
  { name: "tcp_thr", mode: "throughput", mechanism: "tcp", spins: false },
  { name: "tcp_nodelay_thr", mode: "throughput", mechanism: "tcp-nodelay", spins: false },
  { name: "unix_thr", mode: "throughput", mechanism: "unix", spins: false },
  { name: "vmsplice_coop_pipe_thr", mode: "throughput", mechanism: "vmsplice-coop", spins: false },
];

export function findOriginalTest(name: string): OriginalTest | undefined {
  return ORIGINAL_TESTS.find((t) => t.name === name);
}

/** Every mechanism name legacy import produces. */
export const LEGACY_MECHANISMS: readonly string[] = [
  ...new Set(
    ORIGINAL_TESTS.flatMap((t) =>
      typeof t.mechanism === "string" ? [t.mechanism] : [t.mechanism.safe, t.mechanism.unsafe],
    ),
  ),
];

/** "1.2.3" → "1.2": the part of a method version that decides whether figures are comparable. */
export function methodSeries(method: string): string {
  return method.split(".").slice(0, 2).join(".");
}

/** The method MAJOR.MINOR versions known for a mechanism of a suite; [] for an unknown suite or mechanism. */
export function knownMethodSeries(suite: string, mechanism: string): string[] {
  if (suite === "ipc-bench") {
    return LEGACY_MECHANISMS.includes(mechanism) ? LEGACY_SUITE_VERSIONS.map(methodSeries) : [];
  }
  if (suite !== "fable-io") return [];
  const current = MECHANISMS.find((m) => m.name === mechanism);
  const versions = [
    ...(current === undefined ? [] : [current.method]),
    ...(Object.hasOwn(PAST_METHODS, mechanism) ? (PAST_METHODS[mechanism] ?? []) : []),
  ];
  return [...new Set(versions.map(methodSeries))];
}

/** The probe kind a mechanism of a suite is measured by, or undefined if unknown. */
export function knownProbe(suite: string, mechanism: string): string | undefined {
  if (suite === "ipc-bench") return LEGACY_MECHANISMS.includes(mechanism) ? "ipc-bench" : undefined;
  return MECHANISMS.find((m) => m.name === mechanism)?.probe;
}

/** Compares two x.y.z versions numerically. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
