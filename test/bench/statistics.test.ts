import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  percentile,
  StatisticsError,
  summarize,
  thin,
  THROUGHPUT_WINDOW_NS,
  throughputWindows,
} from "../../src/bench/statistics.js";

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

describe("throughput windows", () => {
  const KIB64 = 65536;

  it("gives a sleeping reader's real rate where per-batch rates give memory speed", () => {
    // A reader that sleeps 182 us, then drains 9 queued batches at 2 us each, 200 times: 40 ms in all.
    const cycle = [182_000, ...Array<number>(9).fill(2_000)];
    const batches = Array.from({ length: 200 }, () => cycle).flat();
    const rate = (batches.length * KIB64 * 1e9) / batches.reduce((a, b) => a + b, 0);
    const perBatch = summarize(batches.map((ns) => (KIB64 * 1e9) / ns));
    assert.ok(perBatch.p50 > 5 * rate, "the old statistic: the median batch ran at memory speed");
    const { rates, windowNs } = throughputWindows(batches, KIB64);
    assert.equal(windowNs, THROUGHPUT_WINDOW_NS);
    assert.equal(rates.length, 40);
    const w = summarize(rates);
    assert.ok(Math.abs(w.mean - rate) < 1e-9 * rate, `mean ${w.mean} vs ${rate}`);
    // A window holds 5 whole cycles whatever its phase: every window is the real rate.
    assert.ok(Math.abs(w.p50 - rate) < 1e-6 * rate && Math.abs(w.min - rate) < 1e-6 * rate, `p50 ${w.p50}`);
  });

  it("cuts the phase into equal windows of at least the minimum, sharing straddling batches pro rata", () => {
    // 2.5 windows' worth: two windows of 1.25 each; the middle batch straddles the boundary.
    const { rates, windowNs } = throughputWindows([1000, 500, 1000], 100, 1000);
    assert.equal(windowNs, 1250);
    assert.deepEqual(
      [...rates].map((r) => Math.round(r)),
      [Math.round(((100 + 50) * 1e9) / 1250), Math.round(((50 + 100) * 1e9) / 1250)],
    );
    // Shorter than one window: one window, the whole phase's rate.
    assert.deepEqual([...throughputWindows([300, 100], 50, 1000).rates], [(100 * 1e9) / 400]);
    // A batch that took no measurable time still counts, in the window it ended in.
    assert.equal(summarize(throughputWindows([0, 2000, 0], 10, 1000).rates).mean, (30 * 1e9) / 2000);
  });

  it("the median of windows can never exceed twice the rate (their mean)", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) ** 4;
    for (let run = 0; run < 20; run++) {
      const batches = Array.from({ length: 3000 }, () => 100 + random() * 200_000);
      const { rates } = throughputWindows(batches, 4096);
      const s = summarize(rates);
      assert.ok(s.p50 <= 2 * s.mean * (1 + 1e-12), `run ${run}: p50 ${s.p50}, mean ${s.mean}`);
    }
  });

  it("refuses what is not a batch timeline", () => {
    assert.throws(() => throughputWindows([], 1), StatisticsError);
    assert.throws(() => throughputWindows([0, 0], 1), /took no time/);
    assert.throws(() => throughputWindows([10, -1], 1), /batch 1 lasted -1 ns/);
    assert.throws(() => throughputWindows([10, NaN], 1), /not a duration/);
  });
});
