/**
 * zeromq-ipc and zeromq-inproc: zeromq.js (the `zeromq` package) as a peer, measured with the same
 * drivers, sequence checks and statistics as the Node mechanisms. Side A binds, side B connects.
 * Latency is a Pair <-> Pair ping-pong (one bidirectional socket per side, no envelope frames);
 * throughput is a Push -> Pull stream, zeromq's one-way pipeline, paced only by zeromq's own
 * high-water marks. Every message is one `size`-byte frame starting with its sequence number.
 *
 * - zeromq-ipc: over ipc:// (a unix socket file in os.tmpdir(), removed afterwards) to a separate Node
 *   process pinned to CPU B; control runs over the child_process IPC channel, off the data path.
 * - zeromq-inproc: over inproc:// to a worker thread pinned to CPU B. zeromq.js gives worker threads
 *   the default context of the main thread, which inproc needs (measured: a Pair over inproc between
 *   the main thread and a worker works). Control runs over the worker port, off the data path.
 *
 * zeromq is imported only when one of these mechanisms runs, after the thread is pinned (libzmq starts
 * its I/O thread on the first socket, so that thread inherits the pinning), and an addon that cannot
 * load fails only these two mechanisms (EUNSUPPORTED).
 *
 * A worker thread that exits or is terminated while a zeromq.js send or receive is pending aborts the
 * whole process (zeromq.js issue #411, still so in 6.8.0). So the worker closes its socket before it
 * goes: side A's cleanup asks it to and waits, blocking, until the worker says it has.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type * as Zmq from "zeromq";
import { type EndMessage, type MechanismName, type PeerConfig, PeerControl } from "./control.js";
import { ProbeError } from "./errors.js";
import type { Mechanism, SideAContext, SideAResult } from "./mechanism.js";
import { BATCH_RULE, messageTemplate, readSeq, SequenceCheck, writeSeq } from "./message.js";
import { forkPeer } from "./peer-process.js";
import { LatencyDriver, type Measured, measureLatency, measureThroughput, ThroughputDriver } from "./side-a.js";
import { isEnd, type PeerMain, ThroughputReader, unexpected } from "./side-b.js";
import type { Supervisor } from "./supervisor.js";

type Transport = "ipc" | "inproc";
type ZmqModule = typeof Zmq;

/**
 * zeromq.js copies a Buffer of at most this many bytes into its message, and sends a larger one
 * zero-copy, keeping it until libzmq has sent it; it hands a received message of at most this size
 * over as a copy, a larger one as a Buffer over libzmq's own message (its outgoing_msg.cc and
 * incoming_msg.cc, threshold 1 << 7).
 */
const ZMQ_COPY_MAX = 128;

/** How long side A's cleanup waits for the worker to close its socket before terminating it anyway. */
const WORKER_CLOSE_WAIT_MS = 2_000;

/** What side A hands the zeromq-inproc worker. */
export interface ZeromqWorkerData {
  readonly config: PeerConfig;
  /** Int32 0 until the worker has closed its zeromq socket (or never opened one), then 1. */
  readonly closed: SharedArrayBuffer;
}

/** Side A -> worker: close your socket now (then side A terminates you). */
export interface CloseRequest {
  readonly t: "close";
}

export function isCloseRequest(msg: unknown): msg is CloseRequest {
  return typeof msg === "object" && msg !== null && (msg as { t?: unknown }).t === "close";
}

let loading: Promise<ZmqModule> | undefined;

/** zeromq.js, loaded once; EUNSUPPORTED if its addon does not load here. */
export function loadZeromq(): Promise<ZmqModule> {
  loading ??= import("zeromq").catch((err: unknown) => {
    throw new ProbeError(
      "EUNSUPPORTED",
      `zeromq.js cannot be loaded: ${err instanceof Error ? err.message : String(err)} ` +
        "(npm install puts its prebuilt addon in node_modules/zeromq/build; no other mechanism needs it)",
    );
  });
  return loading;
}

function zeromqVersion(): string {
  try {
    return String((createRequire(import.meta.url)("zeromq/package.json") as { version?: unknown }).version);
  } catch {
    return "unknown";
  }
}

/** A zeromq.js failure as a probe error; probe errors (ESEQUENCE, EPAYLOAD) pass through. */
function zeromqError(err: unknown, what: string): ProbeError {
  if (err instanceof ProbeError) return err;
  const e = err as Partial<Error & { code: unknown }>;
  const code = typeof e.code === "string" ? `${e.code}: ` : "";
  return new ProbeError("ESYSCALL", `zeromq ${what} failed: ${code}${e.message ?? String(err)}`, undefined, {
    cause: err,
  });
}

/** The one frame of a probe message, checked for shape; EPAYLOAD otherwise. */
function messageOf(frames: readonly Buffer[], size: number, reader: string): Buffer {
  const msg = frames[0];
  if (frames.length !== 1 || msg === undefined || msg.length !== size) {
    const got = frames.map((f) => f.length).join("+") || "nothing";
    throw new ProbeError(
      "EPAYLOAD",
      `${reader} received a zeromq message of ${got} bytes, expected one ${size}-byte frame`,
    );
  }
  return msg;
}

export function zeromq(transport: Transport): Mechanism {
  const name: MechanismName = transport === "ipc" ? "zeromq-ipc" : "zeromq-inproc";
  return { name, modes: ["latency", "throughput"], run: (ctx) => runSideA(ctx, name, transport) };
}

async function runSideA(ctx: SideAContext, mechanism: MechanismName, transport: Transport): Promise<SideAResult> {
  const { args, plan, sup, batchMessages } = ctx;
  const size = args.size;
  const zmq = await sup.race(loadZeromq());
  const id = `fable-probe-${process.pid}-${randomBytes(6).toString("hex")}`;
  let endpoint: string;
  if (transport === "ipc") {
    const path = join(tmpdir(), `${id}.zmq`);
    sup.onCleanup(() => rmSync(path, { force: true }));
    endpoint = `ipc://${path}`;
  } else {
    endpoint = `inproc://${id}`;
  }
  const latency = args.mode === "latency";
  const socket = latency ? new zmq.Pair({ linger: 0 }) : new zmq.Push({ linger: 0 });
  let closing = false;
  sup.onCleanup(() => {
    closing = true;
    socket.close();
  });
  await sup.race(
    socket.bind(endpoint).catch((err: unknown) => {
      throw zeromqError(err, `bind to ${endpoint} by side A`);
    }),
  );

  const control = new PeerControl(sup);
  const config: PeerConfig = {
    mechanism,
    mode: args.mode,
    size,
    cpu: args.cpus[1],
    batchMessages,
    ackEvery: 0,
    address: endpoint,
  };
  let sendEnd: (end: EndMessage) => void;
  if (transport === "ipc") {
    // A fresh side B per test: a reused one, with zeromq.js's process-wide context, failed its next
    // test with EADDRINUSE after a throughput test (measured with `main.js --serve`).
    const child = forkPeer(config, sup, (msg) => control.handle(msg), { fresh: true });
    sendEnd = (end) => child.send(end);
  } else {
    const worker = startWorker(config, sup, control);
    sendEnd = (end) => worker.postMessage(end);
  }
  sup.phase = "waiting for side B to connect";

  const template = messageTemplate(size);
  const onSendFailed = (err: unknown): void => {
    if (!closing) sup.fail(zeromqError(err, "send by side A"));
  };
  let measured: Measured;
  let buffers: string;
  if (latency) {
    const pair = socket as Zmq.Pair;
    // Reused: when the echo of a message is back, libzmq has read all of it (and over inproc, side B
    // no longer reads the Buffer it got over the same memory).
    const out = Buffer.allocUnsafe(size);
    buffers = "one Buffer reused: the echo proves libzmq has read it";
    const driver = new LatencyDriver(
      plan,
      (seq) => {
        out.set(template);
        writeSeq(out, 0, seq);
        pair.send(out).catch(onSendFailed);
      },
      sup,
    );
    void (async () => {
      const reader = "side A (checking the echo)";
      try {
        for (;;) driver.echo(readSeq(messageOf(await pair.receive(), size, reader), 0));
      } catch (err) {
        if (!closing) sup.fail(zeromqError(err, "receive by side A"));
      }
    })();
    measured = await measureLatency(driver, control, sendEnd, sup);
  } else {
    const push = socket as Zmq.Push;
    const copied = size <= ZMQ_COPY_MAX;
    const reused = Buffer.allocUnsafe(size);
    buffers = copied
      ? "one Buffer reused (zeromq.js copies it into its message)"
      : "a new Buffer per message (zeromq.js keeps each until libzmq has sent it)";
    const onSent = (): void => driver.resume();
    const driver = new ThroughputDriver(
      plan,
      size,
      batchMessages,
      {
        trySend(seq) {
          const buf = copied ? reused : Buffer.allocUnsafe(size);
          buf.set(template);
          writeSeq(buf, 0, seq);
          push.send(buf).then(onSent, onSendFailed);
          // zeromq.js allows one send in flight (a second one is EBUSY): go on once this one is queued.
          return false;
        },
      },
      sup,
    );
    measured = await measureThroughput(driver, control, sendEnd, sup);
  }

  return {
    measured,
    params: {
      library: `zeromq.js ${zeromqVersion()}, libzmq ${zmq.version}`,
      transport:
        transport === "ipc"
          ? "ipc:// (a unix socket file in os.tmpdir()); libzmq's I/O thread in each process moves the bytes"
          : "inproc:// (no I/O thread, no kernel socket: libzmq's in-memory pipe between the two sockets)",
      sideB:
        transport === "ipc"
          ? "separate Node process (child_process.fork)"
          : "worker_threads Worker in the probe process, its thread pinned to CPU B, sharing zeromq.js's default context",
      sockets: latency
        ? "Pair <-> Pair: one bidirectional socket per side, no envelope frames, no request/reply lock-step"
        : "Push -> Pull: zeromq's one-way pipeline",
      ioThreads:
        transport === "ipc"
          ? "zeromq's default (1 per process), started after pinning, so on that side's CPU"
          : "none on the data path (inproc)",
      sends: "one await send() per message: zeromq.js allows one send in flight",
      receives: "one await receive() per message, one frame each",
      copies:
        `zeromq.js copies a message of <= ${ZMQ_COPY_MAX} B on send and on receive; ` +
        "a larger one goes zero-copy (held until sent; received as a Buffer over libzmq's message)",
      sideABuffers: buffers,
      ...(latency
        ? { echo: "side B verifies the sequence number, then sends the Buffer it received back unchanged" }
        : {
            flowControl:
              "zeromq's high-water marks (defaults unchanged): send() waits while Push and Pull queues are full",
            sendHighWaterMark: (socket as Zmq.Push).sendHighWaterMark,
            batchRule: BATCH_RULE,
            reader: "side B",
            warmupMinBatches: 1,
          }),
      linger: 0,
      control:
        transport === "ipc"
          ? "child_process IPC channel (json), off the data path"
          : "worker port (structured clone), off the data path",
      ...(transport === "inproc"
        ? {
            workerShutdown:
              "the worker closes its socket before it is terminated (zeromq.js aborts the process if a worker exits with an operation pending, issue #411)",
          }
        : {}),
    },
  };
}

/** Starts the zeromq-inproc worker; cleanup has it close its socket, waits for that, then terminates it. */
function startWorker(config: PeerConfig, sup: Supervisor, control: PeerControl): Worker {
  const closed = new Int32Array(new SharedArrayBuffer(4));
  const workerData: ZeromqWorkerData = { config, closed: closed.buffer as SharedArrayBuffer };
  const worker = new Worker(new URL("./zeromq-worker.js", import.meta.url), { workerData });
  let exited = false;
  sup.onCleanup(() => {
    if (!exited) {
      const request: CloseRequest = { t: "close" };
      worker.postMessage(request);
      // Blocks side A only; the worker closes its socket on its own thread and wakes us.
      if (Atomics.wait(closed, 0, 0, WORKER_CLOSE_WAIT_MS) === "timed-out") {
        process.stderr.write(
          `fable node probe: side B did not close its zeromq socket within ${WORKER_CLOSE_WAIT_MS} ms; terminating it\n`,
        );
      }
    }
    void worker.terminate();
  });
  worker.on(
    "message",
    sup.guard((msg: unknown) => control.handle(msg)),
  );
  worker.on("error", (err) => sup.fail(new ProbeError("EPEER", `side B (worker thread) threw: ${err.message}`)));
  worker.on("exit", (code) => {
    exited = true;
    sup.peerLost(() => `side B (worker thread) exited with code ${code} before the test ended`);
  });
  return worker;
}

/**
 * Side B: connect, then echo (latency) or read, verify and time batches (throughput). `onClosed` runs
 * once the socket is closed (the worker tells side A through it).
 */
export function zeromqPeer(onClosed: () => void = () => undefined): PeerMain {
  return async (side) => {
    const { config } = side;
    const size = config.size;
    const endpoint = String(config.address);
    const zmq = await loadZeromq();
    const latency = config.mode === "latency";
    const socket = latency ? new zmq.Pair({ linger: 0 }) : new zmq.Pull({ linger: 0 });
    let closing = false;
    side.stopData = () => {
      if (closing) return;
      closing = true;
      socket.close();
      onClosed();
    };
    side.onReset(() => side.stopData());
    if (endpoint.startsWith("ipc://")) {
      // Ready only once the ZMTP handshake is done, as the net peers are once connected.
      const events = socket.events;
      socket.connect(endpoint);
      await handshake(events);
      events.close();
    } else {
      socket.connect(endpoint); // inproc to a bound endpoint connects at once
    }
    const failed = (err: unknown, what: string): void => {
      if (!closing) side.fail(zeromqError(err, what));
    };

    if (latency) {
      const pair = socket as Zmq.Pair;
      const reader = "side B (echoer)";
      const check = new SequenceCheck(reader);
      void (async () => {
        try {
          for (;;) {
            const msg = messageOf(await pair.receive(), size, reader);
            check.accept(readSeq(msg, 0));
            await pair.send(msg);
          }
        } catch (err) {
          failed(err, "echo by side B");
        }
      })();
      return side.guard((msg) => {
        if (!isEnd(msg)) throw unexpected(msg);
        side.done(undefined);
      });
    }

    const pull = socket as Zmq.Pull;
    const reader = new ThroughputReader(config.batchMessages);
    void (async () => {
      try {
        for (;;) reader.accept(readSeq(messageOf(await pull.receive(), size, "side B (reader)"), 0));
      } catch (err) {
        failed(err, "receive by side B");
      }
    })();
    return side.guard((msg) => {
      if (!isEnd(msg)) throw unexpected(msg);
      void reader.finish(msg).then((samples) => side.done(samples));
    });
  };
}

async function handshake(events: Zmq.Observer): Promise<void> {
  for (;;) {
    const event = await events.receive();
    if (event.type === "handshake") return;
    if (event.type.includes("error") || event.type === "disconnect" || event.type === "end") {
      throw new ProbeError("EPEER", `side B's zeromq connection failed before its handshake: ${event.type}`);
    }
  }
}
