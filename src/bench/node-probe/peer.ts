/**
 * Side B of the process mechanisms (node-net-unix, node-net-tcp, node-child-ipc): the script side A
 * forks. argv[2] is the PeerConfig as JSON. It pins the whole process to CPU B first, sets up its
 * mechanism, and reports on the IPC channel; it exits when side A disconnects or kills it.
 */
import { loadNative } from "../../native/load.js";
import { childIpcPeer } from "./child-ipc.js";
import type { FromPeer, MechanismName, PeerConfig } from "./control.js";
import { errorReport, ProbeError } from "./errors.js";
import { fableChannelPeer } from "./fable-channel.js";
import { netStreamPeer } from "./net-stream.js";
import { type PeerMain, PeerSide } from "./side-b.js";
import { zeromqPeer } from "./zeromq.js";

const PEERS: Partial<Record<MechanismName, PeerMain>> = {
  "node-net-unix": netStreamPeer,
  "node-net-tcp": netStreamPeer,
  "node-child-ipc": childIpcPeer,
  "zeromq-ipc": zeromqPeer(),
  "fable-shm-spin": fableChannelPeer,
  "fable-shm-adaptive": fableChannelPeer,
  "fable-shm-block": fableChannelPeer,
  "fable-unix": fableChannelPeer,
  "fable-tcp": fableChannelPeer,
  "fable-pipe": fableChannelPeer,
};

function send(msg: FromPeer): void {
  process.send?.(msg);
}

process.on("disconnect", () => process.exit(0));

try {
  const native = loadNative();
  const config = JSON.parse(process.argv[2] ?? "null") as PeerConfig;
  const side = new PeerSide(config, native, send);
  const cpu = side.pin("process");
  const peer = PEERS[config.mechanism];
  if (peer === undefined) throw new ProbeError("EUNSUPPORTED", `peer.js does not run ${config.mechanism}`);
  process.on("message", await peer(side));
  side.ready(cpu);
} catch (err) {
  process.send?.(errorReport(err), () => process.exit(3));
}
