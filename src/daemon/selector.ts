/**
 * What the daemon asks of transport selection. The daemon holds one Selector, passed in when it is
 * created (never set globally): `fable daemon` gives it the one built from this host's bench
 * results (src/bench/selection.ts); default-order.ts is the fixed order used while there are none.
 *
 * A Selector is pure with respect to its inputs at the moment of the call: the daemon reads where
 * each end runs (/proc) and what the client declared, and the Selector ranks the candidates.
 */

/** Transports the daemon can choose between two processes of this host. */
export type SelectableTransport = "shm" | "unix" | "tcp";
/** How a shared-memory end waits (src/ring/wait.ts). */
export type WaitStrategy = "spin" | "adaptive" | "block";

export interface Candidate {
  readonly transport: SelectableTransport;
  /** How a shared-memory end waits; null for sockets (they wait in the kernel). */
  readonly wait: WaitStrategy | null;
}

/** Where one end runs, read from /proc/<pid>. */
export interface EndPlacement {
  readonly pid: number;
  /** CPUs the process may run on (Cpus_allowed_list), ascending. */
  readonly allowedCpus: readonly number[];
  /** CPU it last ran on (/proc/<pid>/stat, field 39), when known. */
  readonly currentCpu: number | null;
}

/** What the connecting client declared (defaults already applied). */
export interface Requirements {
  /** "critical": rank by round trip; "bulk": rank by throughput. */
  readonly latency: "critical" | "bulk";
  /** false: no end may busy-wait, not even adaptive's bounded spin. */
  readonly spin: boolean;
  /** "untrusted": readers check and copy what they read (no zero-copy reads of the peer's memory). */
  readonly trust: "trusted" | "untrusted";
  /** Message sizes the client expects, in bytes; empty when it did not say. */
  readonly sizes: readonly number[];
  /** The connector hands the connection to an application as a node:net socket (transparent mode). */
  readonly socket?: boolean;
}

export interface SelectionRequest {
  readonly listener: EndPlacement;
  readonly connector: EndPlacement;
  readonly requirements: Requirements;
  /** Transports the listener offers (it may lack shm where memfd is refused). */
  readonly offered: readonly SelectableTransport[];
  /** New flows to the listener in the last second, from the daemon's flow table (absent: none known). */
  readonly listenerNewFlowsPerSecond?: number;
  /** The listener's application takes raw byte streams on a unix socket of its own (Endpoints.stream). */
  readonly nativeStream?: boolean;
}

/**
 * A listener taking this many new flows a second spends its time setting up short connections:
 * their ends do not spin. (`npm run bench:daemon`, 8 connects by name in flight on 2 CPUs: with
 * spinning ends the connect took 3.0-3.4 times a raw unix connect, adaptive 2.0-2.9, blocking
 * 1.3: the listener's spin loop held its event loop from accepting, and the spinning CPUs were
 * the ones its peers needed.)
 */
export const CHURN_FLOWS_PER_SECOND = 100;

export interface Prediction {
  /** Predicted round trip of the smallest declared size (64 B when none), in ns. */
  readonly roundTripNs: number | null;
  /** Predicted one-way throughput at the largest declared size, payload bytes per second. */
  readonly bytesPerSecond: number | null;
  /** Where the figures come from: the result file, the mechanism and the placement class used. */
  readonly source: string;
}

export interface Verdict {
  readonly candidate: Candidate;
  readonly prediction: Prediction | null;
  /** Why this candidate cannot be used; absent for viable ones. */
  readonly excluded?: string;
  /** 1 = chosen, then the fallbacks in order; absent for excluded candidates. */
  readonly rank?: number;
  /** One line: why it won, why it ranks where it does, or why it was excluded. */
  readonly reason: string;
}

export interface Selection {
  /** Viable candidates, best first: the connector tries them in this order and falls back along it. */
  readonly ranked: readonly Candidate[];
  /** Every candidate considered, viable or not. */
  readonly verdicts: readonly Verdict[];
  /** "measured": from a bench result of this machine; "default-order": none was available. */
  readonly basis: "measured" | "default-order";
  /** The result file used, when basis is "measured". */
  readonly result?: string;
}

export interface Selector {
  select(request: SelectionRequest): Selection;
  /** One line on what the selector works from (for `fable daemon status`). */
  describe(): string;
  /** Stops background work (a calibration run); the daemon calls it when it shuts down. */
  close(): Promise<void>;
}

/** Every candidate the daemon knows, in no particular order. */
export const ALL_CANDIDATES: readonly Candidate[] = [
  { transport: "shm", wait: "spin" },
  { transport: "shm", wait: "adaptive" },
  { transport: "shm", wait: "block" },
  { transport: "unix", wait: null },
  { transport: "tcp", wait: null },
];

export function candidateName(c: Candidate): string {
  return c.wait === null ? c.transport : `${c.transport}:${c.wait}`;
}

/**
 * Why a candidate cannot be used for this request, or undefined when it can. Shared by every
 * Selector so that the constraints mean the same whatever the figures are.
 */
export function exclusion(c: Candidate, r: SelectionRequest): string | undefined {
  if (!r.offered.includes(c.transport)) return `the listener does not offer ${c.transport}`;
  const spins = c.wait === "spin" || c.wait === "adaptive";
  if (spins && !r.requirements.spin) {
    return c.wait === "spin" ? "spin: false forbids busy-waiting" : "spin: false forbids adaptive's bounded spin";
  }
  if (spins && shareOneCpu(r.listener, r.connector)) {
    return "both ends can only run on the same one CPU: a spinning end would hold it from its peer";
  }
  const churn = r.listenerNewFlowsPerSecond ?? 0;
  if (spins && churn >= CHURN_FLOWS_PER_SECOND) {
    return (
      `the listener took ${churn} new flows in the last second (${CHURN_FLOWS_PER_SECOND} or more): its ` +
      "connections are short, and spinning would hold its event loop from setting up the next ones"
    );
  }
  return undefined;
}

/** Both processes are confined to one and the same CPU. */
export function shareOneCpu(a: EndPlacement, b: EndPlacement): boolean {
  return a.allowedCpus.length === 1 && b.allowedCpus.length === 1 && a.allowedCpus[0] === b.allowedCpus[0];
}

/**
 * Both ends are node:net sockets handed to applications (a transparent-mode connector, and a
 * listener that takes native streams): unix first, opened as a plain unix socket at both ends.
 * The bench results rank transports by what a fable Connection costs; an application reading
 * through an emulated socket pays more than that, in JavaScript, per message: node:http parses a
 * native socket's bytes in C++ (parser.consume) and an emulated one's from 'data' events, with
 * stream machinery around both ends. `npm run bench:compat` measures the two (autocannon through
 * `fable run`, with FABLE_TRANSPARENT_NATIVE=0 for the emulated one). Applied after any Selector,
 * so it means the same whatever the figures are; the others keep their order as fallbacks.
 */
export function nativeStreamFirst(selection: Selection, request: SelectionRequest): Selection {
  if (request.requirements.socket !== true || request.nativeStream !== true) return selection;
  const unix = selection.ranked.find((c) => c.transport === "unix");
  if (unix === undefined) return selection;
  const ranked = [unix, ...selection.ranked.filter((c) => c.transport !== "unix")];
  const verdicts = selection.verdicts.map((v) => {
    if (v.rank === undefined) return v;
    const rank = ranked.findIndex((c) => candidateName(c) === candidateName(v.candidate)) + 1;
    const reason =
      v.candidate.transport === "unix"
        ? "first: both ends are node:net sockets (transparent mode) and the listener takes native unix streams, " +
          "so Node's own stream path runs at both ends (node:http parses in C++); an emulated socket over a " +
          `fable connection costs more per message in JavaScript (npm run bench:compat); was: ${v.reason}`
        : `after native unix (both ends are node:net sockets); was: ${v.reason}`;
    return { ...v, rank, reason };
  });
  return { ...selection, ranked, verdicts };
}
