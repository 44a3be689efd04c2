/**
 * Side B of node-worker-postmessage: the worker thread's entry. It pins its own thread to CPU B
 * (thread scope: the rest of the process stays on CPU A), then answers on its parent port.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadNative } from "../../native/load.js";
import type { FromPeer, PeerConfig } from "./control.js";
import { errorReport } from "./errors.js";
import { PeerSide } from "./side-b.js";
import { workerPostMessagePeer } from "./worker-postmessage.js";

const port = parentPort;
if (port === null) throw new Error("worker.js is side B of node-worker-postmessage and runs only as a worker thread");
const post = (msg: unknown): void => port.postMessage(msg);

try {
  const side = new PeerSide(workerData as PeerConfig, loadNative(), (msg: FromPeer) => post(msg));
  const cpu = side.pin("thread");
  port.on("message", await workerPostMessagePeer(post)(side));
  side.ready(cpu);
} catch (err) {
  post(errorReport(err));
}
