/**
 * One test of the Node probe, as both the single-shot probe (main.ts) and the serving probe
 * (serve.ts) run it: parse the arguments, pin side A, run the mechanism under a supervisor, and
 * turn whatever happened into one ProbeOutput. The supervisor is closed (peer killed, worker
 * terminated, socket file removed) before the output is returned.
 */
import { loadNative } from "../../native/load.js";
import type { ProbeFailure, ProbeOutput, ProbeSuccess } from "../probe.js";
import { parseProbeArgs, type ProbeArgs } from "./args.js";
import { ProbeError, ProbeUsageError, toProbeError } from "./errors.js";
import { batchMessagesFor } from "./message.js";
import { checkCpusExist, pinningOf, pinProcess } from "./pinning.js";
import { findMechanism, MECHANISMS } from "./registry.js";
import { Supervisor } from "./supervisor.js";
import { CLOCK_SOURCE, timerOverheadNs, writeSamplesFile } from "./timing.js";

/** No message moved for this long: ETIMEOUT. */
const STALL_MS = 10_000;

async function probe(args: ProbeArgs, sup: Supervisor): Promise<ProbeSuccess> {
  const native = loadNative();
  checkCpusExist(native, args.cpus);
  const aStart = pinProcess(native, args.cpus[0]);
  const mechanism = findMechanism(args.mechanism);
  if (mechanism === undefined) throw new ProbeUsageError(`unknown --mechanism "${args.mechanism}"`);
  const overheadNs = timerOverheadNs();
  const batchMessages = args.mode === "throughput" ? batchMessagesFor(args.size) : 1;
  const { measured, params } = await sup.race(
    mechanism.run({
      args,
      sup,
      batchMessages,
      plan: {
        warmupNs: BigInt(args.warmupMs) * 1_000_000n,
        budgetNs: BigInt(args.budgetMs) * 1_000_000n,
        maxSamples: args.maxSamples,
        corruptAt: args.corruptAt,
      },
    }),
  );
  const aEnd = native.getCpu();
  if (args.samplesOut !== undefined) {
    try {
      writeSamplesFile(args.samplesOut, measured.samples);
    } catch (err) {
      throw new ProbeError("ESYSCALL", `cannot write the samples to ${args.samplesOut}: ${(err as Error).message}`);
    }
  }
  return {
    ok: true,
    probe: "node",
    mechanism: args.mechanism,
    mode: args.mode,
    size: args.size,
    cpus: args.cpus,
    pinning: pinningOf(args.cpus, { start: aStart, end: aEnd }, measured.peerCpu),
    clock: { source: CLOCK_SOURCE, overheadNs },
    iterations: measured.iterations,
    warmupIterations: measured.warmupIterations,
    elapsedNs: measured.elapsedNs,
    bytes: measured.bytes,
    batchMessages: measured.batchMessages,
    samples: measured.samples.length,
    budgetExhausted: measured.iterations < 100,
    params: { node: process.version, ...params },
  };
}

export function failure(err: unknown, args: Partial<Pick<ProbeArgs, "mechanism" | "mode">>): ProbeFailure {
  const e = toProbeError(err);
  const mechanism = e instanceof ProbeUsageError ? e.mechanism : args.mechanism;
  const mode = e instanceof ProbeUsageError ? e.mode : args.mode;
  return {
    ok: false,
    probe: "node",
    ...(mechanism !== undefined ? { mechanism } : {}),
    ...(mode !== undefined ? { mode } : {}),
    error: {
      code: e.code,
      message: e.message,
      ...(e.expected !== undefined ? { expected: e.expected } : {}),
      ...(e.received !== undefined ? { received: e.received } : {}),
    },
  };
}

/** The test one argument list asks for, or `list` for --list. `supervised` sees the test's supervisor while it runs. */
export async function runInvocation(
  argv: readonly string[],
  supervised: (sup: Supervisor | undefined) => void = () => undefined,
): Promise<ProbeOutput | ListOutput> {
  let args: ProbeArgs | undefined;
  let sup: Supervisor | undefined;
  try {
    const invocation = parseProbeArgs(
      argv,
      (name) => findMechanism(name)?.modes,
      MECHANISMS.map((m) => m.name),
    );
    if (invocation.list) return { mechanisms: MECHANISMS.map((m) => ({ name: m.name, modes: [...m.modes] })) };
    args = invocation.args;
    sup = new Supervisor(STALL_MS);
    supervised(sup);
    return await probe(args, sup);
  } catch (err) {
    const output = failure(err, args ?? {});
    process.stderr.write(`fable node probe: ${output.error.message}\n`);
    return output;
  } finally {
    sup?.close();
    supervised(undefined);
  }
}

export interface ListOutput {
  readonly mechanisms: ReadonlyArray<{ readonly name: string; readonly modes: readonly string[] }>;
}

/** The process exit code of a single-shot probe that printed `output`. */
export function exitCodeOf(output: ProbeOutput | ListOutput): number {
  return "ok" in output && !output.ok ? (output.error.code === "EUSAGE" ? 2 : 3) : 0;
}
