import assert from "node:assert/strict";
import { test } from "node:test";
import { CACHED_VIEW_MAX_BYTES, ViewCache, VIEWS_BEFORE_GROWING } from "../../src/ring/view-cache.js";

test("view cache: views anywhere in the ring (the table grows to them) see the right bytes, and repeat per slot", () => {
  const ring = 1 << 20;
  const base = 128;
  const buffer = new ArrayBuffer(base + ring);
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
  const cache = new ViewCache(buffer, base, ring);
  // A stream of small records past the first table (the first few views there do not grow it)...
  for (let i = 0; i < VIEWS_BEFORE_GROWING; i++) cache.view(ring - 64 * (i + 1), 16);
  // ...then far slots (the table must grow past its first size at once), near ones, and a lap.
  const offsets = [ring - 64, 64 * 1000, 0, 64, 4096, ring / 2, ring - 128];
  for (const lap of [0, 1]) {
    for (const offset of offsets) {
      const length = 16 + (offset % 40);
      const v = cache.view(offset, length);
      assert.equal(v.byteOffset, base + offset);
      assert.equal(v.length, length);
      assert.equal(v[0], ((base + offset) * 31) & 0xff);
      if (lap === 1) assert.equal(cache.view(offset, length), v, "a slot's view is reused");
    }
  }
  // Another length at the same offset is another view; large payloads are never cached.
  assert.notEqual(cache.view(0, 17), cache.view(0, 18));
  const big = cache.view(0, CACHED_VIEW_MAX_BYTES + 1);
  assert.notEqual(cache.view(0, CACHED_VIEW_MAX_BYTES + 1), big);
});

test("view cache: a switch's few small records far into the ring do not grow the table; a stream of them does", () => {
  const ring = 1 << 20;
  const buffer = new ArrayBuffer(ring);
  const cache = new ViewCache(buffer, 0, ring);
  const first = cache.tableSlots;
  // A switch's offer, epoch-end marker and an acknowledgement after a stream of large records:
  // views of their own, no table of 16,384 slots.
  const offer = cache.view(ring - 8192, 160);
  const marker = cache.view(ring - 4096, 16);
  assert.equal(offer.byteOffset, ring - 8192);
  assert.equal(marker.byteOffset, ring - 4096);
  for (let i = 2; i < VIEWS_BEFORE_GROWING; i++) cache.view(ring - 4096 + 64 * (i % 8), 16);
  assert.equal(cache.tableSlots, first);
  // Small records that keep coming out there: the table grows to them, and their views are reused.
  const v = cache.view(ring / 2, 16);
  assert.ok(cache.tableSlots > (ring / 2) >> 6, `table of ${cache.tableSlots} slots`);
  assert.equal(cache.view(ring / 2, 16), v);
});
