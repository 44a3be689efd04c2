/**
 * A connection: ordered, exactly-once messages over one transport end, with the zero-copy buffer
 * API of DESIGN.md "Channel". The connection owns sequence numbers and epochs; the transport only
 * moves records. A message is one record, or several fragments (RECORD_FIRST ... RECORD_LAST)
 * when it is larger than the transport's maxRecordBytes; fragments are reassembled with one copy.
 *
 * Writing: getWriteBuffers(maxBytes) hands out buffers in transport memory (the peer reads those
 * very bytes when the transport shares memory); each committed buffer is one message. [] means
 * back-pressure: await writable(). send(bytes) queues a whole message of any size.
 * Reading: getReadBuffers() returns whole messages in order; each stays valid until release().
 * Holding more than `maxHeldReadBuffers` unreleased is a NoSpaceError (ENOSPACE).
 * Forwarding: commit(readBufferOfAnotherConnection) spends the buffer for the application and
 * sends its bytes on: by reference when this transport's reader is in this thread and the bytes are
 * never reused (memory transports; reassembled messages), released upstream once the reader here
 * frees it; otherwise copied once, released upstream when the copy is published.
 * Readiness without waiting: isReadable() and isWritable() say whether reading or writing would
 * wait (poll.ts builds poll() on them); neither consumes anything the application can see.
 */
import { Duplex } from "node:stream";
import { FableError } from "../errors.js";
import {
  type InRecord,
  RECORD_CONTROL,
  RECORD_FIRST,
  RECORD_LAST,
  TransportError,
  type TransportEnd,
  type WaitHint,
} from "../transports/transport.js";
import { Deque } from "../transports/common.js";
import { BufferStateError, IoBuffer, NoSpaceError, type ReadBuffer, type WriteBuffer } from "./buffers.js";

export interface ConnectionOptions {
  /** Most read buffers the application may hold unreleased (default 1024). */
  readonly maxHeldReadBuffers?: number;
  /** Largest message send() and reassembly accept (default 256 MiB): a peer cannot make us allocate more. */
  readonly maxMessageBytes?: number;
}

/** The connection was closed or destroyed, or its transport failed. */
export class ConnectionClosedError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("ECLOSED", message, options);
  }
}

const WHOLE = RECORD_FIRST | RECORD_LAST;
const DEFAULT_WRITE_BYTES = 64 * 1024;

let nextConnectionId = 1;

/** What a connection has moved so far (whole messages, payload bytes), for flow reports. */
export interface ConnectionStats {
  readonly sentMessages: number;
  readonly sentBytes: number;
  readonly receivedMessages: number;
  readonly receivedBytes: number;
  /** Reservations that met back-pressure. */
  readonly writeWaits: number;
}

interface Outgoing {
  readonly bytes: Uint8Array;
  offset: number;
  readonly done: () => void;
  readonly fail: (err: Error) => void;
  /** A forwarded read buffer: released upstream once its copy is published. */
  readonly upstream?: { connection: Connection; buffer: ReadBuffer };
}

export class Connection {
  readonly id = nextConnectionId++;
  #transport: TransportEnd;
  #epoch = 0;
  readonly #maxHeld: number;
  readonly #maxMessage: number;

  // Writer: buffers handed out but not yet published, in reservation order (mark: see IoBuffer).
  #reserved = new Deque<IoBuffer>();
  #sendQueue: Outgoing[] = [];
  #pumping = false;
  #nextSeq = 0;
  /** The latest reservation met back-pressure and the transport has not reported room since. */
  #writeBlocked = false;
  /** Reservations that met back-pressure so far: a report of room older than the latest one clears nothing. */
  #blockedCount = 0;
  /** Why the transport refuses writing for good (the peer closed): getWriteBuffers() would throw it. */
  #writeRefused: Error | undefined;

  // Reader: one slot per record taken from the transport and not yet freed, in order: the read
  // buffer viewing it while the application holds it, null once released (fragments and control
  // records at once). Slot i holds record number #firstSlot + i (a buffer's mark).
  #slots = new Deque<IoBuffer | null>();
  #firstSlot = 0;
  #records = 0;
  #held = 0;
  /** Held messages reassembled from fragments (they view no record). */
  #assembled = new Set<IoBuffer>();
  #expectSeq = 0;
  #assembly: Uint8Array[] | undefined;
  #assemblyBytes = 0;
  #assemblySeq = 0;
  /**
   * A message isReadable() took from the transport to find out, not yet handed out (so not
   * counted in #held); getReadBuffers() hands it out first.
   */
  #ahead: ReadBuffer | undefined;

  // Counters for stats: plain increments where a message is published or delivered.
  #sentMessages = 0;
  #sentBytes = 0;
  #receivedMessages = 0;
  #receivedBytes = 0;

  #closing: Promise<void> | undefined;
  #closed = false;
  /** The transport was closed by us: it frees nothing more (held buffers die with it). */
  #transportClosed = false;

  constructor(transport: TransportEnd, options: ConnectionOptions = {}) {
    this.#transport = transport;
    this.#maxHeld = options.maxHeldReadBuffers ?? 1024;
    this.#maxMessage = options.maxMessageBytes ?? 256 * 1024 * 1024;
  }

  get transport(): TransportEnd {
    return this.#transport;
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** Messages and bytes each way so far, and back-pressure met (cheap: read fields). */
  get stats(): ConnectionStats {
    return {
      sentMessages: this.#sentMessages,
      sentBytes: this.#sentBytes,
      receivedMessages: this.#receivedMessages,
      receivedBytes: this.#receivedBytes,
      writeWaits: this.#blockedCount,
    };
  }

  /** Read buffers handed out and not yet released. */
  get heldReadBuffers(): number {
    return this.#held;
  }

  /** True once close() or destroy() was called (reading goes on while close() flushes queued sends). */
  get closed(): boolean {
    return this.#closed || this.#closing !== undefined;
  }

  #check(): void {
    const failure = this.#transport.failure;
    if (failure !== undefined) throw failure;
    if (this.#closed || this.#closing !== undefined) throw new ConnectionClosedError(`connection ${this.id} is closed`);
  }

  // ---- writing -------------------------------------------------------------------------

  /** Buffers for up to `maxBytes` (each one message); [] under back-pressure. */
  getWriteBuffers(maxBytes: number = DEFAULT_WRITE_BYTES): WriteBuffer[] {
    this.#check();
    if (!Number.isInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`getWriteBuffers: maxBytes must be a whole number >= 0, got ${maxBytes}`);
    }
    // Queued sends go first: a buffer reserved now would overtake them.
    if (this.#sendQueue.length > 0) return [];
    const t = this.#transport;
    const max = t.maxRecordBytes;
    if (maxBytes <= max) {
      // The common case, one buffer: no loop, no growing array.
      const view = this.#tryReserve(maxBytes);
      return view === null ? [] : [this.#reserve(view)];
    }
    const out: WriteBuffer[] = [];
    let remaining = maxBytes;
    do {
      const n = Math.min(remaining, max);
      const view = this.#tryReserve(n);
      if (view === null) break;
      out.push(this.#reserve(view));
      remaining -= n;
    } while (remaining > 0);
    return out;
  }

  /** transport.reserve(), noting back-pressure (and the peer's refusal) for isWritable(). */
  #tryReserve(bytes: number): Uint8Array | null {
    let view: Uint8Array | null;
    try {
      view = this.#transport.reserve(bytes);
    } catch (err) {
      this.#noteWriteRefused(err);
      throw err;
    }
    if (view === null) {
      this.#writeBlocked = true;
      this.#blockedCount++;
    } else if (this.#writeBlocked) {
      this.#writeBlocked = false;
    }
    return view;
  }

  #reserve(view: Uint8Array): IoBuffer {
    const buffer = new IoBuffer("write", this, view, this.#epoch, this.#nextSeq++);
    this.#reserved.push(buffer);
    return buffer;
  }

  /**
   * Publishes a write buffer of this connection (the first `length` bytes, default all), or
   * forwards a read buffer of another connection. Buffers are published in the order they were
   * handed out: committing a later one first holds it until the earlier ones are committed.
   */
  commit(buffer: IoBuffer, length?: number): void {
    if (buffer.kind === "read") {
      this.#forward(buffer);
      return;
    }
    if (buffer.connection !== this) {
      throw new BufferStateError(
        `write buffer seq ${buffer.seq} belongs to connection ${buffer.connection.id}, not ${this.id}`,
      );
    }
    if (buffer.state !== "open") throw new BufferStateError(`write buffer seq ${buffer.seq} was already committed`);
    const size = buffer.bytes.length;
    const n = length ?? size;
    if (!Number.isInteger(n) || n < 0 || n > size) {
      throw new RangeError(`commit: length ${n} is outside the buffer's 0..${size} bytes`);
    }
    this.#check();
    buffer.retire("committed");
    buffer.mark = n;
    const reserved = this.#reserved;
    for (let first = reserved.at(0); first !== undefined && first.mark >= 0; first = reserved.at(0)) {
      reserved.shift();
      this.#transport.publish(first.mark, WHOLE, first.seq >>> 0);
      this.#sentMessages++;
      this.#sentBytes += first.mark;
    }
  }

  /**
   * Resolves when getWriteBuffers() may return buffers again. `{ spin: false }`: sleep without
   * spinning first (for a caller waiting on many connections).
   */
  async writable(hint?: WaitHint): Promise<void> {
    this.#check();
    if (this.#sendQueue.length > 0) await this.#drained();
    else await this.#transportWritable(hint);
  }

  /**
   * True when getWriteBuffers() would hand out a buffer, as far as the connection knows without
   * reserving one (the transport contract has no side-effect-free room query): the connection is
   * open, no send() is queued, the peer is not known to have closed, and no reservation has met
   * back-pressure since the transport last reported room. As with a non-blocking socket, room is
   * learnt by trying: until a reservation meets back-pressure the connection counts as writable,
   * so getWriteBuffers() may then return [] once; from then on this is false until writable()
   * resolves (or a reservation succeeds). False whenever getWriteBuffers() would throw (closed,
   * failed, the peer closed).
   */
  isWritable(): boolean {
    if (this.closed || this.#transport.failure !== undefined) return false;
    if (this.#writeRefused !== undefined || this.#transport.ended) return false;
    return this.#sendQueue.length === 0 && !this.#writeBlocked;
  }

  /** transport.writable(); its resolving reports room for the latest reservation that met back-pressure. */
  #transportWritable(hint?: WaitHint): Promise<void> {
    const count = this.#blockedCount;
    return this.#transport.writable(hint).then(
      () => {
        if (this.#blockedCount === count) this.#writeBlocked = false;
      },
      (err: unknown) => {
        this.#noteWriteRefused(err);
        throw err;
      },
    );
  }

  /** An ECLOSED from the transport while it has not failed and we did not close it: the peer closed. */
  #noteWriteRefused(err: unknown): void {
    if (this.#writeRefused !== undefined || this.#transport.failure !== undefined || this.closed) return;
    if (err instanceof TransportError && err.code === "ECLOSED") this.#writeRefused = err;
  }

  /** Sends one message of any size (fragmented if larger than a record); resolves once published. */
  send(bytes: Uint8Array): Promise<void> {
    try {
      this.#check();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (bytes.length > this.#maxMessage) {
      return Promise.reject(new RangeError(`send: ${bytes.length} bytes exceed maxMessageBytes ${this.#maxMessage}`));
    }
    return new Promise<void>((done, fail) => {
      this.#sendQueue.push({ bytes, offset: 0, done, fail });
      this.#pump();
    });
  }

  #forward(buffer: ReadBuffer): void {
    if (buffer.connection === this)
      throw new BufferStateError(`read buffer seq ${buffer.seq} cannot be committed to its own connection`);
    const upstream = buffer.connection as Connection;
    if (!(upstream instanceof Connection) || buffer.state !== "open") {
      throw new BufferStateError(`read buffer seq ${buffer.seq} is not held (already released or forwarded)`);
    }
    this.#check();
    const t = this.#transport;
    let bytes: Uint8Array;
    if (
      t.publishExternal !== undefined &&
      this.#sendQueue.length === 0 &&
      this.#reserved.length === 0 &&
      (buffer.mark < 0 || upstream.#transport.kind === "memory")
    ) {
      // Zero copy: the reader is in this thread and the bytes are never reused (a memory
      // transport's slabs, or a message reassembled into its own allocation). The buffer is spent
      // for the application at once; upstream holds it until the reader downstream frees it.
      bytes = buffer.retire("committed");
      if (t.publishExternal(bytes, WHOLE, this.#nextSeq >>> 0, () => upstream.#unhold(buffer))) {
        this.#nextSeq++;
        this.#sentMessages++;
        this.#sentBytes += bytes.length;
        return;
      }
      // No room: copied below, from a buffer the application can no longer touch.
    } else {
      bytes = buffer.bytes;
    }
    // One copy: the upstream buffer stays held (its ring space pinned) until the copy is out.
    this.#sendQueue.push({
      bytes,
      offset: 0,
      done: () => undefined,
      fail: () => undefined,
      upstream: { connection: upstream, buffer },
    });
    this.#pump();
  }

  #drained(): Promise<void> {
    const last = this.#sendQueue[this.#sendQueue.length - 1];
    if (last === undefined) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const { done, fail } = last;
      Object.assign(last, {
        done: () => {
          done();
          resolve();
        },
        fail: (err: Error) => {
          fail(err);
          reject(err);
        },
      });
    });
  }

  /** Moves queued messages into the transport as space allows. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    const t = this.#transport;
    const max = t.maxRecordBytes;
    try {
      while (this.#sendQueue.length > 0 && this.#reserved.length === 0) {
        const out = this.#sendQueue[0];
        if (out === undefined) break;
        const total = out.bytes.length;
        const n = Math.min(total - out.offset, max);
        const view = this.#tryReserve(n);
        if (view === null) {
          this.#transportWritable().then(
            () => this.#pump(),
            (err: unknown) => this.#failSends(err as Error),
          );
          return;
        }
        view.set(out.bytes.subarray(out.offset, out.offset + n));
        const flags = (out.offset === 0 ? RECORD_FIRST : 0) | (out.offset + n === total ? RECORD_LAST : 0);
        t.publish(n, flags, this.#nextSeq++ >>> 0);
        out.offset += n;
        if (out.offset === total) {
          this.#sentMessages++;
          this.#sentBytes += total;
          this.#sendQueue.shift();
          if (out.upstream !== undefined) out.upstream.connection.#releaseForwarded(out.upstream.buffer);
          out.done();
        }
      }
    } catch (err) {
      this.#failSends(err as Error);
    } finally {
      this.#pumping = false;
    }
  }

  #failSends(err: Error): void {
    const queue = this.#sendQueue;
    this.#sendQueue = [];
    for (const out of queue) out.fail(err);
  }

  // ---- reading -------------------------------------------------------------------------

  /** Whole messages available now, in order (possibly none). */
  getReadBuffers(): ReadBuffer[] {
    const failure = this.#transport.failure;
    if (failure !== undefined) throw failure;
    if (this.#closed) throw new ConnectionClosedError(`connection ${this.id} is closed`);
    if (this.#held >= this.#maxHeld) {
      throw new NoSpaceError(
        `connection ${this.id}: the application holds ${this.#held} read buffers, its limit; release some before reading more`,
      );
    }
    const t = this.#transport;
    let out: ReadBuffer[] | undefined;
    const ahead = this.#ahead;
    if (ahead !== undefined) {
      this.#ahead = undefined;
      this.#held++;
      out = [ahead];
    }
    while (this.#held < this.#maxHeld) {
      const record = t.next();
      if (record === null) break;
      const message = this.#accept(record);
      if (message === undefined) continue;
      if (out === undefined) out = [message];
      else out.push(message);
    }
    return out ?? [];
  }

  /**
   * True when reading would not wait: getReadBuffers() would return at least one message (or
   * throw ENOSPACE, when the application already holds maxHeldReadBuffers), or the connection has
   * ended, or it failed or was closed (getReadBuffers() then throws why). False while nothing, or
   * only part of a fragmented message, has arrived. To find out it may take one message from the
   * transport; that message is kept, and getReadBuffers() hands it out first.
   */
  isReadable(): boolean {
    if (this.#ahead !== undefined) return true;
    const t = this.#transport;
    if (this.#closed || this.#transportClosed || t.failure !== undefined || t.ended) return true;
    let message: ReadBuffer | undefined;
    try {
      while (message === undefined) {
        const record = t.next();
        if (record === null) break;
        message = this.#accept(record);
      }
    } catch {
      return true; // the transport failed (a protocol error destroys it): getReadBuffers() throws that
    }
    if (message === undefined) return t.ended;
    this.#held--; // not handed out yet
    this.#ahead = message;
    return true;
  }

  #accept(record: InRecord): ReadBuffer | undefined {
    const expected = this.#expectSeq >>> 0;
    if (record.seq >>> 0 !== expected) {
      const err = new TransportError(
        "EPROTOCOL",
        `connection ${this.id}: record seq ${record.seq}, expected ${expected}`,
      );
      this.#transport.destroy(err);
      throw err;
    }
    const seq = this.#expectSeq++;
    const number = this.#records++;
    const flags = record.flags;
    if ((flags & RECORD_CONTROL) !== 0) {
      // Control records (epoch ends, acknowledgements) belong to reconfiguration: nothing to deliver.
      this.#slots.push(null);
      this.#freeReleased();
      return undefined;
    }
    if ((flags & WHOLE) === WHOLE && this.#assembly === undefined) {
      this.#receivedMessages++;
      this.#receivedBytes += record.bytes.length;
      const buffer = new IoBuffer("read", this, record.bytes, this.#epoch, seq);
      buffer.mark = number;
      this.#slots.push(buffer);
      this.#held++;
      return buffer;
    }
    this.#slots.push(null);
    // A fragment: copy it out and free its record at once (in order, via the slot).
    if ((flags & RECORD_FIRST) !== 0) {
      if (this.#assembly !== undefined) this.#protocol(`fragment seq ${seq} starts a message inside another`);
      this.#assembly = [];
      this.#assemblyBytes = 0;
      this.#assemblySeq = seq;
    } else if (this.#assembly === undefined) {
      this.#protocol(`fragment seq ${seq} continues a message that never started`);
    }
    this.#assemblyBytes += record.bytes.length;
    if (this.#assemblyBytes > this.#maxMessage) this.#protocol(`message over maxMessageBytes ${this.#maxMessage}`);
    // A copy (a new array: Buffer.prototype.slice would return a view of transport memory).
    this.#assembly?.push(new Uint8Array(record.bytes));
    this.#freeReleased();
    if ((flags & RECORD_LAST) === 0) return undefined;
    const parts = this.#assembly ?? [];
    const whole = new Uint8Array(this.#assemblyBytes);
    let at = 0;
    for (const p of parts) {
      whole.set(p, at);
      at += p.length;
    }
    this.#assembly = undefined;
    this.#receivedMessages++;
    this.#receivedBytes += whole.length;
    const buffer = new IoBuffer("read", this, whole, this.#epoch, this.#assemblySeq);
    this.#assembled.add(buffer);
    this.#held++;
    return buffer;
  }

  #protocol(message: string): never {
    const err = new TransportError("EPROTOCOL", `connection ${this.id}: ${message}`);
    this.#transport.destroy(err);
    throw err;
  }

  /** Gives a read buffer back; its memory may be reused by the transport at once. */
  release(buffer: ReadBuffer): void {
    if (buffer.kind !== "read") throw new BufferStateError(`release takes read buffers; commit write buffers`);
    if (buffer.connection !== this) {
      throw new BufferStateError(
        `read buffer seq ${buffer.seq} belongs to connection ${buffer.connection.id}, not ${this.id}`,
      );
    }
    if (buffer.state !== "open") throw new BufferStateError(`read buffer seq ${buffer.seq} was already released`);
    buffer.retire("released");
    this.#unhold(buffer);
  }

  /** A forwarded read buffer was copied downstream: spent for the application, no longer held. */
  #releaseForwarded(buffer: ReadBuffer): void {
    // Not open: spent already by a zero-copy attempt, or retired by this connection's destroy().
    if (buffer.state === "open") buffer.retire("released");
    this.#unhold(buffer);
  }

  /** The application is done with a read buffer (released, or forwarded and consumed downstream). */
  #unhold(buffer: ReadBuffer): void {
    if (this.#closed) return; // destroyed: nothing is held any more
    this.#held--;
    if (buffer.mark < 0) {
      this.#assembled.delete(buffer);
      return;
    }
    this.#slots.set(buffer.mark - this.#firstSlot, null);
    this.#freeReleased();
  }

  /** The transport frees oldest-first: frees the released prefix of the slots. */
  #freeReleased(): void {
    const slots = this.#slots;
    while (slots.length > 0 && slots.at(0) === null) {
      slots.shift();
      this.#firstSlot++;
      if (this.#transport.failure === undefined && !this.#closed && !this.#transportClosed) this.#transport.free();
    }
  }

  /** Resolves when getReadBuffers() may return messages, or the peer has ended. `hint`: as writable()'s. */
  readable(hint?: WaitHint): Promise<void> {
    const failure = this.#transport.failure;
    if (failure !== undefined) return Promise.reject(failure);
    if (this.#ahead !== undefined) return Promise.resolve();
    return this.#transport.readable(hint);
  }

  /** True once the peer closed and every message has been read. */
  get ended(): boolean {
    return this.#transport.ended && this.#ahead === undefined;
  }

  /** Messages as they arrive; each view is valid until the next iteration (copy it to keep it). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (;;) {
      const buffers = this.getReadBuffers();
      for (const b of buffers) {
        try {
          yield b.bytes;
        } finally {
          this.release(b);
        }
      }
      if (buffers.length === 0) {
        if (this.#transport.ended || this.#closed) return;
        await this.readable();
      }
    }
  }

  /** A Node Duplex over this connection: each written chunk is one message; read chunks are copies. */
  stream(): Duplex {
    const iterator = this[Symbol.asyncIterator]();
    return new Duplex({
      write: (chunk: Buffer, _encoding, callback) => {
        this.send(chunk).then(() => callback(), callback);
      },
      final: (callback) => {
        this.close().then(() => callback(), callback);
      },
      read() {
        iterator.next().then(
          (r) => this.push(r.done === true ? null : Buffer.from(r.value)),
          (err: unknown) => this.destroy(err as Error),
        );
      },
      destroy: (err, callback) => {
        this.destroy(err ?? undefined);
        callback(null);
      },
    });
  }

  // ---- ending ----------------------------------------------------------------------------

  /** Publishes what is queued, then closes the transport. Idempotent: every call gets the same promise. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closing = (async () => {
      while (this.#sendQueue.length > 0 && this.#transport.failure === undefined) await this.#drained();
      this.#transportClosed = true;
      this.#ahead = undefined; // its memory goes with the transport, like held buffers
      this.#transport.close();
    })();
    return this.#closing;
  }

  /** Drops everything now. Queued sends reject; held buffers become unusable. Idempotent. */
  destroy(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failSends(error ?? new ConnectionClosedError(`connection ${this.id} was destroyed`));
    // (Buffers forwarded downstream were spent already: "committed".)
    this.#slots.drain((b) => {
      if (b !== null && b.state === "open") b.retire("released");
    });
    for (const b of this.#assembled) if (b.state === "open") b.retire("released");
    this.#assembled.clear();
    this.#held = 0;
    this.#ahead = undefined;
    this.#reserved.drain((b) => {
      if (b.state === "open") b.retire("committed");
    });
    this.#transport.destroy(error);
  }
}
