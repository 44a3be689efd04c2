/**
 * node-child-ipc: side B is a child_process.fork()ed Node process and messages travel over the
 * default IPC channel with the default "json" serialization, as most applications use it. A message
 * is {seq, data}: the sequence number as a JSON number (exact below 2^53) and `size - 8` ASCII
 * characters, so it carries `size` bytes of content; every reader checks both. Control messages
 * share the channel; data is told apart by its numeric `seq`.
 */
import type { EndMessage } from "./control.js";
import { PeerControl } from "./control.js";
import { ProbeError } from "./errors.js";
import type { Mechanism, SideAContext, SideAResult } from "./mechanism.js";
import { ackEveryFor, messagePeer, messageSideA, messageThroughputParams } from "./message-channel.js";
import { SEQ_BYTES, textPayload } from "./message.js";
import { forkPeer } from "./peer-process.js";
import type { PeerMain } from "./side-b.js";

interface DataMessage {
  readonly seq: number;
  readonly data: string;
}

/** The verified sequence number of a data message; undefined for a control message. */
function seqOf(msg: unknown, size: number, reader: string): number | undefined {
  if (typeof msg !== "object" || msg === null) return undefined;
  const { seq, data } = msg as Partial<DataMessage>;
  if (typeof seq !== "number") return undefined;
  if (typeof data !== "string" || data.length !== size - SEQ_BYTES) {
    const got = typeof data === "string" ? `${data.length} characters` : typeof data;
    throw new ProbeError(
      "EPAYLOAD",
      `${reader} received message data of ${got}, expected ${size - SEQ_BYTES} characters`,
    );
  }
  return seq;
}

export const childIpc: Mechanism = {
  name: "node-child-ipc",
  modes: ["latency", "throughput"],
  run: runSideA,
};

async function runSideA(ctx: SideAContext): Promise<SideAResult> {
  const { args, sup } = ctx;
  const size = args.size;
  const control = new PeerControl(sup);
  let onData: (seq: number) => void = () => undefined;
  const reader = "side A (checking the echo)";
  const child = forkPeer(
    {
      mechanism: "node-child-ipc",
      mode: args.mode,
      size,
      cpu: args.cpus[1],
      batchMessages: ctx.batchMessages,
      ackEvery: ackEveryFor(ctx),
    },
    sup,
    (msg) => {
      const seq = seqOf(msg, size, reader);
      if (seq !== undefined) onData(seq);
      else control.handle(msg);
    },
  );
  const data = textPayload(size);
  const run = messageSideA(
    ctx,
    control,
    (seq) => child.send({ seq, data }),
    (end: EndMessage) => child.send(end),
  );
  onData = run.echo;
  return {
    measured: await run.measured,
    params: {
      sideB: "child_process.fork with the default IPC channel",
      serialization: "json",
      message: "{seq: JSON number, data: string of size - 8 ASCII characters}",
      ...(args.mode === "throughput" ? messageThroughputParams(size) : {}),
    },
  };
}

/** Side B: echo (latency) or verify, time batches and acknowledge (throughput). */
export const childIpcPeer: PeerMain = async (side) => {
  const post = process.send?.bind(process);
  if (post === undefined) throw new ProbeError("EPEER", "side B was started without an IPC channel");
  const size = side.config.size;
  return messagePeer<DataMessage>(
    side,
    (msg, reader) => seqOf(msg, size, reader),
    (msg, seq) => post({ seq, data: msg.data }),
  );
};
