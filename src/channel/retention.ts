/**
 * Copies of the records a reconfigurable connection published, kept until the peer acknowledges
 * them, so that a path dying abruptly loses nothing: they are re-sent on the next path and the
 * reader drops what it already has by sequence number. One entry per sequence number from `base`;
 * a reservation not yet committed holds its place (unfilled) so entries stay in order. Only
 * reconfigurable connections have one: a plain connection copies nothing.
 *
 * This is on the hot path of every message, so it allocates nothing per record: entries are
 * numbers in typed-array rings (slab, offset, length, flags), and payload copies go into slabs
 * that start at FIRST_SLAB_BYTES and double up to SLAB_BYTES (a record above a quarter of that gets
 * a slab of its own). A slab is dropped once every record in it was acknowledged, except one
 * SLAB_BYTES slab kept for reuse. (With one object and one ArrayBuffer per record, kept a few ms
 * until acknowledged, the garbage collector took a quarter of a message's time in a profile; a
 * whole 1 MiB slab and 1,024 entries for every connection made a listener of short connections
 * spend its time zeroing memory and collecting it.)
 *
 * Over a ring (shm, sab) nothing is copied at first: a published record stays in the writer's own
 * mapping of the ring until the peer frees it, and the peer frees a whole-message record only once
 * its application released it, which is behind any point it could ask to resume from. (Not so a
 * fragment: it is freed as it is reassembled, and the resume point counts a message from its
 * first fragment; fragments are copied.) So refer() keeps the view,
 * and materialize() copies what is still kept into slabs just before the ring goes (its end calls
 * it on close, destroy or failure, before unmapping). A peer that frees early only gets back, on a
 * resume, bytes of its own ring: never memory outside it.
 */

import { CACHED_VIEW_MAX_BYTES } from "../ring/view-cache.js";

export interface KeptRecord {
  readonly seq: number;
  readonly bytes: Uint8Array;
  readonly flags: number;
}

const SLAB_BYTES = 1024 * 1024;
const FIRST_SLAB_BYTES = 4096;
const FIRST_ENTRIES = 64;

/** Stands for "in the view of #view, not copied" in #slabOf. */
const IN_PLACE: Slab = { bytes: new Uint8Array(0), live: 0, used: 0, lent: true };

/** A slab of copies, with how many kept records it holds. */
interface Slab {
  readonly bytes: Uint8Array;
  live: number;
  used: number;
  /** from() handed out views of it (a resend may hold them past the acknowledgement): never reused. */
  lent?: true;
}

export class Retention {
  /** Sequence number of the oldest entry. */
  base = 0;
  /** Payload bytes kept. */
  bytes = 0;
  readonly #limit: number;
  #waiting: (() => void)[] = [];
  // Entry ring: entry for seq s is at ((s - base + head) & mask). An entry's slab is undefined
  // while its place is reserved and not filled.
  #head = 0;
  #count = 0;
  #slabOf: (Slab | undefined)[] = new Array<Slab | undefined>(FIRST_ENTRIES).fill(undefined);
  #offset = new Int32Array(FIRST_ENTRIES);
  #length = new Int32Array(FIRST_ENTRIES);
  #flags = new Int32Array(FIRST_ENTRIES);
  /**
   * A record kept IN_PLACE (refer()): a small one's view (the ring's view cache keeps it anyway), a
   * larger one's buffer with its offset in #offset. A fresh view per 4 KiB message, kept until
   * acknowledged (5 ms), outlived young-generation collections, which copied and promoted
   * thousands of them: with the buffer instead, a 4 KiB shm stream had 86-93 stalls over 1 ms in
   * 2 s instead of 154-175 (bench:reconfigure's baseline, old and new builds interleaved).
   */
  #view: (Uint8Array | ArrayBufferLike | undefined)[] = new Array<Uint8Array | ArrayBufferLike | undefined>(
    FIRST_ENTRIES,
  ).fill(undefined);
  /** Entries kept IN_PLACE: materialize() has work only when this is above 0. */
  #inPlace = 0;
  #current: Slab | undefined;
  /** Bytes of the next slab made. */
  #slabBytes = FIRST_SLAB_BYTES;
  /** One emptied slab kept for reuse: a steady stream then allocates (and collects) none. */
  #spare: Slab | undefined;

  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  /** Records kept as the transport's views (refer()), not copied. */
  get inPlace(): number {
    return this.#inPlace;
  }

  /** More than the limit is kept: the writer waits for acknowledgements. */
  get full(): boolean {
    return this.bytes > this.#limit;
  }

  /** Resolves once an acknowledgement brought the copies under the limit. */
  room(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #at(i: number): number {
    return (this.#head + i) & (this.#slabOf.length - 1);
  }

  /** Holds the place of `seq` (the next number) until fill(). */
  reserve(seq: number): void {
    if (seq !== this.base + this.#count) throw new RangeError(`retention: seq ${seq} out of order`);
    if (this.#count === this.#slabOf.length) this.#grow();
    this.#slabOf[this.#at(this.#count)] = undefined;
    this.#count++;
  }

  #grow(): void {
    const size = this.#slabOf.length * 2;
    const slabOf = new Array<Slab | undefined>(size).fill(undefined);
    const views = new Array<Uint8Array | ArrayBufferLike | undefined>(size).fill(undefined);
    for (let i = 0; i < this.#count; i++) {
      slabOf[i] = this.#slabOf[this.#at(i)];
      views[i] = this.#view[this.#at(i)];
    }
    const move = (old: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
      const next = new Int32Array(size);
      for (let i = 0; i < this.#count; i++) next[i] = old[this.#at(i)] as number;
      return next;
    };
    this.#offset = move(this.#offset);
    this.#length = move(this.#length);
    this.#flags = move(this.#flags);
    this.#slabOf = slabOf;
    this.#view = views;
    this.#head = 0;
  }

  /**
   * Keeps a copy of `n` bytes of `source` from `start` (copied here: the caller's view is transport
   * memory) as record `seq`.
   */
  fill(seq: number, source: Uint8Array, start: number, n: number, flags: number): void {
    const i = seq - this.base;
    if (i < 0 || i >= this.#count) return; // acknowledged already (cannot be: it was unpublished)
    const at = this.#at(i);
    this.#copyIn(at, source, start, n);
    this.#length[at] = n;
    this.#flags[at] = flags;
    this.bytes += n;
  }

  /**
   * Keeps record `seq` as `view` itself, its first `n` bytes (transport memory that stays put until
   * materialize(): see the module comment).
   */
  refer(seq: number, view: Uint8Array, n: number, flags: number): void {
    const i = seq - this.base;
    if (i < 0 || i >= this.#count) return;
    const at = this.#at(i);
    this.#slabOf[at] = IN_PLACE;
    if (n <= CACHED_VIEW_MAX_BYTES) this.#view[at] = view;
    else {
      this.#view[at] = view.buffer;
      this.#offset[at] = view.byteOffset;
    }
    this.#length[at] = n;
    this.#flags[at] = flags;
    this.#inPlace++;
    this.bytes += n;
  }

  /** Copies every record kept in place into slabs: the memory they view is about to go. */
  materialize(): void {
    for (let i = 0; i < this.#count && this.#inPlace > 0; i++) {
      const at = this.#at(i);
      if (this.#slabOf[at] !== IN_PLACE) continue;
      const n = this.#length[at] as number;
      const view = this.#inPlaceView(at, n);
      this.#view[at] = undefined;
      this.#inPlace--;
      this.#copyIn(at, view, 0, n);
    }
  }

  /** The first `n` bytes of entry `at`, kept IN_PLACE. */
  #inPlaceView(at: number, n: number): Uint8Array {
    const kept = this.#view[at] as Uint8Array | ArrayBufferLike;
    return ArrayBuffer.isView(kept) ? kept.subarray(0, n) : new Uint8Array(kept, this.#offset[at] as number, n);
  }

  /** Copies `n` bytes of `source` from `start` into a slab, as entry `at`'s. */
  #copyIn(at: number, source: Uint8Array, start: number, n: number): void {
    let slab: Slab;
    let offset = 0;
    if (n > SLAB_BYTES / 4) {
      slab = { bytes: source.slice(start, start + n), live: 0, used: n };
    } else {
      let current = this.#current;
      if (current === undefined || current.used + n > current.bytes.length) {
        if (current?.live === 0 && current.lent === undefined && current.bytes.length === SLAB_BYTES) {
          this.#spare ??= current;
        }
        current = this.#spare ?? this.#newSlab(n);
        if (current === this.#spare) this.#spare = undefined;
        current.used = 0;
        this.#current = current;
      }
      offset = current.used;
      // A view of the part only when it is not the whole (no allocation on the usual path).
      current.bytes.set(start !== 0 || n !== source.length ? source.subarray(start, start + n) : source, offset);
      current.used += (n + 7) & ~7; // 8-byte aligned copies
      slab = current;
    }
    slab.live++;
    this.#slabOf[at] = slab;
    this.#offset[at] = offset;
  }

  /** A fresh slab for records of at most SLAB_BYTES / 4: the next size, then the one after is twice it. */
  #newSlab(n: number): Slab {
    const size = Math.max(this.#slabBytes, n);
    this.#slabBytes = Math.min(SLAB_BYTES, this.#slabBytes * 2);
    return { bytes: new Uint8Array(size), live: 0, used: 0 };
  }

  /** Drops the copy at ring index `at` (filled). */
  #drop(at: number): void {
    const slab = this.#slabOf[at] as Slab;
    this.#slabOf[at] = undefined;
    this.bytes -= this.#length[at] as number;
    if (slab === IN_PLACE) {
      this.#view[at] = undefined;
      this.#inPlace--;
      return;
    }
    // An emptied standard slab (not the one being filled) is kept for reuse if none is.
    if (--slab.live === 0 && slab !== this.#current && slab.bytes.length === SLAB_BYTES && slab.lent === undefined) {
      this.#spare ??= slab;
    }
  }

  /** The peer has every record before `seq`: their copies go. */
  ack(seq: number): void {
    while (this.base < seq && this.#count > 0) {
      const at = this.#head;
      if (this.#slabOf[at] === undefined) break;
      this.#drop(at);
      this.#head = (this.#head + 1) & (this.#slabOf.length - 1);
      this.#count--;
      this.base++;
    }
    if (!this.full && this.#waiting.length > 0) {
      const waiting = this.#waiting;
      this.#waiting = [];
      for (const w of waiting) w();
    }
  }

  /** Drops the places from `seq` on (reservations that died with their path). */
  truncate(seq: number): void {
    const keep = Math.max(0, seq - this.base);
    for (let i = keep; i < this.#count; i++) {
      const at = this.#at(i);
      if (this.#slabOf[at] !== undefined) this.#drop(at);
    }
    this.#count = Math.min(this.#count, keep);
  }

  /** The published copies from `seq` on, in order (made on demand: a resume is rare). */
  *from(seq: number): Generator<KeptRecord> {
    for (let i = seq - this.base; i < this.#count; i++) {
      const at = this.#at(i);
      const slab = this.#slabOf[at];
      if (slab === undefined) return;
      const length = this.#length[at] as number;
      let bytes: Uint8Array;
      if (slab === IN_PLACE) bytes = this.#inPlaceView(at, length);
      else {
        slab.lent = true;
        const offset = this.#offset[at] as number;
        bytes = slab.bytes.subarray(offset, offset + length);
      }
      yield { seq: this.base + i, bytes, flags: this.#flags[at] as number };
    }
  }
}
