// The Node probe honours the probe contract (src/bench/probe.ts): run as the orchestrator runs it,
// a separate process, one JSON object on stdout, exit codes 0 / 2 / 3, raw samples file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { ProbeFailure, ProbeMode, ProbeSuccess } from "../../src/bench/probe.js";

const MAIN = fileURLToPath(new URL("../../src/bench/node-probe/main.js", import.meta.url));
const MECHANISMS = [
  "node-net-unix",
  "node-net-tcp",
  "node-worker-postmessage",
  "node-child-ipc",
  "zeromq-ipc",
  "zeromq-inproc",
  "fable-shm-spin",
  "fable-shm-adaptive",
  "fable-shm-block",
  "fable-sab",
  "fable-unix",
  "fable-tcp",
  "fable-pipe",
] as const;
const MODES: readonly ProbeMode[] = ["latency", "throughput"];
const SHORT = ["--cpus", "0,1", "--budget-ms", "100", "--warmup-ms", "30"];

interface ProbeRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly pid: number;
  readonly output: unknown;
}

function runProbe(args: readonly string[]): Promise<ProbeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const lines = stdout.split("\n").filter((l) => l !== "");
      if (lines.length !== 1) {
        reject(new Error(`expected one JSON line on stdout, got ${lines.length}: ${stdout}\nstderr: ${stderr}`));
        return;
      }
      resolve({ code, stdout, pid: child.pid ?? -1, output: JSON.parse(lines[0] as string) });
    });
  });
}

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "fable-node-probe-test-"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileNo = 0;
function samplesPath(): string {
  return join(dir, `samples-${fileNo++}.f64`);
}

function readSamples(path: string): Float64Array {
  const bytes = readFileSync(path);
  const out = new Float64Array(bytes.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readDoubleLE(i * 8);
  return out;
}

function assertNoSocketLeft(pid: number): void {
  const left = readdirSync(tmpdir()).filter((f) => f.startsWith(`fable-probe-${pid}-`));
  assert.deepEqual(left, [], "the probe removes its unix socket file");
}

async function assertRuns(mechanism: string, mode: ProbeMode, size: number): Promise<ProbeSuccess> {
  const path = samplesPath();
  const run = await runProbe([
    "--mechanism",
    mechanism,
    "--mode",
    mode,
    "--size",
    String(size),
    ...SHORT,
    "--samples-out",
    path,
  ]);
  assert.equal(run.code, 0, run.stdout);
  const out = run.output as ProbeSuccess;
  assert.equal(out.ok, true);
  assert.equal(out.probe, "node");
  assert.equal(out.mechanism, mechanism);
  assert.equal(out.mode, mode);
  assert.equal(out.size, size);
  assert.deepEqual(out.cpus, [0, 1]);
  assert.deepEqual(out.pinning, { verified: true, observed: [0, 1] });
  assert.equal(out.clock.source, "hrtime");
  assert.ok(out.clock.overheadNs >= 0 && out.clock.overheadNs < 100_000);
  assert.ok(out.iterations > 0, "iterations");
  assert.ok(out.warmupIterations > 0, "warm-up iterations");
  assert.ok(out.elapsedNs > 0);
  assert.ok(out.samples > 0);
  if (mode === "latency") {
    assert.equal(out.batchMessages, 1);
    assert.equal(out.bytes, 0);
    assert.equal(out.samples, out.iterations);
  } else {
    assert.equal(out.batchMessages, Math.max(1, Math.floor(65536 / size)));
    assert.equal(out.bytes, out.iterations * size);
    assert.equal(out.samples * out.batchMessages, out.iterations);
  }
  assert.equal(out.budgetExhausted, out.iterations < 100);
  const samples = readSamples(path);
  assert.equal(samples.length, out.samples, "samples file holds samples * 8 bytes");
  for (const s of samples) assert.ok(Number.isFinite(s) && s > 0, `sample ${s} is a finite positive duration`);
  if (mode === "throughput") {
    const sum = samples.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - out.elapsedNs) <= 1e-6 * out.elapsedNs + 1, "throughput elapsed = sum of batches");
  }
  assertNoSocketLeft(run.pid);
  return out;
}

test("--list names the mechanisms, each with both modes", async () => {
  const run = await runProbe(["--list"]);
  assert.equal(run.code, 0);
  assert.deepEqual(run.output, {
    mechanisms: MECHANISMS.map((name) => ({ name, modes: ["latency", "throughput"] })),
  });
});

describe("short runs, pinned to CPUs 0 and 1", () => {
  for (const mechanism of MECHANISMS) {
    for (const mode of MODES) {
      test(`${mechanism} ${mode} 64 B`, async () => {
        await assertRuns(mechanism, mode, 64);
      });
    }
    test(`${mechanism} throughput 64 KiB`, async () => {
      await assertRuns(mechanism, "throughput", 65536);
    });
  }
  test("node-net-unix throughput 8 B and 1 MiB", async () => {
    await assertRuns("node-net-unix", "throughput", 8);
    const big = await assertRuns("node-net-unix", "throughput", 1024 * 1024);
    assert.equal(big.batchMessages, 1);
  });
  for (const mechanism of ["zeromq-ipc", "zeromq-inproc"]) {
    test(`${mechanism} above zeromq.js's 128-byte copy threshold (zero-copy sends)`, async () => {
      const out = await assertRuns(mechanism, "latency", 4096);
      assert.match(String(out.params.library), /^zeromq\.js 6\.8\.0, libzmq \d+\.\d+\.\d+$/);
      const stream = await assertRuns(mechanism, "throughput", 129);
      assert.match(String(stream.params.sideABuffers), /new Buffer per message/);
      assert.match(String((await assertRuns(mechanism, "throughput", 128)).params.sideABuffers), /reused/);
    });
  }
  // (The stream transports' records hold 16 MiB: too large a message for a short test.)
  for (const mechanism of ["fable-shm-adaptive", "fable-sab"]) {
    test(`${mechanism}: a message larger than one record goes through send() (fragments)`, async () => {
      const small = await assertRuns(mechanism, "latency", 64);
      assert.match(String(small.params.api), /getWriteBuffers\/commit/);
      const limit = Number(small.params.maxRecordBytes);
      assert.ok(limit > 0 && limit < 4 * 1024 * 1024, `maxRecordBytes ${limit}`);
      const size = 2 * limit + 100;
      for (const mode of MODES) {
        const big = await assertRuns(mechanism, mode, size);
        assert.match(String(big.params.api), /Connection\.send/);
      }
    });
  }
  test("--max-samples caps the measured phase", async () => {
    const run = await runProbe([
      ...["--mechanism", "node-worker-postmessage", "--mode", "latency", "--size", "64"],
      ...["--cpus", "0,1", "--budget-ms", "5000", "--warmup-ms", "10", "--max-samples", "50"],
    ]);
    assert.equal(run.code, 0);
    const out = run.output as ProbeSuccess;
    assert.equal(out.samples, 50);
    assert.equal(out.iterations, 50);
    assert.equal(out.budgetExhausted, true);
  });
});

describe("--corrupt-at: the reader reports ESEQUENCE, never a figure", () => {
  for (const mechanism of MECHANISMS) {
    for (const mode of MODES) {
      test(`${mechanism} ${mode}`, async () => {
        const path = samplesPath();
        const run = await runProbe([
          ...["--mechanism", mechanism, "--mode", mode, "--size", "64", ...SHORT],
          // A budget message 3 always comes within, even at a scheduler slice per message; the run stops there.
          ...["--budget-ms", "10000", "--corrupt-at", "3", "--samples-out", path],
        ]);
        assert.equal(run.code, 3, run.stdout);
        const out = run.output as ProbeFailure;
        assert.equal(out.ok, false);
        assert.equal(out.probe, "node");
        assert.equal(out.mechanism, mechanism);
        assert.equal(out.error.code, "ESEQUENCE", JSON.stringify(out.error));
        assert.equal(typeof out.error.expected, "number");
        assert.equal(typeof out.error.received, "number");
        assert.notEqual(out.error.expected, out.error.received);
        assert.equal(existsSync(path), false, "no samples are written");
        assertNoSocketLeft(run.pid);
      });
    }
  }
});

/** The pids of a process's children (Linux). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim().split(/\s+/))
      .filter((s) => s !== "")
      .map(Number);
  } catch {
    return [];
  }
}

describe("a peer that dies is an error, never a figure", () => {
  for (const mechanism of ["node-net-unix", "zeromq-ipc", "fable-shm-adaptive", "fable-tcp"]) {
    test(`${mechanism}: side B killed while measuring is EPEER, exit 3`, async () => {
      const path = samplesPath();
      const child = spawn(
        process.execPath,
        [
          MAIN,
          ...["--mechanism", mechanism, "--mode", "latency", "--size", "64"],
          ...["--cpus", "0,1", "--budget-ms", "20000", "--warmup-ms", "30", "--samples-out", path],
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
      child.stderr.resume();
      const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
      const pid = child.pid ?? -1;
      let peers: number[] = [];
      for (let i = 0; i < 100 && peers.length === 0; i++) {
        await sleep(50);
        peers = childrenOf(pid);
      }
      assert.equal(peers.length, 1, "the probe forked one peer");
      await sleep(700); // past the warm-up, into the measured phase
      process.kill(peers[0] as number, "SIGKILL");
      const code = await closed;
      assert.equal(code, 3, stdout);
      const out = JSON.parse(stdout) as ProbeFailure;
      assert.equal(out.ok, false);
      assert.equal(out.mechanism, mechanism);
      assert.equal(out.error.code, "EPEER");
      assert.match(out.error.message, new RegExp(`side B \\(pid ${peers[0]}\\) was killed by SIGKILL`));
      assert.equal(existsSync(path), false, "no samples are written");
      assertNoSocketLeft(pid);
    });
  }
});

describe("bad invocations", () => {
  test("an unknown mechanism is EUSAGE, exit 2", async () => {
    const run = await runProbe(["--mechanism", "node-pigeon", "--mode", "latency", "--size", "64", ...SHORT]);
    assert.equal(run.code, 2);
    const out = run.output as ProbeFailure;
    assert.equal(out.ok, false);
    assert.equal(out.error.code, "EUSAGE");
    assert.match(out.error.message, /node-pigeon/);
  });

  test("a size below 8 bytes is EUSAGE, exit 2", async () => {
    const run = await runProbe(["--mechanism", "node-net-tcp", "--mode", "latency", "--size", "4", ...SHORT]);
    assert.equal(run.code, 2);
    assert.equal((run.output as ProbeFailure).error.code, "EUSAGE");
  });

  test("a CPU that does not exist is EPINNING, exit 3, naming the CPU", async () => {
    const run = await runProbe([
      ...["--mechanism", "node-net-tcp", "--mode", "latency", "--size", "64"],
      ...["--cpus", "0,4096", "--budget-ms", "100", "--warmup-ms", "30"],
    ]);
    assert.equal(run.code, 3);
    const out = run.output as ProbeFailure;
    assert.equal(out.error.code, "EPINNING");
    assert.match(out.error.message, /4096/);
  });
});
