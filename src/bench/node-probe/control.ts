/**
 * The control protocol between side A (the probe) and side B (a peer process or worker thread). It
 * never carries measured data; it runs beside the data path (an IPC channel for the net mechanisms)
 * or shares it (child IPC, worker port), where data messages are told apart by their shape.
 *
 *   B -> A  ready {cpu}        B pinned itself (and connected, for net); cpu = sched_getcpu now
 *   B -> A  ack {n}            throughput flow control of message mechanisms: B has verified n messages
 *   A -> B  end {warmup,total} A sent its last message; in throughput, B keeps reading up to `total`
 *   B -> A  done {cpu,samples} B verified everything; cpu at the end; batch samples (throughput)
 *   B -> A  error {code,...}   B failed (e.g. ESEQUENCE); B then waits to be killed
 */
import type { ProbeMode } from "../probe.js";
import { type ErrorReport, fromErrorReport, ProbeError } from "./errors.js";
import type { Supervisor } from "./supervisor.js";
import { decodeSamples } from "./timing.js";

export type MechanismName =
  | "node-net-unix"
  | "node-net-tcp"
  | "node-worker-postmessage"
  | "node-child-ipc"
  | "zeromq-ipc"
  | "zeromq-inproc"
  | "fable-shm-spin"
  | "fable-shm-adaptive"
  | "fable-shm-block"
  | "fable-sab"
  | "fable-unix"
  | "fable-tcp"
  | "fable-pipe";

/** Everything side B needs to know, passed as argv JSON (processes) or workerData (the worker). */
export interface PeerConfig {
  readonly mechanism: MechanismName;
  readonly mode: ProbeMode;
  readonly size: number;
  /** CPU side B pins itself to. */
  readonly cpu: number;
  readonly batchMessages: number;
  /** Message mechanisms in throughput mode: B acknowledges every `ackEvery` messages (0: never). */
  readonly ackEvery: number;
  /** net mechanisms: the unix socket path or the TCP port on 127.0.0.1 that side A listens on; zeromq: its endpoint. */
  readonly address?: string | number;
}

export interface EndMessage {
  readonly t: "end";
  /** Messages (throughput) or round trips (latency) of the warm-up. */
  readonly warmup: number;
  /** All messages sent, warm-up included. */
  readonly total: number;
}

export type FromPeer =
  | { readonly t: "ready"; readonly cpu: number }
  | { readonly t: "ack"; readonly n: number }
  | { readonly t: "done"; readonly cpu: number; readonly samples: string }
  | ErrorReport;

export interface PeerDone {
  readonly cpu: number;
  readonly samples: Float64Array;
}

/** Side A's end of the control protocol. */
export class PeerControl {
  readonly ready: Promise<number>;
  readonly done: Promise<PeerDone>;
  /** Set by throughput drivers of message mechanisms. */
  onAck: (n: number) => void = () => undefined;
  private resolveReady: (cpu: number) => void = () => undefined;
  private resolveDone: (done: PeerDone) => void = () => undefined;

  constructor(private readonly sup: Supervisor) {
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  handle(msg: unknown): void {
    const m = msg as Partial<Record<string, unknown>> | null;
    switch (typeof m === "object" && m !== null ? m.t : undefined) {
      case "ready":
        this.resolveReady(Number(m?.cpu));
        return;
      case "ack":
        this.onAck(Number(m?.n));
        return;
      case "done":
        this.resolveDone({ cpu: Number(m?.cpu), samples: decodeSamples(String(m?.samples ?? "")) });
        return;
      case "error":
        this.sup.fail(fromErrorReport(m as unknown as ErrorReport));
        return;
      default:
        this.sup.fail(new ProbeError("EPEER", `unexpected message from side B: ${describe(msg)}`));
    }
  }
}

function describe(msg: unknown): string {
  try {
    return JSON.stringify(msg)?.slice(0, 200) ?? String(msg);
  } catch {
    return String(msg);
  }
}
