/**
 * The contract between the orchestrator and a probe: one executable invocation that runs one test
 * between two processes (or threads) pinned to two CPUs and prints one JSON object on stdout.
 *
 * Two kinds of probe honour it: the C bench engine (build/Release/fable-engine) for the native
 * mechanisms, and the Node probe (src/bench/node-probe/main.ts) for what Node applications get.
 * The orchestrator treats both alike: same arguments, same output, same raw-sample file.
 *
 * Arguments (both probes):
 *   --mechanism NAME      one of the probe's mechanisms
 *   --mode latency|throughput
 *   --size BYTES          message payload size, >= 8 (every message carries a 64-bit sequence number)
 *   --cpus A,B            CPU of side A (the initiator / writer) and side B (the echoer / reader)
 *   --budget-ms N         time budget of the measured phase
 *   --warmup-ms N         time budget of the warm-up phase (discarded)
 *   --max-samples N       cap on recorded samples (the measured phase stops when full)
 *   --samples-out PATH    where to write the raw samples: little-endian float64, nanoseconds
 *   --corrupt-at N        test hook: the writer sends a wrong sequence number in message N (0-based,
 *                         counted from the start of the measured phase); the reader must report it
 *   --list                print {"mechanisms":[{"name","modes":[...]}]} and exit 0
 *   --serve               (alone) run test after test: each stdin line is one invocation's arguments
 *                         separated by tabs, each answer one stdout line with its JSON object; the
 *                         bench runs its rounds this way (probe-host.ts), so a round pays no start-up
 *
 * Exit codes: 0 the test ran (ok:true), 3 the test failed for a reason reported in `error`
 * (ok:false, still one JSON object on stdout), 2 bad arguments (ok:false, code EUSAGE).
 *
 * Samples: in latency mode one sample is one round trip (A sends `size` bytes, B echoes `size`
 * bytes back), measured by A. In throughput mode the reader times consecutive batches of
 * `batchMessages` messages; one sample is the duration of one batch, and together they are the measured
 * phase's timeline, from which the orchestrator takes rates over fixed time windows (statistics.ts
 * `throughputWindows`): a batch's own rate is not a throughput (a reader that slept drains a backlog fast).
 */

export type ProbeMode = "latency" | "throughput";

export interface ProbeClock {
  /** "tsc" (invariant TSC calibrated against CLOCK_MONOTONIC_RAW), "clock_gettime", "hrtime" (Node). */
  readonly source: string;
  /** TSC frequency found by calibration, when source is "tsc". */
  readonly hz?: number;
  /** Smallest back-to-back reading difference seen, in ns: the timer's own cost. */
  readonly overheadNs: number;
}

export interface ProbePinning {
  /** Both sides ran on their requested CPU at the start and at the end of the test. */
  readonly verified: boolean;
  /** CPU each side observed (sched_getcpu) at the end: [A, B]. */
  readonly observed: readonly [number, number];
}

export interface ProbeSuccess {
  readonly ok: true;
  readonly probe: "engine" | "node";
  readonly mechanism: string;
  readonly mode: ProbeMode;
  readonly size: number;
  readonly cpus: readonly [number, number];
  readonly pinning: ProbePinning;
  readonly clock: ProbeClock;
  /** Iterations (latency) or messages (throughput) in the measured phase; all verified. */
  readonly iterations: number;
  readonly warmupIterations: number;
  /** Wall time of the measured phase, ns. */
  readonly elapsedNs: number;
  /** Payload bytes moved one way in the measured phase (throughput mode; 0 in latency mode). */
  readonly bytes: number;
  /** Messages per throughput batch sample; 1 in latency mode. */
  readonly batchMessages: number;
  /** Number of float64 samples written to --samples-out. */
  readonly samples: number;
  /** True when the budget ran out before the measured phase reached a useful count (<100). */
  readonly budgetExhausted: boolean;
  /** Free-form facts about how the mechanism was run (e.g. {"ringBytes": 65536}). */
  readonly params: Readonly<Record<string, number | string | boolean>>;
}

export type ProbeErrorCode =
  "EUSAGE" | "EPINNING" | "ESEQUENCE" | "EPAYLOAD" | "EUNSUPPORTED" | "ESYSCALL" | "ETIMEOUT" | "EPEER";

export interface ProbeFailure {
  readonly ok: false;
  readonly probe: "engine" | "node";
  readonly mechanism?: string;
  readonly mode?: ProbeMode;
  readonly error: {
    readonly code: ProbeErrorCode;
    readonly message: string;
    /** For ESEQUENCE: the sequence number expected and the one received. */
    readonly expected?: number;
    readonly received?: number;
  };
}

export type ProbeOutput = ProbeSuccess | ProbeFailure;
