/**
 * What one Node mechanism provides to main.ts: its modes, and side A of a run, which starts side B
 * (pinned to CPU B), measures with side-a.ts, and reports how it ran in `params`.
 */
import type { ProbeMode } from "../probe.js";
import type { ProbeArgs } from "./args.js";
import type { MechanismName } from "./control.js";
import type { Measured, RunPlan } from "./side-a.js";
import type { Supervisor } from "./supervisor.js";

export interface SideAContext {
  readonly args: ProbeArgs;
  readonly plan: RunPlan;
  readonly sup: Supervisor;
  /** Messages per throughput sample (1 in latency mode). */
  readonly batchMessages: number;
}

export interface SideAResult {
  readonly measured: Measured;
  readonly params: Readonly<Record<string, number | string | boolean>>;
}

export interface Mechanism {
  readonly name: MechanismName;
  readonly modes: readonly ProbeMode[];
  run(ctx: SideAContext): Promise<SideAResult>;
}
