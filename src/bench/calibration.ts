/**
 * The first, short calibration of fable's own transports on a machine with no bench result: the
 * fable group's shm (spin, adaptive, block), unix and tcp, round trip at 64 B and throughput at 64 B
 * and 64 KiB, on one CPU pair per placement class, with short budgets. It runs in a child process
 * (calibration-child.ts) through the orchestrator and is kept in the results directory like any
 * result.
 *
 * Promises: at most one calibration per data directory at a time, across processes (a lock beside
 * the results, held while the child runs: two daemons racing start one); `stop()` ends the child and
 * every probe it started; a calibration that cannot start, fails or overruns its time limit is
 * reported through `outcome`, never thrown at the caller.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { lock } from "proper-lockfile";
import type { CalibrationPlan } from "./calibration-child.js";

export interface CalibrationOptions {
  /** Mechanisms to measure (default: the five fable transports the daemon chooses between). */
  readonly mechanisms?: readonly string[];
  readonly budgetMs?: number;
  readonly warmupMs?: number;
  readonly throughputSizes?: readonly number[];
  /** The child is killed after this long (default 120 s: a loaded machine runs it slowly). */
  readonly timeoutMs?: number;
}

export const CALIBRATION_MECHANISMS: readonly string[] = [
  "fable-shm-spin",
  "fable-shm-adaptive",
  "fable-shm-block",
  "fable-unix",
  "fable-tcp",
];

export type CalibrationOutcome =
  | { readonly kind: "kept"; readonly path: string; readonly ms: number }
  | { readonly kind: "busy"; readonly lock: string }
  | { readonly kind: "failed"; readonly reason: string }
  | { readonly kind: "stopped" };

/** One calibration run; `outcome` settles when it is over, whatever happened. */
export class Calibration {
  readonly startedAt = new Date();
  readonly outcome: Promise<CalibrationOutcome>;
  #child: ChildProcess | undefined;
  #stopping = false;

  /** Starts calibrating into `dir` (a results directory); the lock lives in its parent. */
  constructor(dir: string, options: CalibrationOptions = {}) {
    this.outcome = this.#run(dir, options).catch((err: unknown): CalibrationOutcome => ({
      kind: "failed",
      reason: (err as Error).message,
    }));
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async #run(dir: string, options: CalibrationOptions): Promise<CalibrationOutcome> {
    const lockPath = join(dirname(dir), "calibration.lock");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let release: () => Promise<void>;
    try {
      // The lock is a directory made atomically; a holder that died leaves it stale after 10 s.
      release = await lock(dir, {
        lockfilePath: lockPath,
        realpath: false,
        retries: 0,
        stale: 10_000,
        onCompromised: () => this.stop(),
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ELOCKED") return { kind: "busy", lock: lockPath };
      throw err;
    }
    try {
      if (this.#stopping) return { kind: "stopped" };
      return await this.#runChild(dir, options);
    } finally {
      await release().catch(() => {});
    }
  }

  async #runChild(dir: string, options: CalibrationOptions): Promise<CalibrationOutcome> {
    const plan: CalibrationPlan = {
      dir,
      mechanisms: options.mechanisms ?? CALIBRATION_MECHANISMS,
      latencySizes: [64],
      throughputSizes: options.throughputSizes ?? [64, 65536],
      budgetMs: options.budgetMs ?? 60,
      warmupMs: options.warmupMs ?? 10,
    };
    const script = fileURLToPath(new URL("./calibration-child.js", import.meta.url));
    // detached: the child leads a process group, so stopping it reaches the probes it started.
    const child = spawn(process.execPath, [script, JSON.stringify(plan)], {
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#child = child;
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-2000)));
    const timeoutMs = options.timeoutMs ?? 120_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.#kill();
    }, timeoutMs);
    const started = Date.now();
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.on("error", (err) => {
        stderr += err.message;
        resolve([null, null]);
      });
      child.on("close", (c, s) => resolve([c, s]));
    }).finally(() => clearTimeout(timer));
    this.#child = undefined;
    if (this.#stopping) return { kind: "stopped" };
    if (timedOut) return { kind: "failed", reason: `did not finish within ${timeoutMs} ms` };
    const line = stdout.trim().split("\n").pop() ?? "";
    let reply: { ok?: boolean; path?: string; error?: string } = {};
    try {
      reply = JSON.parse(line) as typeof reply;
    } catch {
      // Said below with the exit status.
    }
    if (reply.ok === true && typeof reply.path === "string") {
      return { kind: "kept", path: reply.path, ms: Date.now() - started };
    }
    const why = reply.error ?? (signal !== null ? `killed by ${signal}` : `exit code ${String(code)}`);
    return { kind: "failed", reason: `${why}${stderr.trim() ? `: ${stderr.trim().slice(0, 300)}` : ""}` };
  }

  #kill(): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    try {
      // The child's whole process group: the child and every probe it started.
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }

  /** Stops the calibration (its child and probes) and waits until it is over. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#kill();
    await this.outcome;
  }
}
