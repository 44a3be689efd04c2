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
 * Reconfiguration (opt-in, `reconfigure` option; rules in reconfigure.ts): the connection reads
 * from one end (#rt) and writes to one (#wt); during a switch they differ. A connection without
 * the option keeps no copies and runs no timer: its hot path is the one it always had.
 */
import { EventEmitter } from "node:events";
import { Duplex } from "node:stream";
import { FableError, UsageError } from "../errors.js";
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
import { RingTransportEnd } from "../transports/ring-end.js";
import { BufferStateError, IoBuffer, NoSpaceError, type ReadBuffer, type WriteBuffer } from "./buffers.js";
import {
  CTL_ACK,
  CTL_EPOCH_END,
  CTL_RESUME,
  CTL_ABORT,
  decodeNumbers,
  encodeNumbers,
  PATH_RECORD_BYTES,
  PendingEnd,
  type PathSpec,
} from "./paths.js";
import {
  PathControl,
  type PathHost,
  type ReconfigureOptions,
  type SwitchEvent,
  DrainTimeoutError,
  ResumeError,
  publishSwitch,
} from "./reconfigure.js";
import { Retention } from "./retention.js";
import { CACHED_VIEW_MAX_BYTES } from "../ring/view-cache.js";
import { READY, type WaitStrategy } from "../ring/wait.js";

export interface ConnectionOptions {
  /** Most read buffers the application may hold unreleased (default 1024). */
  readonly maxHeldReadBuffers?: number;
  /** Largest message send() and reassembly accept (default 256 MiB): a peer cannot make us allocate more. */
  readonly maxMessageBytes?: number;
  /** Makes the connection reconfigurable: use openReconfigurable(), which also agrees the resume endpoint. */
  readonly reconfigure?: ReconfigureOptions;
}

/**
 * How long an end retired by a switch stays open before it is closed: past the switch's pause
 * (the reader's wait for the new path's first data, under 1 ms at p50 on the 2-vCPU guest) and
 * before a switch asked for right after this one reaches its own (listen, offer, dial, accept).
 */
const RETIRED_CLOSE_MS = 2;

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
  /**
   * A control record (no sequence number of its own); `after` runs once it is published.
   * `stamp`: its bytes 8..16 get the writer's next seq as it is published (an epoch-end marker).
   */
  readonly control?: { readonly after?: () => void; readonly stamp?: boolean };
  /** A record re-sent after a resume: published with its own seq and flags. */
  readonly resend?: { readonly seq: number; readonly flags: number };
  offset: number;
  readonly done: () => void;
  readonly fail: (err: Error) => void;
  /** A forwarded read buffer: released upstream once its copy is published. */
  readonly upstream?: { connection: Connection; buffer: ReadBuffer };
}

/** A path retired by a switch whose records the application still holds (slots below `upTo`). */
interface Retiring {
  readonly end: TransportEnd;
  readonly upTo: number;
  readonly epoch: number;
  timer: NodeJS.Timeout | undefined;
}

/** Data messages the connection took from the transport ahead of the application (isReadable, the control tick). */
const MAX_PARKED = 64;

export class Connection {
  readonly id = nextConnectionId++;
  /** The end written to, and the end read from: the same one except during a switch. */
  #wt: TransportEnd;
  #rt: TransportEnd;
  /** Epoch of the path written to, and of the path read from. */
  #epoch = 0;
  #readEpoch = 0;
  readonly #maxHeld: number;
  readonly #maxMessage: number;
  /** Largest record written: the transport's, capped at PATH_RECORD_BYTES on a reconfigurable connection. */
  #maxRecord: number;
  /** Bytes the last data reservation asked for (see #reserveSpecial). */
  #lastReserve = 0;

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
  /** Whole messages taken from the transport and not yet handed out (not counted in #held). */
  #parked = new Deque<ReadBuffer>();

  // Reconfiguration (all unused without the `reconfigure` option).
  readonly #ctl: PathControl | undefined;
  /** Copies of published records until the peer acknowledges them. */
  readonly #kept: Retention | undefined;
  /** Paths retired by switches whose records the application still holds, oldest first. */
  #retiring: Retiring[] = [];
  /** The new path to read once the peer's epoch-end marker arrives. */
  #nextRead: { end: TransportEnd; epoch: number } | undefined;
  /** Both directions of the switch to `epoch` are done once both flags are set. */
  #switching:
    | {
        epoch: number;
        from: string;
        to: string;
        wait: WaitStrategy | undefined;
        reason: string;
        started: number;
        wrote: boolean;
        read: boolean;
      }
    | undefined;
  /** A resume is under way: the ends are stand-ins until the peer's RESUME arrives. */
  #resuming = false;
  #resumed = 0;
  #ackedSeq = 0;
  #tick: NodeJS.Timeout | undefined;
  /**
   * Readers waiting in readable(), woken when the read path changes or messages are parked (by the
   * tick or the watch). Each leaves the set when its wait settles either way: a Waiters list (or a
   * promise raced by every wait) kept one entry per readable() call until the next switch.
   */
  readonly #readers = new Set<() => void>();
  /** Calls of the application's reading (getReadBuffers, readable, isReadable): "is it reading?" */
  #appReads = 0;
  /** #appReads at the previous tick. */
  #appReadsAtTick = -1;
  /** The control watch is running (see #watch). */
  #watching = false;
  /** Ends no longer used, closed at the next turn of the event loop (see #maybeClose). */
  readonly #toClose = new Set<TransportEnd>();
  #events: EventEmitter | undefined;

  // Counters for stats: plain increments where a message is published or delivered.
  #sentMessages = 0;
  #sentBytes = 0;
  #receivedMessages = 0;
  #receivedBytes = 0;

  /**
   * A ring end's records are kept in place (see retention.ts); copied when the ring goes, unless
   * the connection goes with it (nothing will be re-sent then).
   */
  readonly #materialize = (): void => {
    if (!this.#closed && !this.#transportClosed) this.#kept?.materialize();
  };

  #closing: Promise<void> | undefined;
  #closed = false;
  /** The transport was closed by us: it frees nothing more (held buffers die with it). */
  #transportClosed = false;

  constructor(transport: TransportEnd, options: ConnectionOptions = {}) {
    this.#wt = transport;
    this.#rt = transport;
    this.#maxHeld = options.maxHeldReadBuffers ?? 1024;
    this.#maxMessage = options.maxMessageBytes ?? 256 * 1024 * 1024;
    this.#maxRecord = transport.maxRecordBytes;
    const reconfigure = options.reconfigure;
    if (reconfigure !== undefined) {
      this.#maxRecord = Math.min(transport.maxRecordBytes, PATH_RECORD_BYTES);
      this.#kept = new Retention(reconfigure.retainBytes ?? 64 * 1024 * 1024);
      transport.beforeRelease?.(this.#materialize);
      this.#ctl = new PathControl(this.#host(), reconfigure);
      this.#tick = setInterval(() => this.#onTick(), reconfigure.tickMs ?? 5);
      this.#tick.unref();
      if (reconfigure.role === "connector") void this.#awaitSetup(this.#ctl);
      // Until the application reads, the peer's control records (an offer) are read as they come.
      void this.#watch();
    }
  }

  /**
   * The connector is ready once the listener's SETUP arrives: look as soon as the path is
   * readable instead of at the next tick (up to tickMs later, on every connect by name).
   */
  async #awaitSetup(ctl: PathControl): Promise<void> {
    let done = false;
    const settled = ctl.ready.then(
      () => void (done = true),
      () => void (done = true),
    );
    const t = this.#rt;
    while (!done && !this.#closed && !this.#transportClosed) {
      try {
        await Promise.race([t.readable({ spin: false }), settled]);
      } catch {
        return; // the path failed: the tick sees it, and ready's timeout
      }
      if (!done) this.#onTick();
    }
    // A wait of ours may still be armed: settle it (a reader of the application's re-checks).
    if (t.waiting?.("read") === true) t.cancelWait?.("read");
  }

  /** The end written to (after a switch: the new path). */
  get transport(): TransportEnd {
    return this.#wt;
  }

  /** Epoch of the path written to: 0 at first, one more with every switch or resume. */
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

  /**
   * Status events of a reconfigurable connection: "switch" (a SwitchEvent: from, to, epoch,
   * reason, pauseMs, resent), "drain" ({ epoch, copied }: old read buffers moved to private
   * memory). The same go to `node:diagnostics_channel` "fable:connection:switch".
   */
  on(event: "switch" | "drain", listener: (event: SwitchEvent) => void): this {
    (this.#events ??= new EventEmitter()).on(event, listener);
    return this;
  }

  off(event: "switch" | "drain", listener: (event: SwitchEvent) => void): this {
    this.#events?.off(event, listener);
    return this;
  }

  /**
   * Switches this connection to a new path (both directions) with no loss, duplication or
   * reordering; resolves once both ends write and read on it. Needs the `reconfigure` option.
   */
  reconfigure(to: PathSpec, reason = "manual"): Promise<SwitchEvent> {
    if (this.#ctl === undefined) {
      return Promise.reject(new UsageError(`connection ${this.id} is not reconfigurable (no reconfigure option)`));
    }
    if (this.closed) return Promise.reject(new ConnectionClosedError(`connection ${this.id} is closed`));
    return this.#ctl.reconfigure(to, reason);
  }

  /** @internal: the connection's inner state, for a test that reports where a run got stuck. */
  get debugState(): Record<string, unknown> {
    const end = (t: TransportEnd | undefined): string | undefined =>
      t === undefined
        ? undefined
        : `${t instanceof PendingEnd ? "pending " : ""}${t.kind}${t.failure !== undefined ? ` failed (${t.failure.message})` : ""}${t.ended ? " ended" : ""}`;
    const first = this.#sendQueue[0];
    return {
      id: this.id,
      closed: this.#closed,
      closing: this.#closing !== undefined,
      wt: end(this.#wt),
      rt: end(this.#rt),
      sameEnd: this.#wt === this.#rt,
      epoch: this.#epoch,
      readEpoch: this.#readEpoch,
      nextSeq: this.#nextSeq,
      expectSeq: this.#expectSeq,
      assembling: this.#assembly !== undefined ? this.#assemblySeq : undefined,
      sendQueue: this.#sendQueue.length,
      sendQueueFirst:
        first === undefined
          ? undefined
          : first.control !== undefined
            ? `control ${first.bytes[0]}`
            : first.resend !== undefined
              ? `resend ${first.resend.seq}`
              : `data ${first.offset}/${first.bytes.length}`,
      pumping: this.#pumping,
      reserved: this.#reserved.length,
      writeBlocked: this.#writeBlocked,
      parked: this.#parked.length,
      readers: this.#readers.size,
      watching: this.#watching,
      held: this.#held,
      slots: this.#slots.length,
      retiring: this.#retiring.map((r) => `${end(r.end)} epoch ${r.epoch} upTo ${r.upTo}`),
      nextRead: this.#nextRead === undefined ? undefined : `${end(this.#nextRead.end)} epoch ${this.#nextRead.epoch}`,
      switching: this.#switching,
      resuming: this.#resuming,
      ackedSeq: this.#ackedSeq,
      kept:
        this.#kept === undefined
          ? undefined
          : { base: this.#kept.base, bytes: this.#kept.bytes, full: this.#kept.full, inPlace: this.#kept.inPlace },
      control: this.#ctl?.debugState,
    };
  }

  /** @internal: resolves once a reconfigurable connection has agreed its resume endpoint. */
  get ready(): Promise<void> {
    return this.#ctl?.ready ?? Promise.resolve();
  }

  #check(): void {
    const failure = this.#wt.failure;
    if (failure !== undefined) this.#pathFailed(failure);
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
    const max = this.#maxRecord;
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
    const kept = this.#kept;
    if (kept !== undefined && kept.full) {
      view = null; // the peer has not acknowledged enough: wait for it (see #transportWritable)
    } else {
      try {
        view = this.#wt.reserve(bytes);
        this.#lastReserve = bytes;
      } catch (err) {
        if (this.#pathError(err)) return this.#tryReserve(bytes);
        this.#noteWriteRefused(err);
        throw err;
      }
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
    const seq = this.#nextSeq++;
    const buffer = new IoBuffer("write", this, view, this.#epoch, seq);
    this.#reserved.push(buffer);
    if (this.#kept !== undefined) this.#kept.reserve(seq);
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
    const bytes = buffer.retire("committed");
    buffer.mark = n;
    const kept = this.#kept;
    if (kept !== undefined) {
      // The buffer is memory of #wt (no switch passes an outstanding reservation).
      if (this.#wt.keepsPublished === true) kept.refer(buffer.seq, bytes, n, WHOLE);
      else kept.fill(buffer.seq, bytes, 0, n, WHOLE);
    }
    const reserved = this.#reserved;
    for (let first = reserved.at(0); first !== undefined && first.mark >= 0; first = reserved.at(0)) {
      reserved.shift();
      this.#sentMessages++;
      this.#sentBytes += first.mark;
      this.#wt.publish(first.mark, WHOLE, first.seq >>> 0);
    }
    // send()s (or control records) queued behind reservations go out now.
    if (this.#sendQueue.length > 0 && reserved.length === 0) this.#pump();
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
    if (this.closed || (this.#wt.failure !== undefined && this.#ctl === undefined)) return false;
    if (this.#writeRefused !== undefined || this.#wt.ended) return false;
    return this.#sendQueue.length === 0 && !this.#writeBlocked;
  }

  /** transport.writable(); its resolving reports room for the latest reservation that met back-pressure. */
  #transportWritable(hint?: WaitHint): Promise<void> {
    const count = this.#blockedCount;
    const kept = this.#kept;
    const t = this.#wt;
    const waiting = kept !== undefined && kept.full ? kept.room() : t.writable(hint);
    return waiting.then(
      () => {
        if (this.#blockedCount === count) this.#writeBlocked = false;
      },
      (err: unknown) => {
        // A path this connection left meanwhile (switched, or dropped for a resume): try again.
        if (t !== this.#wt || this.#pathError(err)) return;
        this.#noteWriteRefused(err);
        throw err;
      },
    );
  }

  /** An ECLOSED from the transport while it has not failed and we did not close it: the peer closed. */
  #noteWriteRefused(err: unknown): void {
    if (this.#writeRefused !== undefined || this.#wt.failure !== undefined || this.closed) return;
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
    const t = this.#wt;
    let bytes: Uint8Array;
    if (
      t.publishExternal !== undefined &&
      this.#kept === undefined &&
      this.#sendQueue.length === 0 &&
      this.#reserved.length === 0 &&
      (buffer.mark < 0 || upstream.#rt.kind === "memory")
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

  /** Moves queued messages (and control records) into the transport as space allows. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#sendQueue.length > 0 && this.#reserved.length === 0) {
        const out = this.#sendQueue[0];
        if (out === undefined) break;
        const total = out.bytes.length;
        const special = out.control !== undefined || out.resend !== undefined;
        const n = special ? total : Math.min(total - out.offset, this.#maxRecord);
        // Control records and re-sent records may pass a full retention: they are not kept anew.
        const view = special ? this.#reserveSpecial(n, out.control !== undefined) : this.#tryReserve(n);
        if (view === null) {
          this.#transportWritable().then(
            () => this.#pump(),
            (err: unknown) => this.#failSends(err as Error),
          );
          return;
        }
        const t = this.#wt;
        view.set(special ? out.bytes : out.bytes.subarray(out.offset, out.offset + n));
        if (out.control !== undefined) {
          if (out.control.stamp === true)
            new DataView(view.buffer, view.byteOffset, n).setFloat64(8, this.#nextSeq, true);
          t.publish(n, RECORD_CONTROL | WHOLE, this.#nextSeq >>> 0);
          this.#sendQueue.shift();
          out.control.after?.();
          out.done();
          continue;
        }
        if (out.resend !== undefined) {
          t.publish(n, out.resend.flags, out.resend.seq >>> 0);
          this.#sendQueue.shift();
          out.done();
          continue;
        }
        const flags = (out.offset === 0 ? RECORD_FIRST : 0) | (out.offset + n === total ? RECORD_LAST : 0);
        const seq = this.#nextSeq++;
        const kept = this.#kept;
        if (kept !== undefined) {
          kept.reserve(seq);
          // Fragments are copied: a reader frees them as it reassembles, before the message is its
          // application's, so a resume can ask for them again after the ring reused their space.
          if (flags === WHOLE && t.keepsPublished === true) kept.refer(seq, view, n, flags);
          else kept.fill(seq, out.bytes, out.offset, n, flags);
        }
        t.publish(n, flags, seq >>> 0);
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
      if (this.#pathError(err)) {
        this.#pumping = false;
        this.#pump();
        return;
      }
      this.#failSends(err as Error);
    } finally {
      this.#pumping = false;
    }
  }

  /** A reservation for a control or re-sent record: no retention check, path failures handled. */
  #reserveSpecial(n: number, control: boolean): Uint8Array | null {
    // On a ring, a control record takes the room of the last data record (when small): a steady
    // stream of equal messages then keeps its offsets lap after lap, and the reader's and writer's
    // view caches (src/ring/view-cache.ts) keep hitting. An acknowledgement of another size every
    // 5 ms shifted every later record of the lap, so each message made a new view that the cache
    // kept alive: young-generation collections took 2 ms instead of 0.4 and a reconfigurable
    // ping-pong paid for it.
    const room =
      control && this.#wt.keepsPublished === true && this.#lastReserve <= CACHED_VIEW_MAX_BYTES
        ? Math.max(n, this.#lastReserve)
        : n;
    try {
      const view = this.#wt.reserve(room);
      if (view === null) {
        this.#writeBlocked = true;
        this.#blockedCount++;
      }
      return view;
    } catch (err) {
      if (this.#pathError(err)) return null;
      throw err;
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
    this.#appReads++;
    const failure = this.#rt.failure;
    if (failure !== undefined) this.#pathFailed(failure);
    if (this.#closed) throw new ConnectionClosedError(`connection ${this.id} is closed`);
    if (this.#held >= this.#maxHeld) {
      throw new NoSpaceError(
        `connection ${this.id}: the application holds ${this.#held} read buffers, its limit; release some before reading more`,
      );
    }
    let out: ReadBuffer[] | undefined;
    const parked = this.#parked;
    while (parked.length > 0 && this.#held < this.#maxHeld) {
      const message = parked.shift() as ReadBuffer;
      this.#held++;
      if (out === undefined) out = [message];
      else out.push(message);
    }
    try {
      while (this.#held < this.#maxHeld) {
        // #rt, not a local: a control record may move reading to another path.
        const record = this.#rt.next();
        if (record === null) break;
        const message = this.#accept(record);
        if (message === undefined) continue;
        if (out === undefined) out = [message];
        else out.push(message);
      }
    } catch (err) {
      if (this.#ctl === undefined) throw err;
      // Messages not yet handed out go back: a resume reads them again (see #pathFailed).
      if (out !== undefined) {
        for (const m of out) this.#parked.push(m);
        this.#held -= out.length;
        out = undefined;
      }
      if (!this.#pathError(err)) throw err;
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
    this.#appReads++;
    if (this.#parked.length > 0) return true;
    const t = this.#rt;
    if (this.#closed || this.#transportClosed || t.ended) return true;
    if (t.failure !== undefined) return this.#ctl === undefined;
    if (!this.#park(1)) return true; // the transport failed (a protocol error destroys it): getReadBuffers() throws that
    return this.#parked.length > 0 || this.#rt.ended;
  }

  /** Takes up to `count` messages from the transport ahead of the application; false if the transport failed. */
  #park(count: number): boolean {
    try {
      while (this.#parked.length < count && this.#held + this.#parked.length < this.#maxHeld) {
        const record = this.#rt.next();
        if (record === null) break;
        const message = this.#accept(record);
        if (message === undefined) continue;
        this.#held--; // not handed out yet
        this.#parked.push(message);
      }
    } catch (err) {
      // A failed path of a reconfigurable connection resumes; otherwise getReadBuffers() throws it.
      return this.#pathError(err);
    }
    return true;
  }

  #accept(record: InRecord): ReadBuffer | undefined {
    const flags = record.flags;
    if ((flags & RECORD_CONTROL) !== 0) {
      this.#control(record);
      return undefined;
    }
    const expected = this.#expectSeq >>> 0;
    if (record.seq >>> 0 !== expected) {
      if (this.#ctl !== undefined && (expected - record.seq) >>> 0 < 0x80000000) {
        // Behind what was delivered: a record re-sent after a resume. Dropped by its seq.
        this.#records++;
        this.#slots.push(null);
        this.#freeReleased();
        return undefined;
      }
      const err = new TransportError(
        "EPROTOCOL",
        `connection ${this.id}: record seq ${record.seq}, expected ${expected}`,
      );
      this.#rt.destroy(err);
      throw err;
    }
    const seq = this.#expectSeq++;
    const number = this.#records++;
    if ((flags & WHOLE) === WHOLE && this.#assembly === undefined) {
      this.#receivedMessages++;
      this.#receivedBytes += record.bytes.length;
      const buffer = new IoBuffer("read", this, record.bytes, this.#readEpoch, seq);
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
    const buffer = new IoBuffer("read", this, whole, this.#readEpoch, this.#assemblySeq);
    this.#assembled.add(buffer);
    this.#held++;
    return buffer;
  }

  #protocol(message: string): never {
    const err = new TransportError("EPROTOCOL", `connection ${this.id}: ${message}`);
    this.#rt.destroy(err);
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
    if (buffer.state === "lost") return; // its path failed: nothing left to give back
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
      const number = this.#firstSlot++;
      let t = this.#rt;
      if (this.#retiring.length !== 0) {
        const old = this.#retiring[0] as Retiring;
        if (number < old.upTo) t = old.end;
        if (number + 1 >= old.upTo) this.#retired(old, number < old.upTo);
      }
      if (t.failure === undefined && !this.#closed && !this.#transportClosed) t.free();
    }
  }

  /** Resolves when getReadBuffers() may return messages, or the peer has ended. `hint`: as writable()'s. */
  readable(hint?: WaitHint): Promise<void> {
    const t = this.#rt;
    if (this.#ctl === undefined) {
      const failure = t.failure;
      if (failure !== undefined) return Promise.reject(failure);
      if (this.#parked.length > 0) return Promise.resolve();
      return t.readable(hint);
    }
    this.#appReads++;
    if (this.#parked.length > 0 || this.#closed) return Promise.resolve();
    if (t.failure !== undefined) {
      this.#pathFailed(t.failure);
      return Promise.resolve();
    }
    // The control watch sleeps without spinning: the application's wait spins as its hint says.
    if (this.#watching && t.waiting?.("read") === true) t.cancelWait?.("read");
    const raw = t.readable(hint);
    // A record is there now (a spin found it): nothing to race or catch, and no promise made for
    // it (this is every message's wait of a ping-pong that spins).
    if (raw === READY) return raw;
    const waited = raw.catch((err: unknown) => {
      if (!this.#pathError(err)) throw err;
    });
    // Settled already (rejected, or resolved elsewhere): no tick can have taken a record meanwhile.
    if (t.waiting?.("read") === false) return waited;
    // The control tick (or watch) may take the record this wait is for, or move reading to
    // another path: either wakes the caller.
    return this.#waitOr(waited, t);
  }

  /** Settles with `waited`, or when #wakeReaders() runs first; then stops t's wait. */
  #waitOr(waited: Promise<void>, t: TransportEnd): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const readers = this.#readers;
      const woken = (): void => {
        if (!readers.delete(woken)) return;
        t.cancelWait?.("read");
        resolve();
      };
      readers.add(woken);
      waited.then(woken, (err: unknown) => {
        if (!readers.delete(woken)) return;
        t.cancelWait?.("read");
        reject(err as Error);
      });
    });
  }

  /** Wakes every reader waiting in readable(): the read path changed, or messages were parked. */
  #wakeReaders(): void {
    if (this.#readers.size === 0) return;
    for (const woken of [...this.#readers]) woken();
  }

  /** True once the peer closed and every message has been read. */
  get ended(): boolean {
    return this.#rt.ended && this.#parked.length === 0;
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
        if (this.ended || this.#closed) return;
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

  // ---- reconfiguration -------------------------------------------------------------------

  /** What reconfigure.ts may do to this connection. */
  #host(): PathHost {
    return {
      id: this.id,
      epoch: () => Math.max(this.#epoch, this.#readEpoch, this.#switching?.epoch ?? 0),
      kind: () => this.#wt.kind,
      closed: () => this.closed,
      sendControl: (bytes) => this.#sendControl(bytes),
      adopt: (end, epoch, from, spec, reason) => this.#adopt(end, epoch, from, spec, reason),
      resumeOn: (end) => this.#resumeOn(end),
      fail: (err) => this.#pathFailed(err),
      destroy: (err) => this.destroy(err),
      emit: (name, event) => this.#emit(name, event),
    };
  }

  #emit(name: "switch" | "drain", event: SwitchEvent): void {
    publishSwitch(this.id, name, event);
    this.#events?.emit(name, event);
  }

  /** Queues a control record behind everything written so far. */
  #sendControl(bytes: Uint8Array, after?: () => void): void {
    this.#sendQueue.push({
      bytes,
      offset: 0,
      control: after === undefined ? {} : { after, stamp: true },
      done: () => undefined,
      fail: () => undefined,
    });
    this.#pump();
  }

  /**
   * Both ends agreed on `end` for `epoch`: the writer ends its epoch with a marker on the old path
   * and moves there; the reader moves there once the peer's marker arrives.
   */
  #adopt(end: TransportEnd, epoch: number, from: string, spec: PathSpec, reason: string): void {
    const to = spec.kind;
    this.#switching = {
      epoch,
      from,
      to,
      wait: spec.wait,
      reason,
      started: performance.now(),
      wrote: false,
      read: false,
    };
    if (end.maxRecordBytes < this.#maxRecord) {
      end.destroy();
      this.#pathFailed(new TransportError("EPROTOCOL", `new ${to} path takes records of ${end.maxRecordBytes} bytes`));
      return;
    }
    end.beforeRelease?.(this.#materialize);
    this.#nextRead = { end, epoch };
    // A marker that arrived before this path did left the reader waiting on a stand-in.
    if (this.#rt instanceof PendingEnd) this.#installRead();
    this.#sendControl(encodeNumbers(CTL_EPOCH_END, this.#epoch, this.#nextSeq), () => {
      const old = this.#wt;
      this.#wt = end;
      this.#epoch = epoch;
      this.#writeBlocked = false;
      this.#maybeClose(old);
      this.#switchStep("wrote");
    });
  }

  /** The peer's marker arrived (or had arrived): read the new path. */
  #installRead(): void {
    const next = this.#nextRead;
    if (next === undefined) return;
    const pending = this.#rt;
    this.#nextRead = undefined;
    this.#rt = next.end;
    this.#readEpoch = next.epoch;
    if (pending instanceof PendingEnd) pending.settle();
    this.#wakeReaders();
    this.#switchStep("read");
  }

  #switchStep(step: "wrote" | "read"): void {
    const s = this.#switching;
    if (s === undefined) return;
    s[step] = true;
    if (!s.wrote || !s.read) return;
    this.#switching = undefined;
    const event: SwitchEvent = {
      from: s.from,
      to: s.to,
      ...(s.wait !== undefined ? { wait: s.wait } : {}),
      epoch: s.epoch,
      reason: s.reason,
      pauseMs: performance.now() - s.started,
      resent: 0,
    };
    this.#ctl?.switched(event);
    this.#emit("switch", event);
  }

  #control(record: InRecord): void {
    const bytes = record.bytes;
    const type = bytes[0];
    const copy = bytes.slice(); // the record is freed below
    const seq = record.seq >>> 0;
    this.#records++;
    this.#slots.push(null);
    this.#freeReleased();
    if (this.#ctl === undefined) {
      this.#protocol(`control record (type ${type}) on a connection that is not reconfigurable`);
    }
    switch (type) {
      case CTL_ACK: {
        this.#kept?.ack(decodeNumbers(copy).seq);
        return;
      }
      case CTL_EPOCH_END: {
        const { seq: last } = decodeNumbers(copy);
        if (seq !== this.#expectSeq >>> 0 || last !== this.#expectSeq) {
          this.#protocol(`epoch-end marker after seq ${last}, but seq ${this.#expectSeq} is next`);
        }
        this.#endReadEpoch();
        return;
      }
      case CTL_RESUME: {
        this.#peerResumed(decodeNumbers(copy));
        return;
      }
      case CTL_ABORT: {
        // The peer destroyed it (or is gone for good): a reset now, not a resume that cannot happen.
        this.destroy(new ResumeError(`connection ${this.id}: the peer aborted it`));
        return;
      }
      default:
        this.#ctl.control(copy);
    }
  }

  /** Reading the old path is done: retire it (the application may still hold its records). */
  #endReadEpoch(): void {
    const old = this.#rt;
    const upTo = this.#records;
    if (this.#firstSlot < upTo) {
      const entry: Retiring = { end: old, upTo, epoch: this.#readEpoch, timer: undefined };
      entry.timer = setTimeout(() => this.#drainTimedOut(entry), this.#ctl?.drainTimeoutMs ?? 1000);
      entry.timer.unref();
      this.#retiring.push(entry);
    }
    if (this.#nextRead !== undefined) this.#installRead();
    else this.#rt = new PendingEnd(old); // the new path is still being accepted
    this.#maybeClose(old);
  }

  /** The application released every record of a retired path. */
  #retired(entry: Retiring, _freed: boolean): void {
    this.#retiring.shift();
    clearTimeout(entry.timer);
    queueMicrotask(() => this.#maybeClose(entry.end));
  }

  /** Old read buffers outlived the drain timeout: copy them to private memory, or end the connection. */
  #drainTimedOut(entry: Retiring): void {
    if (!this.#retiring.includes(entry) || this.#closed) return;
    if (this.#ctl?.drainPolicy === "fail") {
      this.destroy(
        new DrainTimeoutError(
          `connection ${this.id}: read buffers of epoch ${entry.epoch} were still held ${this.#ctl.drainTimeoutMs} ms after the switch`,
        ),
      );
      return;
    }
    let copied = 0;
    for (let i = 0; i < entry.upTo - this.#firstSlot; i++) {
      const b = this.#slots.at(i);
      if (b === null || b === undefined) continue;
      b.rebind(b.bytes.slice());
      this.#assembled.add(b);
      this.#slots.set(i, null);
      copied++;
    }
    this.#freeReleased();
    this.#emit("drain", {
      from: entry.end.kind,
      to: this.#rt.kind,
      epoch: entry.epoch,
      reason: "drain",
      pauseMs: 0,
      resent: copied,
    });
  }

  /** Closes an old end once nothing reads, writes or holds it any more. */
  #maybeClose(end: TransportEnd): void {
    if (end === this.#wt || end === this.#rt || end instanceof PendingEnd) return;
    if (this.#retiring.some((r) => r.end === end)) return;
    // Not now nor at the next turn: closing an end takes 0.1-0.5 ms (an shm end unmaps its
    // region), and this runs just as the new path starts (the reader has just read the peer's
    // marker, the writer has just written its own). At the next turn it still ran inside the
    // pause, before the new path's first data (read in the loop's next poll); a --cpu-prof of
    // bench:reconfigure sampled in the pauses shows it there, and not with the timer.
    if (this.#toClose.size === 0) setTimeout(() => this.#closeRetired(), RETIRED_CLOSE_MS);
    this.#toClose.add(end);
  }

  #closeRetired(): void {
    const ends = [...this.#toClose];
    this.#toClose.clear();
    for (const end of ends) {
      try {
        end.close();
      } catch {
        // it failed already: nothing to flush
      }
    }
  }

  /** A transport error: true when a resume takes it over (reconfigurable, and a path failure). */
  #pathError(err: unknown): boolean {
    if (this.#ctl === undefined || this.#closed) return false;
    if (!(err instanceof TransportError)) return false;
    const failed = this.#wt.failure !== undefined || this.#rt.failure !== undefined;
    if (err.code !== "EPEER" && err.code !== "EPROTOCOL" && !failed) return false;
    this.#pathFailed(err);
    return true;
  }

  /**
   * A path failed. Without reconfiguration that is the connection's failure (thrown); with it,
   * every path is dropped and the connection resumes on a fresh one (reconfigure.ts).
   */
  #pathFailed(err: Error): void {
    if (this.#ctl === undefined || this.#closed || this.#transportClosed) throw err;
    if (this.#resuming && this.#rt instanceof PendingEnd) return; // already waiting for a fresh path
    this.#resuming = true;
    this.#switching = undefined;
    const dead = new Set<TransportEnd>([this.#wt, this.#rt]);
    if (this.#nextRead !== undefined) dead.add(this.#nextRead.end);
    for (const r of this.#retiring) {
      dead.add(r.end);
      clearTimeout(r.timer);
    }
    this.#nextRead = undefined;
    const gone = new TransportError("EPEER", `connection ${this.id}: path dropped for a resume: ${err.message}`);
    // Held read buffers viewed memory of those paths (an shm region is unmapped with its end):
    // their messages were delivered; the buffers are lost (release() accepts them).
    const parkedNow = new Set<ReadBuffer>();
    for (let i = 0; i < this.#parked.length; i++) parkedNow.add(this.#parked.at(i) as ReadBuffer);
    this.#slots.drain((b) => {
      if (b !== null && b.state === "open") {
        b.retire("lost");
        if (!parkedNow.has(b)) this.#held--;
      }
    });
    for (const b of parkedNow) this.#assembled.delete(b);
    this.#firstSlot = this.#records;
    this.#retiring = [];
    // Messages taken ahead of the application, and one half reassembled, are read again from
    // the peer's copies: from the resume point, which never goes below what was acknowledged.
    this.#expectSeq = this.#resumePoint();
    this.#assembly = undefined;
    this.#parked.clear();
    // Reservations of the application die with their path; their numbers are given out again.
    const reserved = this.#reserved.peek();
    if (reserved !== undefined) {
      this.#nextSeq = reserved.seq;
      this.#kept?.truncate(reserved.seq);
      this.#reserved.drain((b) => {
        if (b.state === "open") b.retire("committed");
      });
    }
    // Control records belonged to the dead paths; re-sent records are recomputed from the copies.
    this.#sendQueue = this.#sendQueue.filter((o) => o.control === undefined && o.resend === undefined);
    const stand = new PendingEnd(this.#wt);
    this.#wt = stand;
    this.#rt = stand;
    for (const end of dead) {
      if (!(end instanceof PendingEnd)) end.destroy(gone);
      else end.settle();
    }
    this.#ctl.resume(err);
  }

  /**
   * The point from which the peer must send again: everything before it is ours for good (handed
   * out). Acknowledged, so it must not move back: a message being reassembled counts from its first
   * fragment (acknowledging fragments let the peer drop them, and once whole the message is parked
   * and read again from that first fragment after a failure).
   */
  #resumePoint(): number {
    return this.#parked.peek()?.seq ?? (this.#assembly !== undefined ? this.#assemblySeq : this.#expectSeq);
  }

  /** A fresh path after a failure: tell the peer where to resume, read it; write once the peer says where. */
  #resumeOn(end: TransportEnd): void {
    const stand = this.#wt;
    let view: Uint8Array | null;
    try {
      view = end.reserve(16);
    } catch {
      // The peer closed the fresh path at once: with an ABORT before its end, it will not resume;
      // without, the resume goes on (the connector dials again).
      const aborted = abortedIn(end);
      end.destroy();
      if (aborted) this.destroy(new ResumeError(`connection ${this.id}: the peer aborted it`));
      return;
    }
    if (view === null || end.maxRecordBytes < this.#maxRecord) {
      end.destroy();
      this.destroy(new ResumeError(`connection ${this.id}: the resumed ${end.kind} path cannot take records`));
      return;
    }
    end.beforeRelease?.(this.#materialize);
    this.#resumed = this.#epoch + 1;
    const point = this.#resumePoint();
    view.set(encodeNumbers(CTL_RESUME, this.#resumed, point));
    end.publish(16, RECORD_CONTROL | WHOLE, this.#nextSeq >>> 0);
    this.#ackedSeq = point;
    this.#rt = end;
    this.#readEpoch = this.#resumed;
    this.#wakeReaders();
    // The writer stays on the stand-in until the peer's RESUME says what it has.
    if (stand instanceof PendingEnd) this.#park(MAX_PARKED);
  }

  /** The peer's RESUME on the fresh path: re-send what it lacks, then write there. */
  #peerResumed({ epoch, seq }: { epoch: number; seq: number }): void {
    const kept = this.#kept as Retention;
    if (!this.#resuming || seq < kept.base || seq > this.#nextSeq) {
      this.destroy(
        new ResumeError(
          `connection ${this.id}: the peer resumes at seq ${seq}; copies are kept from ${kept.base} to ${this.#nextSeq}`,
        ),
      );
      return;
    }
    kept.ack(seq);
    const resend: Outgoing[] = [];
    for (const r of kept.from(seq)) {
      resend.push({
        bytes: r.bytes,
        offset: 0,
        resend: { seq: r.seq, flags: r.flags },
        done: () => undefined,
        fail: () => undefined,
      });
    }
    this.#sendQueue = [...resend, ...this.#sendQueue];
    const stand = this.#wt;
    this.#wt = this.#rt;
    this.#epoch = Math.max(epoch, this.#resumed);
    this.#readEpoch = this.#epoch;
    this.#resuming = false;
    this.#writeBlocked = false;
    if (stand instanceof PendingEnd) stand.settle();
    const event: SwitchEvent = {
      from: this.#ctl?.lastKind ?? stand.kind,
      to: this.#wt.kind,
      epoch: this.#epoch,
      reason: "resume",
      pauseMs: this.#ctl?.resumeMs() ?? 0,
      resent: resend.length,
    };
    this.#ctl?.resumed(event);
    this.#emit("switch", event);
    this.#pump();
  }

  /**
   * The control watch: while the application does not read, waits on the read path (sleeping, not
   * spinning) and takes what arrives as the tick does (#park), so that control records are acted
   * on at once instead of at the next tick: a writer that never reads otherwise learnt of the
   * peer's epoch-end marker, and so finished a switch, up to tickMs late, and of a peer's offer up
   * to tickMs late. Stops as soon as the application reads (its own reads see control records;
   * readable() takes the wait over so that it spins as asked), when MAX_PARKED messages wait for
   * it, or when the path ends or fails (the tick handles failures); the tick starts it again when
   * the application has not read for a whole tick.
   */
  async #watch(): Promise<void> {
    if (this.#watching) return;
    this.#watching = true;
    const reads = this.#appReads;
    let idle = 0;
    try {
      while (this.#appReads === reads && !this.#closed && !this.#transportClosed) {
        const t = this.#rt;
        if (t.ended || t.failure !== undefined) return;
        // An idle end keeps the tick alone where its wait would not sleep (a spinning end polls
        // from the event loop, a slice every turn: it slowed the writer it is there to serve), or
        // would sleep on a thread that holds the event loop (the futex sleeper).
        if (t.unrefWaits === false || (t instanceof RingTransportEnd && t.waitStrategy === "spin")) return;
        if (this.#parked.length >= MAX_PARKED || this.#held + this.#parked.length >= this.#maxHeld) return;
        try {
          await this.#waitOr(t.readable({ spin: false }), t);
        } catch {
          return; // the path failed: the tick resumes
        }
        if (this.#appReads !== reads || this.#closed || this.#transportClosed) return;
        // Woken by a path change: the old path's wait is no one's any more.
        if (t !== this.#rt && t.waiting?.("read") === true) t.cancelWait?.("read");
        const records = this.#records;
        const before = this.#parked.length;
        if (!this.#park(MAX_PARKED)) return;
        if (this.#parked.length > before) this.#wakeReaders();
        // A wake-up that found nothing (cancelled, or a path change) is fine once; twice in a row
        // on the same path would be a wait that never sleeps: leave it to the tick.
        idle = this.#records === records && t === this.#rt ? idle + 1 : 0;
        if (idle >= 2) return;
      }
    } finally {
      this.#watching = false;
    }
  }

  /** Every few ms on a reconfigurable connection: notice failures, read control records, acknowledge. */
  #onTick(): void {
    if (this.#closed || this.#transportClosed) return;
    const failure = this.#wt.failure ?? this.#rt.failure ?? this.#nextRead?.end.failure;
    if (failure !== undefined) {
      this.#pathFailed(failure);
      return;
    }
    const before = this.#parked.length;
    this.#park(MAX_PARKED);
    if (this.#parked.length > before) this.#wakeReaders();
    // An application that has not read since the last tick may never read (a writer): the peer's
    // control records (its epoch-end marker, an offer, acknowledgements) are then read as they come.
    if (this.#appReads === this.#appReadsAtTick) void this.#watch();
    this.#appReadsAtTick = this.#appReads;
    if (this.#resuming) return;
    if (this.#rt.ended && this.#switching === undefined && this.#nextRead === undefined) {
      // The peer closed in order: no switch or resume can follow, so the timer and the resume
      // endpoint go now, whether or not the application ever closes this end (a listener that
      // never did kept both for every connection it had served).
      clearInterval(this.#tick);
      this.#tick = undefined;
      this.#ctl?.close();
      return;
    }
    const point = this.#resumePoint();
    if (point !== this.#ackedSeq && this.#closing === undefined) {
      this.#ackedSeq = point;
      this.#sendControl(encodeNumbers(CTL_ACK, this.#readEpoch, point));
    }
  }

  // ---- ending ----------------------------------------------------------------------------

  /** Publishes what is queued, then closes the transport. Idempotent: every call gets the same promise. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closing = (async () => {
      await this.#ctl?.idle();
      while (this.#sendQueue.length > 0 && this.#wt.failure === undefined && !this.#closed) await this.#drained();
      this.#transportClosed = true;
      this.#parked.clear(); // its memory goes with the transport, like held buffers
      this.#stopReconfiguring();
      for (const end of this.#ends()) end.close();
    })();
    return this.#closing;
  }

  /** Drops everything now. Queued sends reject; held buffers become unusable. Idempotent. */
  destroy(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    // Destroyed, not closed: tell a reconfigurable peer, so it fails now instead of resuming in vain.
    if (!this.#transportClosed && !this.#rt.ended && !this.#wt.ended) this.#ctl?.abortPeer();
    // (No error, with its stack, is made where no send is queued: the usual orderly end.)
    if (this.#sendQueue.length > 0) {
      this.#failSends(error ?? new ConnectionClosedError(`connection ${this.id} was destroyed`));
    }
    // (Buffers forwarded downstream were spent already: "committed".)
    this.#slots.drain((b) => {
      if (b !== null && b.state === "open") b.retire("released");
    });
    for (const b of this.#assembled) if (b.state === "open") b.retire("released");
    this.#assembled.clear();
    this.#held = 0;
    this.#parked.clear();
    this.#reserved.drain((b) => {
      if (b.state === "open") b.retire("committed");
    });
    this.#stopReconfiguring();
    for (const end of this.#ends()) end.destroy(error);
    this.#wakeReaders();
  }

  /** Every end this connection has open. */
  #ends(): Set<TransportEnd> {
    const ends = new Set<TransportEnd>([this.#wt, this.#rt]);
    if (this.#nextRead !== undefined) ends.add(this.#nextRead.end);
    for (const r of this.#retiring) ends.add(r.end);
    for (const end of this.#toClose) ends.add(end);
    return ends;
  }

  #stopReconfiguring(): void {
    if (this.#tick !== undefined) clearInterval(this.#tick);
    for (const r of this.#retiring) clearTimeout(r.timer);
    this.#ctl?.close();
  }
}

/** Whether the records left on `end` (a path its peer closed) include an ABORT. */
function abortedIn(end: TransportEnd): boolean {
  try {
    for (let r = end.next(); r !== null; r = end.next()) {
      const abort = (r.flags & RECORD_CONTROL) !== 0 && r.bytes.length === 1 && r.bytes[0] === CTL_ABORT;
      end.free();
      if (abort) return true;
    }
  } catch {
    // failed rather than closed: nothing more to read
  }
  return false;
}

/**
 * A reconfigurable connection over `end`: the side with role "listener" opens the resume
 * endpoint and tells the peer; resolves once both ends know it (see reconfigure.ts).
 */
export async function openReconfigurable(
  end: TransportEnd,
  options: ReconfigureOptions,
  connection: Omit<ConnectionOptions, "reconfigure"> = {},
): Promise<Connection> {
  const conn = new Connection(end, { ...connection, reconfigure: options });
  try {
    await conn.ready;
  } catch (err) {
    conn.destroy(err as Error);
    throw err;
  }
  return conn;
}
