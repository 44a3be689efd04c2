/**
 * Side B of the process mechanisms (node-net-unix, node-net-tcp, node-child-ipc, zeromq-ipc, the
 * fable-* process variants): the script side A forks. It exits when side A disconnects or kills it.
 *
 * Single-shot: argv[2] is the PeerConfig as JSON; the peer pins the whole process to CPU B, sets up
 * its mechanism, reports ready on the IPC channel, and serves that one test.
 *
 * Serving (argv[2] = --serve, forked by a serving probe's peer pool, peer-process.ts): test after
 * test in one process, so a round pays no Node start-up for its side B either.
 *   A -> B  start {config}     run one test as a single-shot peer would (ready, done or error)
 *   A -> B  reset              the test is over: close what it opened, then
 *   B -> A  idle {left}        nothing of the test is left ("" ), or what is (then A kills this peer)
 * After an error the peer reports it and waits to be killed, as a single-shot peer does.
 */
import { loadNative } from "../../native/load.js";
import type { FromPeer, MechanismName, PeerConfig } from "./control.js";
import { errorReport, ProbeError } from "./errors.js";
import { resources, settled } from "./resources.js";
import { type PeerMain, PeerSide } from "./side-b.js";

/** Each mechanism's side B, imported on first use: a peer loads only what its mechanism needs. */
const PEERS: Partial<Record<MechanismName, () => Promise<PeerMain>>> = {
  "node-net-unix": async () => (await import("./net-stream.js")).netStreamPeer,
  "node-net-tcp": async () => (await import("./net-stream.js")).netStreamPeer,
  "node-child-ipc": async () => (await import("./child-ipc.js")).childIpcPeer,
  "zeromq-ipc": async () => (await import("./zeromq.js")).zeromqPeer(),
  "fable-shm-spin": async () => (await import("./fable-channel.js")).fableChannelPeer,
  "fable-shm-adaptive": async () => (await import("./fable-channel.js")).fableChannelPeer,
  "fable-shm-block": async () => (await import("./fable-channel.js")).fableChannelPeer,
  "fable-unix": async () => (await import("./fable-channel.js")).fableChannelPeer,
  "fable-tcp": async () => (await import("./fable-channel.js")).fableChannelPeer,
  "fable-pipe": async () => (await import("./fable-channel.js")).fableChannelPeer,
};

function send(msg: FromPeer | { readonly t: "idle"; readonly left: string }): void {
  process.send?.(msg);
}

process.on("disconnect", () => process.exit(0));

/** Pins side B, sets up its mechanism, reports ready; returns the handler of side A's messages. */
async function startTest(side: PeerSide): Promise<(msg: unknown) => void> {
  const cpu = side.pin("process");
  const load = PEERS[side.config.mechanism];
  if (load === undefined) throw new ProbeError("EUNSUPPORTED", `peer.js does not run ${side.config.mechanism}`);
  const handler = await (await load())(side);
  side.ready(cpu);
  return handler;
}

function isControl(msg: unknown, t: string): msg is { t: string; config?: PeerConfig } {
  return typeof msg === "object" && msg !== null && (msg as { t?: unknown }).t === t;
}

function serveTests(): void {
  const native = loadNative();
  let side: PeerSide | undefined;
  let handler: ((msg: unknown) => void) | undefined;
  let idle: ReadonlyMap<string, number> = new Map();
  process.on("message", (msg: unknown) => {
    if (isControl(msg, "start") && side === undefined && msg.config !== undefined) {
      const current = new PeerSide(msg.config, native, send, true);
      side = current;
      startTest(current).then(
        (h) => (handler = side === current ? h : undefined),
        (err: unknown) => current.fail(err),
      );
    } else if (isControl(msg, "reset") && side !== undefined) {
      side.reset();
      side = undefined;
      handler = undefined;
      void settled(idle).then((left) => send({ t: "idle", left }));
    } else if (handler !== undefined) {
      handler(msg);
    } else {
      side?.fail(new ProbeError("EPEER", "side B got a message before its test was set up, or outside a test"));
    }
  });
  // Taken with the IPC channel listened to and stdout and stderr opened, as they stay.
  process.stdout.write("");
  process.stderr.write("");
  idle = resources();
}

if (process.argv[2] === "--serve") {
  serveTests();
} else {
  try {
    const config = JSON.parse(process.argv[2] ?? "null") as PeerConfig;
    process.on("message", await startTest(new PeerSide(config, loadNative(), send)));
  } catch (err) {
    process.send?.(errorReport(err), () => process.exit(3));
  }
}
