/**
 * Reuses the Uint8Array views a ring hands out for small records. Making a view costs about 15 ns
 * in V8 plus garbage to collect, and a stream of small records makes one per record on each side;
 * the young-generation collections that garbage causes (every few ms at millions of records per
 * second) pause a side for ~0.1 ms, long enough for an adaptive peer to fall asleep. A ring's
 * slots repeat lap after lap, so one view per slot serves every lap.
 *
 * A view handed out again for a later record of the same slot views the same bytes the old one
 * did: nothing changes for a caller that stops using a record's bytes once it is freed (or a
 * reservation once it is published), as the transport contract requires.
 */

/** Payloads above this get a fresh view: the view is then a small part of the record's cost. */
export const CACHED_VIEW_MAX_BYTES = 1024;
/** One cache entry per 64 bytes of ring: records of 48+ payload bytes never share one. */
const SLOT_SHIFT = 6;
/** Slots made at first; the table doubles as records reach further into the ring. */
const FIRST_SLOTS = 64;
/**
 * Views asked for past the table before it grows to them. A switch puts a few lone small records
 * far into a ring of large ones (its offer, its epoch-end marker, an acknowledgement): growing the
 * table to the whole ring's 16,384 slots for them took 0.1-1.4 ms inside the switch's pause, on
 * the initiator's marker (bench:reconfigure, block->spin). A stream of small records passes this
 * many in its first lap.
 */
export const VIEWS_BEFORE_GROWING = 32;

export class ViewCache {
  readonly #buffer: ArrayBufferLike;
  readonly #base: number;
  /** Slots of the whole ring: the table grows up to this. */
  readonly #maxSlots: number;
  #views: (Uint8Array | undefined)[];
  /**
   * Per slot, the offset and length of its cached view. Checking these instead of the view's own
   * byteOffset and length keeps the hit path free of calls: a typed array's byteOffset is a
   * builtin getter in V8 (it cost about a fifth of a small record's handling).
   */
  #keys: Int32Array;
  /** Views asked for past the table so far (the first few do not grow it: VIEWS_BEFORE_GROWING). */
  #beyond = 0;

  /**
   * Views of `buffer` from byte `base` over `bytes` bytes. The table starts small and grows with
   * the offsets used: a whole 1 MiB ring's (16,384 slots, 256 KiB of tables) made up front cost a
   * listener of short connections a quarter of its time in the constructor and the collector.
   */
  constructor(buffer: ArrayBufferLike, base: number, bytes: number) {
    this.#buffer = buffer;
    this.#base = base;
    this.#maxSlots = bytes >> SLOT_SHIFT;
    this.#views = [];
    this.#keys = new Int32Array(0);
    this.#grow(Math.min(FIRST_SLOTS, this.#maxSlots));
  }

  /** A view of `length` bytes at `offset` (relative to the base). */
  view(offset: number, length: number): Uint8Array {
    if (length > CACHED_VIEW_MAX_BYTES) return new Uint8Array(this.#buffer, this.#base + offset, length);
    const slot = offset >> SLOT_SHIFT;
    const keys = this.#keys;
    // A slot past the table reads undefined here: a miss, which grows the table.
    if (keys[slot * 2] === offset && keys[slot * 2 + 1] === length) return this.#views[slot]!;
    const view = new Uint8Array(this.#buffer, this.#base + offset, length);
    if (slot >= this.#views.length) {
      // Lone small records far into a ring of large ones do not grow the table (VIEWS_BEFORE_GROWING).
      if (slot >= this.#maxSlots || this.#beyond++ < VIEWS_BEFORE_GROWING) return view;
      let size = this.#views.length * 2;
      while (size <= slot) size *= 2;
      this.#grow(Math.min(size, this.#maxSlots));
    }
    this.#views[slot] = view;
    this.#keys[slot * 2] = offset;
    this.#keys[slot * 2 + 1] = length;
    return view;
  }

  /** @internal: slots in the table now (for tests). */
  get tableSlots(): number {
    return this.#views.length;
  }

  #grow(slots: number): void {
    const views = this.#views;
    for (let i = views.length; i < slots; i++) views.push(undefined); // packed, not holey
    const keys = new Int32Array(slots * 2).fill(-1);
    keys.set(this.#keys);
    this.#keys = keys;
  }
}
