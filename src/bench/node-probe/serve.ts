/**
 * The serving Node probe (`main.js --serve`): a bench run asks hundreds of short tests, and a fresh
 * probe pays Node's start-up and the probe's imports every time. A serving probe runs test after
 * test in one process.
 *
 * Protocol: one request per stdin line, the single-shot arguments separated by tabs; one answer per
 * request on stdout, the single-shot JSON object on one line (src/bench/probe.ts). A probe about to
 * exit after its answer says so first, on a line of its own: {"retiring":"why"}. Nothing else is
 * written to stdout.
 *
 * No test leaves anything to the next: a test's supervisor kills its peer, terminates its worker
 * and removes its socket files before the answer; the answer waits until the process holds no more
 * handles than it did idle. A probe that cannot show that, or whose test failed (a failure may have
 * left anything behind), retires: it says so, answers and exits; the orchestrator starts a fresh one.
 */
import { createInterface } from "node:readline";
import { ProbeError } from "./errors.js";
import { peerPool } from "./peer-process.js";
import { resources, settled } from "./resources.js";
import { runInvocation } from "./run-test.js";
import type { Supervisor } from "./supervisor.js";

function write(line: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(line, () => resolve()));
}

export async function serve(): Promise<never> {
  let current: Supervisor | undefined;
  let stopping = false;
  // Stopped from outside: the running test fails and is answered, then the probe exits.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      stopping = true;
      if (current === undefined) process.exit(0);
      current.fail(new ProbeError("ESYSCALL", `the probe was stopped by ${signal}`));
    });
  }
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  // stdout and stderr get their handles on first use: make them part of the idle picture.
  process.stdout.write("");
  process.stderr.write("");
  const idle = resources();
  peerPool.enabled = true;
  for await (const line of lines) {
    if (line === "") continue;
    const output = await runInvocation(line.split("\t"), (sup) => (current = sup));
    await peerPool.quiet();
    const left = await settled(idle);
    const failed = "ok" in output && !output.ok;
    const retiring = left !== "" ? `a test left ${left} behind` : failed ? "a test failed" : stopping ? "stopped" : "";
    if (retiring !== "") await write(`${JSON.stringify({ retiring })}\n`);
    await write(`${JSON.stringify(output)}\n`);
    if (retiring !== "") process.exit(0);
  }
  process.exit(0);
}
