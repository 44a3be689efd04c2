/**
 * The bench orchestrator: decides which tests to run, runs each one in a probe (the C engine or
 * the Node probe, both honouring src/bench/probe.ts; a bench run keeps them serving, probe-host.ts),
 * turns raw samples into statistics, and assembles the result document. It never measures anything
 * itself.
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
import { type HostCommand, ProbeHosts } from "./probe-host.js";
import type { ProbeMode, ProbeOutput, ProbeSuccess } from "./probe.js";
import {
  RESULT_SCHEMA_VERSION,
  type ResultFile,
  type RoundEntry,
  type Run,
  type RunFlag,
  validateResult,
} from "./result.js";
import { MECHANISMS } from "./mechanisms.js";
import {
  combineRounds,
  markAsymmetric,
  roundFigure,
  roundNoise,
  roundSchedule,
  type RoundState,
  seededRandom,
  shuffled,
} from "./rounds.js";
import {
  readingState,
  roundState,
  type SentinelReading,
  sentinelMechanism,
  sentinelReference,
  type SentinelReference,
  sentinelRunSettings,
  type SentinelSettings,
  STALL_RATIO,
  STATE_RATIO,
} from "./sentinel.js";
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
  /** How long past its warm-up and budget a probe may take to answer before it is killed (default 30 s). */
  readonly answerSlackMs?: number;
}

/**
 * Rough wall time of one round, for progress and ETA: the budgets plus what a serving probe spends
 * around them (a Node round still starts its side B: a process, or a worker thread).
 */
export function estimateMs(test: TestPlan, s: RunSettings): number {
  const startup = test.mechanism.probe === "node" ? 100 : 20;
  return s.warmupMs + s.budgetMs + startup;
}

export class ProbeError extends FableError {}

export function probeCommand(kind: ProbeKind): [string, string[]] {
  if (kind === "engine") return [buildProduct("fable-engine"), []];
  return [process.execPath, [fileURLToPath(new URL("./node-probe/main.js", import.meta.url))]];
}

interface ProbeRun {
  output: ProbeOutput;
  samplesPath: string;
}

/**
 * Runs one test, on a serving probe of `hosts` or else in a single-shot probe invocation; resolves
 * with its parsed output whatever happened.
 */
async function invokeProbe(test: TestPlan, s: RunSettings, hosts?: ProbeHosts): Promise<ProbeRun> {
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
  // Probes bound themselves; this only catches one that is stuck for good.
  const limitMs = s.warmupMs + s.budgetMs + (s.answerSlackMs ?? 30_000);
  if (hosts !== undefined) {
    const output = await hosts.run(test.mechanism.probe, test.mechanism.name, args.slice(prefix.length), limitMs);
    return { output, samplesPath };
  }

  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d.slice(0, 4000)));
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

/** The error code of a round that measured nothing: re-run like a flagged round, not a failed test. */
export const NO_SAMPLES = "ENOSAMPLES";

/** A failure that fails the test at once: anything but a round that measured nothing. */
function hardFailure(run: Run): boolean {
  return run.status === "failed" && run.error.code !== NO_SAMPLES;
}

/**
 * Runs one test (one round) and returns its run entry: a figure, or a failure with its reason. Never
 * throws for a test failure. Without `hosts`, in a single-shot probe invocation.
 */
export async function runTest(test: TestPlan, topology: Topology, s: RunSettings, hosts?: ProbeHosts): Promise<Run> {
  const common = {
    mechanism: test.mechanism.name,
    mode: test.mode,
    size: test.size,
    cpus: [test.cpus[0], test.cpus[1]] as Pair,
    placement: placementClass(topology, test.cpus[0], test.cpus[1]),
    numaDistance: numaDistance(topology, test.cpus[0], test.cpus[1]),
  };
  const { output, samplesPath } = await invokeProbe(test, s, hosts);
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
    if (output.samples === 0 && raw.length === 0) {
      // Not a wrong result but none: the measured phase passed without one sample (a side starved of CPU).
      const msg = "the measured phase ended without a sample (did a side get its CPU?)";
      return { ...common, status: "failed", error: { code: NO_SAMPLES, message: msg } };
    }
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
  /** Rounds per test; `budgetMs` and `warmupMs` are per round. */
  readonly rounds: number;
  /** Seed of the shuffled order of rounds (recorded in the result). */
  readonly seed: number;
  readonly sentinel: SentinelSettings;
  /** Re-runs of flagged rounds: at most this many per test, and at most `rerunShare` of the planned rounds. */
  readonly maxRerunsPerTest: number;
  readonly rerunShare: number;
}

/** A round as the hooks see it. `rerun` rounds replace rounds the sentinel flagged. */
export interface RoundInfo {
  readonly test: TestPlan;
  /** Index of the test in the plan. */
  readonly testIndex: number;
  readonly round: number;
  readonly rerun: boolean;
  /** Position in the run's order of rounds, and the number planned so far (re-runs add to it). */
  readonly slot: number;
  readonly total: number;
}

export interface BenchHooks {
  onRoundStart?(round: RoundInfo): void;
  /** Awaited: a test may change the machine between rounds (start a CPU hog) before the next reading. */
  onRoundEnd?(round: RoundInfo, run: Run): void | Promise<void>;
  onSentinel?(reading: SentinelReading, index: number): void;
  /** Before the re-runs of flagged rounds: how many there will be at most. */
  onReruns?(count: number): void;
  /** A serving probe was started for `mechanism` (the engine's serves every engine mechanism). */
  onProbeHost?(kind: ProbeKind, mechanism: string, pid: number | undefined): void;
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

/** One round as taken: its run entry, and the sentinel readings just before and after it. */
interface RoundRecord {
  run: Run;
  slot: number;
  startMs: number;
  rerun: boolean;
  before: number | null;
  after: number | null;
}

/** One sentinel reading, or why there is none. */
async function sentinelReading(
  test: TestPlan,
  s: RunSettings,
  atMs: number,
  hosts: ProbeHosts,
): Promise<SentinelReading | string> {
  const { output, samplesPath } = await invokeProbe(test, s, hosts);
  try {
    if (!output.ok) return `${output.error.code}: ${scrubText(output.error.message)}`;
    if (!output.pinning.verified) return `EPINNING: the sentinel ran on CPUs ${output.pinning.observed.join(",")}`;
    const bytes = readFileSync(samplesPath);
    const samples = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.byteLength & ~7)));
    // No round trip in the whole measured phase: a side never got its CPU; the phase's length bounds it.
    const meanNs =
      output.iterations > 0 ? output.elapsedNs / output.iterations : Math.max(output.elapsedNs, s.budgetMs * 1e6);
    return { atMs, meanNs, p50Ns: samples.length > 0 ? summarize(samples).p50 : meanNs };
  } catch (err) {
    return `the sentinel's samples could not be read: ${(err as Error).message}`;
  } finally {
    rmSync(samplesPath, { force: true });
  }
}

/** Takes sentinel readings between rounds and keeps the timeline. */
class SentinelClock {
  readonly readings: SentinelReading[] = [];
  /** The first failure of a reading, if any. */
  error: string | null = null;
  private failures = 0;
  private disabled = false;
  private lastMs = -Infinity;
  /** Rounds that ended since the last reading: they get the next one as their `after`. */
  private waiting: RoundRecord[] = [];
  private readonly test: TestPlan | null;

  constructor(
    private readonly settings: SentinelSettings,
    private readonly started: number,
    private readonly hooks: BenchHooks,
    private readonly hosts: ProbeHosts,
  ) {
    const mechanism = sentinelMechanism(MECHANISMS);
    const cpus = settings.cpus;
    this.test = mechanism !== undefined && cpus !== null ? { mechanism, mode: "latency", size: 64, cpus } : null;
  }

  get enabled(): boolean {
    return this.test !== null && !this.disabled;
  }

  /** The index of the newest reading, or null. */
  get last(): number | null {
    return this.readings.length === 0 ? null : this.readings.length - 1;
  }

  ended(record: RoundRecord): void {
    this.waiting.push(record);
  }

  /** Takes a reading if one is due (or `force`); the rounds waiting for one get it as their `after`. */
  async tick(force = false): Promise<void> {
    if (!this.enabled || this.test === null) return;
    const now = performance.now() - this.started;
    if (!force && now - this.lastMs < this.settings.everyMs) return;
    this.lastMs = now;
    const got = await sentinelReading(this.test, sentinelRunSettings(this.settings), now, this.hosts);
    if (typeof got === "string") {
      // Said once; a sentinel that never got a reading stops trying (every round's state is then unknown).
      this.error ??= got.slice(0, 200);
      if (++this.failures >= 3 && this.readings.length === 0) this.disabled = true;
      return;
    }
    const reading = got;
    this.readings.push(reading);
    for (const r of this.waiting) r.after = this.readings.length - 1;
    this.waiting = [];
    this.hooks.onSentinel?.(reading, this.readings.length - 1);
  }
}

function stateOf(record: RoundRecord, sentinel: SentinelClock, reference: SentinelReference | null): RoundState {
  return roundState(sentinel.readings, reference, record.before, record.after);
}

/** A test's run entry from its rounds: the median kept round's statistics, the rounds' headlines, the flags. */
function combine(records: readonly RoundRecord[], sentinel: SentinelClock, reference: SentinelReference | null): Run {
  const hard = records.find((r) => hardFailure(r.run));
  const oks = records.flatMap((r) => (r.run.status === "ok" ? [{ record: r, run: r.run }] : []));
  // A hard failure is the test's result; so is a round that measured nothing when no round measured anything.
  if (hard !== undefined || oks.length === 0) return (hard ?? records[0])?.run as Run;
  const outcomes = oks.map((o) => ({ run: o.run, state: stateOf(o.record, sentinel, reference) }));
  const c = combineRounds(outcomes);
  const chosen = (oks[c.chosen] as (typeof oks)[number]).run;
  const list: RoundEntry[] = records.map((record) => {
    const i = oks.findIndex((o) => o.record === record);
    const o = oks[i];
    const common = { slot: record.slot, startMs: Math.round(record.startMs), rerun: record.rerun };
    if (o === undefined) {
      const code = record.run.status === "failed" ? record.run.error.code : NO_SAMPLES;
      const state = stateOf(record, sentinel, reference);
      return { ...common, figure: 0, noise: 0, n: 0, cv: 0, drift: 0, state, kept: false, error: code };
    }
    return {
      ...common,
      figure: roundFigure(o.run),
      noise: roundNoise(o.run.samples.values),
      n: o.run.stats.n,
      cv: o.run.stats.cv,
      drift: o.run.stats.drift,
      state: (outcomes[i] as (typeof outcomes)[number]).state,
      kept: c.kept[i] ?? false,
    };
  });
  return {
    ...chosen,
    flags: [...chosen.flags, ...c.flags],
    rounds: {
      chosen: list.findIndex((e) => e.slot === oks[c.chosen]?.record.slot),
      spread: c.spread,
      noise: c.noise,
      list,
    },
  };
}

/**
 * Runs the whole plan in interleaved rounds, with the sentinel between them, on serving probes, and
 * returns a validated result. `hostCommand` says how to start a serving probe of a kind.
 */
export async function runBench(
  config: BenchConfig,
  machine: Machine,
  hooks: BenchHooks = {},
  now: Date = new Date(),
  hostCommand: HostCommand = probeCommand,
): Promise<ResultFile> {
  checkPairs(machine.topology, [...config.latencyPairs, ...config.throughputPairs]);
  const tests = planTests(config);
  const started = performance.now();
  const hosts = new ProbeHosts(hostCommand, (kind, mechanism, pid) => hooks.onProbeHost?.(kind, mechanism, pid));
  try {
    return await runRounds(config, machine, hooks, now, tests, started, hosts);
  } finally {
    hosts.close();
  }
}

async function runRounds(
  config: BenchConfig,
  machine: Machine,
  hooks: BenchHooks,
  now: Date,
  tests: readonly TestPlan[],
  started: number,
  hosts: ProbeHosts,
): Promise<ResultFile> {
  const sentinel = new SentinelClock(config.sentinel, started, hooks, hosts);
  const records: RoundRecord[][] = tests.map(() => []);
  const failed = new Set<number>();
  let slot = 0;
  let total = tests.length * config.rounds;

  const runRound = async (testIndex: number, round: number, rerun: boolean): Promise<void> => {
    const test = tests[testIndex] as TestPlan;
    const info: RoundInfo = { test, testIndex, round, rerun, slot, total };
    slot++;
    hooks.onRoundStart?.(info);
    const before = sentinel.last;
    const startMs = performance.now() - started;
    const run = await runTest(test, machine.topology, config, hosts);
    const record: RoundRecord = { run, slot: info.slot, startMs, rerun, before, after: null };
    records[testIndex]?.push(record);
    sentinel.ended(record);
    // A failed round fails the test (a corrupted message is never outvoted): its other rounds are skipped.
    if (hardFailure(record.run)) failed.add(testIndex);
    await hooks.onRoundEnd?.(info, record.run);
    await sentinel.tick();
  };

  await sentinel.tick(true);
  for (const s of roundSchedule(tests.length, config.rounds, config.seed)) {
    if (failed.has(s.test)) {
      total--;
      continue;
    }
    await runRound(s.test, s.round, false);
  }
  await sentinel.tick(true);

  // Re-run flagged rounds, in passes over the tests that have fewer usual rounds than asked, within both
  // bounds. The reference is recomputed each pass: the re-runs' readings count too.
  let budget = Math.floor(tests.length * config.rounds * config.rerunShare);
  const reruns = tests.map(() => 0);
  let rerun = 0;
  const random = seededRandom(config.seed ^ 0x5bd1e995);
  for (let pass = 0; pass < config.maxRerunsPerTest && budget > 0 && sentinel.enabled; pass++) {
    const reference = sentinelReference(sentinel.readings);
    const due = shuffled(
      tests
        .map((_, i) => i)
        .filter((i) => {
          const states = (records[i] ?? []).map((r) => stateOf(r, sentinel, reference));
          return (
            !failed.has(i) && states.includes("other") && states.filter((x) => x !== "other").length < config.rounds
          );
        }),
      random,
    ).slice(0, budget);
    if (due.length === 0) break;
    hooks.onReruns?.(due.length);
    total += due.length;
    for (const i of due) {
      reruns[i] = (reruns[i] ?? 0) + 1;
      budget--;
      rerun++;
      await runRound(i, config.rounds - 1 + (reruns[i] ?? 0), true);
    }
    await sentinel.tick(true);
  }

  const reference = sentinelReference(sentinel.readings);
  const runs = records.map((r) => combine(r, sentinel, reference));
  markAsymmetric(runs);
  const flagged = records.flat().filter((r) => stateOf(r, sentinel, reference) === "other").length;

  const benchmarks: ResultFile["benchmarks"] = {};
  for (const m of config.mechanisms) benchmarks[m.name] = { method: m.method, probe: m.probe };
  const sentinelCpus = config.sentinel.cpus;
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
      rounds: config.rounds,
      seed: config.seed,
    },
    benchmarks,
    runs,
    ...(sentinelCpus === null
      ? {}
      : {
          sentinel: {
            mechanism: "cacheline" as const,
            cpus: [sentinelCpus[0], sentinelCpus[1]] as Pair,
            budgetMs: config.sentinel.budgetMs,
            everyMs: config.sentinel.everyMs,
            ratio: STATE_RATIO,
            stallRatio: STALL_RATIO,
            reference: reference?.p50Ns ?? null,
            stallReference: reference?.stall ?? null,
            readings: sentinel.readings.map((r) => ({
              atMs: Math.round(r.atMs),
              meanNs: r.meanNs,
              p50Ns: r.p50Ns,
              state: readingState(r, reference),
            })),
            roundsFlagged: flagged,
            roundsRerun: rerun,
            error: sentinel.error === null ? null : scrubText(sentinel.error),
          },
        }),
  };
  return validateResult(doc);
}

/** This machine's topology and environment, read live from sysfs and procfs. */
export function readMachine(): Machine {
  return { topology: readTopology(), environment: readEnvironment() };
}
