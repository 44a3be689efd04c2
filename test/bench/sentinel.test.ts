import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { findMechanism, type Mechanism } from "../../src/bench/mechanisms.js";
import { type BenchConfig, readMachine, runBench } from "../../src/bench/orchestrator.js";
import type { ResultFile, RunOk } from "../../src/bench/result.js";
import { roundFigure } from "../../src/bench/rounds.js";
import { readingState, roundState, STATE_RATIO, sentinelPair, sentinelReference } from "../../src/bench/sentinel.js";
import { stabilityVerdict } from "../../src/bench/stability.js";
import { type Hog, startHog } from "../kit/hog.js";

describe("sentinel: rules", () => {
  const at = (p50Ns: number, stall = 1) => ({ atMs: 0, meanNs: p50Ns * stall, p50Ns });

  it("judges a reading's median against the run's, either way, by 1.5x", () => {
    const readings = [100, 90, 110, 400, 105].map((x) => at(x));
    const ref = sentinelReference(readings);
    assert.deepEqual(ref, { p50Ns: 105, stall: 1 });
    assert.equal(readingState(at(150), ref), "usual");
    assert.equal(readingState(at(160), ref), "other");
    assert.equal(readingState(at(69), ref), "other");
    assert.equal(readingState(at(100), null), "unknown");
  });

  it("judges a reading's stall (mean over median: time a side waited for its CPU) against the run's, by 2x", () => {
    const readings = [at(100, 1.2), at(100, 1.5), at(100, 1.4), at(100, 9)];
    const ref = sentinelReference(readings);
    assert.equal(ref?.stall, 1.45);
    assert.equal(readingState(at(100, 2.8), ref), "usual");
    assert.equal(readingState(at(100, 3), ref), "other");
  });

  it("puts a round in another state when either reading around it is", () => {
    const readings = [100, 400, 100].map((x) => at(x));
    const ref = sentinelReference(readings);
    assert.equal(roundState(readings, ref, 0, 2), "usual");
    assert.equal(roundState(readings, ref, 0, 1), "other");
    assert.equal(roundState(readings, ref, 1, 2), "other");
    assert.equal(roundState(readings, ref, 2, null), "usual");
    assert.equal(roundState([], null, null, null), "unknown");
  });

  it("runs on the first measured pair of two CPUs, else the first two online CPUs", () => {
    assert.deepEqual(
      sentinelPair(
        [
          [0, 0],
          [2, 3],
        ],
        [0, 1],
      ),
      [2, 3],
    );
    assert.deepEqual(sentinelPair([[0, 0]], [0, 1]), [0, 1]);
    assert.equal(sentinelPair([[0, 0]], [0]), null);
  });
});

describe("sentinel: a real CPU hog on a measured CPU", () => {
  const machine = readMachine();
  const online = machine.topology.cpus.filter((c) => c.online).map((c) => c.cpu);
  let hog: Hog | undefined;
  after(async () => hog?.stop());

  function config(seed: number): BenchConfig {
    const [a, b] = online as [number, number];
    return {
      mechanisms: [findMechanism("pipe") as Mechanism],
      modes: ["throughput"],
      latencySizes: [],
      throughputSizes: [4096, 65536],
      latencyPairs: [],
      throughputPairs: [[a, b]],
      budgetMs: 30,
      warmupMs: 10,
      maxSamples: 2_000_000,
      quick: true,
      pairsKind: "custom",
      rounds: 3,
      seed,
      sentinel: { cpus: [a, b], budgetMs: 10, warmupMs: 2, everyMs: 0 },
      maxRerunsPerTest: 3,
      rerunShare: 1,
    };
  }

  it(
    "flags and re-runs the rounds it disturbed, and the figures stay within the undisturbed runs' noise",
    {
      skip: online.length < 2 ? "needs two online CPUs" : false,
    },
    async (t) => {
      // Undisturbed runs before and after: their rounds' spread is the noise the disturbed figures must stay in.
      const clean = await runBench(config(1), machine);
      const hogCpu = online[1] as number;
      const hoggedSlots = new Set<number>();
      const hoggedReadings: number[] = [];
      const disturbed: ResultFile = await runBench(config(2), machine, {
        onRoundStart: (r) => {
          if (hog !== undefined) hoggedSlots.add(r.slot);
        },
        onRoundEnd: async (r) => {
          // Mid-run: the hog starts after the second round (so the next reading sees it) and stops after
          // the round that followed that reading.
          if (r.slot === 1) hog = await startHog(hogCpu);
          else if (hog !== undefined) {
            await hog.stop();
            hog = undefined;
          }
        },
        onSentinel: (_, index) => {
          if (hog !== undefined) hoggedReadings.push(index);
        },
      });

      const cleanAfter = await runBench(config(3), machine);
      const sentinel = disturbed.sentinel;
      assert.ok(sentinel !== undefined && sentinel.error === null, `the sentinel ran: ${sentinel?.error}`);
      // The sentinel judges against the run's own usual state. When other work kept the machine in no steady
      // state (more than a quarter of the readings without the hog already "other"), a hog cannot stand out
      // from it: say so, and stop. A stray reading or two leave the run's usual state, and the checks, intact.
      const calm = sentinel.readings.filter((_, i) => !hoggedReadings.includes(i));
      const unsteady = calm.filter((r) => r.state === "other");
      if (unsteady.length * 4 > calm.length) {
        const p50s = sentinel.readings.map((r) => Math.round(r.p50Ns)).join(", ");
        t.skip(
          `no steady machine state to stand out from: ${unsteady.length} readings without the hog in another state (p50 ns: ${p50s})`,
        );
        return;
      }
      assert.deepEqual([...hoggedSlots], [2]);
      assert.equal(hoggedReadings.length, 1);
      // What is guaranteed: the sentinel's side on the hogged CPU gets ~1 % of it, so its round trips
      // take many times longer than in the rest of the run.
      for (const i of hoggedReadings) assert.equal(sentinel.readings[i]?.state, "other", `reading ${i} under the hog`);

      const runs = disturbed.runs.filter((r): r is RunOk => r.status === "ok");
      assert.equal(runs.length, 2, "both tests ran");
      for (const slot of hoggedSlots) {
        const round = runs.flatMap((r) => r.rounds?.list ?? []).find((x) => x.slot === slot);
        assert.ok(round !== undefined, `round ${slot} is in the result`);
        assert.equal(round.state, "other", `round ${slot}, run under the hog, is flagged`);
        assert.equal(round.kept, false, `round ${slot} does not count toward the figure`);
      }
      assert.ok(sentinel.roundsFlagged >= hoggedSlots.size);
      assert.ok(sentinel.roundsRerun >= 1, "flagged rounds were re-run");

      // bench:stability's verdict counts the disturbed test as flagged in its result, whatever its figure.
      const verdict = stabilityVerdict([clean, disturbed]);
      for (const slot of hoggedSlots) {
        const run = runs.find((r) => r.rounds?.list.some((x) => x.slot === slot));
        const row = verdict.rows.find((r) => r.size === run?.size);
        assert.equal(row?.cells.find((c) => c.run === 1)?.flagged, true);
      }

      // Each figure is no lower than the undisturbed rounds around it (their lowest, less a quarter: a median of
      // three rounds may sit a little outside any one round's), or its result says it is not to be trusted. A
      // hogged round that counted would put it far below (the hogged side gets a tenth of its CPU). Above is
      // no failure of the sentinel: the guest switching to its fast state for a few seconds put a figure at
      // 3.1 GB/s over undisturbed rounds of 1.0-1.5 (a CI run failed on it). Figures compare only between runs
      // whose usual states agree (their sentinel references within the state ratio): a CI run whose undisturbed
      // runs sat in the fast state (3.1-3.2 GB/s) and the disturbed one in the slow (1.26) failed on it.
      const sameState = (d: ResultFile): boolean => {
        const ref = d.sentinel?.reference ?? null;
        const own = sentinel.reference;
        if (ref === null || own === null) return false;
        return Math.max(ref, own) / Math.min(ref, own) <= STATE_RATIO;
      };
      const undisturbedRuns = [clean, cleanAfter];
      // The guest keeps a state for seconds: another undisturbed run or two may find the disturbed run's.
      for (let seed = 4; seed < 6 && !undisturbedRuns.some(sameState); seed++) {
        undisturbedRuns.push(await runBench(config(seed), machine));
      }
      const alike = undisturbedRuns.filter(sameState);
      if (alike.length === 0) {
        const refs = undisturbedRuns.map((d) => Math.round(d.sentinel?.reference ?? 0)).join(", ");
        t.diagnostic(
          `figures not compared: no undisturbed run in the disturbed run's state (sentinel references ${refs} ns against ${Math.round(sentinel.reference ?? 0)})`,
        );
        return;
      }
      for (const run of runs) {
        const twins = alike.flatMap((d) => d.runs.filter((r): r is RunOk => r.status === "ok" && r.size === run.size));
        const undisturbed = twins.flatMap((r) => (r.rounds?.list ?? []).filter((x) => x.kept).map((x) => x.figure));
        assert.ok(undisturbed.length > 0);
        const lo = Math.min(...undisturbed) / 1.25;
        const doubt = [run, ...twins].some((r) => r.flags.includes("unstable") || r.flags.includes("machine-state"));
        const figure = roundFigure(run);
        assert.ok(
          doubt || figure >= lo,
          `${run.size} B: ${figure} below ${lo} (undisturbed: ${undisturbed.join(", ")})`,
        );
      }
    },
  );
});
