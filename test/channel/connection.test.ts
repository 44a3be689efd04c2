import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BufferStateError, NoSpaceError } from "../../src/channel/buffers.js";
import { Connection } from "../../src/channel/connection.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryPair, type MemoryOptions } from "../../src/transports/memory.js";
import { connectTcp, listenTcp } from "../../src/transports/tcp.js";
import type { TransportEnd } from "../../src/transports/transport.js";
import { connectUnix, listenUnix } from "../../src/transports/unix.js";

function pair(options: MemoryOptions = {}, held?: number): [Connection, Connection] {
  const [a, b] = memoryPair(options);
  const o = held === undefined ? {} : { maxHeldReadBuffers: held };
  return [new Connection(a, o), new Connection(b, o)];
}

function pattern(n: number, salt: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + salt) & 0xff;
  return out;
}

async function readAll(conn: Connection, count: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  while (out.length < count) {
    const bufs = conn.getReadBuffers();
    for (const b of bufs) {
      out.push(new Uint8Array(b.bytes));
      conn.release(b);
    }
    if (bufs.length === 0) await conn.readable();
  }
  return out;
}

describe("connection", () => {
  it("writes in place with get/commit and reads with get/release, in order, with sequence numbers", async () => {
    const [a, b] = pair();
    for (let i = 0; i < 5; i++) {
      const [buf] = a.getWriteBuffers(8);
      assert.ok(buf);
      assert.equal(buf.seq, i);
      assert.equal(buf.epoch, 0);
      assert.equal(buf.connection, a);
      new DataView(buf.bytes.buffer, buf.bytes.byteOffset).setUint32(0, i * 7, true);
      a.commit(buf, 4);
    }
    const got = b.getReadBuffers();
    assert.deepEqual(
      got.map((r) => [r.seq, r.bytes.length, new DataView(r.bytes.buffer, r.bytes.byteOffset).getUint32(0, true)]),
      [0, 1, 2, 3, 4].map((i) => [i, 4, i * 7]),
    );
    for (const r of got) b.release(r);
    assert.equal(b.heldReadBuffers, 0);
  });

  it("makes buffers single-use: touching one after commit or release throws and changes nothing", async () => {
    const [a, b] = pair();
    const [w] = a.getWriteBuffers(3);
    assert.ok(w);
    w.bytes.set([1, 2, 3]);
    a.commit(w);
    assert.throws(() => w.bytes, BufferStateError);
    assert.throws(() => a.commit(w), { code: "EBUFFERSTATE", message: /already committed/ });
    const [r] = b.getReadBuffers();
    assert.ok(r);
    assert.deepEqual([...r.bytes], [1, 2, 3]);
    b.release(r);
    assert.throws(() => r.bytes, { code: "EBUFFERSTATE" });
    assert.throws(() => b.release(r), { code: "EBUFFERSTATE", message: /already released/ });
    assert.throws(() => a.release(r), { code: "EBUFFERSTATE", message: /belongs to connection/ });
    await a.send(Uint8Array.of(9));
    assert.deepEqual(
      (await readAll(b, 1)).map((m) => [...m]),
      [[9]],
    );
  });

  it("publishes write buffers in the order handed out, whatever the commit order", async () => {
    const [a, b] = pair();
    const [x] = a.getWriteBuffers(1);
    const [y] = a.getWriteBuffers(1);
    assert.ok(x && y);
    x.bytes[0] = 1;
    y.bytes[0] = 2;
    a.commit(y);
    assert.equal(b.getReadBuffers().length, 0, "y waits for x");
    a.commit(x);
    assert.deepEqual(
      (await readAll(b, 2)).map((m) => m[0]),
      [1, 2],
    );
  });

  it("signals back-pressure with no buffers, and writable() once the reader frees space", async () => {
    const [a, b] = pair({ capacityBytes: 4096 });
    let sent = 0;
    for (;;) {
      const bufs = a.getWriteBuffers(512);
      if (bufs.length === 0) break;
      for (const w of bufs) {
        w.bytes.fill(sent & 0xff);
        a.commit(w);
        sent++;
      }
    }
    assert.ok(sent > 0 && sent <= 8, `sent ${sent}`);
    let ready = false;
    const waiting = a.writable().then(() => (ready = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(ready, false);
    const got = await readAll(b, sent);
    await waiting;
    assert.deepEqual(
      got.map((m) => m[0]),
      Array.from({ length: sent }, (_, i) => i & 0xff),
    );
    assert.ok(a.getWriteBuffers(512).length > 0);
  });

  it("refuses to hand out more read buffers than the holding limit (ENOSPACE)", async () => {
    const [a, b] = pair({}, 2);
    for (let i = 0; i < 3; i++) await a.send(Uint8Array.of(i));
    const first = b.getReadBuffers();
    assert.equal(first.length, 2);
    assert.throws(() => b.getReadBuffers(), NoSpaceError);
    assert.throws(() => b.getReadBuffers(), { code: "ENOSPACE", message: /holds 2 read buffers/ });
    for (const r of first) b.release(r);
    const rest = b.getReadBuffers();
    assert.deepEqual(
      rest.map((r) => r.bytes[0]),
      [2],
    );
  });

  it("fragments messages larger than a record and reassembles them byte for byte", async () => {
    const [a, b] = pair({ maxRecordBytes: 4096, capacityBytes: 64 * 1024 });
    const sizes = [0, 1, 4095, 4096, 4097, 3 * 1024 * 1024 + 5];
    const messages = sizes.map((n, i) => pattern(n, i));
    const sending = Promise.all(messages.map((m) => a.send(m)));
    const got = await readAll(b, messages.length);
    await sending;
    assert.equal(got.length, sizes.length);
    for (const [i, m] of messages.entries()) assert.deepEqual(got[i], m, `message ${i} (${sizes[i]} B)`);
  });

  it("forwards between memory connections without a copy, released upstream once consumed downstream", async () => {
    const [a, b] = pair();
    const [c, d] = pair();
    await a.send(pattern(100, 3));
    await a.send(pattern(50, 4));
    const [r, r2] = b.getReadBuffers();
    assert.ok(r && r2);
    const view = r.bytes;
    c.commit(r);
    assert.throws(() => r.bytes, BufferStateError, "spent for the application at once");
    assert.throws(() => b.release(r), { code: "EBUFFERSTATE" });
    assert.equal(b.heldReadBuffers, 2, "still held upstream");
    b.release(r2);
    const [f] = d.getReadBuffers();
    assert.ok(f);
    assert.equal(f.bytes.buffer, view.buffer, "downstream reads the upstream bytes themselves");
    assert.equal(f.bytes.byteOffset, view.byteOffset);
    assert.deepEqual(new Uint8Array(f.bytes), pattern(100, 3));
    assert.equal(b.heldReadBuffers, 1);
    d.release(f);
    assert.equal(b.heldReadBuffers, 0, "released upstream when the downstream reader released it");
  });

  it("zero-copy forwarding: a downstream end that goes away lets go upstream; upstream's destroy is harmless", async () => {
    const [a, b] = pair();
    const [c, d] = pair();
    await a.send(pattern(10, 1));
    await a.send(pattern(10, 2));
    const [r1, r2] = b.getReadBuffers();
    assert.ok(r1 && r2);
    c.commit(r1);
    c.commit(r2);
    assert.equal(b.heldReadBuffers, 2);
    const [held] = d.getReadBuffers(); // one taken by the reader, one still queued
    assert.ok(held);
    d.destroy();
    assert.equal(b.heldReadBuffers, 0, "both let go when the reader downstream is destroyed");

    const [e, f] = pair();
    await a.send(pattern(10, 3));
    const [r3] = b.getReadBuffers();
    assert.ok(r3);
    e.commit(r3);
    b.destroy();
    const [g] = f.getReadBuffers();
    assert.ok(g);
    assert.deepEqual(new Uint8Array(g.bytes), pattern(10, 3), "the bytes outlive the upstream connection");
    f.release(g); // its upstream is gone: nothing to give back, no error
  });

  it("zero-copy forwarding falls back to one copy: untrusted downstream reader, no room, or a socket upstream", async () => {
    const [a, b] = pair();
    const [c, d] = pair({ trust: "untrusted" });
    await a.send(pattern(64, 9));
    const [r] = b.getReadBuffers();
    assert.ok(r);
    const view = r.bytes;
    c.commit(r);
    const [f] = d.getReadBuffers();
    assert.ok(f);
    assert.notEqual(f.bytes.buffer, view.buffer, "an untrusted reader gets its own copy");
    assert.deepEqual(new Uint8Array(f.bytes), pattern(64, 9));
    d.release(f);
    assert.equal(b.heldReadBuffers, 0);

    // A full downstream lane: the forwarded message waits and is copied once there is room.
    const [x, y] = pair({ capacityBytes: 100 });
    await x.send(pattern(80, 1));
    await a.send(pattern(80, 2));
    const [r2] = b.getReadBuffers();
    assert.ok(r2);
    x.commit(r2);
    assert.equal(b.heldReadBuffers, 1, "held until the copy is out");
    const got = await readAll(y, 2);
    assert.deepEqual(got[1], pattern(80, 2));
    assert.equal(b.heldReadBuffers, 0);
  });

  it("forwards a read buffer from a socket with one copy, released upstream once it is published", async () => {
    const l = await listenTcp();
    const [server, client] = await Promise.all([l.accept(), connectTcp(l.address)]);
    await l.close();
    const a = new Connection(client);
    const b = new Connection(server);
    const [c, d] = pair();
    try {
      await a.send(pattern(100, 3));
      await b.readable();
      const [r] = b.getReadBuffers();
      assert.ok(r);
      c.commit(r);
      assert.equal(b.heldReadBuffers, 0, "released upstream once the copy is published");
      assert.throws(() => r.bytes, BufferStateError);
      assert.deepEqual((await readAll(d, 1))[0], pattern(100, 3));
      assert.throws(() => c.commit(r), { code: "EBUFFERSTATE" });
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it("iterates messages until the peer closes, and streams them", async () => {
    const [a, b] = pair();
    const sent = [pattern(10, 1), pattern(0, 2), pattern(70_000, 3)];
    const writer = (async () => {
      for (const m of sent) await a.send(m);
      await a.close();
    })();
    const got: Uint8Array[] = [];
    for await (const m of b) got.push(new Uint8Array(m));
    await writer;
    assert.deepEqual(got, sent);

    const [c, d] = pair();
    const out = d.stream();
    const input = c.stream();
    const chunks: Buffer[] = [];
    out.on("data", (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve) => out.on("end", resolve));
    input.write(Buffer.from("hello "));
    input.end(Buffer.from("world"));
    await ended;
    assert.equal(Buffer.concat(chunks).toString(), "hello world");
  });

  it("closes and destroys idempotently; use afterwards is a typed error", async () => {
    const [a, b] = pair();
    const p1 = a.close();
    assert.equal(a.close(), p1);
    await p1;
    assert.throws(() => a.getWriteBuffers(1), { code: "ECLOSED" });
    await assert.rejects(a.send(Uint8Array.of(1)), { code: "ECLOSED" });
    b.destroy();
    b.destroy();
    assert.throws(() => b.getReadBuffers(), { code: "ECLOSED" });
  });

  it("rejects bad arguments with clear errors", () => {
    const [a] = pair();
    assert.throws(() => a.getWriteBuffers(-1), RangeError);
    const [w] = a.getWriteBuffers(4);
    assert.ok(w);
    assert.throws(() => a.commit(w, 5), { name: "RangeError", message: /length 5 is outside/ });
    const [, other] = pair();
    assert.throws(() => other.commit(w), { code: "EBUFFERSTATE", message: /belongs to connection/ });
    assert.throws(() => a.release(w), { code: "EBUFFERSTATE", message: /release takes read buffers/ });
  });

  for (const kind of ["tcp", "unix"] as const) {
    it(`carries the same messages, fragmented and reassembled, over ${kind}`, async () => {
      const o = { maxRecordBytes: 64 * 1024 };
      let ends: [TransportEnd, TransportEnd];
      let closeListener: () => Promise<void>;
      if (kind === "tcp") {
        const l = await listenTcp({}, o);
        const [b, a] = await Promise.all([l.accept(), connectTcp(l.address, o)]);
        ends = [a, b];
        closeListener = () => l.close();
      } else {
        const l = await listenUnix(join(tmpdir(), `fable-conn-${process.pid}-${Date.now()}.sock`), o);
        const [b, a] = await Promise.all([l.accept(), connectUnix(l.address.path, o)]);
        ends = [a, b];
        closeListener = () => l.close();
      }
      const a = new Connection(ends[0]);
      const b = new Connection(ends[1]);
      try {
        const messages = [0, 1, 65_536, 65_537, 2 * 1024 * 1024 + 3].map((n, i) => pattern(n, i));
        const sending = Promise.all(messages.map((m) => a.send(m)));
        const got = await readAll(b, messages.length);
        await sending;
        for (const [i, m] of messages.entries()) assert.deepEqual(got[i], m, `message ${i}`);
        const [w] = a.getWriteBuffers(16);
        assert.ok(w);
        w.bytes.fill(7);
        a.commit(w);
        assert.deepEqual([...((await readAll(b, 1))[0] ?? [])], new Array(16).fill(7));
      } finally {
        await a.close();
        await b.close();
        await closeListener();
      }
    });
  }
});
