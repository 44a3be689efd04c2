/**
 * node-net-unix and node-net-tcp: `net` sockets between the probe (side A, the listener) and a
 * separate Node process (side B, which connects). Messages are fixed-size byte messages, one
 * socket.write each, as applications write them; readers cut the byte stream back into messages with
 * FixedSizeFramer. Control runs over the peer's child_process IPC channel, off the data path.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EndMessage, type MechanismName, PeerControl } from "./control.js";
import { ProbeError } from "./errors.js";
import type { Mechanism, SideAContext, SideAResult } from "./mechanism.js";
import { BATCH_RULE, FixedSizeFramer, messageTemplate, readSeq, SequenceCheck, writeSeq } from "./message.js";
import { forkPeer } from "./peer-process.js";
import { LatencyDriver, type Measured, measureLatency, measureThroughput, ThroughputDriver } from "./side-a.js";
import { isEnd, type PeerMain, ThroughputReader, unexpected } from "./side-b.js";

type Transport = "unix" | "tcp";

export function netStream(transport: Transport): Mechanism {
  const name: MechanismName = transport === "unix" ? "node-net-unix" : "node-net-tcp";
  return { name, modes: ["latency", "throughput"], run: (ctx) => runSideA(ctx, name, transport) };
}

const REASSEMBLY = "in place within a chunk; a message split across chunks is copied into one preallocated buffer";

async function runSideA(ctx: SideAContext, mechanism: MechanismName, transport: Transport): Promise<SideAResult> {
  const { args, plan, sup, batchMessages } = ctx;
  const size = args.size;
  const server = net.createServer();
  const listening = new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.once("listening", resolve);
  });
  let address: string | number;
  if (transport === "unix") {
    const path = join(tmpdir(), `fable-probe-${process.pid}-${randomBytes(6).toString("hex")}.sock`);
    sup.onCleanup(() => rmSync(path, { force: true }));
    server.listen(path);
    address = path;
  } else {
    server.listen({ host: "127.0.0.1", port: 0 });
    address = 0;
  }
  sup.onCleanup(() => server.close());
  await sup.race(
    listening.catch((err: Error) => {
      throw new ProbeError("ESYSCALL", `side A cannot listen on ${transport} ${String(address)}: ${err.message}`);
    }),
  );
  if (transport === "tcp") address = (server.address() as net.AddressInfo).port;
  const connection = once(server, "connection") as Promise<[net.Socket]>;

  const control = new PeerControl(sup);
  const child = forkPeer(
    { mechanism, mode: args.mode, size, cpu: args.cpus[1], batchMessages, ackEvery: 0, address },
    sup,
    (msg) => control.handle(msg),
  );
  sup.phase = "waiting for side B to connect";
  const [socket] = await sup.race(connection);
  server.close(); // one connection only
  sup.onCleanup(() => socket.destroy());
  if (transport === "tcp") socket.setNoDelay(true);
  let ended = false;
  socket.on("error", (err) => sup.peerLost(() => `the connection to side B failed: ${err.message}`));
  socket.on("close", () => {
    if (!ended) sup.peerLost(() => "side B closed the connection before the test ended");
  });
  const sendEnd = (end: EndMessage): void => {
    child.send(end);
  };

  const template = messageTemplate(size);
  let measured: Measured;
  if (args.mode === "latency") {
    // One message in flight: by the time its echo is back, the write of `out` has completed.
    const out = Buffer.allocUnsafe(size);
    const driver = new LatencyDriver(
      plan,
      (seq) => {
        out.set(template);
        writeSeq(out, 0, seq);
        socket.write(out);
      },
      sup,
    );
    const framer = new FixedSizeFramer(size, (bytes, offset) => driver.echo(readSeq(bytes, offset)));
    socket.on(
      "data",
      sup.guard((chunk: Buffer) => framer.push(chunk)),
    );
    measured = await measureLatency(driver, control, sendEnd, sup);
  } else {
    // A buffer may be reused only once the kernel has taken it all (writableLength back to 0);
    // while writes are queued, each message gets a fresh buffer.
    let out = Buffer.allocUnsafe(size);
    const driver = new ThroughputDriver(
      plan,
      size,
      batchMessages,
      {
        trySend(seq) {
          const buf = out;
          buf.set(template);
          writeSeq(buf, 0, seq);
          const more = socket.write(buf);
          if (socket.writableLength !== 0) out = Buffer.allocUnsafe(size);
          return more;
        },
      },
      sup,
    );
    socket.on("drain", () => driver.resume());
    measured = await measureThroughput(driver, control, sendEnd, sup);
  }
  ended = true;
  return {
    measured,
    params: {
      transport: transport === "unix" ? "unix stream socket in os.tmpdir()" : "TCP over 127.0.0.1",
      ...(transport === "tcp" ? { noDelay: true } : {}),
      sideB: "separate Node process (child_process.fork)",
      writes: "one socket.write per message",
      writableHighWaterMark: socket.writableHighWaterMark,
      reassembly: REASSEMBLY,
      control: "child_process IPC channel (json), off the data path",
      ...(args.mode === "throughput" ? { batchRule: BATCH_RULE, reader: "side B", warmupMinBatches: 1 } : {}),
    },
  };
}

/** Side B: connect, then echo (latency) or read, verify and time batches (throughput). */
export const netStreamPeer: PeerMain = async (side) => {
  const { config } = side;
  const size = config.size;
  const address = config.address;
  const socket =
    typeof address === "string"
      ? net.connect({ path: address })
      : net.connect({ host: "127.0.0.1", port: address ?? 0 });
  await once(socket, "connect");
  if (typeof address === "number") socket.setNoDelay(true);
  // Side A gone: nothing left to do.
  socket.on("error", () => side.lost());
  socket.on("close", () => side.lost());
  side.onReset(() => socket.destroy());
  side.stopData = () => socket.pause();

  if (config.mode === "latency") {
    const out = Buffer.allocUnsafe(size);
    const check = new SequenceCheck("side B (echoer)");
    const framer = new FixedSizeFramer(size, (bytes, offset) => {
      const seq = readSeq(bytes, offset);
      check.accept(seq);
      bytes.copy(out, 0, offset, offset + size);
      writeSeq(out, 0, seq);
      socket.write(out);
    });
    socket.on(
      "data",
      side.guard((chunk: Buffer) => framer.push(chunk)),
    );
    return side.guard((msg) => {
      if (!isEnd(msg)) throw unexpected(msg);
      side.done(undefined);
    });
  }

  const reader = new ThroughputReader(config.batchMessages);
  const framer = new FixedSizeFramer(size, (bytes, offset) => reader.accept(readSeq(bytes, offset)));
  socket.on(
    "data",
    side.guard((chunk: Buffer) => framer.push(chunk)),
  );
  return side.guard((msg) => {
    if (!isEnd(msg)) throw unexpected(msg);
    void reader.finish(msg).then((samples) => side.done(samples));
  });
};
