/**
 * The probe's command line, exactly as the probe contract (src/bench/probe.ts) words it. Anything
 * wrong is a ProbeUsageError (exit 2) that names the option, the value and what is accepted.
 */
import { parseArgs } from "node:util";
import type { ProbeMode } from "../probe.js";
import { ProbeUsageError } from "./errors.js";

export interface ProbeArgs {
  readonly mechanism: string;
  readonly mode: ProbeMode;
  readonly size: number;
  readonly cpus: readonly [number, number];
  readonly budgetMs: number;
  readonly warmupMs: number;
  readonly maxSamples: number;
  readonly samplesOut: string | undefined;
  readonly corruptAt: number | undefined;
}

export type Invocation = { readonly list: true } | { readonly list: false; readonly args: ProbeArgs };

export const DEFAULT_BUDGET_MS = 500;
export const DEFAULT_WARMUP_MS = 100;
export const DEFAULT_MAX_SAMPLES = 2_000_000;
export const MIN_SIZE = 8;
/** Beyond this a JSON-serialised message would not fit in a V8 string; nobody measures IPC there. */
export const MAX_SIZE = 256 * 1024 * 1024;

export const USAGE = `usage: node main.js --mechanism NAME --mode latency|throughput --size BYTES --cpus A,B
       [--budget-ms ${DEFAULT_BUDGET_MS}] [--warmup-ms ${DEFAULT_WARMUP_MS}] [--max-samples ${DEFAULT_MAX_SAMPLES}]
       [--samples-out PATH] [--corrupt-at N]
   or: node main.js --list`;

const OPTIONS = {
  mechanism: { type: "string" },
  mode: { type: "string" },
  size: { type: "string" },
  cpus: { type: "string" },
  "budget-ms": { type: "string" },
  "warmup-ms": { type: "string" },
  "max-samples": { type: "string" },
  "samples-out": { type: "string" },
  "corrupt-at": { type: "string" },
  list: { type: "boolean" },
} as const;

/** `modesOf(name)` gives a known mechanism's modes, undefined for an unknown one. */
export function parseProbeArgs(
  argv: readonly string[],
  modesOf: (mechanism: string) => readonly ProbeMode[] | undefined,
  mechanismNames: readonly string[],
): Invocation {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ProbeUsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.list === true) return { list: true };

  const mechanism = required(values.mechanism, "--mechanism");
  const modes = modesOf(mechanism);
  if (modes === undefined) {
    throw new ProbeUsageError(`unknown --mechanism "${mechanism}": this probe has ${mechanismNames.join(", ")}`);
  }
  const modeText = required(values.mode, "--mode", { mechanism });
  const mode = modes.find((m) => m === modeText);
  if (mode === undefined) {
    throw new ProbeUsageError(`--mode must be one of ${modes.join(", ")} for ${mechanism}, got "${modeText}"`, {
      mechanism,
    });
  }
  const known = { mechanism, mode };
  const size = integer(required(values.size, "--size", known), "--size", MIN_SIZE, MAX_SIZE, known);
  const cpuText = required(values.cpus, "--cpus", known);
  const cpuParts = cpuText.split(",");
  if (cpuParts.length !== 2) {
    throw new ProbeUsageError(`--cpus must be two CPU numbers "A,B", got "${cpuText}"`, known);
  }
  const cpus = [
    integer(cpuParts[0] as string, "--cpus (A)", 0, 1_000_000, known),
    integer(cpuParts[1] as string, "--cpus (B)", 0, 1_000_000, known),
  ] as const;
  const limit = Number.MAX_SAFE_INTEGER;
  return {
    list: false,
    args: {
      mechanism,
      mode,
      size,
      cpus,
      budgetMs: optionalInteger(values["budget-ms"], "--budget-ms", 1, limit, known) ?? DEFAULT_BUDGET_MS,
      warmupMs: optionalInteger(values["warmup-ms"], "--warmup-ms", 0, limit, known) ?? DEFAULT_WARMUP_MS,
      maxSamples: optionalInteger(values["max-samples"], "--max-samples", 1, 1e9, known) ?? DEFAULT_MAX_SAMPLES,
      samplesOut: values["samples-out"],
      corruptAt: optionalInteger(values["corrupt-at"], "--corrupt-at", 0, 1e12, known),
    },
  };
}

type Known = { readonly mechanism?: string; readonly mode?: ProbeMode };

function required(value: string | undefined, name: string, known: Known = {}): string {
  if (value === undefined || value === "") throw new ProbeUsageError(`${name} is required\n${USAGE}`, known);
  return value;
}

function integer(text: string, name: string, min: number, max: number, known: Known): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ProbeUsageError(`${name} must be an integer from ${min} to ${max}, got "${text}"`, known);
  }
  return n;
}

function optionalInteger(
  text: string | undefined,
  name: string,
  min: number,
  max: number,
  known: Known,
): number | undefined {
  return text === undefined ? undefined : integer(text, name, min, max, known);
}
