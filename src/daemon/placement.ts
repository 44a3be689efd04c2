/**
 * Where a process runs, read from /proc/<pid> (the Selector's EndPlacement): the CPUs it may run on
 * (Cpus_allowed_list of /proc/<pid>/status: its main thread's affinity) and the CPU it last ran on
 * (field 39 of /proc/<pid>/stat). A process that is gone is a PlacementError (ESRCH).
 */
import { readFileSync } from "node:fs";
import { FableError } from "../errors.js";
import type { EndSample } from "./policy.js";
import type { EndPlacement } from "./selector.js";

export class PlacementError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("ESRCH", message, options);
  }
}

export function readPlacement(pid: number, proc = "/proc"): EndPlacement {
  let status: string;
  let stat: string;
  try {
    status = readFileSync(`${proc}/${pid}/status`, "utf8");
    stat = readFileSync(`${proc}/${pid}/stat`, "utf8");
  } catch (cause) {
    throw new PlacementError(`process ${pid} is gone (or not visible in ${proc}): ${(cause as Error).message}`, {
      cause,
    });
  }
  const list = /^Cpus_allowed_list:\s*(.*)$/m.exec(status)?.[1];
  if (list === undefined) throw new PlacementError(`${proc}/${pid}/status has no Cpus_allowed_list`);
  return { pid, allowedCpus: parseCpuList(list), currentCpu: currentCpu(stat) };
}

/** "0-3,6,8-9" -> [0,1,2,3,6,8,9]. */
export function parseCpuList(text: string): number[] {
  const cpus = new Set<number>();
  for (const part of text.trim().split(",")) {
    if (part === "") continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) throw new PlacementError(`not a CPU list: ${JSON.stringify(text)}`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let c = from; c <= to && c - from < 65536; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

function currentCpu(stat: string): number | null {
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpu = Number(fields[39 - 3]);
  return Number.isInteger(cpu) && cpu >= 0 ? cpu : null;
}

/** What the contention trigger samples of one end (policy.ts EndSample): placement and run state. */
export function readEndSample(pid: number, proc = "/proc"): EndSample & { readonly pid: number } {
  const placement = readPlacement(pid, proc);
  let state = "";
  try {
    const stat = readFileSync(`${proc}/${pid}/stat`, "utf8");
    state = stat.charAt(stat.lastIndexOf(")") + 2);
  } catch {
    // gone since: not running
  }
  return { pid, allowedCpus: placement.allowedCpus, currentCpu: placement.currentCpu, running: state === "R" };
}
