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

test("retention: records kept in place are the transport's bytes until materialize() copies them", () => {
  const kept = new Retention(1 << 30);
  // The ring starts 64 bytes into its memory (a region's header); small records and larger ones
  // (kept as the ring's buffer and an offset, not as their view) in turn.
  const ring = new Uint8Array(new ArrayBuffer(64 + 128 * 1024), 64, 128 * 1024);
  const size = (seq: number): number => (seq % 5 === 4 ? 2000 + seq : 16);
  let cursor = 0;
  for (let seq = 0; seq < 200; seq++) {
    kept.reserve(seq);
    const n = size(seq);
    if (cursor + n > ring.length) cursor = 0;
    const view = ring.subarray(cursor, cursor + n);
    cursor += n;
    view.fill(seq & 0xff);
    // Every third record is copied (a fragment, or a socket path's), the rest kept in place.
    if (seq % 3 === 0) kept.fill(seq, view, 0, n, 1);
    else kept.refer(seq, view, seq % 5 === 4 ? n - 7 : 10 + (seq % 6), 3);
  }
  const length = (seq: number): number => (seq % 3 === 0 ? size(seq) : seq % 5 === 4 ? size(seq) - 7 : 10 + (seq % 6));
  const check = (from: number, what: string): void => {
    let seq = from;
    for (const r of kept.from(from)) {
      assert.equal(r.seq, seq);
      assert.equal(r.flags, seq % 3 === 0 ? 1 : 3);
      assert.equal(r.bytes.length, length(seq));
      assert.ok(
        r.bytes.every((b) => b === (seq & 0xff)),
        `record ${seq} as it was (${what})`,
      );
      seq++;
    }
    assert.equal(seq, 200);
  };
  assert.equal(kept.inPlace, 200 - 67);
  check(0, "in place");
  kept.ack(50);
  assert.equal(kept.inPlace, 200 - 67 - 33, "acknowledged records in place are dropped");
  kept.materialize();
  assert.equal(kept.inPlace, 0);
  ring.fill(0xee); // the ring goes: the copies must not change
  check(50, "copied");
  assert.equal(
    kept.bytes,
    [...kept.from(50)].reduce((n, r) => n + r.bytes.length, 0),
  );
});
