/** Retention: kept copies in typed-array rings and slabs, in sequence order, across growth and wrap-around. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Retention } from "../../src/channel/retention.js";
import { random } from "../kit/random.js";

test("retention: copies come back in order, byte for byte, whatever the fill order, growth, acks and truncation", () => {
  const rnd = random(7);
  const kept = new Retention(1 << 30);
  const payload = (seq: number, n: number): Uint8Array =>
    Uint8Array.from({ length: n }, (_, i) => (seq * 31 + i) & 0xff);
  let next = 0;
  let acked = 0;
  const sizes = new Map<number, number>();
  for (let round = 0; round < 400; round++) {
    // Reserve a batch, fill it in a shuffled order (commits may come out of order), ack part of it.
    const batch: number[] = [];
    for (let i = 0; i < 1 + Math.floor(rnd() * 40); i++) {
      kept.reserve(next);
      batch.push(next++);
    }
    batch.sort(() => rnd() - 0.5);
    for (const seq of batch) {
      const n = rnd() < 0.01 ? 300_000 : Math.floor(rnd() * 200);
      sizes.set(seq, n);
      // The source is transport memory: changing it after fill() must not change the copy.
      const source = payload(seq, n);
      kept.fill(seq, source, 0, n, seq & 3);
      source.fill(0);
    }
    acked = Math.min(next, acked + Math.floor(rnd() * 50));
    kept.ack(acked);
    assert.equal(kept.base, acked);
  }
  let bytes = 0;
  for (let s = acked; s < next; s++) bytes += sizes.get(s) ?? 0;
  assert.equal(kept.bytes, bytes);
  let seq = acked;
  for (const r of kept.from(acked)) {
    assert.equal(r.seq, seq);
    assert.equal(r.flags, seq & 3);
    assert.deepEqual(r.bytes, payload(seq, sizes.get(seq) ?? 0));
    seq++;
  }
  assert.equal(seq, next);
  // A reservation not filled stops from() there; truncation drops it and what follows.
  kept.reserve(next);
  kept.reserve(next + 1);
  kept.fill(next + 1, payload(next + 1, 8), 0, 8, 0);
  assert.equal([...kept.from(acked)].length, next - acked);
  kept.truncate(next);
  assert.equal(kept.bytes, bytes);
  kept.reserve(next);
  kept.fill(next, payload(next, 5), 0, 5, 1);
  kept.ack(next + 1);
  assert.equal(kept.bytes, 0);
  assert.equal([...kept.from(next + 1)].length, 0);
});

test("retention: over its limit it is full until acknowledgements bring it under", async () => {
  const kept = new Retention(100);
  for (let s = 0; s < 3; s++) {
    kept.reserve(s);
    kept.fill(s, new Uint8Array(70), 5, 60, 0);
  }
  assert.equal(kept.full, true);
  const room = kept.room();
  kept.ack(2);
  await room;
  assert.equal(kept.full, false);
});
