import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { percentile, StatisticsError, summarize, thin } from "../../src/bench/statistics.js";

describe("statistics", () => {
  it("interpolates percentiles between ranks like numpy's default", () => {
    const s = [1, 2, 3, 4];
    assert.equal(percentile(s, 0), 1);
    assert.equal(percentile(s, 1), 4);
    assert.equal(percentile(s, 0.5), 2.5);
    // numpy.percentile([1,2,3,4], 90) == 3.7
    assert.ok(Math.abs(percentile(s, 0.9) - 3.7) < 1e-12);
    assert.equal(percentile([7], 0.99), 7);
  });

  it("summarises unsorted samples without changing them", () => {
    const samples = Float64Array.from([5, 1, 4, 2, 3]);
    const st = summarize(samples);
    assert.deepEqual([...samples], [5, 1, 4, 2, 3]);
    assert.equal(st.n, 5);
    assert.equal(st.min, 1);
    assert.equal(st.max, 5);
    assert.equal(st.p50, 3);
    assert.equal(st.mean, 3);
    assert.ok(Math.abs(st.stddev - Math.sqrt(2.5)) < 1e-12);
    assert.ok(Math.abs(st.cv - Math.sqrt(2.5) / 3) < 1e-12);
  });

  it("keeps tail percentiles ordered and exact on a known distribution", () => {
    const samples = Array.from({ length: 100_001 }, (_, i) => i); // 0..100000
    const st = summarize(samples);
    assert.equal(st.p50, 50_000);
    assert.equal(st.p90, 90_000);
    assert.equal(st.p99, 99_000);
    assert.equal(st.p999, 99_900);
    assert.ok(st.min <= st.p50 && st.p50 <= st.p90 && st.p90 <= st.p99 && st.p99 <= st.p999 && st.p999 <= st.max);
  });

  it("stays accurate for large, close values (no catastrophic cancellation)", () => {
    const base = 1e12;
    const st = summarize([base + 1, base + 2, base + 3]);
    assert.ok(Math.abs(st.stddev - 1) < 1e-6);
  });

  it("reports drift in the order the samples were taken", () => {
    const steady = Array.from({ length: 400 }, (_, i) => 100 + (i % 2));
    assert.ok(Math.abs(summarize(steady).drift) < 0.02);
    const slowing = Array.from({ length: 400 }, (_, i) => (i < 200 ? 100 : 150));
    // last-quarter median 150, first-quarter 100, overall median 125 (between the halves)
    assert.ok(Math.abs(summarize(slowing).drift - 0.4) < 1e-9, String(summarize(slowing).drift));
    assert.equal(summarize([1, 2, 3]).drift, 0);
  });

  it("rejects empty input, non-finite samples and bad ranks with a typed error", () => {
    assert.throws(() => summarize([]), StatisticsError);
    assert.throws(() => summarize([1, Number.NaN]), { code: "ESTATS", message: /sample 1/ });
    assert.throws(() => summarize([1, Infinity]), StatisticsError);
    assert.throws(() => percentile([1], 1.5), StatisticsError);
  });

  it("thins evenly and keeps both ends", () => {
    const s = Array.from({ length: 1000 }, (_, i) => i);
    const t = thin(s, 11);
    assert.deepEqual(t, [0, 100, 200, 300, 400, 500, 599, 699, 799, 899, 999]);
    assert.equal(t.length, 11);
    assert.deepEqual(thin([1, 2, 3], 10), [1, 2, 3]);
    assert.deepEqual(thin(s, 1), [0]);
  });
});
