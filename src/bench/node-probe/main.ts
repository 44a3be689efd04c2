/**
 * The Node probe: one invocation runs one test of one Node IPC mechanism between side A (this
 * process, pinned to CPU A) and side B (a process or worker thread pinned to CPU B), and prints one
 * JSON object on stdout, exactly as the probe contract says (src/bench/probe.ts): exit 0 with
 * ProbeSuccess, 3 with ProbeFailure, 2 with EUSAGE. Nothing else is written to stdout. It exits as
 * soon as the object is out, after killing its peer and removing its socket file.
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

interface ListOutput {
  readonly mechanisms: ReadonlyArray<{ readonly name: string; readonly modes: readonly string[] }>;
}

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

function failure(err: unknown, args: Partial<Pick<ProbeArgs, "mechanism" | "mode">>): ProbeFailure {
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

async function main(): Promise<never> {
  let output: ProbeOutput | ListOutput;
  let args: ProbeArgs | undefined;
  let sup: Supervisor | undefined;
  try {
    const invocation = parseProbeArgs(
      process.argv.slice(2),
      (name) => findMechanism(name)?.modes,
      MECHANISMS.map((m) => m.name),
    );
    if (invocation.list) {
      output = { mechanisms: MECHANISMS.map((m) => ({ name: m.name, modes: [...m.modes] })) };
    } else {
      args = invocation.args;
      const supervisor = new Supervisor(STALL_MS);
      sup = supervisor;
      // Stopped from outside (an orchestrator's timeout, ^C): still clean up and answer.
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.once(signal, () => supervisor.fail(new ProbeError("ESYSCALL", `the probe was stopped by ${signal}`)));
      }
      output = await probe(args, sup);
    }
  } catch (err) {
    output = failure(err, args ?? {});
    process.stderr.write(`fable node probe: ${output.error.message}\n`);
  } finally {
    sup?.close();
  }
  const code = "ok" in output && !output.ok ? (output.error.code === "EUSAGE" ? 2 : 3) : 0;
  process.stdout.write(`${JSON.stringify(output)}\n`, () => process.exit(code));
  // The callback exits; this only keeps a stuck stdout from holding the probe forever.
  return new Promise<never>(() => setTimeout(() => process.exit(code), 5_000));
}

await main();
