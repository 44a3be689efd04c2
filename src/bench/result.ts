/**
 * The result file: one JSON document per `fable bench` run, validated by the shipped JSON Schema
 * (schema/result-v<N>.schema.json) and never rewritten. `readResult` accepts every format version
 * ever written and returns the current one; a version newer than this reader is a typed error.
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

export type RunFlag = "spin-on-shared-cpu" | "budget-exhausted" | "noisy" | "drifting";

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
  /** Unit of `stats`: round-trip ns (latency) or bytes per second of each batch (throughput). */
  unit: "ns" | "B/s";
  stats: Statistics;
  /** Throughput over the whole measured phase. */
  rate?: { bytesPerSecond: number; messagesPerSecond: number };
  iterations: number;
  warmupIterations: number;
  elapsedNs: number;
  batchMessages: number;
  clock: ProbeClock;
  pinning: ProbePinning;
  flags: RunFlag[];
  /** A thinned copy of the raw samples (ns per round trip or per batch), in the order taken. */
  samples: { values: number[]; of: number };
  params: Record<string, number | string | boolean>;
}

export interface RunFailed extends RunCommon {
  status: "failed";
  error: { code: string; message: string };
}

export type Run = RunOk | RunFailed;

export interface ResultFile {
  schema: typeof RESULT_SCHEMA_VERSION;
  createdAt: string;
  suite: { name: "fable-io"; version: string; commit: string | null; dirty: boolean | null; engine: string | null };
  machine: { id: string; hardwareKey: string; arch: string; topology: Topology; environment: Environment };
  config: {
    quick: boolean;
    budgetMs: number;
    warmupMs: number;
    pairs: "all" | "representative" | "custom";
    sizes: number[];
    modes: ProbeMode[];
  };
  benchmarks: Record<string, { method: string; probe: "engine" | "node" }>;
  runs: Run[];
}

/** A result document is not valid: the message names the field (a JSON pointer) and what is wrong. */
export class ResultFormatError extends FableError {
  readonly field: string;
  constructor(field: string, message: string) {
    super("ERESULTFORMAT", field === "" ? message : `${field}: ${message}`);
    this.field = field;
  }
}

let validator: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  if (validator === undefined) {
    const path = join(packageRoot(), "schema", `result-v${RESULT_SCHEMA_VERSION}.schema.json`);
    const schema = JSON.parse(readFileSync(path, "utf8")) as object;
    validator = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
  }
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
  // oneOf over run shapes reports every branch; the deepest path is the one that names the field.
  const deepest = [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
  if (deepest === undefined) throw new ResultFormatError("", "invalid result document");
  throw new ResultFormatError(deepest.instancePath || "/", describe(deepest));
}

/** Parses a result document of any format version and returns it in the current format. */
export function parseResult(text: string, origin = "result"): ResultFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new ResultFormatError("", `${origin} is not JSON: ${(cause as Error).message}`);
  }
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
