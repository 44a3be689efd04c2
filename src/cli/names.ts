/** `fable names [--json]`: the names the daemon holds that this user may see. */
import type { Command } from "commander";
import { DaemonClient } from "../naming/daemon-client.js";

export function registerNames(program: Command): void {
  program
    .command("names")
    .description("names registered with the fable daemon (yours, and others' that allow you)")
    .option("--json", "print JSON")
    .action(async (flags: { json?: boolean }) => {
      const client = new DaemonClient({ autostart: false });
      try {
        const { names } = await client.request({ type: "names" });
        if (flags.json === true) {
          process.stdout.write(`${JSON.stringify(names, null, 2)}\n`);
          return;
        }
        const rows = names.map((n) => [
          `xio://${n.name}`,
          String(n.pid),
          String(n.uid),
          n.offered.join(","),
          n.allow.length === 0 ? "-" : n.allow.join(","),
          new Date(n.since).toISOString(),
        ]);
        process.stdout.write(table(["NAME", "PID", "UID", "OFFERS", "ALLOWS", "SINCE"], rows));
      } finally {
        client.close();
      }
    });
}

/** Left-aligned columns separated by two spaces. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)].join("\n") + "\n";
}
