/**
 * `fable explain xio://name [--pid P]`: what the daemon would choose for a connection to `name`
 * from this process (or pid P), with every candidate: its prediction, where that comes from, and
 * its rank or why it is excluded. It prints exactly the Selection the daemon's Selector returned.
 */
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { isAddressName } from "../naming/address-names.js";
import { DaemonClient } from "../naming/daemon-client.js";
import type { ResolveReply } from "../naming/protocol.js";
import { parseUri } from "../naming/uri.js";
import {
  candidateName,
  type Requirements,
  type SelectableTransport,
  type SelectionRequest,
} from "../daemon/selector.js";
import { formatExplanation } from "./explanation.js";

interface ExplainFlags {
  pid?: string;
  latency: string;
  spin: boolean;
  untrusted?: boolean;
  sizes?: string;
  json?: boolean;
  native: boolean;
}

export function registerExplain(program: Command): void {
  program
    .command("explain")
    .description("show how the daemon would connect to a name, and why")
    .argument("<uri>", "xio://name")
    .option("--pid <pid>", "choose for this connecting process (default: this one)")
    .option("--latency <critical|bulk>", "what the connector declares", "critical")
    .option("--no-spin", "the connector forbids busy-waiting")
    .option("--untrusted", "the connector reads untrusted")
    .option("--sizes <bytes,...>", "message sizes the connector declares")
    .option(
      "--no-native",
      "for an address name (transparent mode): ask as FABLE_TRANSPARENT_NATIVE=0 does, not as a node:net socket",
    )
    .option("--json", "print the daemon's reply as JSON")
    .action(async (uri: string, flags: ExplainFlags) => {
      const u = parseUri(uri);
      if (u.scheme !== "xio") throw new UsageError(`explain takes an xio:// name; ${uri} needs no choice`);
      if (flags.latency !== "critical" && flags.latency !== "bulk") {
        throw new UsageError(`--latency is critical or bulk, not ${JSON.stringify(flags.latency)}`);
      }
      const pid = flags.pid === undefined ? undefined : Number(flags.pid);
      if (pid !== undefined && (!Number.isInteger(pid) || pid < 1))
        throw new UsageError(`--pid takes a process id, not ${flags.pid}`);
      const sizes = flags.sizes === undefined ? [] : flags.sizes.split(",").map(Number);
      if (sizes.some((s) => !Number.isInteger(s) || s < 0))
        throw new UsageError(`--sizes takes byte counts, not ${flags.sizes}`);
      const requirements: Requirements = {
        latency: flags.latency,
        spin: flags.spin,
        trust: flags.untrusted === true ? "untrusted" : "trusted",
        sizes,
        // A transparent-mode connector asks as a node:net socket (naming/api.ts connectSocket).
        ...(isAddressName(u.name) && flags.native ? { socket: true } : {}),
      };
      const client = new DaemonClient({ autostart: false });
      try {
        const reply = await client.request({
          type: "resolve",
          name: u.name,
          requirements,
          ...(pid !== undefined ? { pid } : {}),
        });
        process.stdout.write(
          flags.json === true ? `${JSON.stringify(reply, null, 2)}\n` : renderExplain(uri, reply, requirements),
        );
      } finally {
        client.close();
      }
    });
}

export function renderExplain(uri: string, r: ResolveReply, requirements: Requirements): string {
  const e = r.listener.endpoints;
  const offered: SelectableTransport[] = [];
  if (e.shm !== undefined) offered.push("shm");
  if (e.unix !== undefined) offered.push("unix");
  if (e.tcp !== undefined) offered.push("tcp");
  const request: SelectionRequest = {
    listener: { pid: r.listener.pid, allowedCpus: r.listener.cpus, currentCpu: null },
    connector: { pid: r.connector.pid, allowedCpus: r.connector.cpus, currentCpu: null },
    requirements,
    offered,
    nativeStream: e.stream !== undefined,
  };
  const chosen = r.selection.ranked[0];
  return (
    formatExplanation(r.selection, { name: uri, request }) +
    `chosen: ${chosen === undefined ? "none (every candidate is excluded)" : candidateName(chosen)}\n`
  );
}
