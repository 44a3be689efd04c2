/**
 * A separate Node process for the naming tests, driven over the IPC channel. It uses the public
 * API with the daemon paths of its environment (FABLE_RUNTIME_DIR...). Run as
 * `node naming-child.js <json spec>`:
 *   { mode: "status" }                      asks the daemon (autostarting it) for its status
 *   { mode: "listen", uri, allow?, pin? }   listens and echoes every message of every connection
 *   { mode: "connect", uri, options?, pin?, stream? }
 *                                           connects; one echo round trip, or with `stream` a
 *                                           numbered ping-pong until told { cmd: "stop" };
 *                                           `closeAfter` closes the connection then (the process stays)
 * While streaming, the connecting child also takes { cmd: "rtt", since, epoch } (replies
 * { event: "rtt", median, n }: round trips in ns since `since` (ms, Date.now()) on `epoch`) and
 * { cmd: "break" } (kills its current path as the world would: socket destroyed, shm liveness cut),
 * and reports every switch of its connection as { event: "switch", ...SwitchEvent }.
 * Events: { event: "status", status } | { event: "ready" } | { event: "connected", flow, kind }
 *         | { event: "streamed", sent, inOrder } | { event: "failed", code, message }.
 */
import { loadNative } from "../../src/native/load.js";
import { connect, connectionFlow, type ConnectOptions, listen } from "../../src/naming/api.js";
import { defaultDaemonClient } from "../../src/naming/daemon-client.js";
import type { Connection } from "../../src/channel/connection.js";
import { killPath } from "./chaos-stream.js";

export type ChildSpec =
  | { mode: "status" }
  | { mode: "listen"; uri: string; allow?: number[]; pin?: number[] }
  | { mode: "connect"; uri: string; options?: ConnectOptions; pin?: number[]; stream?: boolean; closeAfter?: boolean };

const spec = JSON.parse(process.argv[2] ?? "{}") as ChildSpec;
const report = (m: object): void => void process.send?.(m);
process.on("disconnect", () => process.exit(0));

function failed(err: unknown): void {
  const e = err as { code?: unknown; message?: unknown };
  report({ event: "failed", code: String(e.code ?? "EUNKNOWN"), message: String(e.message ?? err) });
}

async function echo(conn: Connection): Promise<void> {
  try {
    for await (const m of conn) await conn.send(m.slice());
  } catch {
    // the peer went away
  }
  // As a server should once its peer has gone: the connection's memory goes now, not at a GC.
  conn.destroy();
}

async function main(): Promise<void> {
  if ("pin" in spec && spec.pin !== undefined) loadNative().setAffinity(spec.pin, "process");
  switch (spec.mode) {
    case "status":
      report({ event: "status", status: await defaultDaemonClient().request({ type: "status" }) });
      process.exit(0);
      break;
    case "listen": {
      const l = await listen(spec.uri, spec.allow !== undefined ? { allow: spec.allow } : {});
      report({ event: "ready" });
      for await (const conn of l) void echo(conn);
      break;
    }
    case "connect": {
      const conn = await connect(spec.uri, spec.options ?? {});
      report({ event: "connected", flow: connectionFlow(conn) ?? null, kind: conn.transport.kind });
      let stop = false;
      // Round trips as (when, ns, epoch), kept for the last few seconds only.
      const rtts: { at: number; ns: number; epoch: number }[] = [];
      conn.on("switch", (e) => report({ event: "switch", ...e }));
      process.on("message", (m: { cmd?: string; since?: number; epoch?: number }) => {
        if (m.cmd === "stop") stop = true;
        if (m.cmd === "break") report({ event: "broke", killed: killPath(conn.transport) });
        if (m.cmd === "rtt") {
          const ns = rtts
            .filter((r) => r.at >= (m.since ?? 0) && (m.epoch === undefined || r.epoch === m.epoch))
            .map((r) => r.ns)
            .sort((a, b) => a - b);
          report({ event: "rtt", median: ns[Math.floor(ns.length / 2)] ?? null, n: ns.length });
        }
      });
      const it = conn[Symbol.asyncIterator]();
      let sent = 0;
      let inOrder = true;
      do {
        const out = new Uint8Array(8);
        new DataView(out.buffer).setUint32(0, sent, true);
        const t0 = process.hrtime.bigint();
        const epoch = conn.epoch;
        await conn.send(out);
        sent++;
        const back = await it.next();
        if (spec.stream === true) {
          const at = Date.now();
          rtts.push({ at, ns: Number(process.hrtime.bigint() - t0), epoch });
          if (rtts.length > 200_000) rtts.splice(0, 100_000);
        }
        if (
          back.done === true ||
          new DataView(back.value.buffer, back.value.byteOffset).getUint32(0, true) !== sent - 1
        ) {
          inOrder = false;
          break;
        }
        if (spec.stream === true && sent % 64 === 0) await new Promise((r) => setImmediate(r));
      } while (spec.stream === true && !stop);
      if (spec.closeAfter === true) await conn.close();
      report({ event: "streamed", sent, inOrder });
      break;
    }
  }
}

main().catch(failed);
