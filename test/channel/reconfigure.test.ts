import assert from "node:assert/strict";
import diagnostics from "node:diagnostics_channel";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type Connection, openReconfigurable } from "../../src/channel/connection.js";
import type { SwitchEvent } from "../../src/channel/reconfigure.js";
import type { ReadBuffer } from "../../src/channel/buffers.js";
import { dialEndpoint, Endpoint } from "../../src/channel/paths.js";
import { connectUnix, listenUnix } from "../../src/transports/unix.js";
import { ShmEnd } from "../../src/transports/shm.js";
import type { TransportEnd } from "../../src/transports/transport.js";
import type { ReconfigureOptions } from "../../src/channel/reconfigure.js";

const dir = mkdtempSync(join(tmpdir(), "fable-reconf-test-"));
const opened: Connection[] = [];
after(() => {
  for (const c of opened) c.destroy(); // a failed test leaves nothing running
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;

async function pair(extra: Partial<ReconfigureOptions> = {}): Promise<[Connection, Connection]> {
  const listener = await listenUnix(join(dir, `p${n++}.sock`));
  const [a, b] = await Promise.all([listener.accept(), connectUnix(listener.address.path)]);
  await listener.close();
  // A loaded machine can take seconds to build an shm path: the limit is not what is tested here.
  const both = await Promise.all([
    openReconfigurable(a, { role: "listener", dir, timeoutMs: 60_000, ...extra }),
    openReconfigurable(b, { role: "connector", dir, timeoutMs: 60_000, ...extra }),
  ]);
  opened.push(...both);
  return both;
}

function message(seq: number): Uint8Array {
  const size = seq % 7 === 0 ? 300_000 : (seq * 37) % 5000;
  const out = new Uint8Array(Math.max(size, 8));
  new DataView(out.buffer).setUint32(0, seq, true);
  for (let i = 8; i < out.length; i++) out[i] = (seq + i) & 0xff;
  return out;
}

function check(bytes: Uint8Array, seq: number): void {
  const want = message(seq);
  assert.equal(bytes.length, want.length, `message ${seq}: length`);
  assert.equal(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true), seq, `message ${seq}: number`);
  assert.ok(Buffer.from(bytes).equals(Buffer.from(want)), `message ${seq}: bytes`);
}

/** Reads `count` messages from `conn`, checking each is the next one. */
async function receive(conn: Connection, count: number, seen: { next: number }): Promise<void> {
  while (seen.next < count) {
    const bufs = conn.getReadBuffers();
    for (const b of bufs) {
      check(b.bytes, seen.next++);
      conn.release(b);
    }
    if (bufs.length === 0) await conn.readable();
  }
}

/** Kills a path the way the world does: its socket destroyed, or its shm liveness channel cut. */
function kill(end: TransportEnd): void {
  if (end instanceof ShmEnd) end.connection.destroy();
  else (end as unknown as { input: { destroy(): void } }).input.destroy();
}

describe("reconfiguration", () => {
  it("switches both directions among shm, unix and tcp while messages flow, each delivered once, in order", async () => {
    const [a, b] = await pair();
    const events: SwitchEvent[] = [];
    const published: unknown[] = [];
    const onPublish = (m: unknown): void => void published.push(m);
    diagnostics.subscribe("fable:connection:switch", onPublish);
    a.on("switch", (e) => events.push(e));
    const total = 400;
    const ab = { next: 0 };
    const ba = { next: 0 };
    const readers = Promise.all([receive(b, total, ab), receive(a, total, ba)]);
    const writers = (async () => {
      for (let i = 0; i < total; i++) await Promise.all([a.send(message(i)), b.send(message(i))]);
    })();
    const kinds = [
      { kind: "shm", wait: "spin" },
      { kind: "tcp" },
      { kind: "shm", wait: "block" },
      { kind: "unix" },
      { kind: "shm", wait: "adaptive" },
    ] as const;
    for (const [i, spec] of kinds.entries()) {
      const e = await (i % 2 === 0 ? a : b).reconfigure(spec);
      assert.equal(e.to, spec.kind);
    }
    await Promise.all([writers, readers]);
    diagnostics.unsubscribe("fable:connection:switch", onPublish);
    assert.equal(a.transport.kind, "shm");
    assert.equal(b.transport.kind, "shm");
    assert.equal(a.epoch, kinds.length);
    assert.deepEqual(
      events.map((e) => e.to),
      kinds.map((k) => k.kind),
    );
    assert.ok(published.length >= kinds.length, `${published.length} diagnostics messages`);
    await Promise.all([a.close(), b.close()]);
  });

  it("re-sends what a path that dies abruptly lost: every message once, in order", async () => {
    const [a, b] = await pair();
    const total = 300;
    const seen = { next: 0 };
    const reading = receive(b, total, seen);
    const resumes: SwitchEvent[] = [];
    b.on("switch", (e) => resumes.push(e));
    for (let i = 0; i < total; i++) {
      await a.send(message(i));
      if (i % 60 === 30) kill((i % 120 === 30 ? a : b).transport);
      if (i === 150) await a.reconfigure({ kind: "shm" }).catch(() => undefined);
    }
    await reading;
    assert.ok(resumes.some((e) => e.reason === "resume"));
    await Promise.all([a.close(), b.close()]);
  });

  it("copies read buffers of the old path still held after the drain timeout, or fails by policy", async () => {
    for (const policy of ["copy", "fail"] as const) {
      const [a, b] = await pair({ drainTimeoutMs: 50, drainPolicy: policy });
      await a.send(message(1));
      const held = (await nextBuffers(b))[0];
      assert.ok(held !== undefined);
      assert.equal(held.epoch, 0);
      const drained = new Promise<SwitchEvent>((resolve) => b.on("drain", resolve));
      const failed = new Promise<unknown>((resolve) => {
        const poll = setInterval(() => {
          if (b.closed) {
            clearInterval(poll);
            resolve(
              b
                .readable()
                .then(() => b.getReadBuffers())
                .catch((e: unknown) => e),
            );
          }
        }, 10);
      });
      await a.reconfigure({ kind: "tcp" });
      if (policy === "copy") {
        const e = await drained;
        assert.equal(e.resent, 1);
        check(held.bytes, 1);
        b.release(held);
        await Promise.all([a.close(), b.close()]);
      } else {
        assert.equal(((await failed) as { code?: string }).code, "ECLOSED");
        assert.throws(() => held.bytes);
        a.destroy();
      }
    }
  });

  it("refuses bad requests with typed errors", async () => {
    const [a, b] = await pair();
    await assert.rejects(a.reconfigure({ kind: "carrier-pigeon" } as never), { code: "ERECONFIGURE" });
    await Promise.all([a.close(), b.close()]);
    const { memoryPair } = await import("../../src/transports/memory.js");
    const plain = new (await import("../../src/channel/connection.js")).Connection(memoryPair()[0]);
    await assert.rejects(plain.reconfigure({ kind: "unix" }), { code: "EUSAGE" });
    plain.destroy();
  });

  it("an endpoint drops a dialer with the wrong token and accepts the right one", async () => {
    const endpoint = await Endpoint.open({ kind: "unix" }, { dir });
    try {
      const accepted = endpoint.accept(5000);
      const stranger = await dialEndpoint(endpoint.address, new Uint8Array(16), { kind: "unix" });
      const friend = await dialEndpoint(endpoint.address, endpoint.token, { kind: "unix" });
      const end = await accepted;
      await assert.rejects(stranger.readable(), { code: "EPEER" });
      friend.close();
      end.destroy();
    } finally {
      await endpoint.close();
    }
  });
});

async function nextBuffers(conn: Connection): Promise<ReadBuffer[]> {
  for (;;) {
    const got = conn.getReadBuffers();
    if (got.length > 0) return got;
    await conn.readable();
  }
}
