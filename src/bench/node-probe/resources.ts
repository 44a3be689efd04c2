/**
 * What a serving process (the Node probe, a peer) holds open, so that it can show that a test left
 * nothing behind before it takes the next one. Unreferenced handles (an idle pooled peer's) do not
 * count: Node lists only what keeps the event loop alive.
 */

/** How long a test's closed handles (a killed peer being reaped, a terminating worker) may take to go. */
const SETTLE_MS = 2_000;

/** Handles and requests by kind, as Node counts them (timers excluded: the settling poll is one). */
export function resources(): Map<string, number> {
  const count = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (r !== "Timeout") count.set(r, (count.get(r) ?? 0) + 1);
  return count;
}

/** What `now` holds beyond `idle`, e.g. "ProcessWrap x1", or "" when nothing. */
function beyond(idle: ReadonlyMap<string, number>, now: ReadonlyMap<string, number>): string {
  const extra: string[] = [];
  for (const [kind, n] of now) if (n > (idle.get(kind) ?? 0)) extra.push(`${kind} x${n - (idle.get(kind) ?? 0)}`);
  return extra.join(", ");
}

export async function settled(idle: ReadonlyMap<string, number>): Promise<string> {
  const until = Date.now() + SETTLE_MS;
  for (;;) {
    const left = beyond(idle, resources());
    if (left === "" || Date.now() >= until) return left;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
