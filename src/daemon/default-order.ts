/**
 * The fixed order the daemon uses while this machine has no bench result (and while the first,
 * short calibration runs): what a careful engineer would pick knowing nothing of this host.
 *
 * - shared memory before sockets: no system call on the data path;
 * - for "critical" latency with spinning allowed, the busy-waiting ring first (it costs a CPU
 *   while waiting), then adaptive (spins briefly, then sleeps), then blocking;
 * - for "bulk", adaptive first (a streaming reader rarely waits long enough to sleep);
 * - unix before tcp: same kernel copy, no TCP stack.
 */
import {
  ALL_CANDIDATES,
  type Candidate,
  candidateName,
  exclusion,
  type Selection,
  type SelectionRequest,
  type Selector,
} from "./selector.js";

const CRITICAL = ["shm:spin", "shm:adaptive", "shm:block", "unix", "tcp"];
const BULK = ["shm:adaptive", "shm:block", "shm:spin", "unix", "tcp"];

export function defaultOrderSelection(request: SelectionRequest): Selection {
  const order = request.requirements.latency === "critical" ? CRITICAL : BULK;
  const byOrder = [...ALL_CANDIDATES].sort((a, b) => order.indexOf(candidateName(a)) - order.indexOf(candidateName(b)));
  const ranked: Candidate[] = [];
  const verdicts = byOrder.map((candidate) => {
    const excluded = exclusion(candidate, request);
    if (excluded !== undefined) return { candidate, prediction: null, excluded, reason: excluded };
    ranked.push(candidate);
    const rank = ranked.length;
    const reason =
      rank === 1
        ? `first viable in the fixed order for ${request.requirements.latency} latency (no bench result on this machine)`
        : `fallback ${rank - 1} in the fixed order`;
    return { candidate, prediction: null, rank, reason };
  });
  return { ranked, verdicts, basis: "default-order" };
}

/** A Selector that always uses the fixed order. */
export class DefaultOrderSelector implements Selector {
  select(request: SelectionRequest): Selection {
    return defaultOrderSelection(request);
  }

  describe(): string {
    return "fixed order (no bench result of this machine)";
  }

  async close(): Promise<void> {}
}
