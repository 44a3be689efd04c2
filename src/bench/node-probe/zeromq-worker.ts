/**
 * Side B of zeromq-inproc: the worker thread's entry. It pins its own thread to CPU B, connects its
 * zeromq socket over inproc:// and reports on its parent port. It closes that socket before side A
 * terminates it (see zeromq.ts: a worker that goes with a zeromq operation pending aborts the
 * process), and says so through the shared `closed` flag, which side A waits on.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadNative } from "../../native/load.js";
import type { FromPeer } from "./control.js";
import { errorReport } from "./errors.js";
import { PeerSide } from "./side-b.js";
import { isCloseRequest, type ZeromqWorkerData, zeromqPeer } from "./zeromq.js";

const port = parentPort;
if (port === null) throw new Error("zeromq-worker.js is side B of zeromq-inproc and runs only as a worker thread");
const data = workerData as ZeromqWorkerData;
const closed = new Int32Array(data.closed);
const markClosed = (): void => {
  Atomics.store(closed, 0, 1);
  Atomics.notify(closed, 0);
};
const side = new PeerSide(data.config, loadNative(), (msg: FromPeer) => port.postMessage(msg));

let closeRequested = false;
let handle: (msg: unknown) => void = () => undefined;
// Listening from the start: a close request may come while the socket is being set up.
port.on("message", (msg: unknown) => {
  if (isCloseRequest(msg)) {
    closeRequested = true;
    side.stopData(); // a no-op until the socket exists; then checked again below
    return;
  }
  handle(msg);
});

try {
  const cpu = side.pin("thread");
  handle = await zeromqPeer(markClosed)(side);
  if (closeRequested) side.stopData();
  else side.ready(cpu);
} catch (err) {
  side.stopData();
  markClosed(); // nothing of zeromq is left open
  port.postMessage(errorReport(err));
}
