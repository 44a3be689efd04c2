/**
 * Copies of the records a reconfigurable connection published, kept until the peer acknowledges
 * them, so that a path dying abruptly loses nothing: they are re-sent on the next path and the
 * reader drops what it already has by sequence number. One entry per sequence number from `base`;
 * a reservation not yet committed holds its place (null) so entries stay in order. Only
 * reconfigurable connections have one: a plain connection copies nothing.
 */
import { Deque } from "../transports/common.js";

export interface KeptRecord {
  readonly seq: number;
  readonly bytes: Uint8Array;
  readonly flags: number;
}

export class Retention {
  /** Sequence number of the oldest entry. */
  base = 0;
  /** Payload bytes kept. */
  bytes = 0;
  readonly #limit: number;
  readonly #entries = new Deque<KeptRecord | null>();
  #waiting: (() => void)[] = [];

  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  /** More than the limit is kept: the writer waits for acknowledgements. */
  get full(): boolean {
    return this.bytes > this.#limit;
  }

  /** Resolves once an acknowledgement brought the copies under the limit. */
  room(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Holds the place of `seq` (the next number) until fill(). */
  reserve(seq: number): void {
    if (seq !== this.base + this.#entries.length) throw new RangeError(`retention: seq ${seq} out of order`);
    this.#entries.push(null);
  }

  fill(seq: number, bytes: Uint8Array, flags: number): void {
    const i = seq - this.base;
    if (i < 0 || i >= this.#entries.length) return; // acknowledged already (cannot be: it was unpublished)
    this.#entries.set(i, { seq, bytes, flags });
    this.bytes += bytes.length;
  }

  /** The peer has every record before `seq`: their copies go. */
  ack(seq: number): void {
    const entries = this.#entries;
    while (this.base < seq && entries.length > 0 && entries.peek() !== null) {
      this.bytes -= (entries.shift() as KeptRecord).bytes.length;
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
    const keep = seq - this.base;
    const rest: (KeptRecord | null)[] = [];
    for (let i = 0; i < keep; i++) rest.push(this.#entries.at(i) ?? null);
    this.#entries.clear();
    for (const r of rest) this.#entries.push(r);
    this.bytes = rest.reduce((n, r) => n + (r?.bytes.length ?? 0), 0);
  }

  /** The published copies from `seq` on, in order. */
  *from(seq: number): Generator<KeptRecord> {
    for (let i = seq - this.base; i < this.#entries.length; i++) {
      const r = this.#entries.at(i);
      if (r === null || r === undefined) return;
      yield r;
    }
  }
}
