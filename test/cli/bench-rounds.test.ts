import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readResult, type ResultFile, type RunOk } from "../../src/bench/result.js";
import { roundFigure, UNSTABLE_FLOOR } from "../../src/bench/rounds.js";
import { renderReport } from "../../src/results/report/index.js";
import { runFable, scratchDir } from "../kit/cli.js";
import { craftedResult } from "../results/report-fixture.js";

const scratch = scratchDir("cli-rounds");
const env = { FABLE_CONFIG_DIR: join(scratch.dir, "config") };
after(() => scratch.cleanup());

describe("fable bench: rounds, sentinel and progress, end to end (no terminal)", () => {
  let doc: ResultFile;
  let stdout: string;
  let stderr: string;
  let html: string;
  const out = join(scratch.dir, "rounds.json");

  before(async () => {
    const r = await runFable(
      [
        "bench",
        "-m",
        "cacheline,pipe",
        "--mode",
        "latency",
        "--latency-pairs",
        "all",
        "--rounds",
        "3",
        "--seed",
        "7",
        "--budget-ms",
        "15",
        "--warmup-ms",
        "5",
        "--sentinel-every-ms",
        "0",
        "--out",
        out,
      ],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    ({ stdout, stderr } = r);
    doc = readResult(out);
    html = readFileSync(out.replace(/\.json$/, ".html"), "utf8");
  });

  it("says on stderr what it will do, then each mechanism as it finishes", () => {
    const lines = stderr.split("\n");
    assert.match(
      lines[0] ?? "",
      /^fable bench: \d+ tests of 2 mechanisms x 3 rounds \(\d+ probe runs\), about .*sentinel on CPUs \d+-\d+$/,
    );
    for (const m of ["cacheline", "pipe"])
      assert.ok(
        lines.some((l) => new RegExp(`^  ${m}: done`).test(l)),
        m,
      );
  });

  it("records every test's rounds, the seed, and the sentinel's timeline", () => {
    assert.equal(doc.config.rounds, 3);
    assert.equal(doc.config.seed, 7);
    const runs = doc.runs.filter((r): r is RunOk => r.status === "ok");
    assert.equal(runs.length, doc.runs.length, "every test ran");
    const slots = new Set<number>();
    for (const run of runs) {
      const rounds = run.rounds;
      assert.ok(rounds !== undefined && rounds.list.length >= 3, `${run.mechanism} ${run.cpus.join("-")}`);
      for (const x of rounds.list) slots.add(x.slot);
      // The run's statistics are those of its chosen round, a kept one.
      const chosen = rounds.list[rounds.chosen];
      assert.ok(chosen?.kept);
      assert.equal(chosen.figure, roundFigure(run));
    }
    assert.equal(
      slots.size,
      runs.reduce((n, r) => n + (r.rounds?.list.length ?? 0), 0),
      "one slot per round",
    );
    const s = doc.sentinel;
    assert.ok(s !== undefined && s.error === null);
    // A reading before the first round and after every round (--sentinel-every-ms 0).
    assert.ok(s.readings.length >= slots.size + 1);
    assert.equal(s.roundsFlagged, runs.flatMap((r) => r.rounds?.list ?? []).filter((x) => x.state === "other").length);
    assert.match(stdout, /^rounds: 3 per test \(seed 7\); sentinel on CPUs \d+-\d+: \d+ readings/m);
  });

  it("flags the two mirrored heatmap cells of two CPUs exactly when they disagree beyond noise", () => {
    for (const m of ["cacheline", "pipe"]) {
      const runs = doc.runs.filter((r): r is RunOk => r.status === "ok" && r.mechanism === m);
      const ab = runs.find((r) => r.cpus[0] === 0 && r.cpus[1] === 1);
      const ba = runs.find((r) => r.cpus[0] === 1 && r.cpus[1] === 0);
      if (ab === undefined || ba === undefined) continue;
      const apart = Math.max(roundFigure(ab), roundFigure(ba)) / Math.min(roundFigure(ab), roundFigure(ba)) - 1;
      const tolerance = Math.max(
        ...[ab, ba].map((r) => Math.max(UNSTABLE_FLOOR, r.rounds?.spread ?? 0, 2 * (r.rounds?.noise ?? 0))),
      );
      const flagged = ab.flags.includes("asymmetric");
      assert.equal(ba.flags.includes("asymmetric"), flagged, "both cells or neither");
      assert.equal(flagged, apart > tolerance, `${m}: ${apart.toFixed(3)} apart, tolerance ${tolerance.toFixed(3)}`);
    }
  });

  it("draws the sentinel's timeline and rings the flagged cells in the report", () => {
    assert.match(html, /Rounds and machine state/);
    assert.equal(html.match(/class="reading reading-/g)?.length, doc.sentinel?.readings.length);
    const doubtful = doc.runs.filter(
      (r) => r.status === "ok" && ["unstable", "machine-state", "asymmetric"].some((f) => r.flags.includes(f as never)),
    );
    assert.equal(html.match(/class="flagged"/g)?.length ?? 0, doubtful.length);
  });

  it("passes fable results validate", async () => {
    const r = await runFable(["results", "validate", out], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it("reads and reports a result from before rounds", () => {
    const old = craftedResult({ packages: 1, coresPerPackage: 2, threadsPerCore: 1 });
    assert.equal(old.config.rounds, undefined);
    assert.match(renderReport([old]), /predates rounds/);
  });
});
