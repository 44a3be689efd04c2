/**
 * What every transport end shares, so each one enforces the contract of transport.ts the same way:
 * argument checks for reserve/publish (with the same errors), the life cycle of an end (open,
 * closed by this side, peer closed, failed) with its pending readable()/writable() promises, and a
 * small FIFO queue. Imports only transport.ts and errors.ts.
 */
import { UsageError } from "../errors.js";
import { RECORD_FLAGS_MASK, type Trust, TransportError } from "./transport.js";

/** Default largest payload of one record: the channel fragments larger messages. */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** Upper bound of maxRecordBytes: one record is one allocation, and lengths travel as u32. */
export const MAX_RECORD_BYTES_LIMIT = 1024 * 1024 * 1024;

export function checkTrust(trust: Trust | undefined): Trust {
  if (trust === undefined) return "trusted";
  if (trust !== "trusted" && trust !== "untrusted") {
    throw new UsageError(`trust must be "trusted" or "untrusted", not ${JSON.stringify(trust)}`);
  }
  return trust;
}

/** A whole number option in [min, max]; `fallback` when absent. */
export function checkCount(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}, not ${String(value)}`);
  }
  return value;
}

export function checkReserve(label: string, bytes: number, maxRecordBytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new UsageError(`${label}: reserve(${String(bytes)}): the size must be a whole number of bytes >= 0`);
  }
  if (bytes > maxRecordBytes) {
    throw new TransportError(
      "ETOOBIG",
      `${label}: reserve(${bytes}) exceeds maxRecordBytes (${maxRecordBytes}); fragment larger messages`,
    );
  }
}

/** Checks publish() arguments against the oldest reservation of `reserved` bytes. */
export function checkPublish(label: string, length: number, reserved: number, flags: number, seq: number): void {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new UsageError(`${label}: publish(length ${String(length)}): the length must be a whole number >= 0`);
  }
  if (length > reserved) {
    throw new TransportError("ETOOBIG", `${label}: publish(length ${length}) exceeds the ${reserved} bytes reserved`);
  }
  if (!Number.isInteger(flags) || (flags & ~RECORD_FLAGS_MASK) !== 0 || flags < 0) {
    throw new UsageError(`${label}: publish(flags ${String(flags)}): flags must fit RECORD_FLAGS_MASK (0xff)`);
  }
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) {
    throw new UsageError(`${label}: publish(seq ${String(seq)}): pass the low 32 bits of the sequence number`);
  }
}

export function nothingOutstanding(label: string, op: "publish" | "free"): TransportError {
  const what = op === "publish" ? "no reservation is waiting to be published" : "no record returned by next() is held";
  return new TransportError("EORDER", `${label}: ${op}() with nothing outstanding: ${what}`);
}

/** Promises of callers waiting for one condition; settled all at once. */
export class Waiters {
  private list: { resolve: () => void; reject: (error: Error) => void }[] = [];

  get size(): number {
    return this.list.length;
  }

  wait(): Promise<void> {
    return new Promise((resolve, reject) => this.list.push({ resolve, reject }));
  }

  resolveAll(): void {
    if (this.list.length === 0) return;
    const list = this.list;
    this.list = [];
    for (const w of list) w.resolve();
  }

  rejectAll(error: Error): void {
    if (this.list.length === 0) return;
    const list = this.list;
    this.list = [];
    for (const w of list) w.reject(error);
  }
}

/**
 * The life cycle of one end: open until this side closes or destroys it, or until it fails (the
 * peer died or broke the protocol). The peer closing is a separate fact: reading goes on until the
 * last record, writing stops (nobody would read it).
 */
export class EndState {
  failure: TransportError | undefined;
  closed = false;
  peerClosed = false;
  readonly readers = new Waiters();
  readonly writers = new Waiters();

  constructor(readonly label: string) {}

  /** The error an operation must throw now, or undefined when the end may be used. */
  unusable(op: string): TransportError | undefined {
    if (this.failure !== undefined) return this.failure;
    if (this.closed) return new TransportError("ECLOSED", `${this.label}: ${op}() after close() or destroy()`);
    return undefined;
  }

  /** Like unusable(), and also refuses to write once the peer has closed. */
  unwritable(op: string): TransportError | undefined {
    const error = this.unusable(op);
    if (error !== undefined || !this.peerClosed) return error;
    return new TransportError(
      "ECLOSED",
      `${this.label}: ${op}(): the peer closed this path; nothing written would be read`,
    );
  }

  check(op: string): void {
    const error = this.unusable(op);
    if (error !== undefined) throw error;
  }

  checkWrite(op: string): void {
    const error = this.unwritable(op);
    if (error !== undefined) throw error;
  }

  /** Records the first failure and rejects every pending wait with it; false if already failed or closed. */
  fail(error: TransportError): boolean {
    if (this.failure !== undefined || this.closed) return false;
    this.failure = error;
    this.readers.rejectAll(error);
    this.writers.rejectAll(error);
    return true;
  }

  /** This side closes (error given: destroy(error)); false if it was closed already. */
  close(error?: Error): boolean {
    if (this.closed) return false;
    this.closed = true;
    if (error !== undefined && this.failure === undefined) {
      this.failure =
        error instanceof TransportError
          ? error
          : new TransportError("ECLOSED", `${this.label}: destroyed: ${error.message}`, { cause: error });
    }
    // (No error, with its stack, is made when nobody waits: the usual close, e.g. a path retired by a switch.)
    if (this.readers.size + this.writers.size === 0) return true;
    const reason = this.failure ?? new TransportError("ECLOSED", `${this.label}: closed while waiting`);
    this.readers.rejectAll(reason);
    this.writers.rejectAll(reason);
    return true;
  }

  /** The peer closed: pending writers learn it, pending readers wake to find the end. */
  peerClose(): void {
    if (this.peerClosed) return;
    this.peerClosed = true;
    const error = this.unwritable("writable");
    if (error !== undefined) this.writers.rejectAll(error);
    this.readers.resolveAll();
  }
}

/**
 * FIFO queue on a growable power-of-two ring: nothing is allocated per item once it has grown.
 * Transports and connections touch one per message, where Array#shift (O(n) on large arrays) and
 * a Map cost more than a shared-memory transport itself (`npm run bench:channel`: what a
 * Connection adds per 64 B message fell from 157-177 to 41-66 ns without them).
 */
export class Deque<T> {
  private items: (T | undefined)[] = new Array<T | undefined>(16).fill(undefined);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) & (this.items.length - 1)] = item;
    this.count++;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** The i-th item from the oldest (0), or undefined past either end. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.count) return undefined;
    return this.items[(this.head + i) & (this.items.length - 1)];
  }

  /** Replaces the i-th item from the oldest; i must be below length. */
  set(i: number, item: T): void {
    if (i < 0 || i >= this.count) throw new RangeError(`Deque.set(${i}) outside 0..${this.count - 1}`);
    this.items[(this.head + i) & (this.items.length - 1)] = item;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.count--;
    return item;
  }

  /** Removes every item, oldest first, handing each to `fn`. */
  drain(fn: (item: T) => void): void {
    while (this.count > 0) fn(this.shift() as T);
  }

  clear(): void {
    this.items = new Array<T | undefined>(16).fill(undefined);
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    const bigger = new Array<T | undefined>(this.items.length * 2).fill(undefined);
    for (let i = 0; i < this.count; i++) bigger[i] = this.items[(this.head + i) & (this.items.length - 1)];
    this.items = bigger;
    this.head = 0;
  }
}

/**
 * Marks a server as fable's own (a rendezvous, a transport's listener, the daemon's sockets):
 * transparent mode (src/compat/transparent.ts) registers the servers an application listens on,
 * never these. A symbol in the global registry, so one check serves every copy of this module.
 */
export const INTERNAL_SERVER: unique symbol = Symbol.for("fable.internal-server") as never;

export function internalServer<T extends object>(server: T): T {
  (server as { [INTERNAL_SERVER]?: true })[INTERNAL_SERVER] = true;
  return server;
}
