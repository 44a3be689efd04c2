/**
 * Every mechanism `fable bench` measures: which probe runs it, in which modes, and the method
 * version of its measurement (DESIGN.md "Results": PATCH keeps figures comparable, MINOR starts a
 * new series, MAJOR measures another quantity). Bump a method here whenever its probe changes how
 * it measures.
 */
import type { ProbeMode } from "./probe.js";

export type ProbeKind = "engine" | "node";

/**
 * What `-m` selects besides names: the engine's native mechanisms, Node's own, third-party libraries
 * as peers, and fable-io's own transports.
 */
export type MechanismGroup = "native" | "node" | "peers" | "fable";
export const MECHANISM_GROUPS: readonly MechanismGroup[] = ["native", "node", "peers", "fable"];

export interface Mechanism {
  readonly name: string;
  readonly probe: ProbeKind;
  readonly group: MechanismGroup;
  readonly modes: readonly ProbeMode[];
  readonly method: string;
  /** Either side busy-waits: both on one CPU is pathological (each wait lasts a scheduler slice). */
  readonly spins: boolean;
  readonly description: string;
}

const both: readonly ProbeMode[] = ["latency", "throughput"];
const latencyOnly: readonly ProbeMode[] = ["latency"];
const throughputOnly: readonly ProbeMode[] = ["throughput"];

/**
 * 1.1: throughput statistics are the rates of fixed time windows (bench/statistics.ts), no longer of each
 * batch; mechanisms measured in latency only stay at 1.0 (results/methods.ts keeps the 1.0 of the others).
 */
const METHOD_LATENCY_ONLY = "1.0.0";
const METHOD = "1.1.0";
/**
 * 1.2: the Node probe serves a run's rounds from one process per mechanism, with a warm side B
 * (node-probe/serve.ts): a round no longer measures right after two Node processes started (their JIT
 * and collector still busy on 2 CPUs), and its code is as warm as its mechanism's earlier rounds left it.
 * Measured under load, e.g. fable-shm-spin 0-1 round trips of 1.3-2.4 us against 11-14 us before.
 */
const METHOD_NODE_PROBE = "1.2.0";

function engine(name: string, modes: readonly ProbeMode[], spins: boolean, description: string): Mechanism {
  const method = modes.includes("throughput") ? METHOD : METHOD_LATENCY_ONLY;
  return { name, probe: "engine", group: "native", modes, method, spins, description };
}

function node(name: string, description: string): Mechanism {
  return { name, probe: "node", group: "node", modes: both, method: METHOD_NODE_PROBE, spins: false, description };
}

/** A third-party library measured by the Node probe, as a Node application would use it. */
function peer(name: string, description: string): Mechanism {
  return { name, probe: "node", group: "peers", modes: both, method: METHOD_NODE_PROBE, spins: false, description };
}

/** One of fable-io's own transports, through a Connection, as an application uses it. */
function fable(name: string, spins: boolean, description: string): Mechanism {
  return { name, probe: "node", group: "fable", modes: both, method: METHOD_NODE_PROBE, spins, description };
}

export const MECHANISMS: readonly Mechanism[] = [
  engine("cacheline", latencyOnly, true, "two processes ping-pong one cache line (the floor of core-to-core latency)"),
  engine("futex-wake", latencyOnly, false, "wake-up of a peer sleeping in FUTEX_WAIT, each way"),
  engine("mempipe-spin-unsafe", both, true, "shared-memory ring, busy-waiting, reader reads in place"),
  engine("mempipe-spin-safe", both, true, "shared-memory ring, busy-waiting, reader copies before reading"),
  engine("mempipe-futex-unsafe", both, false, "shared-memory ring, futex sleep/wake, reader reads in place"),
  engine("mempipe-futex-safe", both, false, "shared-memory ring, futex sleep/wake, reader copies before reading"),
  engine("shmem-pipe-unsafe", throughputOnly, false, "shared-memory buffer, pipe notifications, read in place"),
  engine("shmem-pipe-safe", throughputOnly, false, "shared-memory buffer, pipe notifications, copied out"),
  engine("vmsplice-coop", throughputOnly, false, "pages spliced into a pipe, writer and reader cooperating"),
  engine("pipe", both, false, "anonymous pipes"),
  engine("unix", both, false, "unix-domain stream socket"),
  engine("tcp", both, false, "TCP over loopback, Nagle on"),
  engine("tcp-nodelay", both, false, "TCP over loopback, TCP_NODELAY"),
  node("node-net-unix", "Node net.Socket over a unix socket, between two Node processes"),
  node("node-net-tcp", "Node net.Socket over loopback TCP with setNoDelay, between two Node processes"),
  node("node-worker-postmessage", "worker_threads postMessage of a Uint8Array, main thread to a worker"),
  node("node-child-ipc", "child_process.fork IPC channel, parent to child"),
  peer("zeromq-ipc", "zeromq.js over ipc:// between two Node processes (Pair ping-pong, Push/Pull stream)"),
  peer("zeromq-inproc", "zeromq.js over inproc:// between the main thread and a worker (Pair, Push/Pull)"),
  fable("fable-shm-spin", true, "fable-io shm transport (memfd rings between two processes), busy-waiting"),
  fable("fable-shm-adaptive", true, "fable-io shm transport, spins 200 us then sleeps on a futex (the default)"),
  fable("fable-shm-block", false, "fable-io shm transport, sleeps on a futex whenever it waits"),
  fable("fable-sab", true, "fable-io sab transport (SharedArrayBuffer rings) to a worker thread, adaptive"),
  fable("fable-unix", false, "fable-io unix transport (framed records over a unix socket) between two processes"),
  fable("fable-tcp", false, "fable-io tcp transport (framed records, TCP_NODELAY, loopback) between two processes"),
  fable("fable-pipe", false, "fable-io pipe transport (framed records over the child's extra stdio) between processes"),
];

export function findMechanism(name: string): Mechanism | undefined {
  return MECHANISMS.find((m) => m.name === name);
}
