/**
 * A transport end over a byte stream (a net socket, or the two halves of a pipe), shared by the
 * unix, tcp and pipe transports. Frames are those of stream-framing.ts.
 *
 * Writing: reserve(n) hands out a view of a staging chunk, right after room for the frame header;
 * publish() fills the header. Published frames are written once per microtask (one write, or one
 * writev when gaps left by shorter publishes split them), so a burst of small records costs one
 * system call. A staging region is never reused: the stream may still be writing it. reserve()
 * returns null once this end's unwritten bytes (in the stream, staged, reserved) pass
 * writeHighWaterBytes, unless nothing of it is in flight; writable() waits for the stream to
 * write enough of them.
 *
 * Reading: chunks are cut into frames as they arrive; a record lying within one chunk is a view of
 * it, a record that straddles chunks is copied once. Input pauses while received records (queued
 * and held) pass readHighWaterBytes, so a slow reader pushes back on the writer through the kernel.
 * The bytes come from the kernel into private memory either way, so trust changes nothing here.
 *
 * Ends: close() writes what was published and an END frame, then ends the output; it keeps
 * draining (and discarding) the input until the peer ends too, or lingerMs pass, so the kernel
 * never resets a connection whose last records the peer has not read yet. The peer's END makes
 * next() return null after the last record; end-of-stream without END, a reset or an error is
 * the peer's death (EPEER); a frame that breaks the format is EPROTOCOL and cuts the stream.
 */
import type { Readable, Writable } from "node:stream";
import {
  checkCount,
  checkPublish,
  checkReserve,
  checkTrust,
  DEFAULT_MAX_RECORD_BYTES,
  Deque,
  EndState,
  MAX_RECORD_BYTES_LIMIT,
  nothingOutstanding,
} from "./common.js";
import {
  END_LENGTH,
  FRAME_HEADER_BYTES,
  FrameParser,
  type FrameSink,
  FRAMING_VERSION,
  HELLO_LENGTH,
  HELLO_MAGIC,
  writeFrameHeader,
} from "./stream-framing.js";
import { type InRecord, type Trust, TransportError, type TransportEnd, type TransportKind } from "./transport.js";

export interface StreamEndOptions {
  readonly trust?: Trust;
  /** Largest payload of one record, both written and accepted; default 16 MiB. Both ends must agree. */
  readonly maxRecordBytes?: number;
  /** Unwritten bytes after which reserve() returns null; default 1 MiB. */
  readonly writeHighWaterBytes?: number;
  /** Received bytes (queued and held records) after which input pauses; default 1 MiB. */
  readonly readHighWaterBytes?: number;
  /** How long close() keeps draining the input for the peer's end before cutting the stream; default 10 s. */
  readonly lingerMs?: number;
}

export const DEFAULT_WRITE_HIGH_WATER_BYTES = 1024 * 1024;
export const DEFAULT_READ_HIGH_WATER_BYTES = 1024 * 1024;
const DEFAULT_LINGER_MS = 10_000;
const CHUNK_BYTES = 64 * 1024;
/** Reservations above this get a staging chunk of their own. */
const CHUNK_MAX_RECORD = CHUNK_BYTES / 4;
/** Large-record buffers kept for reuse once written. */
const LARGE_FREE_MAX = 4;
/** Charged per received record against readHighWaterBytes, so empty records count too. */
const RECORD_CHARGE = 16;

interface Reservation {
  readonly chunk: Uint8Array;
  /** Offset of the frame header in chunk; the payload follows it. */
  readonly at: number;
  readonly bytes: number;
}

/** Published frames not yet handed to the stream: [start, end) of one chunk. */
interface Segment {
  readonly chunk: Uint8Array;
  readonly start: number;
  end: number;
}

export interface SocketAddresses {
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
}

export interface StreamEndInit {
  readonly kind: Extract<TransportKind, "unix" | "tcp" | "tls" | "pipe">;
  /** Names the end in error messages, e.g. "unix:///run/x.sock". */
  readonly label: string;
  readonly input: Readable;
  /** The same object as input for a socket. */
  readonly output: Writable;
  readonly options: StreamEndOptions;
}

export class StreamEnd implements TransportEnd, FrameSink {
  readonly kind: "unix" | "tcp" | "tls" | "pipe";
  readonly trust: Trust;
  readonly sharedMemory = false;
  readonly maxRecordBytes: number;
  private readonly writeHighWater: number;
  private readonly readHighWater: number;
  private readonly lingerMs: number;
  private readonly state: EndState;
  private readonly input: Readable;
  private readonly output: Writable;
  /** Input and output are one socket. */
  private readonly duplex: boolean;

  // Writing.
  private chunk = new Uint8Array(0);
  private cursor = 0;
  private readonly reservations = new Deque<Reservation>();
  private segments: Segment[] = [];
  private reservedBytes = 0;
  private publishedBytes = 0;
  private blockedNeed = 0;
  private flushScheduled = false;
  /**
   * Buffers of large records (above CHUNK_MAX_RECORD) whose write has completed, for the next
   * large reservations: a fresh zeroed allocation per record spent its time in memset and page
   * faults (fable-unix, 64 KiB one-way: 2.1-2.6 GB/s with them, 2.8 without). A reused buffer
   * holds only bytes this end already sent to this same peer.
   */
  private readonly largeFree: Uint8Array[] = [];
  private readonly large = new WeakSet<Uint8Array>();
  private outputEnded = false;

  // Reading.
  private readonly parser: FrameParser;
  private readonly inbox = new Deque<InRecord>();
  private readonly held = new Deque<number>();
  /** Received records, queued or held, with their charge. */
  private receivedBytes = 0;
  private inputPaused = false;
  private lingerTimer: NodeJS.Timeout | undefined;

  constructor(init: StreamEndInit) {
    const { options } = init;
    this.kind = init.kind;
    this.trust = checkTrust(options.trust);
    this.maxRecordBytes = checkCount(
      "maxRecordBytes",
      options.maxRecordBytes,
      DEFAULT_MAX_RECORD_BYTES,
      1,
      MAX_RECORD_BYTES_LIMIT,
    );
    this.writeHighWater = checkCount(
      "writeHighWaterBytes",
      options.writeHighWaterBytes,
      DEFAULT_WRITE_HIGH_WATER_BYTES,
      1,
      2 ** 40,
    );
    this.readHighWater = checkCount(
      "readHighWaterBytes",
      options.readHighWaterBytes,
      DEFAULT_READ_HIGH_WATER_BYTES,
      1,
      2 ** 40,
    );
    this.lingerMs = checkCount("lingerMs", options.lingerMs, DEFAULT_LINGER_MS, 0, 2 ** 31 - 1);
    this.state = new EndState(init.label);
    this.input = init.input;
    this.output = init.output;
    this.duplex = (init.input as unknown) === init.output;
    this.parser = new FrameParser(init.label, this.maxRecordBytes, this);

    this.input.on("data", (chunk: Buffer) => this.onData(chunk));
    this.input.on("end", () => this.onInputEnd());
    this.input.on("error", (error: Error) => this.onStreamError(error));
    this.input.on("close", () => this.onStreamClose());
    if (!this.duplex) {
      this.output.on("error", (error: Error) => this.onStreamError(error));
      this.output.on("close", () => this.onStreamClose());
    }
    this.stageControl(HELLO_LENGTH, FRAMING_VERSION, HELLO_MAGIC);
  }

  get ended(): boolean {
    return this.state.peerClosed && this.inbox.length === 0;
  }

  get failure(): TransportError | undefined {
    return this.state.failure;
  }

  setRef(ref: boolean): void {
    for (const stream of this.duplex ? [this.input] : [this.input, this.output]) {
      const handle = stream as { ref?: () => void; unref?: () => void };
      (ref ? handle.ref : handle.unref)?.call(stream);
    }
  }

  /** The socket's addresses (a unix socket has no address or port: those are undefined), as net.Socket names them. */
  socketAddresses(): SocketAddresses {
    const s = this.input as Partial<SocketAddresses>;
    return {
      localAddress: s.localAddress,
      localPort: s.localPort,
      remoteAddress: s.remoteAddress,
      remotePort: s.remotePort,
      remoteFamily: s.remoteFamily,
    };
  }

  // ---- writing -------------------------------------------------------------------------------

  reserve(bytes: number): Uint8Array | null {
    this.state.checkWrite("reserve");
    checkReserve(this.state.label, bytes, this.maxRecordBytes);
    const need = FRAME_HEADER_BYTES + bytes;
    if (!this.hasRoomFor(need)) {
      this.blockedNeed = need;
      return null;
    }
    this.blockedNeed = 0;
    let chunk: Uint8Array;
    let at: number;
    if (bytes > CHUNK_MAX_RECORD) {
      chunk = this.takeLarge(need);
      at = 0;
    } else {
      if (this.cursor + need > this.chunk.length) {
        this.chunk = new Uint8Array(CHUNK_BYTES);
        this.cursor = 0;
      }
      chunk = this.chunk;
      at = this.cursor;
      this.cursor += need;
    }
    this.reservations.push({ chunk, at, bytes });
    this.reservedBytes += need;
    return chunk.subarray(at + FRAME_HEADER_BYTES, at + need);
  }

  publish(length: number, flags: number, seq: number): void {
    this.state.checkWrite("publish");
    const r = this.reservations.peek();
    if (r === undefined) throw nothingOutstanding(this.state.label, "publish");
    checkPublish(this.state.label, length, r.bytes, flags, seq);
    this.reservations.shift();
    writeFrameHeader(r.chunk, r.at, length, flags, seq);
    const frameEnd = r.at + FRAME_HEADER_BYTES + length;
    this.reservedBytes -= FRAME_HEADER_BYTES + r.bytes;
    // The only reservation, published shorter: the rest of its room goes back to the chunk.
    if (
      this.reservations.length === 0 &&
      r.chunk === this.chunk &&
      r.at + FRAME_HEADER_BYTES + r.bytes === this.cursor
    ) {
      this.cursor = frameEnd;
    }
    this.stage(r.chunk, r.at, frameEnd);
  }

  writable(): Promise<void> {
    const error = this.state.unwritable("writable");
    if (error !== undefined) return Promise.reject(error);
    this.flush();
    if (this.hasRoomFor(this.blockedNeed)) return Promise.resolve();
    return this.state.writers.wait();
  }

  private takeLarge(need: number): Uint8Array {
    const free = this.largeFree;
    for (let i = free.length - 1; i >= 0; i--) {
      const b = free[i] as Uint8Array;
      if (b.length >= need && b.length <= 2 * need) {
        free.splice(i, 1);
        return b;
      }
    }
    const b = new Uint8Array(need);
    this.large.add(b);
    return b;
  }

  private largeWritten(chunk: Uint8Array): void {
    if (this.largeFree.length < LARGE_FREE_MAX) this.largeFree.push(chunk);
  }

  /** Bytes handed to the stream or staged for it, not counting this end's own open reservations. */
  private inFlight(): number {
    return this.output.writableLength + this.publishedBytes;
  }

  private hasRoomFor(need: number): boolean {
    const inFlight = this.inFlight();
    return inFlight === 0 || inFlight + this.reservedBytes + need <= this.writeHighWater;
  }

  private stageControl(length: number, flags: number, seq: number): void {
    if (this.cursor + FRAME_HEADER_BYTES > this.chunk.length) {
      this.chunk = new Uint8Array(CHUNK_BYTES);
      this.cursor = 0;
    }
    const at = this.cursor;
    writeFrameHeader(this.chunk, at, length, flags, seq);
    this.cursor += FRAME_HEADER_BYTES;
    this.stage(this.chunk, at, this.cursor);
  }

  private stage(chunk: Uint8Array, start: number, end: number): void {
    this.publishedBytes += end - start;
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined && last.chunk === chunk && last.end === start) last.end = end;
    else this.segments.push({ chunk, start, end });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const segments = this.segments;
    if (segments.length === 0) return;
    this.segments = [];
    this.publishedBytes = 0;
    if (this.outputEnded || this.output.destroyed || this.output.writableEnded) return;
    const written = (error?: Error | null): void => this.onWritten(error);
    if (segments.length === 1) {
      const s = segments[0] as Segment;
      this.output.write(
        s.chunk.subarray(s.start, s.end),
        this.large.has(s.chunk) ? this.reuse(s.chunk, written) : written,
      );
      return;
    }
    this.output.cork();
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i] as Segment;
      const last = i === segments.length - 1 ? written : undefined;
      this.output.write(s.chunk.subarray(s.start, s.end), this.large.has(s.chunk) ? this.reuse(s.chunk, last) : last);
    }
    this.output.uncork();
  }

  /** A write callback that also gives a large record's buffer back once the stream has taken it. */
  private reuse(chunk: Uint8Array, then: ((error?: Error | null) => void) | undefined): (error?: Error | null) => void {
    return (error) => {
      if (error === null || error === undefined) this.largeWritten(chunk);
      then?.(error);
    };
  }

  private onWritten(error: Error | null | undefined): void {
    // A failed write is followed by the stream's 'error': the end fails then, nobody is woken now.
    if (error !== null && error !== undefined) return;
    if (this.state.writers.size > 0 && this.hasRoomFor(this.blockedNeed)) this.state.writers.resolveAll();
  }

  /** Writes what was published and an END frame, then ends the output. */
  private finishOutput(): void {
    if (this.outputEnded) return;
    this.dropReservations();
    if (!this.output.destroyed && !this.output.writableEnded) {
      this.stageControl(END_LENGTH, 0, 0);
      this.flush();
      this.output.end();
    }
    this.outputEnded = true;
  }

  private dropReservations(): void {
    this.reservations.clear();
    this.reservedBytes = 0;
  }

  // ---- reading -------------------------------------------------------------------------------

  next(): InRecord | null {
    this.state.check("next");
    const record = this.inbox.shift();
    if (record === undefined) return null;
    this.held.push(record.bytes.length);
    return record;
  }

  free(): void {
    this.state.check("free");
    const length = this.held.shift();
    if (length === undefined) throw nothingOutstanding(this.state.label, "free");
    this.receivedBytes -= length + RECORD_CHARGE;
    if (this.inputPaused && this.receivedBytes <= this.readHighWater / 2) {
      this.inputPaused = false;
      this.input.resume();
    }
  }

  readable(): Promise<void> {
    const error = this.state.unusable("readable");
    if (error !== undefined) return Promise.reject(error);
    if (this.inbox.length > 0 || this.parser.ended) return Promise.resolve();
    return this.state.readers.wait();
  }

  onRecord(bytes: Uint8Array, flags: number, seq: number): void {
    this.inbox.push({ bytes, flags, seq });
    this.receivedBytes += bytes.length + RECORD_CHARGE;
  }

  onEnd(): void {
    // The peer reads no more: finish our side now (nothing more will be accepted) and let the
    // reader find the end after the last record.
    this.finishOutput();
    this.state.peerClose();
  }

  private onData(chunk: Buffer): void {
    if (this.state.closed || this.state.failure !== undefined) return; // draining after close
    try {
      this.parser.push(chunk);
    } catch (error) {
      this.failWith(
        error instanceof TransportError
          ? error
          : new TransportError("EPROTOCOL", `${this.state.label}: ${String(error)}`, { cause: error }),
      );
      return;
    }
    if (this.inbox.length > 0) this.state.readers.resolveAll();
    // Only complete records count: a record being collected must be finished to be freed, and is
    // bounded by maxRecordBytes anyway.
    if (!this.inputPaused && this.receivedBytes > this.readHighWater) {
      this.inputPaused = true;
      this.input.pause();
    }
  }

  private onInputEnd(): void {
    if (this.state.closed || this.state.failure !== undefined) return;
    if (this.parser.ended) return;
    const where = this.parser.partialBytes > 0 ? " in the middle of a record" : "";
    this.failWith(
      new TransportError(
        "EPEER",
        `${this.state.label}: the peer's stream ended${where} without an end marker: the peer exited or was killed`,
      ),
    );
  }

  private onStreamError(error: Error): void {
    if (this.state.closed || this.state.failure !== undefined || this.parser.ended) return;
    const code = (error as NodeJS.ErrnoException).code ?? error.name;
    this.failWith(
      new TransportError("EPEER", `${this.state.label}: the connection failed (${code}): ${error.message}`, {
        cause: error,
      }),
    );
  }

  private onStreamClose(): void {
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    if (this.state.closed || this.state.failure !== undefined || this.parser.ended) return;
    this.failWith(
      new TransportError("EPEER", `${this.state.label}: the connection was closed before the peer's end marker`),
    );
  }

  // ---- ends ----------------------------------------------------------------------------------

  private failWith(error: TransportError): void {
    if (!this.state.fail(error)) return;
    this.release();
    this.destroyStreams();
  }

  private release(): void {
    this.dropReservations();
    this.segments = [];
    this.publishedBytes = 0;
    this.inbox.clear();
    this.held.clear();
    this.receivedBytes = 0;
  }

  close(): void {
    const failed = this.state.failure !== undefined;
    if (!this.state.close()) return;
    this.inbox.clear();
    this.held.clear();
    this.receivedBytes = 0;
    if (failed) return;
    this.finishOutput();
    // Drain the input until the peer ends it too, so no unread data makes the kernel reset the
    // connection before the peer has read our last records.
    if (this.input.readableEnded || this.input.destroyed) {
      if (!this.duplex) this.input.destroy();
      return;
    }
    this.inputPaused = false;
    this.input.resume();
    this.lingerTimer = setTimeout(() => this.destroyStreams(), this.lingerMs);
    this.lingerTimer.unref();
    const unref = (): void => {
      unrefStream(this.output);
      unrefStream(this.input);
    };
    if (this.output.writableFinished) unref();
    else this.output.once("finish", unref);
    if (!this.duplex) this.input.once("end", () => this.input.destroy());
  }

  destroy(error?: Error): void {
    if (!this.state.close(error) && this.input.destroyed && this.output.destroyed) return;
    this.release();
    this.outputEnded = true;
    this.destroyStreams();
  }

  private destroyStreams(): void {
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.input.destroy();
    if (!this.duplex) this.output.destroy();
  }
}

/** Lets the process exit while a closed end lingers for its peer's end marker. */
function unrefStream(stream: Readable | Writable): void {
  const unref = (stream as { unref?: () => void }).unref;
  if (typeof unref === "function") unref.call(stream);
}
