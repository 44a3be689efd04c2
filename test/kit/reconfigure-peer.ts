/**
 * The second process of the reconfiguration chaos test: connects to the parent's unix socket,
 * makes the connection reconfigurable (role "connector"), then streams its own messages and
 * checks the parent's (chaos-stream.ts). Commands on the IPC channel:
 *   { cmd: "switch", spec }  reconfigure from this end (answers { event: "switched" | "refused" })
 *   { cmd: "kill" }          kill this end's current path for real
 *   { cmd: "stop" }          stop writing; answers { event: "stopped", sent }
 *   { cmd: "expect", count } answers { event: "received", count, error } once that many arrived
 *   { cmd: "dump" }          writes the connection's inner state to stderr (a run got stuck)
 * Run as `node reconfigure-peer.js <socket path> <seed> <dir> <CA dir>`.
 */
import { openReconfigurable } from "../../src/channel/connection.js";
import type { PathSpec } from "../../src/channel/paths.js";
import { loadLeaf } from "../../src/daemon/tls-ca.js";
import { connectUnix } from "../../src/transports/unix.js";
import { endState, killPath, Streams } from "./chaos-stream.js";

type Command =
  | { cmd: "switch"; spec: PathSpec }
  | { cmd: "kill" }
  | { cmd: "stop" }
  | { cmd: "expect"; count: number }
  | { cmd: "dump" };

const [path = "", seedText = "0", dir = "", ca = ""] = process.argv.slice(2);
const seed = Number(seedText);
process.on("disconnect", () => process.exit(0));

const conn = await openReconfigurable(await connectUnix(path), {
  role: "connector",
  dir,
  tls: loadLeaf(ca, "child"),
  timeoutMs: 10_000, // a loaded machine can take seconds to build an shm path
});
const streams = new Streams(conn, seed + 1, seed);
const writing = streams.write();
streams.read().catch((err: unknown) => {
  process.send?.({ event: "failed", message: String((err as Error).message) });
});

process.on("message", (msg: Command) => {
  if (msg.cmd === "switch") {
    conn.reconfigure(msg.spec).then(
      () => process.send?.({ event: "switched" }),
      (err: unknown) => process.send?.({ event: "refused", message: String((err as Error).message) }),
    );
  } else if (msg.cmd === "kill") {
    killPath(conn.transport);
  } else if (msg.cmd === "stop") {
    streams.stop();
    void writing.then((sent) => process.send?.({ event: "stopped", sent }));
  } else if (msg.cmd === "dump") {
    const state = {
      sent: streams.sent,
      received: streams.received,
      connection: conn.debugState,
      end: endState(conn.transport),
    };
    process.stderr.write(`chaos peer state: ${JSON.stringify(state)}\n`);
  } else if (msg.cmd === "expect") {
    void streams
      .until(msg.count)
      .then(() => process.send?.({ event: "received", count: streams.received, error: streams.error }));
  }
});
process.send?.({ event: "ready" });
