/**
 * The `memory` transport: both ends in one thread, for tests, in-process services and as the
 * reference implementation of the contract (transport.ts).
 *
 * Each direction is a lane of records in private memory. `reserve(n)` hands out a view of a slab
 * the writer fills; in trusted mode the reader gets that very view (zero copy, so sharedMemory is
 * true); in untrusted mode next() returns a private copy. A lane holds at most `capacityBytes`
 * (reserved, published and held records, plus a small per-record charge so empty records count
 * too); beyond that reserve() returns null until the reader frees. A lane that holds nothing but
 * this writer's own reservations always accepts one more record up to maxRecordBytes, so a record
 * larger than the capacity still goes through.
 *
 * A slab region is never reused: a record's bytes stay unchanged until the garbage collector takes
 * them, long after free().
 *
 * publishExternal() carries bytes the writer does not own (a connection forwarding another one's
 * read buffer) by reference; each such record's onFree runs once, when the reader frees it or when
 * the record is dropped (this lane's reader closed, or either end destroyed).
 */
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
import { type InRecord, type Trust, TransportError, type TransportEnd } from "./transport.js";

export interface MemoryOptions {
  readonly trust?: Trust;
  /** Largest payload of one record; default 16 MiB. */
  readonly maxRecordBytes?: number;
  /** Bytes one direction holds before reserve() returns null; default 1 MiB. */
  readonly capacityBytes?: number;
}

export const DEFAULT_MEMORY_CAPACITY_BYTES = 1024 * 1024;
/** Charged per record against the capacity, so a stream of empty records meets back-pressure too. */
const RECORD_CHARGE = 16;
const SLAB_BYTES = 64 * 1024;
/** Reservations above this get their own allocation instead of a slab region. */
const SLAB_MAX_RECORD = SLAB_BYTES / 4;

/** Two connected ends: what `a` publishes `b` reads, and back. */
export function memoryPair(options: MemoryOptions = {}): [TransportEnd, TransportEnd] {
  const trust = checkTrust(options.trust);
  const max = checkCount("maxRecordBytes", options.maxRecordBytes, DEFAULT_MAX_RECORD_BYTES, 1, MAX_RECORD_BYTES_LIMIT);
  const capacity = checkCount("capacityBytes", options.capacityBytes, DEFAULT_MEMORY_CAPACITY_BYTES, 1, 2 ** 40);
  const ab = new Lane(capacity);
  const ba = new Lane(capacity);
  const a = new MemoryEnd("memory (a)", trust, max, ab, ba);
  const b = new MemoryEnd("memory (b)", trust, max, ba, ab);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** One direction: the writer's reservations, then published records, then those the reader holds. */
class Lane {
  readonly reserved = new Deque<Uint8Array>();
  readonly published = new Deque<InRecord>();
  /** Payload lengths of the records the reader holds (returned by next(), not yet freed). */
  readonly held = new Deque<number>();
  /** Beside `published` and `held`: an external record's onFree, else undefined. */
  readonly publishedFree = new Deque<(() => void) | undefined>();
  readonly heldFree = new Deque<(() => void) | undefined>();
  reservedBytes = 0;
  /** Published and held bytes, with their per-record charge. */
  queuedBytes = 0;
  /** Size (with charge) of the reservation that last met back-pressure. */
  blockedNeed = 0;
  private slab = new Uint8Array(0);
  private slabUsed = 0;

  constructor(readonly capacity: number) {}

  hasRoomFor(charge: number): boolean {
    return this.queuedBytes === 0 || this.queuedBytes + this.reservedBytes + charge <= this.capacity;
  }

  allocate(bytes: number): Uint8Array {
    if (bytes > SLAB_MAX_RECORD) return new Uint8Array(bytes);
    if (this.slabUsed + bytes > this.slab.length) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const view = this.slab.subarray(this.slabUsed, this.slabUsed + bytes);
    this.slabUsed += bytes;
    return view;
  }

  /** The newest reservation was published shorter: give its tail back to the slab. */
  shrinkNewest(view: Uint8Array, length: number): void {
    if (view.buffer === this.slab.buffer && view.byteOffset + view.length === this.slabUsed) {
      this.slabUsed = view.byteOffset + length;
    }
  }

  dropReservations(): void {
    this.reserved.clear();
    this.reservedBytes = 0;
  }

  /** Drops every published and held record, running the onFree of external ones. */
  dropRecords(): void {
    this.published.clear();
    this.held.clear();
    this.queuedBytes = 0;
    const frees: (() => void)[] = [];
    const keep = (f: (() => void) | undefined): void => {
      if (f !== undefined) frees.push(f);
    };
    this.heldFree.drain(keep);
    this.publishedFree.drain(keep);
    for (const f of frees) f();
  }
}

class MemoryEnd implements TransportEnd {
  readonly kind = "memory";
  readonly sharedMemory = true;
  peer!: MemoryEnd;
  private readonly state: EndState;

  constructor(
    label: string,
    readonly trust: Trust,
    readonly maxRecordBytes: number,
    private readonly outbound: Lane,
    private readonly inbound: Lane,
  ) {
    this.state = new EndState(label);
  }

  get ended(): boolean {
    return this.state.peerClosed && this.inbound.published.length === 0;
  }

  get failure(): TransportError | undefined {
    return this.state.failure;
  }

  reserve(bytes: number): Uint8Array | null {
    this.state.checkWrite("reserve");
    checkReserve(this.state.label, bytes, this.maxRecordBytes);
    const charge = bytes + RECORD_CHARGE;
    if (!this.outbound.hasRoomFor(charge)) {
      this.outbound.blockedNeed = charge;
      return null;
    }
    this.outbound.blockedNeed = 0;
    const view = this.outbound.allocate(bytes);
    this.outbound.reserved.push(view);
    this.outbound.reservedBytes += charge;
    return view;
  }

  publish(length: number, flags: number, seq: number): void {
    this.state.checkWrite("publish");
    const view = this.outbound.reserved.peek();
    if (view === undefined) throw nothingOutstanding(this.state.label, "publish");
    checkPublish(this.state.label, length, view.length, flags, seq);
    this.outbound.reserved.shift();
    this.outbound.reservedBytes -= view.length + RECORD_CHARGE;
    this.outbound.queuedBytes += length + RECORD_CHARGE;
    if (this.outbound.reserved.length === 0) this.outbound.shrinkNewest(view, length);
    this.outbound.published.push({ bytes: view.subarray(0, length), flags, seq });
    this.outbound.publishedFree.push(undefined);
    this.peer.state.readers.resolveAll();
  }

  publishExternal(bytes: Uint8Array, flags: number, seq: number, onFree: () => void): boolean {
    this.state.checkWrite("publishExternal");
    const lane = this.outbound;
    const charge = bytes.length + RECORD_CHARGE;
    if (lane.reserved.length > 0 || bytes.length > this.maxRecordBytes || !lane.hasRoomFor(charge)) return false;
    checkPublish(this.state.label, bytes.length, bytes.length, flags, seq);
    lane.queuedBytes += charge;
    lane.published.push({ bytes, flags, seq });
    lane.publishedFree.push(onFree);
    this.peer.state.readers.resolveAll();
    return true;
  }

  writable(): Promise<void> {
    const error = this.state.unwritable("writable");
    if (error !== undefined) return Promise.reject(error);
    if (this.outbound.hasRoomFor(this.outbound.blockedNeed)) return Promise.resolve();
    return this.state.writers.wait();
  }

  next(): InRecord | null {
    this.state.check("next");
    const record = this.inbound.published.shift();
    if (record === undefined) return null;
    this.inbound.held.push(record.bytes.length);
    this.inbound.heldFree.push(this.inbound.publishedFree.shift());
    if (this.trust === "trusted") return record;
    return { bytes: record.bytes.slice(), flags: record.flags, seq: record.seq };
  }

  free(): void {
    this.state.check("free");
    const length = this.inbound.held.shift();
    if (length === undefined) throw nothingOutstanding(this.state.label, "free");
    this.inbound.queuedBytes -= length + RECORD_CHARGE;
    this.inbound.heldFree.shift()?.();
    if (this.peer.state.writers.size > 0 && this.inbound.hasRoomFor(this.inbound.blockedNeed)) {
      this.peer.state.writers.resolveAll();
    }
  }

  readable(): Promise<void> {
    const error = this.state.unusable("readable");
    if (error !== undefined) return Promise.reject(error);
    if (this.inbound.published.length > 0 || this.state.peerClosed) return Promise.resolve();
    return this.state.readers.wait();
  }

  close(): void {
    if (!this.state.close()) return;
    // Published records stay for the peer to read; this end reads no more.
    this.outbound.dropReservations();
    this.inbound.dropRecords();
    if (this.state.failure === undefined) this.peer.state.peerClose();
  }

  destroy(error?: Error): void {
    const wasOpen = !this.state.closed && this.state.failure === undefined;
    if (!this.state.close(error)) return;
    this.outbound.dropReservations();
    this.inbound.dropRecords();
    // The peer fails and frees nothing more: what this end published is dropped too.
    this.outbound.dropRecords();
    if (wasOpen && !this.peer.state.closed) {
      this.peer.state.fail(new TransportError("EPEER", `${this.peer.state.label}: the peer end was destroyed`));
    }
  }
}
