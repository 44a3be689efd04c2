/**
 * Transport selection from measurements, over real result files of `fable bench` on this 2-vCPU EPYC
 * guest (test/bench/data, made by the commands in its README), and a real calibration run.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { after, describe, it } from "node:test";
import { readResult, type ResultFile } from "../../src/bench/result.js";
import { createMeasuredSelector, mechanismOf, thisMachine, type ThisMachine } from "../../src/bench/selection.js";
import { keepResult, readStoredResults } from "../../src/bench/stored-results.js";
import {
  candidateName,
  type EndPlacement,
  type Requirements,
  type SelectionRequest,
} from "../../src/daemon/selector.js";
import { repoRoot, scratchDir } from "../kit/cli.js";

const scratch = scratchDir("selection");
after(() => scratch.cleanup());
let dirs = 0;
function freshDir(): string {
  const dir = join(scratch.dir, `results-${dirs++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

const fixture = (name: string): ResultFile => readResult(join(repoRoot, "test", "bench", "data", `${name}.json`));
/** Five fable transports, latency at 64 B and throughput at 64 B and 64 KiB, in same-cpu and same-package. */
const FULL = fixture("selection-fable");
/** fable-shm-spin and -block and the engine's mempipe safe/unsafe pairs, same-package only. */
const PARTIAL = fixture("selection-partial");
const machineOf = (doc: ResultFile): ThisMachine => ({
  topology: doc.machine.topology,
  hardwareKey: doc.machine.hardwareKey,
});

const end = (pid: number, allowedCpus: number[], currentCpu: number | null = allowedCpus[0] ?? null): EndPlacement => ({
  pid,
  allowedCpus,
  currentCpu,
});
function request(
  listener: EndPlacement,
  connector: EndPlacement,
  requirements: Partial<Requirements> = {},
): SelectionRequest {
  return {
    listener,
    connector,
    requirements: { latency: "critical", spin: true, trust: "trusted", sizes: [], ...requirements },
    offered: ["shm", "unix", "tcp"],
  };
}

function selectorOver(docs: ResultFile[], machine: ThisMachine = machineOf(FULL)) {
  const dir = freshDir();
  const paths = docs.map((d) => keepResult(d, dir));
  const log: string[] = [];
  const selector = createMeasuredSelector({ dir, machine, calibration: false, rescanMs: 0, log: (l) => log.push(l) });
  return { dir, paths, log, selector };
}

/** The median of one run set, as the selector reads it. */
function figure(doc: ResultFile, mechanism: string, mode: "latency" | "throughput", placement: string, size: number) {
  const values = doc.runs.flatMap((r) =>
    r.status === "ok" && r.mechanism === mechanism && r.mode === mode && r.placement === placement && r.size === size
      ? [mode === "latency" ? r.stats.p50 : (r.rate?.bytesPerSecond ?? r.stats.p50)]
      : [],
  );
  assert.equal(values.length, 1, `one run of ${mechanism} ${mode} ${placement} ${size}`);
  return values[0] ?? NaN;
}

/** Processes of a process group that are not zombies (a zombie waits for its reaper, it does not run). */
function liveInGroup(pgid: number): number[] {
  return readdirSync("/proc").flatMap((name) => {
    if (!/^\d+$/.test(name)) return [];
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      return [];
    }
    // After "pid (comm)": state, ppid, pgrp.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] !== "Z" && Number(fields[2]) === pgid ? [Number(name)] : [];
  });
}

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(a, b), `${a} != ${b}`);

describe("measured selection", () => {
  it("ranks the viable candidates by predicted round trip (critical) and throughput (bulk)", async () => {
    const { selector, paths } = selectorOver([FULL]);
    const critical = selector.select(request(end(1, [0]), end(2, [1])));
    assert.equal(critical.basis, "measured");
    assert.equal(critical.result, paths[0]);
    assert.equal(critical.ranked.length, 5);
    const rts = critical.ranked.map((c) => critical.verdicts.find((v) => v.candidate === c)?.prediction?.roundTripNs);
    assert.deepEqual(
      rts,
      [...rts].sort((a, b) => (a ?? 0) - (b ?? 0)),
    );
    for (const v of critical.verdicts) {
      // Pinned to CPUs 0 and 1: the same-package figure of its own mechanism, exactly.
      close(v.prediction?.roundTripNs ?? NaN, figure(FULL, mechanismOf(v.candidate), "latency", "same-package", 64));
      assert.match(
        v.prediction?.source ?? "",
        new RegExp(`^${paths[0]?.split("/").pop()}: ${mechanismOf(v.candidate)}, same-package \\(pinned`),
      );
    }
    assert.match(critical.verdicts[0]?.reason ?? "", /best predicted round trip; next, .*, is [\d.]+x slower/);
    assert.match(critical.verdicts[1]?.reason ?? "", /^fallback 1: predicted round trip [\d.]+x of /);

    const bulk = selector.select(request(end(1, [0]), end(2, [1]), { latency: "bulk", sizes: [65536] }));
    const rates = bulk.ranked.map((c) => bulk.verdicts.find((v) => v.candidate === c)?.prediction?.bytesPerSecond);
    assert.deepEqual(
      rates,
      [...rates].sort((a, b) => (b ?? 0) - (a ?? 0)),
    );
    for (const v of bulk.verdicts) {
      close(
        v.prediction?.bytesPerSecond ?? NaN,
        figure(FULL, mechanismOf(v.candidate), "throughput", "same-package", 65536),
      );
    }
    assert.match(bulk.verdicts[0]?.reason ?? "", /best predicted throughput/);
    await selector.close();
  });

  it("filters with the shared constraints and still shows the excluded candidates' figures", async () => {
    const { selector } = selectorOver([FULL]);
    const noSpin = selector.select(request(end(1, [0]), end(2, [1]), { spin: false }));
    assert.deepEqual(noSpin.ranked.map(candidateName).sort(), ["shm:block", "tcp", "unix"]);
    const spin = noSpin.verdicts.find((v) => candidateName(v.candidate) === "shm:spin");
    assert.equal(spin?.excluded, "spin: false forbids busy-waiting");
    assert.equal(spin?.rank, undefined);
    assert.ok((spin?.prediction?.roundTripNs ?? 0) > 0);
    // Excluded candidates come after every ranked one.
    assert.deepEqual(
      noSpin.verdicts.map((v) => v.rank !== undefined),
      [true, true, true, false, false],
    );

    const noShm = selector.select({ ...request(end(1, [0]), end(2, [1])), offered: ["unix", "tcp"] });
    assert.deepEqual(noShm.ranked.map(candidateName).sort(), ["tcp", "unix"]);
    await selector.close();
  });

  it("pinned to one CPU uses same-cpu and excludes spinning; unpinned combines the pairs they may run on", async () => {
    const { selector } = selectorOver([FULL]);
    const oneCpu = selector.select(request(end(1, [0]), end(2, [0])));
    assert.deepEqual(oneCpu.ranked.map(candidateName).sort(), ["shm:block", "tcp", "unix"]);
    for (const v of oneCpu.verdicts) {
      close(v.prediction?.roundTripNs ?? NaN, figure(FULL, mechanismOf(v.candidate), "latency", "same-cpu", 64));
      assert.match(v.prediction?.source ?? "", /same-cpu \(pinned to CPUs 0 and 0\)/);
    }

    // Unpinned on 2 CPUs: of the 4 pairs, 2 are the same CPU and 2 are not.
    const free = selector.select(request(end(1, [0, 1], 0), end(2, [0, 1], 1), { sizes: [65536] }));
    assert.equal(free.ranked.length, 5);
    for (const v of free.verdicts) {
      const m = mechanismOf(v.candidate);
      assert.match(v.prediction?.source ?? "", /unpinned: same-cpu 50%, same-package 50% of 2x2 CPU pairs/);
      // Throughput: the mean time per byte, i.e. the harmonic mean of the two classes' rates.
      const [a, b] = [
        figure(FULL, m, "throughput", "same-cpu", 65536),
        figure(FULL, m, "throughput", "same-package", 65536),
      ];
      close(v.prediction?.bytesPerSecond ?? NaN, 1 / (0.5 / a + 0.5 / b));
    }
    const at64 = selector.select(request(end(1, [0, 1], 0), end(2, [0, 1], 1)));
    for (const v of at64.verdicts) {
      const m = mechanismOf(v.candidate);
      const [a, b] = [figure(FULL, m, "latency", "same-cpu", 64), figure(FULL, m, "latency", "same-package", 64)];
      close(v.prediction?.roundTripNs ?? NaN, (a + b) / 2);
    }
    await selector.close();
  });

  it("predicts declared sizes: interpolated in log-log between measured sizes, extrapolated outside", async () => {
    const { selector } = selectorOver([FULL]);
    const pinned = (sizes: number[]) =>
      selector
        .select(request(end(1, [0]), end(2, [1]), { latency: "bulk", sizes }))
        .verdicts.find((v) => candidateName(v.candidate) === "unix");
    const [lo, hi] = [
      figure(FULL, "fable-unix", "throughput", "same-package", 64),
      figure(FULL, "fable-unix", "throughput", "same-package", 65536),
    ];
    // 2048 B is halfway from 64 B to 64 KiB in log size: the geometric mean of the two figures.
    const mid = pinned([2048]);
    close(mid?.prediction?.bytesPerSecond ?? NaN, Math.sqrt(lo * hi));
    assert.match(mid?.prediction?.source ?? "", /throughput at 2048 B interpolated between 64 B and 65536 B/);
    const big = pinned([1 << 20]);
    close(big?.prediction?.bytesPerSecond ?? NaN, hi);
    assert.match(big?.prediction?.source ?? "", /throughput at 1048576 B extrapolated: held at 65536 B/);

    // A round trip beyond the largest measured one adds the extra bytes' transfer both ways.
    const rt = selector
      .select(request(end(1, [0]), end(2, [1]), { sizes: [4096] }))
      .verdicts.find((v) => candidateName(v.candidate) === "unix");
    const rate4k = Math.exp(
      Math.log(lo) + (Math.log(4096 / 64) / Math.log(65536 / 64)) * (Math.log(hi) - Math.log(lo)),
    );
    close(
      rt?.prediction?.roundTripNs ?? NaN,
      figure(FULL, "fable-unix", "latency", "same-package", 64) + (2 * (4096 - 64) * 1e9) / rate4k,
    );
    assert.match(
      rt?.prediction?.source ?? "",
      /latency at 4096 B extrapolated: the 64 B figure plus moving the extra bytes/,
    );
    await selector.close();
  });

  it("falls back where the result lacks a mechanism or a placement class, and says so", async () => {
    const { selector, paths } = selectorOver([PARTIAL], machineOf(PARTIAL));
    const s = selector.select(request(end(1, [0]), end(2, [0]), { spin: false }));
    // The partial result measured shm:spin and shm:block only, and only in same-package.
    const block = s.verdicts.find((v) => candidateName(v.candidate) === "shm:block");
    assert.equal(block?.rank, 1);
    assert.match(
      block?.prediction?.source ?? "",
      /no latency run in same-cpu: used same-package, the nearest measured class/,
    );
    close(block?.prediction?.roundTripNs ?? NaN, figure(PARTIAL, "fable-shm-block", "latency", "same-package", 64));
    for (const name of ["unix", "tcp"]) {
      const v = s.verdicts.find((x) => candidateName(x.candidate) === name);
      assert.equal(v?.prediction, null);
      assert.match(
        v?.reason ?? "",
        /no round trip measured for fable-.* in this result: placed after the measured candidates, in the fixed order/,
      );
    }
    // Unmeasured viable candidates follow the fixed order (unix before tcp).
    assert.deepEqual(s.ranked.map(candidateName), ["shm:block", "unix", "tcp"]);
    assert.equal(s.result, paths[0]);
    await selector.close();
  });

  it("untrusted shm: scaled by the engine's measured copy cost when the result has it, else marked as a trusted run", async () => {
    const partial = selectorOver([PARTIAL], machineOf(PARTIAL)).selector;
    const scaled = partial.select(request(end(1, [0]), end(2, [1]), { trust: "untrusted" }));
    const spin = scaled.verdicts.find((v) => candidateName(v.candidate) === "shm:spin");
    const factor = Math.max(
      1,
      figure(PARTIAL, "mempipe-spin-safe", "latency", "same-package", 64) /
        figure(PARTIAL, "mempipe-spin-unsafe", "latency", "same-package", 64),
    );
    close(
      spin?.prediction?.roundTripNs ?? NaN,
      figure(PARTIAL, "fable-shm-spin", "latency", "same-package", 64) * factor,
    );
    assert.match(
      spin?.prediction?.source ?? "",
      /untrusted: scaled by the reader's measured copy cost \(mempipe-spin-safe \/ mempipe-spin-unsafe\)/,
    );
    await partial.close();

    const full = selectorOver([FULL]).selector;
    const marked = full.select(request(end(1, [0]), end(2, [1]), { trust: "untrusted" }));
    for (const v of marked.verdicts) {
      if (v.candidate.transport === "shm") assert.match(v.reason, /figures are from a trusted run/);
      else assert.doesNotMatch(v.reason, /trusted run/);
    }
    await full.close();
  });

  it("uses the newest result of this hardware key, ignores other machines', skips invalid files with the reason", async () => {
    const other: ResultFile = {
      ...FULL,
      createdAt: "2030-01-01T00:00:00Z",
      machine: { ...FULL.machine, hardwareKey: "0123456789abcdef" },
    };
    const { dir, log, selector } = selectorOver([other, FULL]);
    assert.match(selector.select(request(end(1, [0]), end(2, [1]))).result ?? "", /04-36-55Z/);
    writeFileSync(join(dir, "broken.json"), "{ not json");
    writeFileSync(join(dir, "wrong.json"), JSON.stringify({ ...FULL, runs: "none" }));
    // A newer result of this machine appears (a later `fable bench`): the selector picks it up.
    const newer = keepResult({ ...PARTIAL, machine: FULL.machine }, dir);
    const s = selector.select(request(end(1, [0]), end(2, [1])));
    assert.equal(s.result, newer);
    assert.match(selector.describe(), /^measured: .*04-45-36Z/);
    assert.ok(
      log.some((l) => /skipped .*broken\.json: .*is not JSON/.test(l)),
      log.join("\n"),
    );
    assert.ok(
      log.some((l) => /skipped .*wrong\.json: \/runs: must be array/.test(l)),
      log.join("\n"),
    );
    // Reported once, not at every selection.
    selector.select(request(end(1, [0]), end(2, [1])));
    assert.equal(log.filter((l) => l.includes("broken.json")).length, 1);
    await selector.close();
  });

  it("answers with the fixed order when no result of this machine measured fable's transports", async () => {
    const native: ResultFile = { ...FULL, runs: FULL.runs.filter(() => false) };
    const { selector } = selectorOver([native]);
    const s = selector.select(request(end(1, [0]), end(2, [1])));
    assert.equal(s.basis, "default-order");
    assert.deepEqual(s.ranked.map(candidateName), ["shm:spin", "shm:adaptive", "shm:block", "unix", "tcp"]);
    assert.match(selector.describe(), /^fixed order: no result of this machine \(hardware key [0-9a-f]{16}\)/);
    await selector.close();
  });

  it("keeps a result atomically, once, and never overwrites another file", () => {
    const dir = freshDir();
    const path = keepResult(FULL, dir);
    assert.equal(keepResult(FULL, dir), path);
    assert.deepEqual(readdirSync(dir), [path.split("/").pop()]);
    assert.deepEqual(readResult(path), FULL);
    writeFileSync(path, "something else");
    assert.throws(() => keepResult(FULL, dir), { code: "EKEEPRESULT", message: /exists with other content/ });
    assert.equal(readFileSync(path, "utf8"), "something else");
    assert.deepEqual(
      readStoredResults(dir).skipped.map((s) => s.path),
      [path],
    );
  });
});

describe("calibration", () => {
  it("runs once for real while the fixed order answers, under a lock, and the selector then uses it", async () => {
    const dir = join(freshDir(), "results");
    const options = {
      dir,
      // As short as the orchestrator allows: two transports, one throughput size, 1 ms budgets.
      calibration: { mechanisms: ["fable-shm-block", "fable-unix"], budgetMs: 1, warmupMs: 0, throughputSizes: [4096] },
      // The selector that found the lock rescans at most every rescanMs: with serving probes the calibration can end
      // within the default second, and this test looks at once.
      rescanMs: 0,
      log: () => {},
    };
    const first = createMeasuredSelector(options);
    const second = createMeasuredSelector(options);
    const req = request(end(1, [0]), end(2, [1]));
    assert.equal(first.select(req).basis, "default-order");
    assert.match(first.describe(), /calibrating since/);
    const outcomes = await Promise.all([first.calibrated(), second.calibrated()]);
    // Two selectors racing on one data directory: one calibrates, the other finds the lock.
    assert.deepEqual(outcomes.map((o) => o?.kind).sort(), ["busy", "kept"]);
    const kept = outcomes.find((o) => o?.kind === "kept");
    assert.ok(kept?.kind === "kept");
    const doc = readResult(kept.path);
    assert.equal(doc.machine.hardwareKey, thisMachine().hardwareKey);
    assert.deepEqual([...new Set(doc.runs.map((r) => r.mechanism))], ["fable-shm-block", "fable-unix"]);
    assert.ok(doc.runs.some((r) => r.status === "ok"));
    for (const s of [first, second]) {
      const selection = s.select(req);
      assert.equal(selection.basis, "measured");
      assert.equal(selection.result, kept.path);
      assert.ok(selection.verdicts.some((v) => v.prediction !== null));
    }
    assert.ok(!existsSync(join(dir, "..", "calibration.lock")), "the lock is released");
    await Promise.all([first.close(), second.close()]);
  });

  it("a daemon killed mid-calibration leaves no process; the next one takes the stale lock and calibrates", async () => {
    const dir = join(freshDir(), "results");
    const selection = pathToFileURL(join(repoRoot, "dist", "src", "bench", "selection.js")).href;
    // A stand-in for the daemon: a real process holding a measured selector, killed with SIGKILL.
    const script = `
      const { createMeasuredSelector } = await import(${JSON.stringify(selection)});
      const s = createMeasuredSelector({ dir: ${JSON.stringify(dir)}, calibration: { budgetMs: 5000 }, log: () => {} });
      const t = setInterval(() => {
        const m = /\\(pid (\\d+)\\)/.exec(s.describe());
        if (m) { console.log(m[1]); clearInterval(t); }
      }, 10);`;
    const daemon = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      daemon.stdout.setEncoding("utf8").once("data", (d: string) => resolve(Number(d.trim())));
      daemon.once("exit", (code) => reject(new Error(`the selector's process exited (${code}) before calibrating`)));
    });
    for (let i = 0; i < 500 && liveInGroup(pid).length < 2; i++) await sleep(10);
    daemon.kill("SIGKILL");
    await once(daemon, "exit");
    for (let i = 0; i < 500 && liveInGroup(pid).length > 0; i++) await sleep(10);
    assert.deepEqual(liveInGroup(pid), [], "the calibration ended with its daemon");

    // The dead daemon's lock goes stale (10 s without an update); a new selector then calibrates.
    const next = createMeasuredSelector({
      dir,
      calibration: { mechanisms: ["fable-unix"], budgetMs: 1, warmupMs: 0, throughputSizes: [4096] },
      retryBusyMs: 500,
      log: () => {},
    });
    const req = request(end(1, [0]), end(2, [1]));
    for (let i = 0; i < 600 && next.select(req).basis !== "measured"; i++) await sleep(50);
    assert.equal(next.select(req).basis, "measured", next.describe());
    await next.close();
  });

  it("close() stops a running calibration and the processes it started", async () => {
    const dir = join(freshDir(), "results");
    const selector = createMeasuredSelector({ dir, calibration: { budgetMs: 5000 }, log: () => {} });
    let pid: number | undefined;
    for (let i = 0; i < 500 && pid === undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const m = /\(pid (\d+)\)/.exec(selector.describe());
      if (m !== null) pid = Number(m[1]);
    }
    assert.ok(pid !== undefined, "the calibration started");
    // Let it reach its first probe, so that there is more than the child to stop.
    for (let i = 0; i < 500 && liveInGroup(pid).length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(liveInGroup(pid).length >= 2, "the calibration started a probe");
    await selector.close();
    assert.deepEqual(await selector.calibrated(), { kind: "stopped" });
    for (let i = 0; i < 200 && liveInGroup(pid).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(liveInGroup(pid), [], "no process of the calibration's group is left");
    assert.deepEqual(readdirSync(dir), []);
  });
});
