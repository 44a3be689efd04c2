/**
 * `fable bench`: measure every IPC mechanism between this machine's CPUs and write one result file.
 * With no options it runs the default suite (about two minutes on a 2-CPU machine).
 */
import { createHash, randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type Command, Option } from "commander";
import { UsageError } from "../errors.js";
import { findMechanism, type Mechanism, MECHANISM_GROUPS, MECHANISMS } from "../bench/mechanisms.js";
import { type BenchConfig, checkPairs, type Pair, readMachine, runBench } from "../bench/orchestrator.js";
import type { ProbeMode } from "../bench/probe.js";
import { sentinelPair } from "../bench/sentinel.js";
import type { ResultFile } from "../bench/result.js";
import { allPairs, representativePairs, type Topology } from "../bench/topology.js";
import { keepForSelection } from "./bench-keep.js";
import { startProgress } from "./bench-progress.js";
import { formatSummary } from "./bench-summary.js";
import { reportPathFor, writeReport } from "./report.js";

interface BenchFlags {
  mechanisms?: string;
  mode: "latency" | "throughput" | "both";
  sizes?: string;
  latencySizes?: string;
  pairs?: string;
  latencyPairs?: string;
  budgetMs?: string;
  warmupMs?: string;
  maxSamples?: string;
  quick: boolean;
  json: boolean;
  out?: string;
  progress: boolean;
  /** false with --no-report. */
  report?: boolean;
  list: boolean;
  corruptAt?: string;
  rounds?: string;
  seed?: string;
  /** false with --no-sentinel. */
  sentinel?: boolean;
  sentinelEveryMs?: string;
}

const DEFAULTS = {
  // 236 tests (26 mechanisms) on 2 CPUs, each in 3 rounds of its budget and warm-up plus what a
  // serving probe spends around a round (~20 ms engine, ~100 ms Node, more under load): the per-test
  // budget of one 350 ms round before rounds was split.
  full: { budgetMs: 50, warmupMs: 15, throughputSizes: [64, 4096, 65536], rounds: 3 },
  // Quick: 2 rounds: its 142 tests (on 2 CPUs) in 3 rounds came to an estimate of 1 min 26 s.
  quick: { budgetMs: 20, warmupMs: 10, throughputSizes: [64, 65536], rounds: 2 },
  latencySizes: [64],
  maxSamples: 2_000_000,
  // The sentinel: a 10 ms cacheline probe at most every 2 s (one probe start-up each).
  sentinel: { budgetMs: 10, warmupMs: 2, everyMs: 2000 },
  maxRerunsPerTest: 2,
  rerunShare: 0.2,
};

function parseCount(text: string, what: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${what} must be a whole number >= ${min}, got "${text}"`);
  return n;
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1 << 20,
  mb: 1 << 20,
  mib: 1 << 20,
};

/** "64,4K,64KiB,1M" -> [64, 4096, 65536, 1048576]. Sizes are at least 8 bytes (the sequence number). */
export function parseSizes(text: string, what: string): number[] {
  return text.split(",").map((part) => {
    const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(part);
    const unit = m ? UNITS[(m[2] ?? "").toLowerCase()] : undefined;
    if (!m || unit === undefined) throw new UsageError(`${what}: "${part}" is not a size (e.g. 64, 4K, 64KiB, 1M)`);
    const bytes = Number(m[1]) * unit;
    if (bytes < 8 || bytes > 256 << 20) {
      throw new UsageError(
        `${what}: ${part} is out of range (8 B to 256 MiB: every message carries an 8-byte sequence number)`,
      );
    }
    return bytes;
  });
}

/** "all" | "representative" | "0-1,2-3" (CPU A to CPU B). */
export function parsePairs(text: string, topology: Topology): { pairs: Pair[]; kind: BenchConfig["pairsKind"] } {
  if (text === "all") return { pairs: allPairs(topology), kind: "all" };
  if (text === "representative") return { pairs: [...representativePairs(topology).values()], kind: "representative" };
  const pairs = text.split(",").map((part): Pair => {
    const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(part);
    if (!m) throw new UsageError(`pairs: "${part}" is not a CPU pair; use all, representative, or A-B[,C-D...]`);
    return [Number(m[1]), Number(m[2])];
  });
  checkPairs(topology, pairs);
  return { pairs, kind: "custom" };
}

export function parseMechanisms(text: string | undefined): Mechanism[] {
  if (text === undefined || text === "all") return [...MECHANISMS];
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (names.length === 0) throw new UsageError("mechanisms: the list is empty");
  return names
    .map((name) => {
      const group = MECHANISM_GROUPS.find((g) => g === name);
      if (group !== undefined) return MECHANISMS.filter((m) => m.group === group);
      const m = findMechanism(name);
      if (m === undefined) {
        throw new UsageError(
          `unknown mechanism "${name}"; known: ${MECHANISMS.map((x) => x.name).join(", ")} (or all, ${MECHANISM_GROUPS.join(", ")})`,
        );
      }
      return [m];
    })
    .flat()
    .filter((m, i, all) => all.indexOf(m) === i);
}

function parseSeed(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > 0xffffffff) {
    throw new UsageError(`--seed must be a whole number from 0 to 4294967295, got "${text}"`);
  }
  return n;
}

/** Turns flags into a run configuration; every mistake is a UsageError naming the flag and value. */
export function benchConfig(flags: BenchFlags, topology: Topology): BenchConfig {
  const preset = flags.quick ? DEFAULTS.quick : DEFAULTS.full;
  const modes: ProbeMode[] = flags.mode === "both" ? ["latency", "throughput"] : [flags.mode];
  const latency = parsePairs(flags.latencyPairs ?? (flags.quick ? "representative" : "all"), topology);
  const throughput = parsePairs(flags.pairs ?? "representative", topology);
  return {
    mechanisms: parseMechanisms(flags.mechanisms),
    modes,
    latencySizes: flags.latencySizes ? parseSizes(flags.latencySizes, "--latency-sizes") : DEFAULTS.latencySizes,
    throughputSizes: flags.sizes ? parseSizes(flags.sizes, "--sizes") : preset.throughputSizes,
    latencyPairs: latency.pairs,
    throughputPairs: throughput.pairs,
    pairsKind: latency.kind === throughput.kind ? latency.kind : "custom",
    budgetMs: flags.budgetMs ? parseCount(flags.budgetMs, "--budget-ms", 1) : preset.budgetMs,
    warmupMs: flags.warmupMs ? parseCount(flags.warmupMs, "--warmup-ms", 0) : preset.warmupMs,
    maxSamples: flags.maxSamples ? parseCount(flags.maxSamples, "--max-samples", 1) : DEFAULTS.maxSamples,
    quick: flags.quick,
    rounds: flags.rounds ? parseCount(flags.rounds, "--rounds", 1) : preset.rounds,
    seed: flags.seed ? parseSeed(flags.seed) : randomBytes(4).readUInt32LE(0),
    sentinel: {
      cpus:
        flags.sentinel === false
          ? null
          : sentinelPair(
              [...throughput.pairs, ...latency.pairs],
              topology.cpus.filter((c) => c.online).map((c) => c.cpu),
            ),
      budgetMs: DEFAULTS.sentinel.budgetMs,
      warmupMs: DEFAULTS.sentinel.warmupMs,
      everyMs: flags.sentinelEveryMs
        ? parseCount(flags.sentinelEveryMs, "--sentinel-every-ms", 0)
        : DEFAULTS.sentinel.everyMs,
    },
    maxRerunsPerTest: DEFAULTS.maxRerunsPerTest,
    rerunShare: DEFAULTS.rerunShare,
    ...(flags.corruptAt !== undefined ? { corruptAt: parseCount(flags.corruptAt, "--corrupt-at", 0) } : {}),
  };
}

/** Fails before any test runs if the result (or its report) cannot be written where asked. */
function checkWritable(out: string | undefined, report: boolean): void {
  const dir = out === undefined ? resolve("fable-results") : dirname(resolve(out));
  if (out !== undefined && existsSync(out)) {
    throw new UsageError(`output ${out} exists; result files are never overwritten: choose another path`);
  }
  if (out !== undefined && report && existsSync(reportPathFor(out))) {
    throw new UsageError(`report ${reportPathFor(out)} exists: choose another --out, or --no-report`);
  }
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (cause) {
    throw new UsageError(`cannot write results to ${dir}: ${(cause as Error).message}`);
  }
}

function writeResult(doc: ResultFile, out: string | undefined): string {
  const text = JSON.stringify(doc, null, 1) + "\n";
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 12);
  const path = out ?? join("fable-results", `${doc.createdAt.slice(0, 10)}-${hash}.json`);
  writeFileSync(path, text, { flag: "wx" });
  return path;
}

function listMechanisms(): string {
  const width = Math.max(...MECHANISMS.map((m) => m.name.length));
  return MECHANISMS.map((m) => `${m.name.padEnd(width)}  ${m.modes.join("+").padEnd(19)} ${m.description}`).join("\n");
}

export function registerBench(program: Command, setExit: (code: number) => void): void {
  program
    .command("bench")
    .description("measure every IPC mechanism between this machine's CPUs and write a result file")
    .option("-m, --mechanisms <list>", `comma-separated mechanisms, or all | ${MECHANISM_GROUPS.join(" | ")}`, "all")
    .addOption(
      new Option("--mode <mode>", "what to measure").choices(["latency", "throughput", "both"]).default("both"),
    )
    .option("--sizes <list>", "throughput message sizes, e.g. 64,4K,64K (default 64,4K,64K; quick 64,64K)")
    .option("--latency-sizes <list>", "latency message sizes (default 64)")
    .option("--pairs <pairs>", "throughput CPU pairs: representative | all | A-B,C-D (default representative)")
    .option(
      "--latency-pairs <pairs>",
      "latency CPU pairs: all | representative | A-B,C-D (default all; quick representative)",
    )
    .option(
      "--rounds <n>",
      "rounds per test, interleaved over the run; the figure is their median (default 3; quick 2)",
    )
    .option("--seed <n>", "seed of the shuffled order of rounds (default random; recorded in the result)")
    .option("--budget-ms <ms>", "measured time per round (default 50; quick 20)")
    .option("--warmup-ms <ms>", "discarded warm-up per round (default 15; quick 10)")
    .option("--no-sentinel", "no machine-state sentinel between rounds (nothing is flagged or re-run)")
    .option("--max-samples <n>", "cap on samples per test", String(DEFAULTS.maxSamples))
    .option("--quick", "a short suite: latency on one pair per placement class, throughput at 64 B and 64 KiB", false)
    .option("--json", "print the result document on stdout instead of the summary", false)
    .option("-o, --out <file>", "result file path (default fable-results/<date>-<hash>.json)")
    .option("--no-progress", "no progress bar even on a terminal")
    .option("--no-report", "do not write the HTML report beside the result file")
    .option("--list", "list the mechanisms and exit", false)
    .addOption(new Option("--corrupt-at <n>", "test hook: corrupt sequence number n in every test").hideHelp())
    .addOption(new Option("--sentinel-every-ms <ms>", "least time between sentinel readings (default 2000)").hideHelp())
    .action(async (flags: BenchFlags) => {
      if (flags.list) {
        process.stdout.write(listMechanisms() + "\n");
        return;
      }
      const machine = readMachine();
      const config = benchConfig(flags, machine.topology);
      const report = flags.report !== false;
      checkWritable(flags.out, report);

      const progress = startProgress(config, flags.progress && process.stderr.isTTY === true);
      const result = await runBench(config, machine, progress.hooks).finally(() => progress.stop());

      const path = writeResult(result, flags.out);
      const failed = result.runs.filter((r) => r.status === "failed");
      if (flags.json) process.stdout.write(JSON.stringify(result) + "\n");
      else process.stdout.write(formatSummary(result) + "\n");
      process.stderr.write(`result: ${path}\n`);
      if (!keepForSelection(result, (line) => process.stderr.write(line + "\n"))) setExit(1);
      let reportFailed = false;
      if (report) {
        try {
          process.stderr.write(`report: ${writeReport([result], reportPathFor(path))}\n`);
        } catch (err) {
          // The result is written; a report that could not be is said, and the run counts as failed.
          process.stderr.write(`report not written: ${(err as Error).message}\n`);
          reportFailed = true;
        }
      }
      if (failed.length > 0) {
        process.stderr.write(
          `${failed.length} of ${result.runs.length} tests failed (see "failed" runs in the result)\n`,
        );
        setExit(3);
      }
      if (reportFailed) setExit(1);
    });
}
