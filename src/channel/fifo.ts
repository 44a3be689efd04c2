/**
 * A first-in first-out queue over a power-of-two ring of slots: nothing is allocated per item once
 * it has grown. A connection keeps one per direction, touched for every message; Array.shift and a
 * Map cost more there than the shared-memory transport under them (measured: 187 ns per message
 * through a Connection over sab, 60 ns of it the transport's).
 */
export class Fifo<T> {
  #items: (T | undefined)[];
  #head = 0;
  #count = 0;

  constructor(capacity = 16) {
    this.#items = new Array<T | undefined>(capacity).fill(undefined);
  }

  get length(): number {
    return this.#count;
  }

  push(item: T): void {
    if (this.#count === this.#items.length) this.#grow();
    const items = this.#items;
    items[(this.#head + this.#count) & (items.length - 1)] = item;
    this.#count++;
  }

  /** The i-th item from the oldest (0), or undefined past the end. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.#count) return undefined;
    const items = this.#items;
    return items[(this.#head + i) & (items.length - 1)];
  }

  /** Replaces the i-th item from the oldest; i must be below length. */
  set(i: number, item: T): void {
    if (i < 0 || i >= this.#count) throw new RangeError(`Fifo.set(${i}) outside 0..${this.#count - 1}`);
    const items = this.#items;
    items[(this.#head + i) & (items.length - 1)] = item;
  }

  shift(): T | undefined {
    if (this.#count === 0) return undefined;
    const items = this.#items;
    const item = items[this.#head];
    items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (items.length - 1);
    this.#count--;
    return item;
  }

  /** Removes every item, oldest first, handing each to `fn`. */
  drain(fn: (item: T) => void): void {
    while (this.#count > 0) fn(this.shift() as T);
  }

  #grow(): void {
    const old = this.#items;
    const items = new Array<T | undefined>(old.length * 2).fill(undefined);
    for (let i = 0; i < this.#count; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#head = 0;
    this.#items = items;
  }
}
