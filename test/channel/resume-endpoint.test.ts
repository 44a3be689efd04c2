/**
 * A resume endpoint shared by a listener's reconfigurable connections (src/channel/resume-endpoint.ts):
 * each connection resumes through it with its own token, strangers are dropped, and the socket
 * goes once its owner and every connection let go, even when the application never closes a
 * connection whose peer closed.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { type Connection, openReconfigurable } from "../../src/channel/connection.js";
import { CTL_ABORT, dialEndpoint, type PathAddress, randomToken, TOKEN_BYTES } from "../../src/channel/paths.js";
import type { SwitchEvent } from "../../src/channel/reconfigure.js";
import { SharedResumeEndpoint } from "../../src/channel/resume-endpoint.js";
import { ShmEnd } from "../../src/transports/shm.js";
import type { TransportEnd } from "../../src/transports/transport.js";
import { connectUnix, listenUnix } from "../../src/transports/unix.js";

const dir = mkdtempSync(join(tmpdir(), "fable-resume-ep-test-"));
const opened: Connection[] = [];
after(() => {
  for (const c of opened) c.destroy();
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;

test("tokens from the pool: each its own memory, all different, across refills", () => {
  const seen = new Set<string>();
  const tokens: Uint8Array[] = [];
  for (let i = 0; i < 1000; i++) {
    const t = randomToken();
    assert.equal(t.length, TOKEN_BYTES);
    assert.equal(t.buffer.byteLength, TOKEN_BYTES, "a copy, not a view of the pool");
    seen.add(Buffer.from(t).toString("hex"));
    tokens.push(t);
  }
  assert.equal(seen.size, 1000);
  // Not all zero (the pool is filled before use) and not changed by later draws.
  const first = Buffer.from(tokens[0]!).toString("hex");
  assert.notEqual(first, "00".repeat(TOKEN_BYTES));
  randomToken();
  assert.equal(Buffer.from(tokens[0]!).toString("hex"), first);
});

async function pair(shared: SharedResumeEndpoint): Promise<[Connection, Connection]> {
  const listener = await listenUnix(join(dir, `p${n++}.sock`));
  const [a, b] = await Promise.all([listener.accept(), connectUnix(listener.address.path)]);
  await listener.close();
  const both = await Promise.all([
    openReconfigurable(a, { role: "listener", dir, timeoutMs: 60_000, resumeEndpoint: shared }),
    openReconfigurable(b, { role: "connector", dir, timeoutMs: 60_000 }),
  ]);
  opened.push(...both);
  return both;
}

function kill(end: TransportEnd): void {
  if (end instanceof ShmEnd) end.connection.destroy();
  else (end as unknown as { input: { destroy(): void } }).input.destroy();
}

/** Sends `count` numbered messages a -> b, killing a path now and then; checks b gets each once, in order. */
async function stream(a: Connection, b: Connection, count: number): Promise<number> {
  let resumes = 0;
  const onSwitch = (e: SwitchEvent): void => void (e.reason === "resume" && resumes++);
  b.on("switch", onSwitch);
  let next = 0;
  const reading = (async () => {
    while (next < count) {
      const bufs = b.getReadBuffers();
      for (const buf of bufs) {
        assert.equal(new DataView(buf.bytes.buffer, buf.bytes.byteOffset).getUint32(0, true), next++);
        b.release(buf);
      }
      if (bufs.length === 0) await b.readable();
    }
  })();
  for (let i = 0; i < count; i++) {
    const m = new Uint8Array(64);
    new DataView(m.buffer).setUint32(0, i, true);
    await a.send(m);
    if (i % 50 === 25) kill((i % 100 === 25 ? a : b).transport);
  }
  await reading;
  b.off("switch", onSwitch);
  return resumes;
}

/** The SETUP a connector got: where and with what it would resume (read as the connector does). */
function resumeAddressOf(shared: SharedResumeEndpoint): Promise<PathAddress> {
  return shared
    .register(() => undefined)
    .then((r) => {
      r.release();
      return r.address;
    });
}

test("resume endpoint: two connections share one socket and each resumes on its own, in order", async () => {
  const shared = new SharedResumeEndpoint({ dir });
  try {
    const [a1, b1] = await pair(shared);
    const [a2, b2] = await pair(shared);
    const [r1, r2] = await Promise.all([stream(a1, b1, 200), stream(b2, a2, 200)]);
    assert.ok(r1 > 0 && r2 > 0, `resumes: ${r1} and ${r2}`);
    // One socket for both (and for every registration made while it is open).
    const address = await resumeAddressOf(shared);
    assert.equal(address.kind, "unix");
    assert.equal(readdirSync(dir).filter((f) => f.startsWith("fable-resume-")).length, 1);
    await Promise.all([a1.close(), b1.close(), a2.close(), b2.close()]);
  } finally {
    shared.close();
  }
});

test("resume endpoint: a dial with a wrong token is answered ABORT, then the end, and the connection goes on", async () => {
  const shared = new SharedResumeEndpoint({ dir });
  try {
    const [a, b] = await pair(shared);
    const address = await resumeAddressOf(shared);
    for (const token of [new Uint8Array(16), Uint8Array.from({ length: 16 }, (_, i) => i * 7)]) {
      const stranger = await dialEndpoint(address, token, { kind: "unix" });
      // No connection answers to it: one ABORT record (so a connector stops resuming), then the end.
      const records: number[] = [];
      try {
        while (!stranger.ended) {
          const r = stranger.next();
          if (r === null) {
            await stranger.readable();
            continue;
          }
          records.push(r.bytes[0] ?? -1);
          stranger.free();
        }
      } finally {
        stranger.destroy();
      }
      assert.deepEqual(records, [CTL_ABORT]);
    }
    assert.equal(await stream(a, b, 20), 0);
    await Promise.all([a.close(), b.close()]);
  } finally {
    shared.close();
  }
});

test("resume endpoint: the socket goes once the owner and every connection let go, closed or not", async () => {
  const shared = new SharedResumeEndpoint({ dir });
  const [a, b] = await pair(shared);
  const address = await resumeAddressOf(shared);
  assert.equal(address.kind, "unix");
  const socketDir = dirname((address as { path: string }).path);
  shared.close();
  assert.ok(existsSync(socketDir), "still there: a connection holds it");
  // The peer closes; the listener's application never closes `a`: its timer notices the orderly end.
  await b.close();
  for (let i = 0; i < 400 && existsSync(socketDir); i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(existsSync(socketDir), false, "the resume socket's directory is gone");
  assert.equal(a.ended, true);
  a.destroy();
});
