/**
 * The daemon's reconfiguration policy for one flow: signals in, decisions out. Pure: no sockets,
 * no timers, no /proc (the caller passes samples and the time), so every rule is tested directly.
 *
 * What a flow should run on (desired()), from its base choice (the selector's, or an
 * administrator's last command) and the conditions the daemon knows:
 * - untrusted path           -> tls (both ends verified by the per-user CA);
 * - ends apart (location)    -> tcp, if the base shares memory or a unix socket (neither crosses hosts);
 * - contention (one CPU)     -> shm with blocking waits, if the base spins (spin or adaptive) on shm;
 * - otherwise                -> the base.
 * Hysteresis: contention is believed after `enterSamples` pinned samples in a row (both ends may
 * only run on one CPU: certain), or `coRunningSamples` contended samples of any kind in a row (both
 * seen runnable on one CPU: on a busy machine that also happens by chance), and disbelieved after
 * `leaveSamples` uncontended ones; a contention switch also waits until `minDwellMs` passed since the flow's
 * last switch. So a noisy signal makes at most one switch per dwell time, and usually none.
 * Trust and location marks act at once (they are facts an administrator or the registry states,
 * not measurements). One switch at a time: while one is pushed and not reported, nothing is decided.
 * A failure (the connection resumed on its resume path) makes that path the new base: the policy
 * does not drive a flow back onto the transport that just broke.
 */
import type { FlowTransport, PathChoice, SwitchReason } from "../naming/protocol.js";

export interface PolicyOptions {
  /** Pinned samples in a row before contention is believed (default 3: 300 ms at 100 ms). */
  readonly enterSamples: number;
  /** Contended samples of any kind in a row before it is believed (default 10). */
  readonly coRunningSamples: number;
  /** Uncontended samples in a row before it is disbelieved (default 5). */
  readonly leaveSamples: number;
  /** Least time between two switches of a flow made for contention (default 1000 ms). */
  readonly minDwellMs: number;
}

export const DEFAULT_POLICY: PolicyOptions = {
  enterSamples: 3,
  coRunningSamples: 10,
  leaveSamples: 5,
  minDwellMs: 1000,
};

export interface FlowPolicy {
  readonly base: PathChoice;
  readonly current: PathChoice;
  /** Contention as believed after hysteresis. */
  readonly contended: boolean;
  /** Samples in a row that disagree with `contended`. */
  readonly streak: number;
  /** Pinned samples in a row. */
  readonly pinnedStreak: number;
  readonly apart: boolean;
  readonly untrusted: boolean;
  /** When the flow last switched (or started), ms. */
  readonly lastSwitchAt: number;
  /** A switch pushed and not yet reported. */
  readonly pending: PathChoice | undefined;
}

export type Signal =
  | { readonly kind: "contention"; readonly sample: Contention }
  | { readonly kind: "location"; readonly apart: boolean }
  | { readonly kind: "trust"; readonly trusted: boolean }
  /** An administrator's (or application's) command: the new base. */
  | { readonly kind: "manual"; readonly to: PathChoice }
  /** The connecting end reported a switch (or a failed attempt: `ok` false). */
  | { readonly kind: "reported"; readonly to: PathChoice; readonly reason: SwitchReason; readonly ok: boolean };

export interface Decision {
  readonly to: PathChoice;
  readonly reason: SwitchReason;
}

export function startPolicy(current: PathChoice, now: number): FlowPolicy {
  return {
    base: current,
    current,
    contended: false,
    streak: 0,
    pinnedStreak: 0,
    apart: false,
    untrusted: false,
    lastSwitchAt: now,
    pending: undefined,
  };
}

export function sameChoice(a: PathChoice, b: PathChoice): boolean {
  return a.transport === b.transport && (a.wait ?? null) === (b.wait ?? null);
}

const SHARED_MEMORY_OR_LOCAL: readonly FlowTransport[] = ["shm", "unix"];

/** What the flow should run on under the conditions believed now. */
export function desired(p: FlowPolicy): PathChoice {
  if (p.untrusted) return { transport: "tls", wait: null };
  if (p.apart && SHARED_MEMORY_OR_LOCAL.includes(p.base.transport)) return { transport: "tcp", wait: null };
  if (p.contended && p.base.transport === "shm" && p.base.wait !== "block") return { transport: "shm", wait: "block" };
  return p.base;
}

/** Applies one signal; returns the new state and the switch to make, if any. */
export function decide(
  p: FlowPolicy,
  signal: Signal,
  now: number,
  options: PolicyOptions = DEFAULT_POLICY,
): { state: FlowPolicy; decision: Decision | undefined } {
  let next: FlowPolicy;
  let reason: SwitchReason;
  switch (signal.kind) {
    case "contention": {
      const shared = signal.sample !== "apart";
      const pinnedStreak = signal.sample === "pinned" ? p.pinnedStreak + 1 : 0;
      const streak = shared === p.contended ? 0 : p.streak + 1;
      const flips = p.contended
        ? streak >= options.leaveSamples
        : pinnedStreak >= options.enterSamples || streak >= options.coRunningSamples;
      next = { ...p, contended: flips ? !p.contended : p.contended, streak: flips ? 0 : streak, pinnedStreak };
      reason = "contention";
      break;
    }
    case "location":
      next = { ...p, apart: signal.apart };
      reason = "location";
      break;
    case "trust":
      next = { ...p, untrusted: !signal.trusted };
      reason = "trust";
      break;
    case "manual":
      next = { ...p, base: signal.to };
      reason = "manual";
      break;
    case "reported": {
      if (!signal.ok) {
        // The switch did not happen: stay, and wait a dwell time before trying again for contention.
        return { state: { ...p, pending: undefined, lastSwitchAt: now }, decision: undefined };
      }
      const base = signal.reason === "failure" ? signal.to : p.base;
      return { state: { ...p, base, current: signal.to, pending: undefined, lastSwitchAt: now }, decision: undefined };
    }
  }
  if (next.pending !== undefined) return { state: next, decision: undefined };
  const want = desired(next);
  if (sameChoice(want, next.current)) return { state: next, decision: undefined };
  // Measured conditions respect the dwell time; stated ones (manual, location, trust) do not.
  if (reason === "contention" && now - next.lastSwitchAt < options.minDwellMs)
    return { state: next, decision: undefined };
  return { state: { ...next, pending: want }, decision: { to: want, reason } };
}

/** Where one end of a flow runs (from /proc: placement.ts readEndSample). */
export interface EndSample {
  readonly allowedCpus: readonly number[];
  readonly currentCpu: number | null;
  /** Running or runnable (state R) when sampled. */
  readonly running: boolean;
}

/**
 * Whether two ends compete for one CPU: "pinned" when together they may run on one CPU only;
 * "co-running" when both were runnable on the same CPU when sampled (one waits in its run queue);
 * else "apart". Two idle ends that last ran on the same CPU do not count: neither is spinning.
 */
export type Contention = "pinned" | "co-running" | "apart";

export function contention(a: EndSample, b: EndSample): Contention {
  const union = new Set([...a.allowedCpus, ...b.allowedCpus]);
  if (union.size === 1) return "pinned";
  return a.running && b.running && a.currentCpu !== null && a.currentCpu === b.currentCpu ? "co-running" : "apart";
}

/** Whether a flow on `choice` has an end that spins (what contention can hurt). */
export function spins(choice: PathChoice): boolean {
  return choice.transport === "shm" && choice.wait !== "block";
}
