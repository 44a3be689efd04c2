/**
 * fable's own transports, measured the way an application uses them: through a Connection (the
 * zero-copy buffer API: getWriteBuffers/commit, getReadBuffers/release) over one transport end.
 *
 *   fable-shm-spin, fable-shm-adaptive, fable-shm-block   shared-memory rings between two processes
 *   fable-sab                                            a SharedArrayBuffer ring to a worker thread
 *   fable-unix, fable-tcp, fable-pipe                     framed records over a socket or a pipe
 *
 * Each end keeps the transport's default options (trusted: records are read in place) except the
 * wait strategy the name gives. A message that fits one record is written straight into the
 * transport's memory; a larger one goes through send() (fragmented, reassembled with one copy),
 * and `params.api` says which. Side B is a forked Node process (the sab worker is a thread of the
 * probe); control runs beside the data path, over the peer's IPC channel or the worker's port.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { Worker } from "node:worker_threads";
import type { WriteBuffer } from "../../channel/buffers.js";
import { Connection } from "../../channel/connection.js";
import type { WaitStrategy } from "../../ring/wait.js";
import { pipeFromFds, pipeFromStreams } from "../../transports/pipe.js";
import { createSab, type SabPeerInit } from "../../transports/sab.js";
import { connectShm, ShmListener } from "../../transports/shm.js";
import { connectTcp, listenTcp } from "../../transports/tcp.js";
import { TransportError, type TransportEnd } from "../../transports/transport.js";
import { connectUnix, listenUnix } from "../../transports/unix.js";
import { type EndMessage, type MechanismName, PeerControl, type PeerConfig } from "./control.js";
import { ProbeError } from "./errors.js";
import type { Mechanism, SideAContext, SideAResult } from "./mechanism.js";
import { BATCH_RULE, messageTemplate, readSeq, SEQ_BYTES, SequenceCheck, writeSeq } from "./message.js";
import { forkPeer } from "./peer-process.js";
import { LatencyDriver, type Measured, measureLatency, measureThroughput, ThroughputDriver } from "./side-a.js";
import { isEnd, type PeerMain, type PeerSide, ThroughputReader, unexpected } from "./side-b.js";
import type { Supervisor } from "./supervisor.js";

type Path = "shm" | "sab" | "unix" | "tcp" | "pipe";

interface Variant {
  readonly name: MechanismName;
  readonly path: Path;
  readonly wait?: WaitStrategy;
}

export const FABLE_VARIANTS: readonly Variant[] = [
  { name: "fable-shm-spin", path: "shm", wait: "spin" },
  { name: "fable-shm-adaptive", path: "shm", wait: "adaptive" },
  { name: "fable-shm-block", path: "shm", wait: "block" },
  { name: "fable-sab", path: "sab", wait: "adaptive" },
  { name: "fable-unix", path: "unix" },
  { name: "fable-tcp", path: "tcp" },
  { name: "fable-pipe", path: "pipe" },
];

/** The fd of the pipe side B gets beside its stdio and IPC channel (fork's stdio index 4). */
const PIPE_FD = 4;

export function fableChannel(variant: Variant): Mechanism {
  return { name: variant.name, modes: ["latency", "throughput"], run: (ctx) => runSideA(ctx, variant) };
}

function variantOf(name: MechanismName): Variant {
  const v = FABLE_VARIANTS.find((x) => x.name === name);
  if (v === undefined) throw new ProbeError("EUNSUPPORTED", `${name} is not one of fable's transports`);
  return v;
}

function socketPath(sup: Supervisor): string {
  const path = join(tmpdir(), `fable-probe-${process.pid}-${randomBytes(6).toString("hex")}.sock`);
  sup.onCleanup(() => rmSync(path, { force: true }));
  return path;
}

/** Starts side B and returns this side's end, connected to it. */
async function openSideA(
  ctx: SideAContext,
  variant: Variant,
  control: PeerControl,
): Promise<{ end: TransportEnd; sideB: string; toPeer: (msg: EndMessage) => void }> {
  const { args, sup, batchMessages } = ctx;
  const config = (address?: string | number): PeerConfig => ({
    mechanism: variant.name,
    mode: args.mode,
    size: args.size,
    cpu: args.cpus[1],
    batchMessages,
    ackEvery: 0,
    ...(address !== undefined ? { address } : {}),
  });
  const onMessage = (msg: unknown): void => control.handle(msg);
  const process_ = "separate Node process (child_process.fork), pinned to CPU B";
  sup.phase = "waiting for side B to connect";
  const refused = (err: unknown): never => {
    if (err instanceof ProbeError) throw err;
    throw new ProbeError("ESYSCALL", `side A cannot open ${variant.name}: ${(err as Error).message}`);
  };
  // A listener side B connects to: accept one end, then stop listening.
  const viaListener = async (
    listener: { accept(): Promise<TransportEnd>; close(): Promise<void> },
    address: string | number,
  ): Promise<{ end: TransportEnd; sideB: string; toPeer: (msg: EndMessage) => void }> => {
    sup.onCleanup(() => void listener.close());
    const accepting = listener.accept();
    const child = forkPeer(config(address), sup, onMessage);
    const end = await sup.race(accepting.catch(refused));
    void listener.close();
    return { end, sideB: process_, toPeer: (msg) => child.send(msg) };
  };
  switch (variant.path) {
    case "shm": {
      const path = socketPath(sup);
      return viaListener(await ShmListener.listen(path, { wait: variant.wait ?? "adaptive" }).catch(refused), path);
    }
    case "unix": {
      const path = socketPath(sup);
      return viaListener(await listenUnix(path).catch(refused), path);
    }
    case "tcp": {
      const listener = await listenTcp().catch(refused);
      return viaListener(listener, listener.address.port);
    }
    case "pipe": {
      const child = forkPeer(config(), sup, onMessage, { extraPipe: true });
      const stream = child.stdio[PIPE_FD] as (Readable & Writable) | null | undefined;
      if (stream === null || stream === undefined)
        throw new ProbeError("ESYSCALL", "side A got no pipe to side B (fork stdio[4])");
      return {
        end: pipeFromStreams(stream, stream),
        sideB: `${process_}; the pipe is its fd ${PIPE_FD}`,
        toPeer: (msg) => child.send(msg),
      };
    }
    case "sab": {
      const { end, peer } = createSab({ wait: variant.wait ?? "adaptive" });
      const worker = new Worker(new URL("./fable-worker.js", import.meta.url), {
        workerData: { config: config(), sab: peer },
        transferList: [peer.port],
      });
      sup.onCleanup(() => void worker.terminate());
      worker.on("message", sup.guard(onMessage));
      worker.on("error", (err) => sup.fail(new ProbeError("EPEER", `side B (worker thread) threw: ${err.message}`)));
      worker.on("exit", (code) =>
        sup.peerLost(() => `side B (worker thread) exited with code ${code} before the test ended`),
      );
      return {
        end,
        sideB: "worker_threads Worker in the probe process, its thread pinned to CPU B",
        toPeer: (msg) => worker.postMessage(msg),
      };
    }
  }
}

async function runSideA(ctx: SideAContext, variant: Variant): Promise<SideAResult> {
  const { args, plan, sup, batchMessages } = ctx;
  const size = args.size;
  const control = new PeerControl(sup);
  const { end, sideB, toPeer } = await openSideA(ctx, variant, control);
  const conn = new Connection(end);
  let finished = false;
  sup.onCleanup(() => {
    finished = true;
    conn.destroy();
  });
  const lost = (err: unknown): void => {
    if (finished) return;
    if (isPeerLoss(err)) sup.peerLost(() => `the connection to side B failed: ${err.message}`);
    else sup.fail(err);
  };
  const whole = size <= end.maxRecordBytes;
  const template = messageTemplate(size);
  let measured: Measured;
  if (args.mode === "latency") {
    const driver = new LatencyDriver(
      plan,
      whole
        ? (seq) => {
            const [buf] = conn.getWriteBuffers(size);
            if (buf === undefined) throw new ProbeError("EPEER", "no write buffer with one message in flight");
            buf.bytes.set(template);
            writeSeq(buf.bytes, 0, seq);
            conn.commit(buf);
          }
        : (seq) => {
            // One message in flight: send() has published all of it before the echo can come back.
            writeSeq(template, 0, seq);
            conn.send(template).catch(lost);
          },
      sup,
    );
    readAll(conn, size, (seq) => driver.echo(seq), "side A (checking the echo)").catch(lost);
    measured = await measureLatency(driver, control, toPeer, sup);
  } else {
    let sender: { trySend(seq: number): boolean };
    // (Called back only once the driver below is running.)
    const resume = (): void => driver.resume();
    if (whole) {
      let next: WriteBuffer | undefined;
      const waitForRoom = (): void => {
        conn
          .writable()
          .then(() => {
            next = conn.getWriteBuffers(size)[0];
            if (next === undefined) waitForRoom();
            else resume();
          })
          .catch(lost);
      };
      sender = {
        trySend(seq) {
          try {
            const buf = next ?? conn.getWriteBuffers(size)[0];
            if (buf === undefined) throw new ProbeError("EPEER", "the driver sent while the connection was full");
            buf.bytes.set(template);
            writeSeq(buf.bytes, 0, seq);
            conn.commit(buf);
            next = conn.getWriteBuffers(size)[0];
          } catch (err) {
            // Side B gone or the path broken: its own report (or its exit) names the cause.
            if (!isPeerLoss(err)) throw err;
            lost(err);
            return false;
          }
          if (next !== undefined) return true;
          waitForRoom();
          return false;
        },
      };
    } else {
      // send() keeps each message until it is published: a fresh copy per message, two in flight.
      let inFlight = 0;
      sender = {
        trySend(seq) {
          const failure = conn.transport.failure;
          if (failure !== undefined) {
            lost(failure);
            return false;
          }
          const out = new Uint8Array(template);
          writeSeq(out, 0, seq);
          inFlight++;
          conn.send(out).then(() => {
            if (--inFlight === 1) resume();
          }, lost);
          return inFlight < 2;
        },
      };
    }
    const driver = new ThroughputDriver(plan, size, batchMessages, sender, sup);
    measured = await measureThroughput(driver, control, toPeer, sup);
  }
  finished = true;
  return {
    measured,
    params: {
      transport: end.kind,
      ...(variant.wait !== undefined ? { wait: variant.wait } : {}),
      trust: end.trust,
      sideB,
      api: whole
        ? "Connection.getWriteBuffers/commit (written in place), getReadBuffers/release (read in place)"
        : `Connection.send (message over one record of ${end.maxRecordBytes} bytes: fragmented, reassembled with one copy)`,
      maxRecordBytes: end.maxRecordBytes,
      control: variant.path === "sab" ? "the worker's port, off the data path" : "child_process IPC channel (json)",
      verification:
        "every reader checks each message's 64-bit sequence number and compares the rest of its bytes " +
        "with the pattern sent (memcmp)" +
        (end.trust === "trusted" && end.sharedMemory ? "; trusted: read in place, in the transport's memory" : ""),
      ...(args.mode === "throughput" ? { batchRule: BATCH_RULE, reader: "side B", warmupMinBatches: 1 } : {}),
    },
  };
}

/**
 * A received message's sequence number, once its size and every byte after the sequence number
 * match `pattern` (messageTemplate of the size); EPAYLOAD naming `reader` otherwise.
 */
export function checkMessage(bytes: Uint8Array, pattern: Buffer, reader: string): number {
  const size = pattern.length;
  if (bytes.length !== size) {
    throw new ProbeError("EPAYLOAD", `${reader} received a ${bytes.length}-byte message, expected ${size} bytes`);
  }
  const seq = readSeq(bytes, 0);
  // Buffer#compare is a memcmp over a view: no copy, no allocation.
  if (pattern.compare(bytes, SEQ_BYTES, size, SEQ_BYTES, size) !== 0) {
    throw new ProbeError("EPAYLOAD", `${reader}: the payload of message ${seq} differs from the pattern sent`);
  }
  return seq;
}

/** The other side went away (died, destroyed or closed its end): not a fault of this side's. */
function isPeerLoss(err: unknown): err is TransportError {
  return err instanceof TransportError && (err.code === "EPEER" || err.code === "ECLOSED");
}

/**
 * Reads whole messages until the connection ends, checking each one's size and every byte after its
 * sequence number against the pattern (with zero-copy transports a reader that looked at the
 * sequence number alone would never touch most of a large message, and its "throughput" would
 * only be how fast messages are announced), then handing the sequence number on.
 */
async function readAll(conn: Connection, size: number, onSeq: (seq: number) => void, reader: string): Promise<void> {
  const pattern = messageTemplate(size);
  for (;;) {
    const buffers = conn.getReadBuffers();
    for (const b of buffers) {
      const seq = checkMessage(b.bytes, pattern, reader);
      conn.release(b);
      onSeq(seq);
    }
    if (buffers.length === 0) {
      if (conn.ended) return;
      await conn.readable();
    }
  }
}

/** Side B's end, in a forked peer process. */
async function openSideB(config: PeerConfig): Promise<TransportEnd> {
  const variant = variantOf(config.mechanism);
  const address = config.address;
  switch (variant.path) {
    case "shm":
      return connectShm(String(address), { wait: variant.wait ?? "adaptive" });
    case "unix":
      return connectUnix(String(address));
    case "tcp":
      return connectTcp({ host: "127.0.0.1", port: Number(address) });
    case "pipe":
      return pipeFromFds(PIPE_FD, PIPE_FD);
    case "sab":
      throw new ProbeError("EUNSUPPORTED", "fable-sab's side B is a worker thread (fable-worker.js), not a process");
  }
}

/**
 * Side B over an end: echo (latency) or verify and time batches (throughput). `gone` is what to do
 * when side A's end goes away (a process exits; a worker thread ends).
 */
export function fableChannelPeerOver(
  open: (config: PeerConfig) => Promise<TransportEnd>,
  gone: (side: PeerSide) => void,
): PeerMain {
  return async (side: PeerSide) => {
    const { config } = side;
    const size = config.size;
    const conn = new Connection(await open(config));
    side.stopData = () => conn.destroy();
    side.onReset(() => conn.destroy());
    const whole = size <= conn.transport.maxRecordBytes;
    const failed = (err: unknown): void => {
      if (isPeerLoss(err)) gone(side);
      else side.fail(err);
    };
    let onEnd: (end: EndMessage) => void;
    if (config.mode === "latency") {
      const check = new SequenceCheck("side B (echoer)");
      const template = messageTemplate(size);
      readAll(
        conn,
        size,
        (seq) => {
          check.accept(seq);
          if (whole) {
            const [out] = conn.getWriteBuffers(size);
            if (out === undefined) throw new ProbeError("EPEER", "side B has no write buffer for its echo");
            out.bytes.set(template);
            writeSeq(out.bytes, 0, seq);
            conn.commit(out);
          } else {
            writeSeq(template, 0, seq);
            conn.send(template).catch(failed);
          }
        },
        "side B (echoer)",
      ).catch(failed);
      onEnd = () => side.done(undefined);
    } else {
      const reader = new ThroughputReader(config.batchMessages);
      readAll(conn, size, (seq) => reader.accept(seq), "side B (reader)").catch(failed);
      onEnd = (end) => void reader.finish(end).then((samples) => side.done(samples), failed);
    }
    return side.guard((msg) => {
      if (!isEnd(msg)) throw unexpected(msg);
      onEnd(msg);
    });
  };
}

/** Side B in a forked process (peer.js). */
export const fableChannelPeer: PeerMain = fableChannelPeerOver(openSideB, (side) => side.lost());

/** What fable-worker.js gets as workerData. */
export interface FableWorkerData {
  readonly config: PeerConfig;
  readonly sab: SabPeerInit;
}
