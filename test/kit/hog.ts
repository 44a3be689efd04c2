/**
 * A real CPU hog for tests that perturb the machine: a busy-looping shell pinned to one CPU with
 * `taskset` and raised to nice -10 (as root; otherwise it runs at the caller's niceness, and `favoured`
 * says so), so that a nice-0 process sharing that CPU gets about a tenth of it (CFS weights 9548 vs
 * 1024) and still starts and finishes in reasonable time. Stop it with `stop()`; it is
 * killed with SIGKILL and awaited, so no test leaves it running.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";

const NICE = -10;

export interface Hog {
  readonly pid: number;
  /** True when the hog runs at nice -10 (the scheduler gives it ~90 % of its CPU). */
  readonly favoured: boolean;
  stop(): Promise<void>;
}

function cpuTicks(pid: number): number {
  // Fields 14 and 15 of /proc/PID/stat: user and system time in clock ticks (after the "(comm)" field).
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

/** Starts the hog and resolves once it has burnt CPU time, so it is really running. */
export async function startHog(cpu: number): Promise<Hog> {
  const child: ChildProcess = spawn(
    "taskset",
    ["-c", String(cpu), "nice", "-n", String(NICE), "sh", "-c", "while :; do :; done"],
    {
      stdio: "ignore",
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const pid = child.pid;
  if (pid === undefined) throw new Error("the CPU hog did not start (is taskset installed?)");
  for (let i = 0; i < 400; i++) {
    try {
      // The exec chain (taskset > nice > sh) ends in sh with the same pid; CPU time means it loops.
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "sh" && cpuTicks(pid) > 0) break;
    } catch {
      // Not there yet.
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    pid,
    favoured: niceOf(pid) === NICE,
    stop: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
