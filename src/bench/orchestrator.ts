/**
 * The bench orchestrator: decides which tests to run, runs each one in a probe (the C engine or
 * the Node probe, both honouring src/bench/probe.ts), turns raw samples into statistics, and
 * assembles the result document. It never measures anything itself.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FableError, UsageError } from "../errors.js";
import { buildProduct } from "../native/load.js";
import { readEnvironment, type Environment } from "./environment.js";
import { hardwareKey, machineId, suiteInfo } from "./machine.js";
import type { Mechanism, ProbeKind } from "./mechanisms.js";
import { scrubText } from "./privacy.js";
import type { ProbeMode, ProbeOutput, ProbeSuccess } from "./probe.js";
import { RESULT_SCHEMA_VERSION, type ResultFile, type Run, type RunFlag, validateResult } from "./result.js";
import { summarize, thin, throughputWindows } from "./statistics.js";
import { numaDistance, placementClass, readTopology, type Topology } from "./topology.js";

export type Pair = [number, number];

export interface TestPlan {
  readonly mechanism: Mechanism;
  readonly mode: ProbeMode;
  readonly size: number;
  readonly cpus: Pair;
}

export interface PlanOptions {
  readonly mechanisms: readonly Mechanism[];
  readonly modes: readonly ProbeMode[];
  readonly latencySizes: readonly number[];
  readonly throughputSizes: readonly number[];
  readonly latencyPairs: readonly Pair[];
  readonly throughputPairs: readonly Pair[];
}

/** Every (mechanism, mode, size, pair) asked for, skipping modes a mechanism does not have. */
export function planTests(o: PlanOptions): TestPlan[] {
  const tests: TestPlan[] = [];
  for (const mode of o.modes) {
    const sizes = mode === "latency" ? o.latencySizes : o.throughputSizes;
    const pairs = mode === "latency" ? o.latencyPairs : o.throughputPairs;
    for (const mechanism of o.mechanisms) {
      if (!mechanism.modes.includes(mode)) continue;
      for (const size of sizes) for (const cpus of pairs) tests.push({ mechanism, mode, size, cpus });
    }
  }
  return tests;
}

export interface RunSettings {
  readonly budgetMs: number;
  readonly warmupMs: number;
  readonly maxSamples: number;
  /** Test hook: passed to the probe as --corrupt-at. */
  readonly corruptAt?: number;
}

/** Rough wall time of one test, for progress and ETA: the budgets plus the probe's start-up. */
export function estimateMs(test: TestPlan, s: RunSettings): number {
  const startup = test.mechanism.probe === "node" ? 250 : 60;
  return s.warmupMs + s.budgetMs + startup;
}

export class ProbeError extends FableError {}

function probeCommand(kind: ProbeKind): [string, string[]] {
  if (kind === "engine") return [buildProduct("fable-engine"), []];
  return [process.execPath, [fileURLToPath(new URL("./node-probe/main.js", import.meta.url))]];
}

interface ProbeRun {
  output: ProbeOutput;
  samplesPath: string;
}

/** Runs one probe invocation; resolves with its parsed output whatever the exit code. */
async function invokeProbe(test: TestPlan, s: RunSettings): Promise<ProbeRun> {
  const samplesPath = join(tmpdir(), `fable-samples-${process.pid}-${randomBytes(6).toString("hex")}.f64`);
  const [command, prefix] = probeCommand(test.mechanism.probe);
  const args = [
    ...prefix,
    "--mechanism",
    test.mechanism.name,
    "--mode",
    test.mode,
    "--size",
    String(test.size),
    "--cpus",
    test.cpus.join(","),
    "--budget-ms",
    String(s.budgetMs),
    "--warmup-ms",
    String(s.warmupMs),
    "--max-samples",
    String(s.maxSamples),
    "--samples-out",
    samplesPath,
  ];
  if (s.corruptAt !== undefined) args.push("--corrupt-at", String(s.corruptAt));

  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d.slice(0, 4000)));
  // Probes bound themselves; this only catches one that is stuck for good.
  const limitMs = s.warmupMs + s.budgetMs + 30_000;
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  let spawnError: Error | undefined;
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    // A probe that cannot start (its file gone mid-run, a rebuild) fails this test, not the run.
    child.on("error", (err) => {
      spawnError = err;
      resolve([null, null]);
    });
    child.on("close", (c, sig) => resolve([c, sig]));
  }).finally(() => clearTimeout(timer));
  if (spawnError !== undefined) {
    const output: ProbeOutput = {
      ok: false,
      probe: test.mechanism.probe,
      error: {
        code: "ESYSCALL",
        message: `cannot start the probe ${command}: ${spawnError.message} (is the build complete? npm install rebuilds it)`,
      },
    };
    return { output, samplesPath };
  }

  const line = stdout.trim().split("\n").pop() ?? "";
  let output: ProbeOutput;
  try {
    output = JSON.parse(line) as ProbeOutput;
  } catch {
    const why = signal !== null ? `killed by ${signal}` : `exit code ${String(code)}`;
    output = {
      ok: false,
      probe: test.mechanism.probe,
      error: { code: "EPEER", message: `probe printed no result (${why}): ${stderr.trim().slice(0, 300)}` },
    };
  }
  return { output, samplesPath };
}

function runFlags(test: TestPlan, out: ProbeSuccess, cv: number, drift: number): RunFlag[] {
  const flags: RunFlag[] = [];
  if (test.mechanism.spins && test.cpus[0] === test.cpus[1]) flags.push("spin-on-shared-cpu");
  if (out.budgetExhausted) flags.push("budget-exhausted");
  // Thresholds for a person's attention, not for filtering: stddev above the mean, or medians of the
  // first and last quarters more than 20 % apart.
  if (cv > 1) flags.push("noisy");
  if (Math.abs(drift) > 0.2) flags.push("drifting");
  return flags;
}

const KEPT_SAMPLES = 1000;

/** Runs one test and returns its run entry: a figure, or a failure with its reason. Never throws for a test failure. */
export async function runTest(test: TestPlan, topology: Topology, s: RunSettings): Promise<Run> {
  const common = {
    mechanism: test.mechanism.name,
    mode: test.mode,
    size: test.size,
    cpus: [test.cpus[0], test.cpus[1]] as Pair,
    placement: placementClass(topology, test.cpus[0], test.cpus[1]),
    numaDistance: numaDistance(topology, test.cpus[0], test.cpus[1]),
  };
  const { output, samplesPath } = await invokeProbe(test, s);
  try {
    if (!output.ok) {
      return {
        ...common,
        status: "failed",
        error: { code: output.error.code, message: scrubText(output.error.message) },
      };
    }
    if (!output.pinning.verified) {
      const msg = `pinning to CPUs ${test.cpus.join(",")} not verified: observed ${output.pinning.observed.join(",")}`;
      return { ...common, status: "failed", error: { code: "EPINNING", message: msg } };
    }
    // Small files come back in a slice of Node's shared Buffer pool: copy out exactly this file's bytes.
    const bytes = readFileSync(samplesPath);
    if (bytes.byteLength % 8 !== 0) {
      const msg = `samples file holds ${bytes.byteLength} bytes, not a whole number of float64`;
      return { ...common, status: "failed", error: { code: "EPEER", message: msg } };
    }
    const raw = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    if (raw.length !== output.samples || raw.length === 0) {
      const msg = `probe reported ${output.samples} samples but wrote ${raw.length}`;
      return { ...common, status: "failed", error: { code: "EPEER", message: msg } };
    }
    // Throughput: each sample is one batch's duration; the statistics are of fixed time windows' rates.
    const windows = test.mode === "throughput" ? throughputWindows(raw, output.batchMessages * test.size) : undefined;
    const stats = summarize(windows?.rates ?? raw);
    const params: Record<string, number | string | boolean> = {};
    for (const [k, v] of Object.entries(output.params)) params[k] = typeof v === "string" ? scrubText(v) : v;
    return {
      ...common,
      status: "ok",
      unit: test.mode === "latency" ? "ns" : "B/s",
      stats,
      ...(test.mode === "throughput" && output.elapsedNs > 0
        ? {
            rate: {
              bytesPerSecond: (output.bytes * 1e9) / output.elapsedNs,
              messagesPerSecond: (output.iterations * 1e9) / output.elapsedNs,
            },
          }
        : {}),
      iterations: output.iterations,
      warmupIterations: output.warmupIterations,
      elapsedNs: output.elapsedNs,
      batchMessages: output.batchMessages,
      ...(windows !== undefined ? { statsWindowNs: windows.windowNs } : {}),
      clock: output.clock,
      pinning: output.pinning,
      flags: runFlags(test, output, stats.cv, stats.drift),
      samples: { values: thin(raw, KEPT_SAMPLES), of: raw.length },
      params,
    };
  } finally {
    rmSync(samplesPath, { force: true });
  }
}

/** The engine's version, or null if it does not answer (then every engine test fails on its own). */
export async function engineVersion(): Promise<string | null> {
  const child = spawn(buildProduct("fable-engine"), ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  const ok = await new Promise<boolean>((resolve) => {
    child.on("error", () => resolve(false));
    child.on("close", (c) => resolve(c === 0));
  });
  if (!ok) return null;
  try {
    const v = (JSON.parse(out) as { engine?: unknown }).engine;
    return typeof v === "string" ? v : null;
  } catch {
    return null;
  }
}

export interface BenchConfig extends PlanOptions, RunSettings {
  readonly quick: boolean;
  readonly pairsKind: "all" | "representative" | "custom";
}

export interface BenchHooks {
  onTestStart?(test: TestPlan, index: number, total: number): void;
  onTestEnd?(test: TestPlan, run: Run, index: number, total: number): void;
}

export interface Machine {
  topology: Topology;
  environment: Environment;
}

export function checkPairs(topology: Topology, pairs: readonly Pair[]): void {
  const online = new Set(topology.cpus.filter((c) => c.online).map((c) => c.cpu));
  for (const [a, b] of pairs) {
    for (const cpu of [a, b]) {
      if (!online.has(cpu)) {
        const known = [...online].sort((x, y) => x - y).join(",");
        throw new UsageError(`CPU ${cpu} does not exist or is offline on this machine (online CPUs: ${known})`);
      }
    }
  }
}

/** Runs the whole plan and returns a validated result document. */
export async function runBench(
  config: BenchConfig,
  machine: Machine,
  hooks: BenchHooks = {},
  now: Date = new Date(),
): Promise<ResultFile> {
  checkPairs(machine.topology, [...config.latencyPairs, ...config.throughputPairs]);
  const tests = planTests(config);
  const runs: Run[] = [];
  for (const [i, test] of tests.entries()) {
    hooks.onTestStart?.(test, i, tests.length);
    const run = await runTest(test, machine.topology, config);
    runs.push(run);
    hooks.onTestEnd?.(test, run, i, tests.length);
  }
  const benchmarks: ResultFile["benchmarks"] = {};
  for (const m of config.mechanisms) benchmarks[m.name] = { method: m.method, probe: m.probe };
  const doc: ResultFile = {
    schema: RESULT_SCHEMA_VERSION,
    createdAt: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
    suite: { ...suiteInfo(), engine: await engineVersion() },
    machine: {
      id: machineId(),
      hardwareKey: hardwareKey(arch(), machine.topology, machine.environment),
      arch: arch(),
      topology: machine.topology,
      environment: machine.environment,
    },
    config: {
      quick: config.quick,
      budgetMs: config.budgetMs,
      warmupMs: config.warmupMs,
      pairs: config.pairsKind,
      // The sizes of the modes that ran: a throughput-only run lists no latency size.
      sizes: [
        ...new Set(config.modes.flatMap((m) => (m === "latency" ? config.latencySizes : config.throughputSizes))),
      ].sort((a, b) => a - b),
      modes: [...config.modes],
    },
    benchmarks,
    runs,
  };
  return validateResult(doc);
}

/** This machine's topology and environment, read live from sysfs and procfs. */
export function readMachine(): Machine {
  return { topology: readTopology(), environment: readEnvironment() };
}
