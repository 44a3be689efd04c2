import assert from "node:assert/strict";
import { test } from "node:test";
import { CACHED_VIEW_MAX_BYTES, ViewCache } from "../../src/ring/view-cache.js";

test("view cache: views anywhere in the ring (the table grows to them) see the right bytes, and repeat per slot", () => {
  const ring = 1 << 20;
  const base = 128;
  const buffer = new ArrayBuffer(base + ring);
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
  const cache = new ViewCache(buffer, base, ring);
  // Far slots first (the table must grow past its first size at once), then near ones, then a lap.
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

test("view cache: one small record far into the ring does not grow the table; a second one does", () => {
  const ring = 1 << 20;
  const buffer = new ArrayBuffer(ring);
  const cache = new ViewCache(buffer, 0, ring);
  const first = cache.tableSlots;
  // A switch's 16-byte marker after a stream of large records: one view, no table of 16,384 slots.
  const marker = cache.view(ring - 4096, 16);
  assert.equal(marker.byteOffset, ring - 4096);
  assert.equal(cache.tableSlots, first);
  // Small records that keep coming out there: the table grows to them, and their views are reused.
  const v = cache.view(ring / 2, 16);
  assert.ok(cache.tableSlots > (ring / 2) >> 6, `table of ${cache.tableSlots} slots`);
  assert.equal(cache.view(ring / 2, 16), v);
});
