/**
 * `fable bench` keeps its result for transport selection, and `fable explain`'s text shows every
 * candidate with its figures, source, rank or exclusion and reason.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { readResult } from "../../src/bench/result.js";
import { createMeasuredSelector } from "../../src/bench/selection.js";
import { keepResult } from "../../src/bench/stored-results.js";
import { cpuRanges, formatExplanation } from "../../src/cli/explanation.js";
import { defaultOrderSelection } from "../../src/daemon/default-order.js";
import type { SelectionRequest } from "../../src/daemon/selector.js";
import { repoRoot, runFable, scratchDir } from "../kit/cli.js";

const scratch = scratchDir("explain");
after(() => scratch.cleanup());

const FIXTURE = readResult(join(repoRoot, "test", "bench", "data", "selection-fable.json"));

const request: SelectionRequest = {
  listener: { pid: 100, allowedCpus: [0], currentCpu: 0 },
  connector: { pid: 200, allowedCpus: [1], currentCpu: 1 },
  requirements: { latency: "critical", spin: false, trust: "trusted", sizes: [64, 4096] },
  offered: ["shm", "unix", "tcp"],
};

describe("fable explain's text", () => {
  it("lists every candidate with figures in human units, source, rank or exclusion, and reason", async () => {
    const dir = join(scratch.dir, "results");
    const path = keepResult(FIXTURE, dir);
    const selector = createMeasuredSelector({
      dir,
      machine: { topology: FIXTURE.machine.topology, hardwareKey: FIXTURE.machine.hardwareKey },
      calibration: false,
      log: () => {},
    });
    const selection = selector.select(request);
    const text = formatExplanation(selection, { name: "xio://cache", request, selector: selector.describe() });
    const lines = text.split("\n");
    assert.match(
      lines[0] ?? "",
      /^xio:\/\/cache: latency critical, spin forbidden, trusted, sizes 64 B, 4 KiB; listener offers shm, unix, tcp$/,
    );
    assert.match(text, /listener pid 100 may run on CPU 0 \(last ran on 0\)/);
    assert.ok(text.includes(`basis: measured, from ${path}`));
    assert.match(text, /figures: round trip at 64 B, one-way throughput at 4 KiB/);
    for (const v of selection.verdicts) {
      const name = v.candidate.wait === null ? v.candidate.transport : `${v.candidate.transport}:${v.candidate.wait}`;
      const row = lines.findIndex((l) => new RegExp(`^(\\d|x)\\s+${name}\\s`).test(l));
      assert.ok(row >= 0, `a row for ${name}`);
      assert.match(lines[row] ?? "", v.rank === undefined ? /^x / : new RegExp(`^${v.rank} `));
      assert.match(lines[row] ?? "", /\d+(\.\d+)? (ns|us|ms)\s+\d+(\.\d+)? MB\/s$/);
      assert.equal(lines[row + 1]?.trim(), `${v.excluded !== undefined ? "excluded" : "why"}: ${v.reason}`);
      assert.equal(lines[row + 2]?.trim(), `source: ${v.prediction?.source}`);
    }
    assert.match(text, /excluded: spin: false forbids busy-waiting/);
    await selector.close();
  });

  it("says when it works from the fixed order", () => {
    const text = formatExplanation(defaultOrderSelection(request), { request });
    assert.match(text, /basis: the fixed order \(no bench result of this machine to predict from\)/);
    assert.match(text, /^1\s+shm:block\s+-\s+-$/m);
    assert.match(text, /source: none \(the fixed order\)/);
  });

  it("writes CPU lists as ranges", () => {
    assert.equal(cpuRanges([3, 0, 1, 2, 8, 10, 11]), "0-3,8,10-11");
    assert.equal(cpuRanges([]), "");
  });
});

describe("fable bench keeps its result for selection", () => {
  it("writes the same document to the data dir's results", async () => {
    const data = join(scratch.dir, "data");
    const out = join(scratch.dir, "bench.json");
    const run = await runFable(
      [
        "bench",
        "-m",
        "fable-unix",
        "--mode",
        "latency",
        "--latency-pairs",
        "0-1",
        "--budget-ms",
        "5",
        "--warmup-ms",
        "0",
        "--out",
        out,
        "--no-report",
        "--no-progress",
      ],
      { FABLE_DATA_DIR: data, FABLE_CONFIG_DIR: join(scratch.dir, "config") },
    );
    assert.equal(run.code, 0, run.stderr);
    const kept = readdirSync(join(data, "results"));
    assert.equal(kept.length, 1);
    assert.match(run.stderr, new RegExp(`kept for transport selection: ${join(data, "results", kept[0] ?? "")}`));
    assert.deepEqual(readResult(join(data, "results", kept[0] ?? "")), readResult(out));
  });
});
