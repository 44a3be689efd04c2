/**
 * The result file: one JSON document per `fable bench` run, validated by the shipped JSON Schema
 * (schema/result-v<N>.schema.json) and never rewritten. `readResult` accepts every format version
 * ever written and returns the current one; a version newer than this reader is a typed error.
 *
 * A result of the original ipc-bench (2012-2016), converted by `fable results import-legacy`, is a
 * document of the same format with `suite.name` "ipc-bench": fable ran nothing, so `runs` is empty,
 * and what the original measured is in `legacy.runs`, with only the statistics it had (see
 * {@link RunLegacy}). Only such a document may leave the budget, the warm-up and the runtime null.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { FableError } from "../errors.js";
import { packageRoot } from "../native/load.js";
import type { Environment } from "./environment.js";
import type { ProbeClock, ProbeMode, ProbePinning } from "./probe.js";
import type { Statistics } from "./statistics.js";
import type { PlacementClass, Topology } from "./topology.js";

export const RESULT_SCHEMA_VERSION = 1;

/**
 * "unstable": the test's rounds disagree beyond their within-round noise; "machine-state": every round was
 * taken while the sentinel saw the machine in another state than most of the run; "asymmetric": a latency
 * pair and its reverse (a heatmap's mirrored cells) disagree beyond their noise (rules: rounds.ts, sentinel.ts).
 */
export type RunFlag =
  "spin-on-shared-cpu" | "budget-exhausted" | "noisy" | "drifting" | "unstable" | "machine-state" | "asymmetric";

interface RunCommon {
  mechanism: string;
  mode: ProbeMode;
  size: number;
  cpus: [number, number];
  placement: PlacementClass;
  numaDistance: number | null;
}

export interface RunOk extends RunCommon {
  status: "ok";
  /**
   * Unit of `stats`: round-trip ns (latency) or bytes per second (throughput): of each time window of
   * `statsWindowNs` when that is set (method 1.1 on), of each batch in results written before.
   */
  unit: "ns" | "B/s";
  stats: Statistics;
  /** Throughput: `stats` are the rates of `stats.n` equal windows of this many ns (bench/statistics.ts). */
  statsWindowNs?: number;
  /** Throughput over the whole measured phase. */
  rate?: { bytesPerSecond: number; messagesPerSecond: number };
  iterations: number;
  warmupIterations: number;
  elapsedNs: number;
  batchMessages: number;
  clock: ProbeClock;
  pinning: ProbePinning;
  flags: RunFlag[];
  /** A thinned copy of the raw samples (ns per round trip, or per batch of `batchMessages`), in the order taken. */
  samples: { values: number[]; of: number };
  params: Record<string, number | string | boolean>;
  /**
   * The test's rounds (results written since rounds were introduced): the run's statistics, rate and samples
   * are those of round `chosen`, its median kept round (src/bench/rounds.ts).
   */
  rounds?: RunRounds;
}

/** One round of a test: its headline, not its samples (those of the chosen round are the run's). */
export interface RoundEntry {
  /** Position in the run's order of rounds, re-runs included (0-based). */
  slot: number;
  /** When the round began, ms after the run began. */
  startMs: number;
  /** Its figure in the run's headline unit: median round trip ns, or bytes per second. */
  figure: number;
  /** Within-round noise: relative spread of the medians of its samples' four quarters. */
  noise: number;
  n: number;
  cv: number;
  drift: number;
  /** The sentinel's verdict: taken in the run's usual state, in another, or unknown (no sentinel). */
  state: "usual" | "other" | "unknown";
  /** Counted toward the figure. */
  kept: boolean;
  /** Run to replace a round the sentinel flagged. */
  rerun: boolean;
  /** A round that measured nothing (ENOSAMPLES): its error code; its figures are then 0. */
  error?: string;
}

export interface RunRounds {
  /** Index into `list` of the round whose statistics the run carries. */
  chosen: number;
  /** (max - min) / median of the kept rounds' figures. */
  spread: number;
  /** The largest within-round noise of a kept round. */
  noise: number;
  list: RoundEntry[];
}

/** The machine-state sentinel of a run (src/bench/sentinel.ts): its settings, timeline and what it flagged. */
export interface SentinelRecord {
  mechanism: "cacheline";
  cpus: [number, number];
  budgetMs: number;
  everyMs: number;
  /** A reading whose p50 is more than `ratio` times off `reference` (either way) is another state... */
  ratio: number;
  /** ...and so is one whose stall (mean over p50) exceeds `stallRatio` times `stallReference`. */
  stallRatio: number;
  /** Median of the readings' p50 round trips, ns; null when there is no reading. */
  reference: number | null;
  /** Median of the readings' stalls; null when there is no reading. */
  stallReference: number | null;
  readings: { atMs: number; meanNs: number; p50Ns: number; state: "usual" | "other" | "unknown" }[];
  /** Rounds taken while the sentinel saw another state. */
  roundsFlagged: number;
  /** Extra rounds run to replace flagged ones. */
  roundsRerun: number;
  /** Why readings are missing (the probe failed), else null. */
  error: string | null;
}

export interface RunFailed extends RunCommon {
  status: "failed";
  error: { code: string; message: string };
}

export type Run = RunOk | RunFailed;

/** What the original ipc-bench measured for one test: only the statistics it had, each in `unit`. */
export interface LegacyStatistics {
  /** Iterations timed (latency with per-iteration timing) or repeated runs (throughput). */
  n?: number;
  min?: number;
  p5?: number;
  p50?: number;
  p95?: number;
  max?: number;
  mean?: number;
  stddev?: number;
}

/**
 * One test of the original ipc-bench, converted: latency in round-trip ns (its mempipe iteration was two
 * round trips; converted figures are per round trip), throughput in payload bytes per second one way.
 */
export interface RunLegacy extends RunCommon {
  unit: "ns" | "B/s";
  stats: LegacyStatistics;
  /**
   * "matrix": the latency CSV, a mean per iteration printed with 1 us resolution; "tsc-log": the per-pair
   * statistics of per-iteration TSC timing; "headline": one throughput figure; "repeated-headlines": the
   * statistics of several runs' throughput figures.
   */
  source: "matrix" | "tsc-log" | "headline" | "repeated-headlines";
  /** The quantum of the source's figures in `unit` (1000 ns for matrix values), null when full precision. */
  resolution: number | null;
  flags: Extract<RunFlag, "spin-on-shared-cpu">[];
  /** The original test's parameters: its name, iteration count, memory node, read in place... */
  params: Record<string, number | string | boolean>;
}

/** Where a converted ipc-bench result came from. */
export interface LegacySource {
  source: "ipc-bench";
  /** The archive's file name (or the data directory's name), never a path. */
  archive: string;
  /** Which of several results in one directory (the paper's "48native", "48xenpin", "48xennopin"). */
  variant: string | null;
  /** SHA-256 of the archive's bytes (or of the directory's files): what the machine id is derived from. */
  contentSha256: string;
  /** The archive the machine description was taken from, when the data came without one. */
  machineFrom: string | null;
  /** `createdAt` is the last modification time inside the archive, or the month the data was published. */
  dateFrom: "archive-mtime" | "publication-month";
  /** Version of fable's conversion: a new one may convert the same archive differently. */
  conversion: string;
  /** The original test names, e.g. "mempipe_lat", "tcp_nodelay_thr". */
  originalTests: string[];
  runs: RunLegacy[];
}

/** The environment as recorded: a converted ipc-bench result has no runtime (the original suite was C). */
export type RecordedEnvironment = Omit<Environment, "runtime"> & {
  runtime: { node: string | null; v8: string | null; uv: string | null };
};

export interface ResultFile {
  schema: typeof RESULT_SCHEMA_VERSION;
  createdAt: string;
  suite: {
    name: "fable-io" | "ipc-bench";
    version: string;
    commit: string | null;
    dirty: boolean | null;
    engine: string | null;
  };
  machine: { id: string; hardwareKey: string; arch: string; topology: Topology; environment: RecordedEnvironment };
  config: {
    quick: boolean;
    /** Null only in a converted ipc-bench result: the original ran fixed iteration counts. */
    budgetMs: number | null;
    warmupMs: number | null;
    pairs: "all" | "representative" | "custom";
    sizes: number[];
    modes: ProbeMode[];
    /** Rounds per test (absent in results from before rounds: one). `budgetMs` is per round. */
    rounds?: number;
    /** Seed of the shuffled order of rounds. */
    seed?: number;
  };
  benchmarks: Record<string, { method: string; probe: "engine" | "node" | "ipc-bench" }>;
  runs: Run[];
  sentinel?: SentinelRecord;
  legacy?: LegacySource;
}

/** A result document is not valid: the message names the field (a JSON pointer) and what is wrong. */
export class ResultFormatError extends FableError {
  readonly field: string;
  /** When the problem is a key outside the allow-list: that key (in the object at `field`). */
  readonly unknownKey: string | null;
  constructor(field: string, message: string, unknownKey: string | null = null) {
    super("ERESULTFORMAT", field === "" ? message : `${field}: ${message}`);
    this.field = field;
    this.unknownKey = unknownKey;
  }
}

let validator: ValidateFunction | undefined;
let schemaObject: object | undefined;

/** The shipped JSON Schema of the current format, as an object. */
export function resultSchema(): object {
  if (schemaObject === undefined) {
    const path = join(packageRoot(), "schema", `result-v${RESULT_SCHEMA_VERSION}.schema.json`);
    schemaObject = JSON.parse(readFileSync(path, "utf8")) as object;
  }
  return schemaObject;
}

function schemaValidator(): ValidateFunction {
  // The first error only: every error of a hostile document (millions) would cost seconds and gigabytes;
  // the results validator finds all unknown keys in one walk of its own (results/unknown-keys.ts).
  validator ??= new Ajv({ allErrors: false, strict: true, allowUnionTypes: true }).compile(resultSchema());
  return validator;
}

function describe(error: ErrorObject): string {
  if (error.keyword === "additionalProperties") {
    return `unknown key "${String(error.params["additionalProperty"])}" (results hold allow-listed fields only)`;
  }
  return error.message ?? error.keyword;
}

/** Throws ResultFormatError naming the first failing field; the most specific error is reported. */
export function validateResult(doc: unknown): ResultFile {
  const validate = schemaValidator();
  if (validate(doc)) return doc as ResultFile;
  const errors = validate.errors ?? [];
  // A failing if/then reports the branch's error and its own at the object: the deeper names the field.
  const deepest = [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
  if (deepest === undefined) throw new ResultFormatError("", "invalid result document");
  const unknownKey = deepest.keyword === "additionalProperties" ? String(deepest.params["additionalProperty"]) : null;
  throw new ResultFormatError(deepest.instancePath || "/", describe(deepest), unknownKey);
}

/** Parses a result document of any format version and returns it in the current format. */
export function parseResult(text: string, origin = "result"): ResultFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new ResultFormatError("", `${origin} is not JSON: ${(cause as Error).message}`);
  }
  return resultOf(doc, origin);
}

/** {@link parseResult} of a value already parsed (not copied: it is the document returned). */
export function resultOf(doc: unknown, origin = "result"): ResultFile {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ResultFormatError("", `${origin} is not a JSON object`);
  }
  const version = (doc as { schema?: unknown }).schema;
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    throw new ResultFormatError("/schema", `missing or not a format version: ${JSON.stringify(version)}`);
  }
  if (version > RESULT_SCHEMA_VERSION) {
    throw new ResultFormatError(
      "/schema",
      `format ${version} is newer than this fable reads (${RESULT_SCHEMA_VERSION}): upgrade fable-io`,
    );
  }
  // Migrations from older formats go here, oldest first, each taking version N to N + 1.
  return validateResult(doc);
}

export function readResult(path: string): ResultFile {
  return parseResult(readFileSync(path, "utf8"), path);
}
