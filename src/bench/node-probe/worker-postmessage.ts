/**
 * node-worker-postmessage: side B is a worker_threads Worker in the probe's process, pinned from
 * inside to CPU B. Messages are `size`-byte Uint8Arrays posted with postMessage and no transfer list,
 * so structured clone copies each one (transfer is not measured). Control messages share the port;
 * data is told apart by being a Uint8Array.
 */
import { Worker } from "node:worker_threads";
import type { EndMessage, PeerConfig } from "./control.js";
import { PeerControl } from "./control.js";
import { ProbeError } from "./errors.js";
import type { Mechanism, SideAContext, SideAResult } from "./mechanism.js";
import { ackEveryFor, messagePeer, messageSideA, messageThroughputParams } from "./message-channel.js";
import { messageTemplate, readSeq, writeSeq } from "./message.js";
import type { PeerMain } from "./side-b.js";

/** The verified sequence number of a data message; undefined for a control message. */
function seqOf(msg: unknown, size: number, reader: string): number | undefined {
  if (!(msg instanceof Uint8Array)) return undefined;
  if (msg.byteLength !== size) {
    throw new ProbeError("EPAYLOAD", `${reader} received a ${msg.byteLength}-byte message, expected ${size} bytes`);
  }
  return readSeq(msg, 0);
}

export const workerPostMessage: Mechanism = {
  name: "node-worker-postmessage",
  modes: ["latency", "throughput"],
  run: runSideA,
};

async function runSideA(ctx: SideAContext): Promise<SideAResult> {
  const { args, sup } = ctx;
  const size = args.size;
  const config: PeerConfig = {
    mechanism: "node-worker-postmessage",
    mode: args.mode,
    size,
    cpu: args.cpus[1],
    batchMessages: ctx.batchMessages,
    ackEvery: ackEveryFor(ctx),
  };
  const control = new PeerControl(sup);
  let onData: (seq: number) => void = () => undefined;
  const reader = "side A (checking the echo)";
  const worker = new Worker(new URL("./worker.js", import.meta.url), { workerData: config });
  sup.onCleanup(() => void worker.terminate());
  worker.on(
    "message",
    sup.guard((msg: unknown) => {
      const seq = seqOf(msg, size, reader);
      if (seq !== undefined) onData(seq);
      else control.handle(msg);
    }),
  );
  worker.on("error", (err) => sup.fail(new ProbeError("EPEER", `side B (worker thread) threw: ${err.message}`)));
  worker.on("exit", (code) =>
    sup.peerLost(() => `side B (worker thread) exited with code ${code} before the test ended`),
  );

  const template = messageTemplate(size);
  const out = new Uint8Array(size); // postMessage copies it, so it can be rewritten at once
  const run = messageSideA(
    ctx,
    control,
    (seq) => {
      out.set(template);
      writeSeq(out, 0, seq);
      worker.postMessage(out);
    },
    (end: EndMessage) => worker.postMessage(end),
  );
  onData = run.echo;
  return {
    measured: await run.measured,
    params: {
      sideB: "worker_threads Worker in the probe process, its thread pinned to CPU B",
      message: "Uint8Array, copied by structured clone (no transfer list)",
      ...(args.mode === "throughput" ? messageThroughputParams(size) : {}),
    },
  };
}

/** Side B, run by worker.js: echo (latency) or verify, time batches and acknowledge (throughput). */
export function workerPostMessagePeer(post: (msg: unknown) => void): PeerMain {
  return async (side) => {
    const size = side.config.size;
    const out = new Uint8Array(size);
    return messagePeer<Uint8Array>(
      side,
      (msg, reader) => seqOf(msg, size, reader),
      (msg, seq) => {
        out.set(msg);
        writeSeq(out, 0, seq);
        post(out);
      },
    );
  };
}
