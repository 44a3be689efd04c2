/**
 * `fable reconfigure <flow> --to <transport>[:<wait>]`: switch an open flow (its id, or a unique
 * prefix of it, from `fable flows`) to another transport, with no loss, duplication or
 * reordering; prints the switch once the flow's connecting end reported it.
 * `fable reconfigure <flow> --mark <untrusted|trusted|apart|together>` states a condition instead
 * (the trust and location triggers): the daemon's policy decides the switch, if any.
 */
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { reconfigureFlow } from "../naming/api.js";
import { DaemonClient } from "../naming/daemon-client.js";
import { choiceText, type FlowEvent, type PathChoice } from "../naming/protocol.js";

const TRANSPORTS = ["shm", "unix", "tcp", "tls"] as const;
const WAITS = ["spin", "adaptive", "block"] as const;
const MARKS = ["untrusted", "trusted", "apart", "together"] as const;

/** "shm:block" -> { transport: "shm", wait: "block" }; shm alone waits adaptively. */
export function parseChoice(text: string): PathChoice {
  const [transport, wait, extra] = text.split(":");
  if (!(TRANSPORTS as readonly (string | undefined)[]).includes(transport) || extra !== undefined) {
    throw new UsageError(`--to takes one of ${TRANSPORTS.join(", ")} (shm:<wait>), not ${JSON.stringify(text)}`);
  }
  if (transport !== "shm") {
    if (wait !== undefined) throw new UsageError(`only shm takes a wait strategy, not ${transport}:${wait}`);
    return { transport: transport as PathChoice["transport"], wait: null };
  }
  if (wait !== undefined && !(WAITS as readonly string[]).includes(wait)) {
    throw new UsageError(`shm waits ${WAITS.join(", ")}, not ${JSON.stringify(wait)}`);
  }
  return { transport: "shm", wait: (wait ?? "adaptive") as (typeof WAITS)[number] };
}

export function eventText(e: FlowEvent): string {
  const what = `${choiceText(e.from)} -> ${choiceText(e.to)} (${e.reason})`;
  if (e.error !== undefined) return `${what} failed: ${e.error}`;
  return `${what} epoch ${e.epoch}, pause ${e.pauseMs.toFixed(2)} ms, ${e.resent} re-sent`;
}

export function registerReconfigure(program: Command): void {
  program
    .command("reconfigure")
    .description("switch an open flow to another transport (or mark its path untrusted/apart)")
    .argument("<flow>", "flow id, or a unique prefix of it (see `fable flows`)")
    .option("--to <transport[:wait]>", `${TRANSPORTS.join(", ")}; shm:${WAITS.join("|")}`)
    .option("--mark <condition>", MARKS.join(", "))
    .option("--timeout <ms>", "how long to wait for the switch", "10000")
    .option("--json", "print the flow event as JSON")
    .action(async (prefix: string, flags: { to?: string; mark?: string; timeout: string; json?: boolean }) => {
      if ((flags.to === undefined) === (flags.mark === undefined)) {
        throw new UsageError("give either --to <transport[:wait]> or --mark <condition>");
      }
      const to = flags.to === undefined ? undefined : parseChoice(flags.to);
      const mark = flags.mark;
      if (mark !== undefined && !(MARKS as readonly string[]).includes(mark)) {
        throw new UsageError(`--mark takes ${MARKS.join(", ")}, not ${JSON.stringify(mark)}`);
      }
      const timeoutMs = Number(flags.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
        throw new UsageError(`--timeout takes ms, not ${flags.timeout}`);
      const client = new DaemonClient({ autostart: false });
      try {
        const { flows } = await client.request({ type: "flows" });
        const matches = flows.filter((f) => f.id.startsWith(prefix));
        if (matches.length !== 1) {
          throw new UsageError(
            matches.length === 0
              ? `no flow ${prefix} (see \`fable flows\`)`
              : `${prefix} names ${matches.length} flows: give more of the id`,
          );
        }
        const flowId = (matches[0] as { id: string }).id;
        if (to !== undefined) {
          const event = await reconfigureFlow(flowId, to, { client, timeoutMs });
          process.stdout.write(flags.json === true ? `${JSON.stringify(event)}\n` : `${flowId}: ${eventText(event)}\n`);
          return;
        }
        const reply =
          mark === "untrusted" || mark === "trusted"
            ? await client.request({ type: "flow-trust", flowId, trusted: mark === "trusted" })
            : await client.request({ type: "flow-location", flowId, apart: mark === "apart" });
        const pushed = reply.pushed;
        const text = pushed === null ? "no switch needed" : `switching to ${choiceText(pushed)}`;
        process.stdout.write(
          flags.json === true ? `${JSON.stringify(reply)}\n` : `${flowId}: marked ${mark}; ${text}\n`,
        );
      } finally {
        client.close();
      }
    });
}
