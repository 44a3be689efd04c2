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

export class ViewCache {
  readonly #buffer: ArrayBufferLike;
  readonly #base: number;
  readonly #views: (Uint8Array | undefined)[];
  /**
   * Per slot, the offset and length of its cached view. Checking these instead of the view's own
   * byteOffset and length keeps the hit path free of calls: a typed array's byteOffset is a
   * builtin getter in V8 (it cost about a fifth of a small record's handling).
   */
  readonly #keys: Int32Array;

  /** Views of `buffer` from byte `base` over `bytes` bytes. */
  constructor(buffer: ArrayBufferLike, base: number, bytes: number) {
    this.#buffer = buffer;
    this.#base = base;
    const slots = bytes >> SLOT_SHIFT;
    const views = new Array<Uint8Array | undefined>(slots);
    for (let i = 0; i < slots; i++) views[i] = undefined; // packed, not holey
    this.#views = views;
    this.#keys = new Int32Array(slots * 2).fill(-1);
  }

  /** A view of `length` bytes at `offset` (relative to the base). */
  view(offset: number, length: number): Uint8Array {
    if (length > CACHED_VIEW_MAX_BYTES) return new Uint8Array(this.#buffer, this.#base + offset, length);
    const slot = offset >> SLOT_SHIFT;
    const keys = this.#keys;
    if (keys[slot * 2] === offset && keys[slot * 2 + 1] === length) return this.#views[slot]!;
    const view = new Uint8Array(this.#buffer, this.#base + offset, length);
    this.#views[slot] = view;
    keys[slot * 2] = offset;
    keys[slot * 2 + 1] = length;
    return view;
  }
}
