/**
 * Side B of fable-sab: the worker thread's entry. It pins its own thread to CPU B, opens its end of
 * the SharedArrayBuffer rings side A created, and takes control messages on its parent port.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadNative } from "../../native/load.js";
import { openSab } from "../../transports/sab.js";
import type { FromPeer } from "./control.js";
import { errorReport } from "./errors.js";
import { fableChannelPeerOver, type FableWorkerData } from "./fable-channel.js";
import { PeerSide } from "./side-b.js";

const port = parentPort;
if (port === null) throw new Error("fable-worker.js is side B of fable-sab and runs only as a worker thread");
const post = (msg: unknown): void => port.postMessage(msg);

try {
  const data = workerData as FableWorkerData;
  const side = new PeerSide(data.config, loadNative(), (msg: FromPeer) => post(msg));
  const cpu = side.pin("thread");
  // Side A gone: its end closed the rings or its port; nothing left to do in this thread.
  const main = fableChannelPeerOver(
    () => Promise.resolve(openSab(data.sab)),
    () => port.close(),
  );
  port.on("message", await main(side));
  side.ready(cpu);
} catch (err) {
  post(errorReport(err));
}
