/**
 * The producer side of one ring (layout in ./layout.ts). `reserve(n)` hands out payload space in
 * the ring itself; `publish(length, flags, seq)` makes the oldest reservation visible. Several
 * reservations may be outstanding; they are published in the order made.
 *
 * Publishing a record: write its header fields, clear the size word of the header slot right
 * after it (the reader polls that word next, and it may still hold a record of the previous lap),
 * and only then store the record's size with an atomic store: the reader, which polls the size
 * word at its position, can never run ahead into stale records. A reservation that does not fit
 * before the end of the ring starts with a pad record covering the tail; the pad is published
 * last, after the record at offset 0 behind it is complete.
 *
 * Space: the writer keeps one header slot beyond its last reservation free (the slot it clears),
 * so a reservation needs pad + record + 16 bytes behind the consumer position. The consumer
 * position is read from shared memory only when the cached one says the ring is full, and it is
 * checked (it may only move forward, up to what was published, in 16-byte steps), so a corrupt
 * reader cannot make this side's arithmetic go wrong; it can only lose its own records.
 *
 * The reader is woken only when its sleeping flag is set: after the size store (a sequentially
 * consistent atomic, so the flag load cannot be reordered before it) the writer loads the flag;
 * see ./wait.ts for why no wake-up is lost.
 */
import { RingError } from "./errors.js";
import {
  ABORTED,
  CLOSED,
  DATA_FLAGS_MASK,
  FLAG_PAD,
  H_FLAGS,
  H_LENGTH,
  H_SEQ,
  HEADER_BYTES,
  maxRecordBytes,
  NUMBER_SHIFT,
  type RingMemory,
  STORE_IS_FULL_FENCE,
  W_DATA,
  W_HEAD,
  W_READER_CLOSED,
  W_READER_SLEEPING,
  W_TAIL,
  W_WRITER_CLOSED,
} from "./layout.js";
import { ViewCache } from "./view-cache.js";
import { wakeSleeper } from "./wake.js";

export class RingWriter {
  readonly memory: RingMemory;
  readonly maxRecordBytes: number;
  readonly #words: Int32Array;
  readonly #views: ViewCache;
  readonly #capacity: number;
  readonly #mask: number;

  /** End of the last reservation (free-running, int32 so it stays a small integer; u32 arithmetic). */
  #reserved = 0;
  /** End of the last published record. */
  #published = 0;
  /** Consumer position last read from shared memory. */
  #tail = 0;
  /** Number of the next record (pads count), modulo 2^16 in the header. */
  #number = 0;
  /** Outstanding reservations, oldest first: [start, bytes] pairs in a circular queue. */
  #queue: Int32Array = new Int32Array(64);
  #queueHead = 0;
  #queueCount = 0;
  #closed = false;

  /** The reader's wake socket (the end to ring), or -1 (see RingReader's constructor). */
  readonly #wakeFd: number;

  /** `position`: see RingReader's constructor (tests only). */
  constructor(memory: RingMemory, options: { position?: number; wakeFd?: number } = {}) {
    this.#wakeFd = options.wakeFd ?? -1;
    this.memory = memory;
    this.#words = memory.words;
    this.#views = new ViewCache(memory.buffer, memory.byteOffset + W_DATA * 4, memory.capacity);
    this.#capacity = memory.capacity;
    this.#mask = memory.capacity - 1;
    this.maxRecordBytes = maxRecordBytes(memory.capacity);
    const position = (options.position ?? 0) | 0;
    this.#reserved = this.#published = this.#tail = position;
  }

  /** Reservations not yet published. */
  get outstanding(): number {
    return this.#queueCount;
  }

  /**
   * The reader closed its end: nothing published from now on will be read. Advisory (a plain
   * load: Atomics.load is a builtin call in V8, and a stale answer only delays the news).
   */
  get readerClosed(): boolean {
    return this.#words[W_READER_CLOSED] !== 0;
  }

  /** The reader's closed flag: OPEN, CLOSED, ABORTED (anything else is a corrupt peer's). */
  get readerState(): number {
    return Atomics.load(this.#words, W_READER_CLOSED);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Space for one record of `bytes` payload bytes, in the ring; null when the ring is full.
   * Throws ETOOBIG above maxRecordBytes, ECLOSED after close().
   */
  reserve(bytes: number): Uint8Array | null {
    if (!(bytes >>> 0 === bytes && bytes <= this.maxRecordBytes)) this.#badSize(bytes);
    if (this.#closed) throw new RingError("ECLOSED", "reserve() on a closed ring writer");
    const size = (bytes + HEADER_BYTES + 15) & ~15;
    const start = this.#reserved;
    const off = start & this.#mask;
    const room = this.#capacity - off;
    const pad = room < size ? room : 0;
    const need = pad + size + HEADER_BYTES;
    if (((start - this.#tail) >>> 0) + need > this.#capacity && !this.#refreshTail(start, need)) return null;
    let q = this.#queue;
    if (this.#queueCount * 2 === q.length) q = this.#growQueue();
    const slot = ((this.#queueHead + this.#queueCount) * 2) & (q.length - 1);
    q[slot] = start;
    q[slot + 1] = bytes;
    this.#queueCount++;
    this.#reserved = (start + pad + size) | 0;
    return this.#views.view((pad === 0 ? off : 0) + HEADER_BYTES, bytes);
  }

  /** Whether a reservation of `bytes` would succeed now (reads the consumer position). */
  hasRoom(bytes: number): boolean {
    const size = (Math.min(bytes, this.maxRecordBytes) + HEADER_BYTES + 15) & ~15;
    const start = this.#reserved;
    const room = this.#capacity - (start & this.#mask);
    const need = (room < size ? room : 0) + size + HEADER_BYTES;
    return ((start - this.#tail) >>> 0) + need <= this.#capacity || this.#refreshTail(start, need);
  }

  /**
   * Makes the oldest reservation visible with `length` payload bytes (<= its reserved size),
   * the channel's `flags` (bits within DATA_FLAGS_MASK) and `seq` (low 32 bits).
   */
  publish(length: number, flags: number, seq: number): void {
    if (this.#queueCount === 0) {
      throw new RingError("EORDER", "publish() with no outstanding reservation: reserve() first");
    }
    const q = this.#queue;
    const slot = this.#queueHead * 2;
    const start = q[slot]!;
    const bytes = q[slot + 1]!;
    if (!(
      length >>> 0 === length &&
      length <= bytes &&
      flags >>> 0 === flags &&
      flags <= DATA_FLAGS_MASK &&
      seq >>> 0 === seq
    )) {
      this.#badPublish(length, bytes, flags, seq);
    }
    this.#queueHead = (this.#queueHead + 1) & ((q.length >> 1) - 1);
    this.#queueCount--;

    const w = this.#words;
    const size = (bytes + HEADER_BYTES + 15) & ~15;
    const off = start & this.#mask;
    const room = this.#capacity - off;
    const pad = room < size ? room : 0;
    const end = (start + pad + size) | 0;
    const at = W_DATA + ((pad === 0 ? off : 0) >> 2);
    let number = this.#number;
    if (pad !== 0) number = (number + 1) & 0xffff;
    // Header fields, then the next slot's size word cleared, all before the size store.
    w[at + H_FLAGS] = flags | (number << NUMBER_SHIFT);
    w[at + H_LENGTH] = length;
    w[at + H_SEQ] = seq;
    w[W_DATA + ((end & this.#mask) >> 2)] = 0;
    Atomics.store(w, at, size);
    if (pad !== 0) {
      // The record at offset 0 is complete; the pad in front of it makes it reachable.
      const p = W_DATA + (off >> 2);
      w[p + H_FLAGS] = FLAG_PAD | (this.#number << NUMBER_SHIFT);
      w[p + H_LENGTH] = 0;
      w[p + H_SEQ] = 0;
      Atomics.store(w, p, pad);
    }
    this.#number = (number + 1) & 0xffff;
    this.#published = end;
    w[W_HEAD] = end; // informational: nobody relies on it
    const sleeping = STORE_IS_FULL_FENCE ? w[W_READER_SLEEPING] : Atomics.load(w, W_READER_SLEEPING);
    if (sleeping !== 0) wakeSleeper(w, W_READER_SLEEPING, this.#wakeFd);
  }

  /**
   * Ends writing: drops unpublished reservations, marks the ring closed after everything
   * published (or aborted: the reader fails instead of ending), and wakes the reader. Idempotent.
   */
  close(abort = false): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queueCount = 0;
    const w = this.#words;
    Atomics.store(w, W_WRITER_CLOSED, abort ? ABORTED : CLOSED);
    if (Atomics.load(w, W_READER_SLEEPING) !== 0) wakeSleeper(w, W_READER_SLEEPING, this.#wakeFd);
  }

  /** Reads the consumer position; true when `need` bytes from `start` are free. */
  #refreshTail(start: number, need: number): boolean {
    const tail = Atomics.load(this.#words, W_TAIL);
    const old = this.#tail;
    // The reader may only move forward, up to what was published, in 16-byte steps.
    if ((tail - old) >>> 0 > (this.#published - old) >>> 0 || (tail & 15) !== 0) {
      throw new RingError(
        "EPROTOCOL",
        `the ring's consumer position ${tail} is outside ${old}..${this.#published} (or unaligned): the reader is corrupt`,
      );
    }
    this.#tail = tail;
    return ((start - tail) >>> 0) + need <= this.#capacity;
  }

  #growQueue(): Int32Array {
    const old = this.#queue;
    const q = new Int32Array(old.length * 2);
    for (let i = 0; i < this.#queueCount; i++) {
      const from = ((this.#queueHead + i) * 2) & (old.length - 1);
      q[i * 2] = old[from]!;
      q[i * 2 + 1] = old[from + 1]!;
    }
    this.#queueHead = 0;
    this.#queue = q;
    return q;
  }

  /** Payload bytes of the oldest outstanding reservation (what publish() may fill), or -1. */
  get oldestReservation(): number {
    return this.#queueCount === 0 ? -1 : this.#queue[this.#queueHead * 2 + 1]!;
  }

  #badPublish(length: number, bytes: number, flags: number, seq: number): never {
    if (Number.isInteger(length) && length > bytes) {
      throw new RingError("ETOOBIG", `publish(length ${length}) exceeds the ${bytes} bytes reserved`);
    }
    throw new RingError(
      "EUSAGE",
      `publish(length ${length}, flags ${flags}, seq ${seq}): the length must be a whole number >= 0, flags fit ` +
        `0x${DATA_FLAGS_MASK.toString(16)}, seq is the low 32 bits of the sequence number`,
    );
  }

  #badSize(bytes: number): never {
    if (Number.isInteger(bytes) && bytes > this.maxRecordBytes) {
      throw new RingError(
        "ETOOBIG",
        `reserve(${bytes}): a record holds at most ${this.maxRecordBytes} bytes in this ring (fragment larger messages)`,
      );
    }
    throw new RingError("EUSAGE", `reserve(${bytes}): the size must be a non-negative integer`);
  }
}
