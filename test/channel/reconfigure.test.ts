import assert from "node:assert/strict";
import diagnostics from "node:diagnostics_channel";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type Connection, openReconfigurable } from "../../src/channel/connection.js";
import type { SwitchEvent } from "../../src/channel/reconfigure.js";
import type { ReadBuffer } from "../../src/channel/buffers.js";
import { dialEndpoint, Endpoint, type PathSpec } from "../../src/channel/paths.js";
import { connectUnix, listenUnix } from "../../src/transports/unix.js";
import { ShmEnd } from "../../src/transports/shm.js";
import { memoryPair } from "../../src/transports/memory.js";
import { TransportError, type TransportEnd } from "../../src/transports/transport.js";
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

function killable(end: TransportEnd): boolean {
  return end instanceof ShmEnd || (end as unknown as { input?: unknown }).input !== undefined;
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

  it("over shm, acknowledgements leave a stream of equal messages at the same ring offsets lap after lap", async () => {
    // Each end acknowledges every 1 ms into the ring that carries its own messages (a ping-pong).
    // A control record of another size shifted every later record of the lap: each message then
    // needed a new view (the view caches key on offset and length), which the cache kept alive.
    const [a, b] = await pair({ tickMs: 1 });
    await a.reconfigure({ kind: "shm", wait: "block" });
    try {
      const size = 64;
      const strides = new Map<number, number>();
      let last = -1;
      let acked = -1;
      for (let i = 0; i < 40_000; i++) {
        const [w] = a.getWriteBuffers(size);
        assert.ok(w !== undefined, `room for ping ${i}`);
        a.commit(w);
        let [r] = b.getReadBuffers();
        while (r === undefined) {
          await b.readable();
          [r] = b.getReadBuffers();
        }
        b.release(r);
        const [e] = b.getWriteBuffers(size);
        assert.ok(e !== undefined, `room for echo ${i}`);
        b.commit(e);
        let [back] = a.getReadBuffers();
        while (back === undefined) {
          await a.readable();
          [back] = a.getReadBuffers();
        }
        // Offsets of a's reads in b's ring, which also carries b's acknowledgements.
        const at = back.bytes.byteOffset;
        if (last >= 0 && at > last) strides.set(at - last, (strides.get(at - last) ?? 0) + 1);
        last = at;
        a.release(back);
        if (i % 200 === 199) {
          await new Promise((r) => setTimeout(r, 2)); // the ticks run: acknowledgements go out
          acked = Math.max(acked, (b.debugState.ackedSeq as number) ?? -1);
        }
      }
      assert.ok(acked > 0, "b acknowledged during the stream");
      // A record is 80 bytes (16 of header, 64 of payload): an acknowledgement between two messages
      // takes one record's room, so every stride is a whole number of records.
      const odd = [...strides].filter(([stride]) => stride % 80 !== 0);
      assert.deepEqual(odd, [], `strides between consecutive messages: ${JSON.stringify([...strides])}`);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it("over shm, whole messages are kept in the ring, not copied, and re-sent from copies made as the path dies", async () => {
    // No acknowledgement comes while the test looks: a synchronous loop lets no tick run.
    const [a, b] = await pair({ tickMs: 200 });
    await a.reconfigure({ kind: "shm", wait: "block" });
    const kept = (): { bytes: number; inPlace: number } => a.debugState.kept as { bytes: number; inPlace: number };
    const total = 50;
    const small = (i: number): Uint8Array => Uint8Array.from({ length: 64 + i }, (_, k) => (i * 31 + k) & 0xff);
    const before = kept().bytes;
    for (let i = 0; i < total; i++) {
      const [w] = a.getWriteBuffers(small(i).length);
      assert.ok(w !== undefined, `room for message ${i}`);
      w.bytes.set(small(i));
      a.commit(w);
    }
    assert.equal(kept().inPlace, total, "every message kept as a view of the ring");
    assert.equal(kept().bytes, before + total * 64 + (total * (total - 1)) / 2);
    // The path dies before the reader took anything: its ring is copied from just before it goes.
    const path = a.transport;
    kill(path);
    for (let i = 0; i < 2000 && path.failure === undefined; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(path.failure !== undefined, "the shm end noticed its liveness cut");
    assert.equal(kept().inPlace, 0, "copied before the ring was unmapped");
    for (let i = 0; i < total;) {
      const bufs = b.getReadBuffers();
      for (const r of bufs) {
        assert.ok(Buffer.from(r.bytes).equals(Buffer.from(small(i))), `message ${i}, once, in order`);
        b.release(r);
        i++;
      }
      if (bufs.length === 0) await b.readable();
    }
    // A socket path keeps copies from the start.
    await a.reconfigure({ kind: "unix" });
    const [w] = a.getWriteBuffers(8);
    assert.ok(w !== undefined);
    a.commit(w);
    assert.equal(kept().inPlace, 0);
    // (Not close(): b's side of that switch waits for a's marker, read only by b's unref'd tick.)
    a.destroy();
    b.destroy();
  });

  it("a switch asked for while a killed path resumes is not lost: it completes instead of waiting its timeout", async () => {
    // timeoutMs 60 s: an offer the peer drops (sent with an epoch the resume used up) would hang
    // the switch that long; a live one takes well under a second even on a loaded machine.
    const [a, b] = await pair();
    const seen = { next: 0 };
    const total = 600;
    const reading = receive(b, total, seen);
    const backReading = receive(a, 0, { next: 0 });
    let i = 0;
    const writing = (async () => {
      for (; i < total; i++) await a.send(message(i));
    })();
    try {
      for (const [round, spec] of [{ kind: "unix" }, { kind: "tcp" }, { kind: "shm" }, { kind: "unix" }].entries()) {
        const killer = round % 2 === 0 ? a : b;
        const asker = round < 2 ? a : b;
        // The previous round may have left a resume under way (its end then has no path to kill).
        while (!killable(killer.transport)) await new Promise((resolve) => setTimeout(resolve, 5));
        kill(killer.transport);
        const started = performance.now();
        let stuck: NodeJS.Timeout | undefined;
        const outcome = await Promise.race([
          asker.reconfigure(spec as PathSpec).then(
            () => "switched",
            () => "refused",
          ),
          new Promise<string>((resolve) => (stuck = setTimeout(() => resolve("stuck"), 15_000))),
        ]);
        clearTimeout(stuck);
        assert.notEqual(outcome, "stuck", `round ${round}: the switch still waited after 15 s`);
        assert.ok(performance.now() - started < 15_000);
      }
      await Promise.all([writing, reading, backReading]);
      assert.equal(seen.next, total);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it("a message acknowledged fragment by fragment and then lost with its path is re-sent whole", async () => {
    // A lane holding one 256 KiB fragment at a time: the reader's tick takes (and acknowledges)
    // the fragments of a 1 MiB message one by one, then parks the whole message; the path dies
    // before the application reads it. The reader must resume at the message's first fragment,
    // and the writer must still have it.
    const [x, y] = memoryPair({ capacityBytes: 300 * 1024 });
    const [a, b] = await Promise.all([
      openReconfigurable(x, { role: "listener", dir, timeoutMs: 60_000 }),
      openReconfigurable(y, { role: "connector", dir, timeoutMs: 60_000 }),
    ]);
    opened.push(a, b);
    // A memory path holds no handle and the connection's timer is unref'd: keep the loop alive.
    const alive = setInterval(() => undefined, 1000);
    try {
      const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) & 0xff);
      const sent = a.send(big);
      while (!b.isReadable()) await new Promise((resolve) => setTimeout(resolve, 5));
      await sent;
      await new Promise((resolve) => setTimeout(resolve, 50)); // the writer reads the acknowledgements
      a.transport.destroy(new TransportError("EPEER", "killed by the test"));
      await a.send(message(1));
      const got: Uint8Array[] = [];
      let guard: NodeJS.Timeout | undefined;
      const reading = (async () => {
        while (got.length < 2) {
          for (const buf of await nextBuffers(b)) {
            got.push(buf.bytes.slice());
            b.release(buf);
          }
        }
      })();
      await Promise.race([
        reading,
        new Promise((_, reject) => {
          guard = setTimeout(() => reject(new Error(`no resume in 15 s (writer closed: ${a.closed})`)), 15_000);
        }),
      ]).finally(() => clearTimeout(guard));
      assert.equal(got.length, 2);
      assert.ok(Buffer.from(got[0] as Uint8Array).equals(Buffer.from(big)), "the 1 MiB message, byte for byte");
      check(got[1] as Uint8Array, 1);
      assert.equal(a.closed, false);
    } finally {
      clearInterval(alive);
      a.destroy();
      b.destroy();
    }
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

  it("a switch completes without the control tick, whichever end asks, while one end never reads", async () => {
    // tickMs ~11 days: nothing here may wait for the tick. The writer never reads, so the reader's
    // epoch-end marker (and, the other way round, the reader's offer) reach it only through its
    // control watch; before it, the writer's switch waited for a tick and the reader's was never
    // answered.
    const [a, b] = await pair({ tickMs: 1e9 });
    const seen = { next: 0 };
    const epochs = new Set<number>();
    // The writer goes on until the switches are done, then sends 20 more: `total` is set first.
    let total: number | undefined;
    let stopped = false;
    const reading = (async () => {
      while ((total === undefined || seen.next < total) && !stopped) {
        const bufs = b.getReadBuffers();
        for (const buf of bufs) {
          check(buf.bytes, seen.next++);
          epochs.add(buf.epoch);
          b.release(buf);
        }
        if (bufs.length === 0) await b.readable();
      }
    })();
    let i = 0;
    const writing = (async () => {
      for (; (total === undefined || i < total) && !stopped; i++) {
        await a.send(message(i));
        if (i % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    let guard: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(new Error(`stuck after message ${i} sent, ${seen.next} read`)), 20_000);
    });
    try {
      // (An idle end on the futex sleeper keeps to the tick: no waiter thread per idle end.)
      const futex = process.env.FABLE_SHM_SLEEPER === "futex";
      const specs: [Connection, PathSpec][] = [
        [a, futex ? { kind: "unix" } : { kind: "shm", wait: "adaptive" }],
        [b, futex ? { kind: "tcp" } : { kind: "unix" }],
        [a, futex ? { kind: "unix" } : { kind: "tcp" }],
        [b, futex ? { kind: "tcp" } : { kind: "shm", wait: "block" }],
      ];
      for (const [asker, spec] of specs) {
        const event = await Promise.race([asker.reconfigure(spec), stuck]);
        assert.equal(event.to, spec.kind);
      }
      total = i + 20;
      await Promise.race([Promise.all([writing, reading]), stuck]);
      assert.equal(seen.next, total);
      assert.equal(a.epoch, specs.length);
      assert.ok(epochs.has(specs.length), `epochs read: ${[...epochs].join(", ")}`);
    } finally {
      stopped = true;
      clearTimeout(guard);
      a.destroy();
      b.destroy();
    }
  });

  it("readable() leaves no waiter behind once its wait settles", async () => {
    // Each wait used to leave an entry (racing the tick's wake-up) until the next switch: a
    // connection that never switched kept one per readable() call.
    const [a, b] = await pair();
    try {
      await a.reconfigure({ kind: "unix" }); // a socket: every wait below is a real one
      const ping = new Uint8Array(8);
      for (let i = 0; i < 200; i++) {
        await a.send(ping);
        for (const buf of await nextBuffers(b)) b.release(buf);
      }
      assert.equal(b.debugState.readers, 0);
    } finally {
      a.destroy();
      b.destroy();
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
