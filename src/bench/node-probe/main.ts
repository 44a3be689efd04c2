/**
 * The Node probe: one invocation runs one test of one Node IPC mechanism between side A (this
 * process, pinned to CPU A) and side B (a process or worker thread pinned to CPU B), and prints one
 * JSON object on stdout, exactly as the probe contract says (src/bench/probe.ts): exit 0 with
 * ProbeSuccess, 3 with ProbeFailure, 2 with EUSAGE. Nothing else is written to stdout. It exits as
 * soon as the object is out, after killing its peer and removing its socket file.
 *
 * With the single argument --serve it runs test after test instead (serve.ts).
 */
import { ProbeError } from "./errors.js";
import { exitCodeOf, runInvocation } from "./run-test.js";
import { serve } from "./serve.js";
import type { Supervisor } from "./supervisor.js";

async function main(): Promise<never> {
  const argv = process.argv.slice(2);
  if (argv.length === 1 && argv[0] === "--serve") return serve();
  let current: Supervisor | undefined;
  // Stopped from outside (an orchestrator's timeout, ^C): still clean up and answer.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => current?.fail(new ProbeError("ESYSCALL", `the probe was stopped by ${signal}`)));
  }
  const output = await runInvocation(argv, (sup) => (current = sup));
  const code = exitCodeOf(output);
  process.stdout.write(`${JSON.stringify(output)}\n`, () => process.exit(code));
  // The callback exits; this only keeps a stuck stdout from holding the probe forever.
  return new Promise<never>(() => setTimeout(() => process.exit(code), 5_000));
}

await main();
