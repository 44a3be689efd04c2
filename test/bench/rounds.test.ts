import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RunOk } from "../../src/bench/result.js";
import {
  combineRounds,
  markAsymmetric,
  roundNoise,
  roundSchedule,
  type RoundState,
  UNSTABLE_FLOOR,
} from "../../src/bench/rounds.js";
import { stabilityVerdict } from "../../src/bench/stability.js";
import { summarize } from "../../src/bench/statistics.js";
import { craftedResult } from "../results/report-fixture.js";

/** A run whose samples are `samples` (ns) and whose figure is their median (latency) or `rate` (throughput). */
function run(samples: number[], opts: { rate?: number; cpus?: [number, number] } = {}): RunOk {
  return {
    mechanism: "pipe",
    mode: opts.rate === undefined ? "latency" : "throughput",
    size: 64,
    cpus: opts.cpus ?? [0, 1],
    placement: "shared-l3",
    numaDistance: null,
    status: "ok",
    unit: opts.rate === undefined ? "ns" : "B/s",
    stats: summarize(samples),
    ...(opts.rate === undefined ? {} : { rate: { bytesPerSecond: opts.rate, messagesPerSecond: opts.rate / 64 } }),
    iterations: samples.length,
    warmupIterations: 0,
    elapsedNs: samples.reduce((a, b) => a + b, 0),
    batchMessages: 1,
    clock: { source: "clock_gettime", overheadNs: 20 },
    pinning: { verified: true, observed: [0, 1] },
    flags: [],
    samples: { values: samples, of: samples.length },
    params: {},
  };
}

const steady = (v: number) => Array.from({ length: 40 }, (_, i) => v * (1 + 0.01 * (i % 3)));
const at = (r: RunOk, state: RoundState = "usual") => ({ run: r, state });

describe("rounds", () => {
  it("schedules every test once per pass, each pass shuffled, the same for the same seed", () => {
    const a = roundSchedule(20, 3, 42);
    assert.equal(a.length, 60);
    for (let pass = 0; pass < 3; pass++) {
      const tests = a.slice(pass * 20, pass * 20 + 20);
      assert.ok(tests.every((s) => s.round === pass));
      assert.deepEqual(
        [...tests.map((s) => s.test)].sort((x, y) => x - y),
        [...Array(20).keys()],
      );
    }
    assert.deepEqual(roundSchedule(20, 3, 42), a);
    assert.notDeepEqual(roundSchedule(20, 3, 43), a);
    assert.notDeepEqual(
      a.slice(0, 20).map((s) => s.test),
      a.slice(20, 40).map((s) => s.test),
    );
  });

  it("measures a round's noise as the spread of its quarters' medians", () => {
    assert.equal(roundNoise([1, 1, 1, 1, 1, 1, 1, 1]), 0);
    // Quarters' medians 1, 1, 2, 2: spread (2 - 1) / 1.5.
    assert.ok(Math.abs(roundNoise([1, 1, 1, 1, 2, 2, 2, 2]) - 1 / 1.5) < 1e-12);
    assert.equal(roundNoise([1, 9]), 0);
  });

  it("takes the median round's statistics and is not unstable when rounds agree", () => {
    const c = combineRounds([at(run(steady(103))), at(run(steady(100))), at(run(steady(101)))]);
    assert.equal(c.chosen, 2);
    assert.deepEqual(c.flags, []);
    assert.ok(c.spread < UNSTABLE_FLOOR);
  });

  it("flags unstable when rounds disagree beyond twice their noise and the floor, not otherwise", () => {
    const c = combineRounds([at(run(steady(100))), at(run(steady(150))), at(run(steady(101)))]);
    assert.deepEqual(c.flags, ["unstable"]);
    // The same disagreement within rounds that move as much inside themselves is noise, not instability.
    const moving = (v: number) => [...steady(v * 0.7), ...steady(v * 1.3)];
    assert.deepEqual(combineRounds([at(run(moving(100))), at(run(moving(150))), at(run(moving(101)))]).flags, []);
  });

  it("drops rounds in another state, keeps all (flagged machine-state) when none is usual", () => {
    const rounds = [at(run(steady(100))), at(run(steady(400)), "other"), at(run(steady(101)))];
    const c = combineRounds(rounds);
    assert.deepEqual(c.kept, [true, false, true]);
    assert.deepEqual(c.flags, []);
    // With two kept rounds the conservative middle: the slower round trip...
    assert.equal(c.chosen, 2);
    // ...or the lower rate.
    const t = combineRounds([at(run(steady(1), { rate: 5e9 })), at(run(steady(1), { rate: 4.8e9 }))]);
    assert.equal(t.chosen, 1);
    const all = combineRounds(rounds.map((r) => ({ ...r, state: "other" as const })));
    assert.deepEqual(all.kept, [true, true, true]);
    assert.ok(all.flags.includes("machine-state"));
  });

  it("flags both mirrored latency cells when they disagree beyond noise, and leaves agreeing ones", () => {
    const runs = [
      run(steady(120), { cpus: [0, 1] }),
      run(steady(260), { cpus: [1, 0] }),
      run(steady(100), { cpus: [0, 0] }),
    ];
    markAsymmetric(runs);
    assert.deepEqual(
      runs.map((r) => r.flags),
      [["asymmetric"], ["asymmetric"], []],
    );
    const close = [run(steady(120), { cpus: [0, 1] }), run(steady(125), { cpus: [1, 0] })];
    markAsymmetric(close);
    assert.deepEqual(
      close.map((r) => r.flags),
      [[], []],
    );
  });
});

describe("stability verdict (bench:stability)", () => {
  it("holds when every outlier run is flagged in its result, and not when one is not", () => {
    const docs = [1, 2, 3].map(() => craftedResult({ packages: 1, coresPerPackage: 2, threadsPerCore: 1 }));
    assert.equal(stabilityVerdict(docs).holds, true, "identical runs");
    const slow = docs[1]?.runs.find((r): r is RunOk => r.status === "ok" && r.mode === "latency");
    assert.ok(slow !== undefined);
    slow.stats = { ...slow.stats, p50: slow.stats.p50 * 3 };
    const v = stabilityVerdict(docs);
    assert.equal(v.holds, false, "an unflagged outlier");
    assert.ok(v.rows.some((r) => r.cells.some((c) => c.outlier && c.run === 1)));
    slow.flags.push("unstable");
    assert.equal(stabilityVerdict(docs).holds, true, "the outlier is flagged");
  });
});
