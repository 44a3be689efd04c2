/**
 * A worker thread that opens the `sab` end it is given (workerData: { peer, options }) and echoes
 * every record back with its flags and seq, honouring back-pressure, until the end is closed.
 * It posts "ready" once open, then { ended: echoed } or { failed: code }.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSab, type SabOptions, type SabPeerInit } from "../../src/transports/sab.js";

const { peer, options } = workerData as { peer: SabPeerInit; options: SabOptions };
const end = openSab(peer, options);
parentPort?.postMessage("ready");
let echoed = 0;
try {
  for (;;) {
    for (let r = end.next(); r !== null; r = end.next()) {
      const n = r.bytes.length;
      let out = end.reserve(n);
      while (out === null) {
        await end.writable();
        out = end.reserve(n);
      }
      out.set(r.bytes);
      end.publish(n, r.flags, r.seq);
      end.free();
      echoed++;
    }
    if (end.ended) break;
    await end.readable();
  }
  end.close();
  parentPort?.postMessage({ ended: echoed });
} catch (error) {
  parentPort?.postMessage({ failed: (error as { code?: string }).code ?? String(error) });
}
