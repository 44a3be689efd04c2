/**
 * The part of the message mechanisms (worker postMessage, child IPC) that does not depend on the
 * channel: side A's loops with credit-based flow control (neither channel pushes back on a sender),
 * and side B's echoer / reader. A mechanism supplies how to post one whole message and how to
 * recognise and verify one it received.
 */
import type { EndMessage, PeerControl } from "./control.js";
import type { SideAContext } from "./mechanism.js";
import { BATCH_RULE, CREDIT_RULE, creditWindowFor, SequenceCheck } from "./message.js";
import { LatencyDriver, type Measured, measureLatency, measureThroughput, ThroughputDriver } from "./side-a.js";
import { isEnd, type PeerSide, ThroughputReader, unexpected } from "./side-b.js";

/** B acknowledges every `ackEvery` messages in throughput mode (0 in latency mode: no acks). */
export function ackEveryFor(ctx: SideAContext): number {
  return ctx.args.mode === "throughput" ? creditWindowFor(ctx.args.size).ackEvery : 0;
}

/**
 * Side A: runs the test; `post` sends one whole message carrying `wireSeq`. The mechanism routes
 * every data message it receives (the echoes) to `echo`, with the sequence number it verified.
 */
export function messageSideA(
  ctx: SideAContext,
  control: PeerControl,
  post: (wireSeq: number) => void,
  sendEnd: (end: EndMessage) => void,
): { readonly echo: (seq: number) => void; readonly measured: Promise<Measured> } {
  const { plan, sup } = ctx;
  if (ctx.args.mode === "latency") {
    const driver = new LatencyDriver(plan, post, sup);
    return { echo: (seq) => driver.echo(seq), measured: measureLatency(driver, control, sendEnd, sup) };
  }
  const { window } = creditWindowFor(ctx.args.size);
  let sent = 0;
  let acked = 0;
  const sender = {
    trySend(seq: number): boolean {
      post(seq);
      return ++sent - acked < window;
    },
  };
  const driver = new ThroughputDriver(plan, ctx.args.size, ctx.batchMessages, sender, sup);
  control.onAck = (n) => {
    acked = n;
    driver.resume();
  };
  return {
    echo: (seq) => {
      throw unexpected({ seq });
    },
    measured: measureThroughput(driver, control, sendEnd, sup),
  };
}

export function messageThroughputParams(size: number): Record<string, string | number> {
  return {
    batchRule: BATCH_RULE,
    reader: "side B",
    warmupMinBatches: 1,
    flowControl: CREDIT_RULE,
    creditWindow: creditWindowFor(size).window,
  };
}

/**
 * Side B's handler of everything side A sends. `seqOf` returns the verified sequence number of a
 * data message, undefined for anything else (control); `echo` sends back one whole message.
 */
export function messagePeer<M>(
  side: PeerSide,
  seqOf: (msg: unknown, reader: string) => number | undefined,
  echo: (msg: M, seq: number) => void,
): (msg: unknown) => void {
  const { config } = side;
  if (config.mode === "latency") {
    const reader = "side B (echoer)";
    const check = new SequenceCheck(reader);
    return side.guard((msg) => {
      const seq = seqOf(msg, reader);
      if (seq !== undefined) {
        check.accept(seq);
        echo(msg as M, seq);
      } else if (isEnd(msg)) {
        side.done(undefined);
      } else {
        throw unexpected(msg);
      }
    });
  }
  const reader = new ThroughputReader(config.batchMessages);
  const ackEvery = config.ackEvery;
  let untilAck = ackEvery;
  return side.guard((msg) => {
    const seq = seqOf(msg, "side B (reader)");
    if (seq !== undefined) {
      reader.accept(seq);
      if (--untilAck === 0) {
        untilAck = ackEvery;
        side.send({ t: "ack", n: reader.count });
      }
    } else if (isEnd(msg)) {
      void reader.finish(msg).then((samples) => side.done(samples));
    } else {
      throw unexpected(msg);
    }
  });
}
