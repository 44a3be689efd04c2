/**
 * The consumer side of one ring (layout in ./layout.ts). `next()` returns the next published
 * record or null; its bytes stay valid and unchanged until `free()` releases it. Records are
 * freed oldest first; several may be held at once.
 *
 * The reader keeps its own position and record number and never reads a position from shared
 * memory. It polls the size word at its position (0 until the writer publishes there), then reads
 * the rest of the header once, into locals, and checks every value before using it: the size is
 * a multiple of 16, at least a header, within the ring and not past its end; the record number
 * is the one expected (a stale or replayed header fails); the flags are a channel's or exactly a
 * pad's; a pad fills exactly the tail of the ring; the length fits the record and maxRecordBytes.
 * Any violation is a RingError EPROTOCOL, sticky: this reader is done, nothing else is touched.
 *
 * Copying ("untrusted" peers): the payload is copied to a private mirror of the ring (same
 * offsets) before it is handed out, so the writer can change nothing the application sees and
 * nothing is allocated per record. Without copying ("trusted"), `bytes` views the ring itself.
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
  recordSize,
  type RingMemory,
  STORE_IS_FULL_FENCE,
  W_DATA,
  W_READER_CLOSED,
  W_TAIL,
  W_WRITER_CLOSED,
  W_WRITER_SLEEPING,
} from "./layout.js";
import { ViewCache } from "./view-cache.js";
import { wakeSleeper } from "./wake.js";

/** One record handed out by next(). */
export class RingRecord {
  constructor(
    /** Payload: a view of the ring (trusted) or of private memory (copied). */
    readonly bytes: Uint8Array,
    /** The channel's flags (bits within DATA_FLAGS_MASK). */
    readonly flags: number,
    /** Low 32 bits of the channel's sequence number, as the writer gave it. */
    readonly seq: number,
  ) {}
}

/**
 * Payloads up to this size are copied word by word (a loop beats TypedArray.set's call and view
 * below a few hundred bytes); larger ones with TypedArray.set.
 */
const SMALL_COPY = 256;

export class RingReader {
  readonly memory: RingMemory;
  readonly maxRecordBytes: number;
  /** Payloads are copied to private memory before they are handed out. */
  readonly copies: boolean;
  readonly #words: Int32Array;
  readonly #buffer: ArrayBufferLike;
  readonly #dataByteOffset: number;
  readonly #capacity: number;
  readonly #mask: number;
  readonly #maxSize: number;
  readonly #mirror: Uint8Array | undefined;
  readonly #mirrorWords: Int32Array | undefined;
  /** Views handed out: of the mirror when copying, else of the ring. */
  readonly #views: ViewCache;
  /** The record area as words (for the small-payload copy). */
  readonly #dataWords: Int32Array;

  /** Position of the next record to return (free-running u32). */
  #position = 0;
  /** Word index of the size word at #position. */
  #at = W_DATA;
  /** Number the next record must carry (modulo 2^16). */
  #number = 0;
  /** Ends of the records handed out and not yet freed, oldest first (circular queue). */
  #held: Int32Array = new Int32Array(64);
  #heldHead = 0;
  #heldCount = 0;
  #ended = false;
  #aborted = false;
  #closed = false;
  #failure: RingError | undefined;
  /** The writer's wake socket (the end to ring when it sleeps for space), or -1. */
  readonly #wakeFd: number;

  /**
   * `wakeFd`: the other end of the writer's wake socket (src/ring/wake-socket.ts), where the
   * writer has one. `position` (tests only): where both sides of a fresh ring start, to exercise the u32 counter
   * wrapping without moving 4 GiB first; the writer must start at the same place.
   */
  constructor(memory: RingMemory, options: { copy: boolean; position?: number; wakeFd?: number }) {
    this.#wakeFd = options.wakeFd ?? -1;
    this.memory = memory;
    this.#words = memory.words;
    this.#buffer = memory.buffer;
    this.#dataByteOffset = memory.byteOffset + W_DATA * 4;
    this.#capacity = memory.capacity;
    this.#mask = memory.capacity - 1;
    this.maxRecordBytes = maxRecordBytes(memory.capacity);
    this.#maxSize = recordSize(this.maxRecordBytes);
    this.copies = options.copy;
    this.#position = (options.position ?? 0) | 0;
    this.#at = W_DATA + ((this.#position & this.#mask) >> 2);
    this.#mirror = options.copy ? new Uint8Array(memory.capacity) : undefined;
    this.#mirrorWords = this.#mirror === undefined ? undefined : new Int32Array(this.#mirror.buffer);
    this.#dataWords = new Int32Array(memory.buffer, this.#dataByteOffset, memory.capacity / 4);
    this.#views =
      this.#mirror === undefined
        ? new ViewCache(memory.buffer, this.#dataByteOffset, memory.capacity)
        : new ViewCache(this.#mirror.buffer, 0, memory.capacity);
  }

  /** Records handed out and not yet freed. */
  get held(): number {
    return this.#heldCount;
  }

  /** The writer closed the ring and every record before that has been returned. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The writer aborted (or wrote a corrupt closed flag) and every record before that was returned. */
  get aborted(): boolean {
    return this.#aborted;
  }

  get failure(): RingError | undefined {
    return this.#failure;
  }

  /** The writer marked the ring closed in order (records before that may still be unread). */
  get writerClosed(): boolean {
    return this.#words[W_WRITER_CLOSED] === CLOSED;
  }

  /** Word index of the size word next() looks at: what a spinning waiter polls. */
  get pollIndex(): number {
    return this.#at;
  }

  /** next() would return a record (or a pad), or the writer closed: worth waking up for. */
  ready(): boolean {
    const w = this.#words;
    return Atomics.load(w, this.#at) !== 0 || Atomics.load(w, W_WRITER_CLOSED) !== 0 || this.#failure !== undefined;
  }

  /** The cheap half of ready() for a spinning waiter: a record is there. */
  poll(): boolean {
    return Atomics.load(this.#words, this.#at) !== 0;
  }

  /**
   * Whether the writer aborted and nothing is left to read (what next() would find, without
   * consuming anything).
   */
  abortedAndEmpty(): boolean {
    if (this.#aborted) return true;
    const w = this.#words;
    // Advisory (the next call looks again), so plain loads: Atomics.load is a builtin call in V8.
    const closed = w[W_WRITER_CLOSED];
    return closed !== 0 && closed !== CLOSED && Atomics.load(w, this.#at) === 0 && this.#failure === undefined;
  }

  /** The next record, or null when none is published yet (or the ring ended: see `ended`). */
  next(): RingRecord | null {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw new RingError("ECLOSED", "next() on a closed ring reader");
    const w = this.#words;
    for (;;) {
      const off = this.#position & this.#mask;
      const at = this.#at;
      // A plain load first (Atomics.load is a builtin call in V8, ~9 ns): a non-zero size can
      // only be this lap's record (the writer cleared the word before publishing the record in
      // front of it, which this side has read). Zero is confirmed with Atomics.load, whose call
      // also keeps V8 from reusing an older plain load of the word when next() is polled in a loop.
      let size = w[at]!;
      if (size === 0) size = Atomics.load(w, at);
      if (size === 0) {
        // The writer sets its closed flag after its last publish: seen closed, a second look at
        // the size word is final. (A plain load after a builtin call: never an older value.)
        const closed = w[W_WRITER_CLOSED]!;
        if (closed !== 0 && !this.#ended && Atomics.load(w, at) === 0) {
          // Closed in order: the end. Aborted (or a corrupt value): no end, the writer is gone.
          if (closed === CLOSED) this.#ended = true;
          else this.#aborted = true;
        }
        return null;
      }
      // Every header value is read exactly once; only these locals are used from here on.
      const flags = w[at + H_FLAGS]!;
      const length = w[at + H_LENGTH]!;
      const seq = w[at + H_SEQ]!;
      const room = this.#capacity - off;
      if ((size & 15) !== 0 || size < HEADER_BYTES || size > room) {
        return this.#fail(`record size ${size} at offset ${off} (must be a multiple of 16, 16..${room})`);
      }
      if (flags >>> NUMBER_SHIFT !== this.#number) {
        return this.#fail(`record at offset ${off} is number ${flags >>> NUMBER_SHIFT}, expected ${this.#number}`);
      }
      if ((flags & ~(DATA_FLAGS_MASK | (0xffff << NUMBER_SHIFT))) !== 0) {
        if ((flags & 0xffff) !== FLAG_PAD || size !== room || off === 0 || size >= this.#maxSize || length !== 0) {
          return this.#fail(
            `record at offset ${off}: flags 0x${(flags & 0xffff).toString(16)}, size ${size}, length ${length} ` +
              `(a pad must fill the ring's tail exactly)`,
          );
        }
        // A pad: skip it. Its space is freed together with the record after it.
        this.#advance(size);
        continue;
      }
      if (length < 0 || length > this.maxRecordBytes || size > this.#maxSize || length + HEADER_BYTES > size) {
        return this.#fail(`record at offset ${off}: length ${length} does not fit its size ${size}`);
      }
      const from = off + HEADER_BYTES;
      const mirror = this.#mirror;
      if (mirror !== undefined) {
        if (length <= SMALL_COPY) {
          // Whole words: up to 3 bytes past the payload, still inside this record's slot
          // (records are padded to 16 bytes), so nothing outside it is read or written.
          const data = this.#dataWords;
          const copy = this.#mirrorWords!;
          for (let i = from >> 2, e = i + ((length + 3) >> 2); i < e; i++) copy[i] = data[i]!;
        } else {
          mirror.set(new Uint8Array(this.#buffer, this.#dataByteOffset + from, length), from);
        }
      }
      const bytes = this.#views.view(from, length);
      this.#advance(size);
      let held = this.#held;
      if (this.#heldCount === held.length) held = this.#growHeld();
      held[(this.#heldHead + this.#heldCount) & (held.length - 1)] = this.#position;
      this.#heldCount++;
      return new RingRecord(bytes, flags & DATA_FLAGS_MASK, seq >>> 0);
    }
  }

  /** Releases the oldest record returned by next(); its space goes back to the writer. */
  free(): void {
    if (this.#heldCount === 0) throw new RingError("EORDER", "free() with no record held: next() first");
    const held = this.#held;
    const end = held[this.#heldHead]!;
    this.#heldHead = (this.#heldHead + 1) & (held.length - 1);
    this.#heldCount--;
    if (this.#closed || this.#failure !== undefined) return;
    const w = this.#words;
    Atomics.store(w, W_TAIL, end);
    const sleeping = STORE_IS_FULL_FENCE ? w[W_WRITER_SLEEPING] : Atomics.load(w, W_WRITER_SLEEPING);
    if (sleeping !== 0) wakeSleeper(w, W_WRITER_SLEEPING, this.#wakeFd);
  }

  /** Tells the writer nobody reads any more (and wakes it if it waits for space). Idempotent. */
  close(abort = false): void {
    if (this.#closed) return;
    this.#closed = true;
    const w = this.#words;
    Atomics.store(w, W_READER_CLOSED, abort ? ABORTED : CLOSED);
    if (Atomics.load(w, W_WRITER_SLEEPING) !== 0) wakeSleeper(w, W_WRITER_SLEEPING, this.#wakeFd);
  }

  #advance(size: number): void {
    // Positions are int32 (wrapping like the u32 counters they are) so they stay small integers.
    this.#position = (this.#position + size) | 0;
    this.#at = W_DATA + ((this.#position & this.#mask) >> 2);
    this.#number = (this.#number + 1) & 0xffff;
  }

  #fail(what: string): never {
    this.#failure = new RingError(
      "EPROTOCOL",
      `ring protocol violation: ${what}; the writer is corrupt or hostile, this ring cannot be read any more`,
    );
    throw this.#failure;
  }

  #growHeld(): Int32Array {
    const old = this.#held;
    const held = new Int32Array(old.length * 2);
    for (let i = 0; i < this.#heldCount; i++) held[i] = old[(this.#heldHead + i) & (old.length - 1)]!;
    this.#heldHead = 0;
    this.#held = held;
    return held;
  }
}
