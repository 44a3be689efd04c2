/**
 * Side B's shared parts: the throughput reader that verifies the stream and marks the time at every
 * batch boundary, and the lifecycle of a peer (report ready/done/error to side A; after an error,
 * stop and wait to be killed, so that A hears the report before it sees the peer go).
 */
import type { NativeAddon } from "../../native/native.js";
import type { EndMessage, FromPeer, PeerConfig } from "./control.js";
import { errorReport, ProbeError } from "./errors.js";
import { SequenceCheck } from "./message.js";
import { encodeSamples } from "./timing.js";

/** After reporting an error a peer waits this long to be killed, then exits on its own. */
const LINGER_AFTER_ERROR_MS = 5_000;

export class ThroughputReader {
  private readonly check = new SequenceCheck("side B (reader)");
  private untilBatch: number;
  /** marks[k] = time (ns since t0) at which (k + 1) * batch messages had been verified. */
  private marks = new Float64Array(4096);
  private markCount = 0;
  private readonly t0 = process.hrtime.bigint();
  private end: EndMessage | undefined;
  private resolveDone: (samples: Float64Array) => void = () => undefined;
  private readonly done: Promise<Float64Array>;

  constructor(private readonly batch: number) {
    this.untilBatch = batch;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Messages verified so far. */
  get count(): number {
    return this.check.expected;
  }

  accept(seq: number): void {
    this.check.accept(seq);
    if (--this.untilBatch === 0) {
      this.untilBatch = this.batch;
      this.mark();
      if (this.end !== undefined && this.check.expected >= this.end.total) this.complete(this.end);
    }
  }

  /** A has sent everything; resolves once B has read it all, with one duration per measured batch. */
  finish(end: EndMessage): Promise<Float64Array> {
    this.end = end;
    if (this.check.expected >= end.total) this.complete(end);
    return this.done;
  }

  private mark(): void {
    if (this.markCount === this.marks.length) {
      const grown = new Float64Array(this.marks.length * 2);
      grown.set(this.marks);
      this.marks = grown;
    }
    this.marks[this.markCount++] = Number(process.hrtime.bigint() - this.t0);
  }

  private complete(end: EndMessage): void {
    if (this.check.expected !== end.total) {
      throw new ProbeError("EPEER", `side B read ${this.check.expected} messages but side A sent ${end.total}`);
    }
    const first = end.warmup / this.batch; // index of the mark ending the first measured batch
    const n = (end.total - end.warmup) / this.batch;
    const samples = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      samples[i] = (this.marks[first + i] as number) - (this.marks[first + i - 1] as number);
    }
    this.resolveDone(samples);
  }
}

/** Side B of one mechanism: sets up its data path, returns the handler of A's messages (control or data). */
export type PeerMain = (side: PeerSide) => Promise<(msg: unknown) => void>;

export function isEnd(msg: unknown): msg is EndMessage {
  return typeof msg === "object" && msg !== null && (msg as { t?: unknown }).t === "end";
}

export function unexpected(msg: unknown): ProbeError {
  let text: string;
  try {
    text = JSON.stringify(msg)?.slice(0, 200) ?? String(msg);
  } catch {
    text = String(msg);
  }
  return new ProbeError("EPEER", `side B got an unexpected message from side A: ${text}`);
}

/**
 * Side B's link to side A (process.send or parentPort.postMessage) and its ways out. A serving peer
 * (peer.ts --serve) runs test after test in one process: there, side A going away ends the test,
 * not the process, and `reset` releases what the test opened.
 */
export class PeerSide {
  /** Set by the mechanism: stop reading data (after an error). */
  stopData: () => void = () => undefined;
  private failed = false;
  private readonly releases: Array<() => void> = [];

  constructor(
    readonly config: PeerConfig,
    private readonly native: NativeAddon,
    readonly send: (msg: FromPeer) => void,
    private readonly serving = false,
  ) {}

  /** Side A's end of the data path went away: a single-shot peer has nothing left to do. */
  lost(): void {
    if (!this.serving) process.exit(0);
  }

  /** What `reset` must close (a socket, a connection). */
  onReset(fn: () => void): void {
    this.releases.push(fn);
  }

  /** The test is over: later errors are nobody's business; everything the test opened is closed. */
  reset(): void {
    this.failed = true;
    for (const fn of this.releases.reverse()) {
      try {
        fn();
      } catch {
        // Best effort: the serving peer checks its handles afterwards and says if any is left.
      }
    }
    this.releases.length = 0;
  }

  /** Pins side B; EPINNING names the CPU. Returns the CPU observed just after. */
  pin(scope: "thread" | "process"): number {
    try {
      this.native.setAffinity([this.config.cpu], scope);
    } catch (err) {
      throw new ProbeError(
        "EPINNING",
        `side B cannot pin its ${scope} to CPU ${this.config.cpu}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return this.native.getCpu();
  }

  ready(cpu: number): void {
    this.send({ t: "ready", cpu });
  }

  done(samples: Float64Array | undefined): void {
    this.send({ t: "done", cpu: this.native.getCpu(), samples: samples === undefined ? "" : encodeSamples(samples) });
  }

  /** Reports the first error, stops the data path, and lingers until killed. */
  fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    try {
      this.stopData();
    } catch {
      // The report below matters more than a clean stop.
    }
    this.send(errorReport(err));
    setTimeout(() => process.exit(3), LINGER_AFTER_ERROR_MS);
  }

  /** Runs `fn` as an event handler: whatever it throws is reported to side A. */
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      if (this.failed) return;
      try {
        fn(...args);
      } catch (err) {
        this.fail(err);
      }
    };
  }
}
