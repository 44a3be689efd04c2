/**
 * Side A's measurement loops, written once for every mechanism: a mechanism only says how to send
 * one message and calls back with what it received.
 *
 * Latency: A sends message `seq`, B echoes it, A verifies the echo and records the round trip; the
 * warm-up runs for --warmup-ms, the measured phase for --budget-ms or --max-samples round trips.
 *
 * Throughput: A streams messages 0, 1, 2, ... and B times every batch of `batch` messages. The
 * sequence numbers run on across the warm-up; A chooses the first measured message `warmup` and
 * the end `total` on batch boundaries (warm-up is at least one batch, so the first measured batch
 * has a start mark) and tells B both once it has sent the last one.
 */
import type { EndMessage, PeerControl, PeerDone } from "./control.js";
import { ProbeError, sequenceError } from "./errors.js";
import { CORRUPTION } from "./message.js";
import type { Supervisor } from "./supervisor.js";
import { now, SampleBuffer } from "./timing.js";

export interface RunPlan {
  readonly warmupNs: bigint;
  readonly budgetNs: bigint;
  readonly maxSamples: number;
  /** Message index, counted from the start of the measured phase, whose sequence number A spoils. */
  readonly corruptAt: number | undefined;
}

/** What a mechanism's side A measured. */
export interface Measured {
  readonly iterations: number;
  readonly warmupIterations: number;
  readonly elapsedNs: number;
  readonly bytes: number;
  readonly batchMessages: number;
  readonly samples: Float64Array;
  /** CPU side B observed when it started and when it finished. */
  readonly peerCpu: { readonly start: number; readonly end: number };
}

interface LatencyOutcome {
  readonly warmupIterations: number;
  readonly iterations: number;
  readonly elapsedNs: number;
  readonly samples: Float64Array;
}

export class LatencyDriver {
  private seq = 0;
  private measuring = false;
  private sentAt = 0n;
  private phaseEnd = 0n;
  private measureStart = 0n;
  private corruptSeq = -1;
  private warmupIterations = 0;
  private readonly samples: SampleBuffer;
  private resolve: (outcome: LatencyOutcome) => void = () => undefined;

  constructor(
    private readonly plan: RunPlan,
    private readonly send: (wireSeq: number) => void,
    private readonly sup: Supervisor,
  ) {
    this.samples = new SampleBuffer(plan.maxSamples);
  }

  start(): Promise<LatencyOutcome> {
    const done = new Promise<LatencyOutcome>((resolve) => (this.resolve = resolve));
    const t = now();
    if (this.plan.warmupNs > 0n) {
      this.sup.phase = "warming up (latency)";
      this.phaseEnd = t + this.plan.warmupNs;
    } else {
      this.beginMeasuring(t);
    }
    this.sendNext();
    return done;
  }

  /** The echo of the message in flight arrived, carrying `received`. */
  echo(received: number): void {
    const t = now();
    const seq = this.seq;
    if (received !== seq) throw sequenceError(seq, received, "side A (checking the echo)");
    this.seq = seq + 1;
    this.sup.progress++;
    if (this.measuring) {
      this.samples.push(Number(t - this.sentAt));
      if (t >= this.phaseEnd || this.samples.full) {
        this.resolve({
          warmupIterations: this.warmupIterations,
          iterations: this.samples.length,
          elapsedNs: Number(t - this.measureStart),
          samples: this.samples.values(),
        });
        return;
      }
    } else if (t >= this.phaseEnd) {
      this.beginMeasuring(t);
    }
    this.sendNext();
  }

  private beginMeasuring(t: bigint): void {
    this.sup.phase = "measuring (latency)";
    this.measuring = true;
    this.measureStart = t;
    this.phaseEnd = t + this.plan.budgetNs;
    this.warmupIterations = this.seq;
    if (this.plan.corruptAt !== undefined) this.corruptSeq = this.seq + this.plan.corruptAt;
  }

  private sendNext(): void {
    const seq = this.seq;
    this.sentAt = now();
    this.send(seq === this.corruptSeq ? seq + CORRUPTION : seq);
  }
}

/** How a mechanism streams: send one message now; false asks the driver to wait for resume(). */
export interface StreamSender {
  trySend(wireSeq: number): boolean;
}

/** Yield to the event loop at least this often even when the transport never pushes back. */
const YIELD_EVERY_NS = 2_000_000n;

export class ThroughputDriver {
  private seq = 0;
  private warmupEnd = 0n;
  /** First measured message; undefined during the warm-up. */
  private firstMeasured: number | undefined;
  private measureStart: bigint | undefined;
  private stopAt = Number.POSITIVE_INFINITY;
  private corruptSeq = -1;
  private blocked = false;
  private finished = false;
  private untilCheck = 1;
  private lastYield = 0n;
  private readonly checkEvery: number;
  private resolve: (end: EndMessage) => void = () => undefined;

  constructor(
    private readonly plan: RunPlan,
    readonly size: number,
    readonly batch: number,
    private readonly sender: StreamSender,
    private readonly sup: Supervisor,
  ) {
    this.checkEvery = Math.min(16, batch);
  }

  start(): Promise<EndMessage> {
    const done = new Promise<EndMessage>((resolve) => (this.resolve = resolve));
    this.sup.phase = "warming up (throughput)";
    this.warmupEnd = now() + this.plan.warmupNs;
    this.lastYield = now();
    this.pump();
    return done;
  }

  /** The transport can take more (drain, ack). */
  resume(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.pump();
  }

  private readonly pump = (): void => {
    if (this.finished) return;
    try {
      for (;;) {
        const seq = this.seq;
        if (--this.untilCheck <= 0) {
          this.untilCheck = this.checkEvery;
          const t = now();
          this.checkClock(t, seq);
          if (t - this.lastYield >= YIELD_EVERY_NS) {
            this.lastYield = t;
            setImmediate(this.pump);
            return;
          }
        }
        if (seq >= this.stopAt) {
          this.finished = true;
          this.resolve({ t: "end", warmup: this.firstMeasured ?? 0, total: seq });
          return;
        }
        const more = this.sender.trySend(seq === this.corruptSeq ? seq + CORRUPTION : seq);
        this.seq = seq + 1;
        this.sup.progress++;
        if (!more) {
          this.blocked = true;
          return;
        }
      }
    } catch (err) {
      this.sup.fail(err);
    }
  };

  private checkClock(t: bigint, seq: number): void {
    const batch = this.batch;
    if (this.firstMeasured === undefined) {
      if (t < this.warmupEnd) return;
      const first = Math.max(batch, Math.ceil(seq / batch) * batch);
      this.firstMeasured = first;
      this.stopAt = first + this.plan.maxSamples * batch;
      if (this.plan.corruptAt !== undefined) this.corruptSeq = first + this.plan.corruptAt;
      return;
    }
    if (seq < this.firstMeasured) return;
    if (this.measureStart === undefined) {
      this.sup.phase = "measuring (throughput)";
      this.measureStart = t;
      return;
    }
    if (t - this.measureStart >= this.plan.budgetNs) {
      const end = Math.max(this.firstMeasured + batch, Math.ceil(seq / batch) * batch);
      this.stopAt = Math.min(this.stopAt, end);
    }
  }
}

/** Side A of a latency test: send the first message, let the mechanism route echoes in, report. */
export async function measureLatency(
  driver: LatencyDriver,
  control: PeerControl,
  sendEnd: (end: EndMessage) => void,
  sup: Supervisor,
): Promise<Measured> {
  const peerStart = await sup.race(control.ready);
  const outcome = await sup.race(driver.start());
  sup.phase = "waiting for side B's final report";
  sendEnd({ t: "end", warmup: outcome.warmupIterations, total: outcome.warmupIterations + outcome.iterations });
  const done = await sup.race(control.done);
  return {
    iterations: outcome.iterations,
    warmupIterations: outcome.warmupIterations,
    elapsedNs: outcome.elapsedNs,
    bytes: 0,
    batchMessages: 1,
    samples: outcome.samples,
    peerCpu: { start: peerStart, end: done.cpu },
  };
}

/** Side A of a throughput test: stream until the plan says stop, then collect B's batch samples. */
export async function measureThroughput(
  driver: ThroughputDriver,
  control: PeerControl,
  sendEnd: (end: EndMessage) => void,
  sup: Supervisor,
): Promise<Measured> {
  const peerStart = await sup.race(control.ready);
  const end = await sup.race(driver.start());
  sup.phase = "waiting for side B to read the last messages";
  sendEnd(end);
  const done: PeerDone = await sup.race(control.done);
  const iterations = end.total - end.warmup;
  const expected = iterations / driver.batch;
  if (done.samples.length !== expected) {
    throw new ProbeError("EPEER", `side B reported ${done.samples.length} batch samples, expected ${expected}`);
  }
  let elapsedNs = 0;
  for (const s of done.samples) elapsedNs += s;
  return {
    iterations,
    warmupIterations: end.warmup,
    elapsedNs,
    bytes: iterations * driver.size,
    batchMessages: driver.batch,
    samples: done.samples,
    peerCpu: { start: peerStart, end: done.cpu },
  };
}
