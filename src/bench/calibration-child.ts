/**
 * The calibration process (started by calibration.ts, never by hand): runs a short bench of fable's
 * own transports through the orchestrator, keeps the result in the results directory it was given,
 * and prints one JSON line `{ "ok": true, "path": ... }` or `{ "ok": false, "error": ... }`.
 *
 * It leads its own process group, so whoever stops it stops the probes it started too; it also ends
 * them and itself when its parent goes away (its stdin closes), so a killed daemon leaves no bench
 * running.
 */
import { randomBytes } from "node:crypto";
import { UsageError } from "../errors.js";
import { findMechanism, type Mechanism } from "./mechanisms.js";
import { readMachine, runBench } from "./orchestrator.js";
import { sentinelPair } from "./sentinel.js";
import { keepResult } from "./stored-results.js";
import { representativePairs } from "./topology.js";

/** What the parent passes as the one argument, JSON. */
export interface CalibrationPlan {
  readonly dir: string;
  readonly mechanisms: readonly string[];
  readonly latencySizes: readonly number[];
  readonly throughputSizes: readonly number[];
  readonly budgetMs: number;
  readonly warmupMs: number;
}

function endGroup(): never {
  // Negative pid: the whole process group, this process included.
  process.kill(-process.pid, "SIGKILL");
  process.exit(1);
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? "null") as CalibrationPlan | null;
  if (plan === null) throw new UsageError("calibration-child: no plan given");
  const mechanisms = plan.mechanisms.map((name): Mechanism => {
    const m = findMechanism(name);
    if (m === undefined) throw new UsageError(`calibration-child: unknown mechanism "${name}"`);
    return m;
  });
  const machine = readMachine();
  const pairs = [...representativePairs(machine.topology).values()];
  const result = await runBench(
    {
      mechanisms,
      modes: ["latency", "throughput"],
      latencySizes: plan.latencySizes,
      throughputSizes: plan.throughputSizes,
      latencyPairs: pairs,
      throughputPairs: pairs,
      pairsKind: "representative",
      budgetMs: plan.budgetMs,
      warmupMs: plan.warmupMs,
      maxSamples: 100_000,
      quick: true,
      // One round each keeps it short; the sentinel still flags, and re-runs once, a round taken
      // while the machine was in another state than the rest of the calibration.
      rounds: 1,
      seed: randomBytes(4).readUInt32LE(0),
      sentinel: {
        cpus: sentinelPair(
          pairs,
          machine.topology.cpus.filter((c) => c.online).map((c) => c.cpu),
        ),
        budgetMs: 10,
        warmupMs: 2,
        everyMs: 2000,
      },
      maxRerunsPerTest: 1,
      rerunShare: 0.2,
    },
    machine,
  );
  process.stdout.write(JSON.stringify({ ok: true, path: keepResult(result, plan.dir) }) + "\n");
}

process.stdin.on("close", endGroup).resume();
process.on("SIGTERM", endGroup);
main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stdout.write(JSON.stringify({ ok: false, error: (err as Error).message }) + "\n");
    process.exit(1);
  },
);
