/**
 * `fable flows [--json]`: every connection made through a name (reported by its connecting end),
 * and below the table each flow's switches (from, to, epoch, reason, pause, messages re-sent).
 * On a terminal the view refreshes every second like `top` until Ctrl-C; otherwise (or with
 * --json, or --once) it prints once.
 */
import type { Command } from "commander";
import type { FlowEntry } from "../naming/protocol.js";
import { DaemonClient } from "../naming/daemon-client.js";
import { table } from "./names.js";
import { eventText } from "./reconfigure.js";

export function registerFlows(program: Command): void {
  program
    .command("flows")
    .description("connections made through names: ends, transport, wait, messages, bytes, rates")
    .option("--json", "print JSON once")
    .option("--once", "print once, even on a terminal")
    .action(async (flags: { json?: boolean; once?: boolean }) => {
      const client = new DaemonClient({ autostart: false });
      try {
        const live = flags.json !== true && flags.once !== true && process.stdout.isTTY;
        for (;;) {
          const { flows } = await client.request({ type: "flows" });
          if (flags.json === true) {
            process.stdout.write(`${JSON.stringify(flows, null, 2)}\n`);
            return;
          }
          const text = renderFlows(flows);
          if (!live) {
            process.stdout.write(text);
            return;
          }
          process.stdout.write(
            `\x1b[H\x1b[2J${new Date().toISOString()}  ${flows.length} flows (Ctrl-C to quit)\n${text}`,
          );
          await new Promise((r) => setTimeout(r, 1000));
        }
      } finally {
        client.close();
      }
    });
}

export function renderFlows(flows: readonly FlowEntry[]): string {
  const rows = flows.map((f) => [
    f.id.slice(0, 8),
    f.transparent === true ? `xio://${f.name} (transparent)` : `xio://${f.name}`,
    `${f.connectorPid}[${cpuText(f.connectorCpus)}]`,
    `${f.listenerPid}[${cpuText(f.listenerCpus)}]`,
    f.wait === null ? f.transport : `${f.transport}:${f.wait}`,
    `${f.epoch}/${f.switches}`,
    `${f.counters.sentMessages}/${f.counters.receivedMessages}`,
    `${bytes(f.counters.sentBytes)}/${bytes(f.counters.receivedBytes)}`,
    `${Math.round(f.rates.sentMessages)}/${Math.round(f.rates.receivedMessages)}`,
    String(f.counters.writeWaits),
    f.fallbacks.length === 0 ? "-" : f.fallbacks.map((a) => a.candidate.transport).join(">"),
    new Date(f.since).toISOString(),
  ]);
  return (
    table(
      [
        "FLOW",
        "NAME",
        "CONNECTOR",
        "LISTENER",
        "TRANSPORT",
        "EPOCH/SWITCHES",
        "MSGS OUT/IN",
        "BYTES OUT/IN",
        "MSG/S OUT/IN",
        "WAITS",
        "FELL BACK FROM",
        "SINCE",
      ],
      rows,
    ) + switchesText(flows)
  );
}

/** Each flow's recent switches, oldest first. */
function switchesText(flows: readonly FlowEntry[]): string {
  const lines: string[] = [];
  for (const f of flows) {
    for (const e of f.events) lines.push(`  ${f.id.slice(0, 8)} ${new Date(e.at).toISOString()} ${eventText(e)}`);
  }
  return lines.length === 0 ? "" : `switches:\n${lines.join("\n")}\n`;
}

function cpuText(cpus: readonly number[]): string {
  return cpus.length > 4 ? `${cpus[0]}-${cpus[cpus.length - 1]}` : cpus.join(",");
}

function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${u === 0 ? n : n.toFixed(1)}${units[u]}`;
}
