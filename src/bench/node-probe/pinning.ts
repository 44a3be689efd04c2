/**
 * Side A's pinning: refuse CPUs this machine does not have, pin the whole probe process (V8's and
 * libuv's helper threads too) to CPU A, and say whether both sides were where they should be.
 */
import type { NativeAddon } from "../../native/native.js";
import type { ProbePinning } from "../probe.js";
import { ProbeError } from "./errors.js";

export function checkCpusExist(native: NativeAddon, cpus: readonly number[]): void {
  const count = native.cpuCount();
  for (const cpu of cpus) {
    if (cpu >= count) {
      throw new ProbeError(
        "EPINNING",
        `CPU ${cpu} does not exist: this machine has ${count} CPUs (0-${count - 1}); pass --cpus with two of them`,
      );
    }
  }
}

/** Pins this process to `cpu`; returns the CPU observed right after. */
export function pinProcess(native: NativeAddon, cpu: number): number {
  try {
    native.setAffinity([cpu], "process");
  } catch (err) {
    throw new ProbeError(
      "EPINNING",
      `cannot pin the probe process to CPU ${cpu}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return native.getCpu();
}

export function pinningOf(
  cpus: readonly [number, number],
  a: { readonly start: number; readonly end: number },
  b: { readonly start: number; readonly end: number },
): ProbePinning {
  return {
    verified: a.start === cpus[0] && a.end === cpus[0] && b.start === cpus[1] && b.end === cpus[1],
    observed: [a.end, b.end],
  };
}
