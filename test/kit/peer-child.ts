/**
 * The child side of test/kit/peer.ts: opens one transport end by calling an exported factory of a
 * module (so any transport can be driven, with no list here), then echoes every record back with
 * its flags and seq, honouring back-pressure. It reports on the IPC channel:
 *   { event: "ready" }                       the end is open
 *   { event: "ended", echoed }               the peer closed; this end closed too after echoing everything
 *   { event: "closed", echoed }              closed on the parent's { cmd: "close" } command
 *   { event: "failed", code, message }       the end failed (or could not be opened)
 * Commands: { cmd: "close" } closes the end (what was published is flushed), { cmd: "destroy" }.
 * Run as `node peer-child.js <json PeerSpec>`; the parent kills it when done.
 */
import type { TransportEnd } from "../../src/transports/transport.js";
import type { PeerCommand, PeerEvent, PeerSpec } from "./peer.js";

const spec = JSON.parse(process.argv[2] ?? "{}") as PeerSpec;
let end: TransportEnd | undefined;
let echoed = 0;
let closing = false;

function report(event: PeerEvent): void {
  process.send?.(event);
}

function failed(error: unknown): void {
  const e = error as { code?: unknown; message?: unknown };
  report({ event: "failed", code: String(e.code ?? "EUNKNOWN"), message: String(e.message ?? error) });
}

process.on("message", (msg: PeerCommand) => {
  if (end === undefined) return;
  if (msg.cmd === "close") {
    closing = true;
    end.close();
    report({ event: "closed", echoed });
  } else if (msg.cmd === "destroy") {
    closing = true;
    end.destroy();
  }
});
// The parent went away: nothing left to do.
process.on("disconnect", () => process.exit(0));

async function echo(e: TransportEnd): Promise<void> {
  for (;;) {
    for (let r = e.next(); r !== null; r = e.next()) {
      const length = r.bytes.length;
      let out = e.reserve(length);
      while (out === null) {
        await e.writable();
        out = e.reserve(length);
      }
      out.set(r.bytes);
      e.publish(length, r.flags, r.seq);
      e.free();
      echoed++;
    }
    if (e.ended) {
      e.close();
      report({ event: "ended", echoed });
      return;
    }
    await e.readable();
  }
}

try {
  const mod = (await import(spec.module)) as Record<string, unknown>;
  const factory = mod[spec.export];
  if (typeof factory !== "function") throw new Error(`${spec.module} exports no function ${spec.export}`);
  end = (await (factory as (...args: unknown[]) => unknown)(...spec.args)) as TransportEnd;
  report({ event: "ready" });
  await echo(end);
} catch (error) {
  if (!closing) failed(error);
}
