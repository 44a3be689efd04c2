/**
 * Throughput statistics are throughputs: a real `fable bench` (engine and Node probes; the futex mempipe
 * variants' reader sleeps, then drains queued batches at memory speed, so per-batch rates overstate the rate,
 * as statistics.test.ts shows on a crafted timeline) gives statistics over fixed time windows whose mean is the
 * phase's rate and whose median is at most twice it, as any window distribution's is; and the result validates.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readResult, type RunOk } from "../../src/bench/result.js";
import { THROUGHPUT_WINDOW_NS } from "../../src/bench/statistics.js";
import { runFable, scratchDir } from "../kit/cli.js";

const scratch = scratchDir("throughput-windows");
const env = { FABLE_CONFIG_DIR: join(scratch.dir, "config") };
after(() => scratch.cleanup());

describe("throughput statistics over time windows", () => {
  const out = join(scratch.dir, "futex.json");
  let runs: RunOk[] = [];

  before(async () => {
    const r = await runFable(
      [
        "bench",
        ...[
          "-m",
          "mempipe-futex-unsafe,mempipe-futex-safe,pipe,node-net-unix",
          "--mode",
          "throughput",
          "--pairs",
          "0-1",
        ],
        ...["--sizes", "4K", "--budget-ms", "60", "--warmup-ms", "10", "--no-report", "--no-progress", "--out", out],
      ],
      env,
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const doc = readResult(out);
    runs = doc.runs.filter((x): x is RunOk => x.status === "ok");
    assert.equal(runs.length, 4);
    // A throughput-only run's configuration lists its throughput sizes only (not the latency default, 64).
    assert.deepEqual(doc.config.sizes, [4096]);
  });

  it("windows of at least 1 ms cover the measured phase, and their mean is the headline rate", () => {
    for (const r of runs) {
      const w = r.statsWindowNs ?? 0;
      assert.ok(w >= THROUGHPUT_WINDOW_NS && w < 2 * THROUGHPUT_WINDOW_NS, `${r.mechanism}: window ${w} ns`);
      assert.ok(Math.abs(r.stats.n * w - r.elapsedNs) < 1e-6 * r.elapsedNs, `${r.mechanism}: ${r.stats.n} windows`);
      const rate = r.rate?.bytesPerSecond ?? 0;
      assert.ok(Math.abs(r.stats.mean - rate) < 1e-6 * rate, `${r.mechanism}: mean ${r.stats.mean} vs ${rate}`);
      // Non-negative values: fewer than half can exceed twice their mean, whatever the machine did.
      assert.ok(r.stats.p50 <= 2 * rate, `${r.mechanism}: p50 ${r.stats.p50} vs rate ${rate}`);
      assert.equal(r.samples.of * r.batchMessages, r.iterations, "the kept samples are still the batches");
    }
  });

  it("the result validates", async () => {
    const r = await runFable(["results", "validate", out], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});
