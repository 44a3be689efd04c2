/**
 * The sequence-numbered message stream of the reconfiguration chaos test (both processes use it):
 * message i has a size drawn from a seeded generator (1 B to 1 MiB, mostly small) and bytes
 * taken from a fixed pattern at an offset that depends on i, with i in its first 4 bytes, so the
 * receiver checks every byte with one comparison. Also the ways a path is killed for real.
 */
import { ShmEnd } from "../../src/transports/shm.js";
import type { TransportEnd } from "../../src/transports/transport.js";
export { random } from "./random.js";
import { random } from "./random.js";

const MAX = 1024 * 1024;
const PATTERN = new Uint8Array(MAX + 4096);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = (i * 131 + (i >>> 8) * 7) & 0xff;

/** Size of message i of the stream with this seed. */
export function sizeOf(seed: number, i: number): number {
  const r = random(seed ^ Math.imul(i + 1, 0x9e3779b1))();
  if (r < 0.005) return MAX; // 1 MiB: several fragments
  if (r < 0.02) return 1 + (Math.floor(r * 50 * 65536) % MAX);
  if (r < 0.05) return 1;
  return 1 + (Math.floor(r * 1e6) % 4096);
}

export function message(seed: number, i: number): Uint8Array {
  const size = sizeOf(seed, i);
  const out = PATTERN.slice(i % 4093, (i % 4093) + size);
  if (size >= 4) new DataView(out.buffer).setUint32(0, i, true);
  return out;
}

/** Why `bytes` is not message i, or undefined when it is, byte for byte. */
export function mismatch(seed: number, i: number, bytes: Uint8Array): string | undefined {
  const size = sizeOf(seed, i);
  if (bytes.length !== size) return `message ${i}: ${bytes.length} bytes, expected ${size}`;
  if (size >= 4) {
    const got = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
    if (got !== i) return `message ${i}: carries number ${got}`;
    if (Buffer.compare(bytes.subarray(4), PATTERN.subarray((i % 4093) + 4, (i % 4093) + size)) !== 0) {
      return `message ${i}: payload differs`;
    }
  } else if (Buffer.compare(bytes, PATTERN.subarray(i % 4093, (i % 4093) + size)) !== 0) {
    return `message ${i}: payload differs`;
  }
  return undefined;
}

/** Kills a path as the world does: its socket destroyed, or an shm end's liveness channel cut (its region torn down). */
export function killPath(end: TransportEnd): boolean {
  if (end instanceof ShmEnd) {
    end.connection.destroy();
    return true;
  }
  const socket = (end as unknown as { input?: { destroy(): void } }).input;
  if (socket === undefined) return false;
  socket.destroy();
  return true;
}

/** What a stuck run's report shows of a socket path's end (its private fields, read for diagnosis only). */
export function endState(end: TransportEnd): Record<string, unknown> | undefined {
  const e = end as unknown as {
    inputPaused?: boolean;
    receivedBytes?: number;
    inbox?: { length: number };
    held?: { length: number };
    publishedBytes?: number;
    segments?: unknown[];
    blockedNeed?: number;
    reservedBytes?: number;
    input?: { readableFlowing: boolean | null; bytesRead?: number; destroyed: boolean };
    output?: { writableLength: number; bytesWritten?: number; writableNeedDrain?: boolean };
    parser?: { partialBytes?: number };
  };
  if (e.input === undefined || e.output === undefined) return undefined;
  return {
    kind: end.kind,
    inputPaused: e.inputPaused,
    flowing: e.input.readableFlowing,
    receivedBytes: e.receivedBytes,
    inbox: e.inbox?.length,
    held: e.held?.length,
    partial: e.parser?.partialBytes,
    bytesRead: e.input.bytesRead,
    writableLength: e.output.writableLength,
    needDrain: e.output.writableNeedDrain,
    bytesWritten: e.output.bytesWritten,
    publishedBytes: e.publishedBytes,
    segments: e.segments?.length,
    blockedNeed: e.blockedNeed,
    reservedBytes: e.reservedBytes,
  };
}

interface StreamConnection {
  send(bytes: Uint8Array): Promise<void>;
  getReadBuffers(): { readonly bytes: Uint8Array }[];
  release(buffer: { readonly bytes: Uint8Array }): void;
  readable(): Promise<void>;
}

/** One process's two streams over a connection: writes its own at full speed, checks the peer's. */
export class Streams {
  sent = 0;
  received = 0;
  /** The first message that was not what it should be. */
  error: string | undefined;
  #stop = false;
  #expect: number | undefined;
  #allReceived: (() => void) | undefined;

  constructor(
    private readonly conn: StreamConnection,
    private readonly seedOut: number,
    private readonly seedIn: number,
  ) {}

  /** Writes until stop(); resolves with the number of messages sent. */
  async write(): Promise<number> {
    while (!this.#stop) {
      await this.conn.send(message(this.seedOut, this.sent));
      // send() resolves at once while there is room: give I/O a turn now and then, as any
      // program that also serves other work does (a switch needs it to accept the new path).
      if (++this.sent % 32 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return this.sent;
  }

  stop(): void {
    this.#stop = true;
  }

  /** Reads and checks until the connection fails (rejects) or `count` arrived (see until()). */
  async read(): Promise<void> {
    for (;;) {
      const buffers = this.conn.getReadBuffers();
      for (const b of buffers) {
        const wrong = mismatch(this.seedIn, this.received, b.bytes);
        if (wrong !== undefined && this.error === undefined) this.error = wrong;
        this.received++;
        this.conn.release(b);
      }
      if (this.#expect !== undefined && this.received >= this.#expect) {
        this.#allReceived?.();
        return;
      }
      if (buffers.length === 0) await this.conn.readable();
      // Over shared memory messages keep coming with no event: let the rest of the program run.
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Resolves once `count` messages arrived (the peer sent that many). */
  until(count: number): Promise<void> {
    this.#expect = count;
    if (this.received >= count) return Promise.resolve();
    return new Promise((resolve) => (this.#allReceived = resolve));
  }
}
