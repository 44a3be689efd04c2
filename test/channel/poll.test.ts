/**
 * poll() and Poller over connections (memory in this process; unix and shm with the peer in
 * another process) and fds (FIFOs, one written by another process), and the Connection readiness
 * predicates they stand on. Nothing here measures time: a wait either settles with what the test
 * expects or the test runner's timeout fails it; "settles at once" means before a setImmediate.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { getEventListeners } from "node:events";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Connection } from "../../src/channel/connection.js";
import { poll, Poller, pollListeners, type PollItem, type PollResult } from "../../src/channel/poll.js";
import { memoryPair, type MemoryOptions } from "../../src/transports/memory.js";
import { ShmListener } from "../../src/transports/shm.js";
import { createSab, openSab } from "../../src/transports/sab.js";
import { W_DATA, W_READER_SLEEPING } from "../../src/ring/layout.js";
import type { TransportEnd } from "../../src/transports/transport.js";
import { listenUnix } from "../../src/transports/unix.js";
import { type PeerProcess, startPeer, transportModule } from "../kit/peer.js";

/** memoryPair's default lane capacity: one buffer this big fills a lane. */
const LANE_BYTES = 1024 * 1024;

const dir = mkdtempSync(join(tmpdir(), "fable-poll-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let unique = 0;

function pair(options: MemoryOptions = {}): [Connection, Connection] {
  const [a, b] = memoryPair(options);
  return [new Connection(a), new Connection(b)];
}

/** A FIFO opened at both ends, non-blocking: [read fd, write fd]. */
function fifo(): [number, number] {
  const path = join(dir, `f${unique++}`);
  execFileSync("mkfifo", ["-m", "600", path]);
  return [
    openSync(path, constants.O_RDONLY | constants.O_NONBLOCK),
    openSync(path, constants.O_WRONLY | constants.O_NONBLOCK),
  ];
}

/** What a poll settled with, or "later" if it had not settled before a setImmediate callback. */
async function settledAtOnce<T>(promise: Promise<T>): Promise<T | "later"> {
  return Promise.race([promise, new Promise<"later">((resolve) => setImmediate(() => resolve("later")))]);
}

/** True if the promise is still pending after two turns of the event loop (so an I/O poll came between). */
async function stillPending(promise: Promise<unknown>): Promise<boolean> {
  const later = new Promise<"later">((resolve) => setImmediate(() => setImmediate(() => resolve("later"))));
  return (await Promise.race([promise, later])) === "later";
}

/** The results as [index of the item, readable, writable, ended, error code]. */
function summary(items: readonly PollItem[], results: readonly PollResult[]): unknown[] {
  return results.map((r) => [
    items.indexOf(r.item),
    r.readable,
    r.writable,
    r.ended,
    (r.error as { code?: string } | undefined)?.code,
  ]);
}

function readAllNow(c: Connection): string[] {
  const out: string[] = [];
  for (const b of c.getReadBuffers()) {
    out.push(Buffer.from(b.bytes).toString());
    c.release(b);
  }
  return out;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A transport end that counts its readable()/writable() calls still pending. */
function counting(end: TransportEnd): { end: TransportEnd; pending: { read: number; write: number } } {
  const pending = { read: 0, write: 0 };
  const track = (kind: "read" | "write", p: Promise<void>): Promise<void> => {
    pending[kind]++;
    const done = (): void => void pending[kind]--;
    p.then(done, done);
    return p;
  };
  const proxy = new Proxy(end, {
    get(target, prop) {
      if (prop === "readable") return () => track("read", target.readable());
      if (prop === "writable") return () => track("write", target.writable());
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { end: proxy, pending };
}

describe("Connection readiness predicates", () => {
  it("isReadable() takes nothing away: the message it saw is the next getReadBuffers() returns", async () => {
    const [a, b] = pair();
    assert.equal(b.isReadable(), false);
    await a.send(text("one"));
    await a.send(text("two"));
    assert.equal(b.isReadable(), true);
    assert.equal(b.isReadable(), true);
    assert.equal(b.heldReadBuffers, 0);
    await b.readable(); // resolves at once: a message is waiting
    const got = b.getReadBuffers();
    assert.deepEqual(
      got.map((r) => [r.seq, Buffer.from(r.bytes).toString()]),
      [
        [0, "one"],
        [1, "two"],
      ],
    );
    assert.equal(b.heldReadBuffers, 2);
    for (const r of got) b.release(r);
    assert.equal(b.isReadable(), false);
  });

  it("isReadable() is false while only part of a fragmented message has arrived", async () => {
    // 16-byte records and a 64-byte lane: a 200-byte message arrives in many turns.
    const [a, b] = pair({ maxRecordBytes: 16, capacityBytes: 64 });
    const big = new Uint8Array(200).map((_, i) => i);
    const sent = a.send(big);
    let partial = 0;
    while (!b.isReadable()) {
      partial++;
      await b.readable();
    }
    assert.ok(partial > 1, `the message arrived in ${partial} turn(s)`);
    await sent;
    const [m] = b.getReadBuffers();
    assert.deepEqual(m?.bytes, big);
  });

  it("isReadable() is true at the end, after a failure and once closed; ended waits for the last message", async () => {
    const [a, b] = pair();
    await a.send(text("last"));
    await a.close();
    assert.equal(b.isReadable(), true);
    assert.equal(b.ended, false, "the message isReadable() looked at is still to be read");
    assert.deepEqual(readAllNow(b), ["last"]);
    assert.equal(b.ended, true);
    assert.equal(b.isReadable(), true);

    const [c, d] = pair();
    c.destroy();
    assert.equal(d.isReadable(), true);
    assert.throws(() => d.getReadBuffers(), { code: "EPEER" });

    const [, f] = pair();
    assert.equal(f.closed, false);
    await f.close();
    assert.equal(f.closed, true);
    assert.equal(f.isReadable(), true);
  });

  it("isWritable() follows back-pressure, queued sends, the peer's close and our own", async () => {
    const [a, b] = pair({ capacityBytes: 100 });
    assert.equal(a.isWritable(), true);
    const [w] = a.getWriteBuffers(80);
    assert.ok(w);
    a.commit(w);
    // Room is learnt by trying: the lane is full, but no reservation has met back-pressure yet.
    assert.equal(a.isWritable(), true);
    assert.deepEqual(a.getWriteBuffers(80), []);
    assert.equal(a.isWritable(), false);
    const sending = a.send(text("queued"));
    assert.equal(a.isWritable(), false);
    readAllNow(b);
    await sending;
    assert.equal(a.isWritable(), true);

    // The peer closes while a message of its is unread: writing is refused once tried.
    await b.send(text("unread"));
    await b.close();
    assert.equal(a.isWritable(), true);
    assert.throws(() => a.getWriteBuffers(1), { code: "ECLOSED" });
    assert.equal(a.isWritable(), false);
    assert.deepEqual(readAllNow(a), ["unread"]);

    const [c] = pair();
    await c.close();
    assert.equal(c.isWritable(), false);
  });
});

describe("poll", () => {
  it("resolves with the connection that became readable, and only it", async () => {
    const [a1, b1] = pair();
    const [a2, b2] = pair();
    const items = [
      { connection: b1, events: ["readable"] },
      { connection: b2, events: ["readable"] },
    ] as const;
    const waiting = poll(items);
    assert.equal(await stillPending(waiting), true);
    await a2.send(text("hi"));
    const ready = await waiting;
    assert.deepEqual(summary(items, ready), [[1, true, false, false, undefined]]);
    assert.equal(ready[0]?.item, items[1]);
    assert.deepEqual(readAllNow(b2), ["hi"]);
    assert.equal(pollListeners(b1), 0);
    a1.destroy();
  });

  it("settles at once when an item is ready at call time, reporting every ready item", async () => {
    const [a1, b1] = pair();
    const [a2, b2] = pair();
    const [, b3] = pair();
    await a1.send(text("x"));
    await a2.send(text("y"));
    const items = [
      { connection: b1, events: ["readable"] },
      { connection: b3, events: ["readable"] },
      { connection: b2, events: ["readable", "writable"] },
    ] as const;
    const ready = await settledAtOnce(poll(items));
    assert.notEqual(ready, "later");
    assert.deepEqual(summary(items, ready as PollResult[]), [
      [0, true, false, false, undefined],
      [2, true, true, false, undefined],
    ]);
  });

  it("timeoutMs: 0 only checks; a timeout resolves with []; a ready item beats the timeout", async () => {
    const [a, b] = pair();
    const items = [{ connection: b, events: ["readable"] }] as const;
    assert.deepEqual(await settledAtOnce(poll(items, { timeoutMs: 0 })), []);
    assert.deepEqual(await poll(items, { timeoutMs: 5 }), []);
    const waiting = poll(items, { timeoutMs: 60_000 });
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    await a.send(text("now"));
    assert.equal((await waiting).length, 1);
    // Its 60 s timer is gone with it.
    const afterwards = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    assert.equal(afterwards, before - 1);
  });

  it("rejects with the signal's reason when aborted, before or during the wait, and removes its listener", async () => {
    const [, b] = pair();
    const items = [{ connection: b, events: ["readable"] }] as const;
    const early = new AbortController();
    early.abort();
    await assert.rejects(poll(items, { signal: early.signal }), { name: "AbortError" });

    const controller = new AbortController();
    const waiting = poll(items, { signal: controller.signal });
    assert.equal(await stillPending(waiting), true);
    assert.equal(getEventListeners(controller.signal, "abort").length, 1);
    controller.abort(new Error("enough"));
    await assert.rejects(waiting, { message: "enough" });
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
    assert.equal(pollListeners(b), 0);

    // Settled by readiness: the listener goes too.
    const [a2, b2] = pair();
    const other = new AbortController();
    const ready = poll([{ connection: b2, events: ["readable"] }], { signal: other.signal });
    await a2.send(text("x"));
    assert.equal((await ready).length, 1);
    assert.equal(getEventListeners(other.signal, "abort").length, 0);
  });

  it("reports an ended connection, a failed one, and one closed here while waiting", async () => {
    const [a, b] = pair();
    const [c, d] = pair();
    const [, f] = pair();
    const items = [
      { connection: b, events: ["readable"] },
      { connection: d, events: ["readable"] },
      { connection: f, events: ["readable"] },
    ] as const;
    const first = poll(items.slice(0, 1));
    await a.close();
    assert.deepEqual(summary(items, await first), [[0, true, false, true, undefined]]);

    const second = poll(items.slice(1, 2));
    assert.equal(await stillPending(second), true);
    c.destroy(); // d's peer is gone: EPEER
    assert.deepEqual(summary(items, await second), [[1, true, false, false, "EPEER"]]);

    const third = poll(items.slice(2));
    assert.equal(await stillPending(third), true);
    void f.close();
    assert.deepEqual(summary(items, await third), [[2, true, false, false, "ECLOSED"]]);
  });

  it("writable: waits out back-pressure; once the peer closes, writing is reported as refused", async () => {
    const [a, b] = pair({ capacityBytes: 64 });
    const items = [{ connection: a, events: ["writable"] }] as const;
    const [w] = a.getWriteBuffers(60);
    assert.ok(w);
    a.commit(w);
    assert.deepEqual(a.getWriteBuffers(60), []);
    const waiting = poll(items);
    assert.equal(await stillPending(waiting), true);
    readAllNow(b);
    assert.deepEqual(summary(items, await waiting), [[0, false, true, false, undefined]]);

    await b.send(text("unread"));
    await b.close();
    // Not known yet (nothing was refused): writable, as with a non-blocking socket.
    assert.deepEqual(summary(items, await poll(items)), [[0, false, true, false, undefined]]);
    assert.throws(() => a.getWriteBuffers(1), { code: "ECLOSED" });
    assert.deepEqual(summary(items, await poll(items)), [[0, false, false, false, "ECLOSED"]]);
    assert.deepEqual(readAllNow(a), ["unread"]);
    assert.deepEqual(summary(items, await poll(items)), [[0, false, false, true, "ECLOSED"]]);
  });

  it("a message still arriving in fragments does not wake it; the whole message does", async () => {
    const [a, b] = pair({ maxRecordBytes: 16, capacityBytes: 64 });
    const items = [{ connection: b, events: ["readable"] }] as const;
    const sent = a.send(new Uint8Array(300).fill(9));
    const ready = await poll(items);
    await sent;
    assert.deepEqual(summary(items, ready), [[0, true, false, false, undefined]]);
    const [m] = b.getReadBuffers();
    assert.equal(m?.bytes.length, 300);
  });

  it("hundreds of connections, one ready: resolves with that one; the others keep no listener", async () => {
    const pairs = Array.from({ length: 400 }, () => pair());
    const items = pairs.map(([, b]) => ({ connection: b, events: ["readable", "writable"] as const }));
    // Writable too: make every connection not writable first, so only readability can wake it.
    for (const [, b] of pairs) {
      const [w] = b.getWriteBuffers(LANE_BYTES);
      assert.ok(w);
      b.commit(w);
      assert.deepEqual(b.getWriteBuffers(1), []);
    }
    const waiting = poll(items);
    assert.equal(await stillPending(waiting), true);
    await pairs[317]?.[0].send(text("you"));
    assert.deepEqual(summary(items, await waiting), [[317, true, false, false, undefined]]);
    for (const [, b] of pairs) assert.equal(pollListeners(b), 0);
  });

  it("waiting again and again does not pile up transport waits or listeners on an idle connection", async () => {
    const idle = counting(memoryPair()[1]);
    const quiet = new Connection(idle.end);
    const [a, b] = pair();
    const items = [
      { connection: quiet, events: ["readable", "writable"] },
      { connection: b, events: ["readable"] },
    ] as const;
    // Make the idle one not writable either, so it really waits on both.
    const [w] = quiet.getWriteBuffers(LANE_BYTES);
    assert.ok(w);
    quiet.commit(w);
    assert.deepEqual(quiet.getWriteBuffers(1), []);
    for (let i = 0; i < 300; i++) {
      const waiting = poll(items);
      await a.send(text(String(i)));
      assert.deepEqual(summary(items, await waiting), [[1, true, false, false, undefined]]);
      assert.deepEqual(readAllNow(b), [String(i)]);
      assert.equal(pollListeners(quiet), 0);
    }
    assert.deepEqual(idle.pending, { read: 1, write: 1 });
  });

  it("a shared-memory end polled and left idle neither sleeps nor stays armed once the poll settles", async () => {
    const { end, peer } = createSab({ wait: "adaptive" });
    const idle = new Connection(openSab(peer, { wait: "adaptive" })); // reads ring 0, the creator's
    const readerSleeping = new Int32Array(peer.buffer, 0, W_DATA)[W_READER_SLEEPING];
    const flag = (): number => new Int32Array(peer.buffer, 0, W_DATA)[W_READER_SLEEPING] ?? -1;
    assert.equal(readerSleeping, 0);
    const [a, b] = pair();
    try {
      for (let i = 0; i < 3; i++) {
        const waiting = poll([
          { connection: idle, events: ["readable"] },
          { connection: b, events: ["readable"] },
        ]);
        assert.equal(await stillPending(waiting), true);
        assert.notEqual(flag(), 0, "asleep (no spin first) while polled");
        await a.send(text(String(i)));
        assert.equal((await waiting).length, 1);
        readAllNow(b);
        assert.equal(flag(), 0, "the idle end's wait was cancelled: not asleep for nobody");
      }
      // Its next real wait still works.
      const reading = idle.readable();
      const writer = new Connection(end);
      await writer.send(text("late"));
      await reading;
      assert.deepEqual(readAllNow(idle), ["late"]);
    } finally {
      end.close();
      idle.destroy();
    }
  });

  it("works across processes: unix and shm, readable when the peer's echo arrives, EPEER when it is killed", async () => {
    for (const kind of ["unix", "shm"] as const) {
      const path = join(dir, `${kind}-${unique++}.sock`);
      let peer: PeerProcess | undefined;
      let close: () => Promise<void> = async () => {};
      let end: TransportEnd;
      if (kind === "unix") {
        const listener = await listenUnix(path);
        const accepted = listener.accept();
        peer = await startPeer({ module: transportModule("unix"), export: "connectUnix", args: [path] });
        end = await accepted;
        close = () => listener.close();
      } else {
        const listener = await ShmListener.listen(path, { wait: "block" });
        const accepted = listener.accept();
        peer = await startPeer({
          module: transportModule("shm"),
          export: "connectShm",
          args: [path, { wait: "block" }],
        });
        end = await accepted;
        close = () => listener.close();
      }
      const c = new Connection(end);
      const items = [{ connection: c, events: ["readable"] }] as const;
      try {
        const waiting = poll(items);
        assert.equal(await stillPending(waiting), true);
        await c.send(text(`echo over ${kind}`));
        assert.deepEqual(summary(items, await waiting), [[0, true, false, false, undefined]], kind);
        assert.deepEqual(readAllNow(c), [`echo over ${kind}`]);
        const dying = poll(items);
        await peer.kill();
        assert.deepEqual(summary(items, await dying), [[0, true, false, false, "EPEER"]], kind);
      } finally {
        c.destroy();
        await peer.kill();
        await close();
      }
    }
  });

  it("fds: readable, writable, a hang-up, POLLERR, and data written by another process", async () => {
    const [r, w] = fifo();
    const items: PollItem[] = [
      { fd: r, events: ["readable"] },
      { fd: w, events: ["writable"] },
    ];
    try {
      // An empty FIFO: only its write end is ready.
      assert.deepEqual(summary(items, await poll(items)), [[1, false, true, false, undefined]]);
      const waiting = poll(items.slice(0, 1));
      assert.equal(await stillPending(waiting), true);
      writeSync(w, "ab");
      assert.deepEqual(summary(items, await waiting), [[0, true, false, false, undefined]]);
      closeSync(w);
      assert.equal(readSync(r, Buffer.alloc(4)), 2);
      assert.deepEqual(summary(items, await poll(items.slice(0, 1))), [[0, true, false, true, undefined]]);
    } finally {
      closeSync(r);
    }

    const [r2, w2] = fifo();
    closeSync(r2); // a writer with no reader: POLLERR
    try {
      const result = await poll([{ fd: w2, events: ["writable"] }]);
      assert.equal(result.length, 1);
      assert.equal((result[0]?.error as { code?: string }).code, "EPOLLERR");
      assert.match(result[0]?.error?.message ?? "", new RegExp(`fd ${w2}`));
    } finally {
      closeSync(w2);
    }

    // The writer is another process: the FIFO's write end is its fd 3.
    const [r3, w3] = fifo();
    const [, b] = pair();
    const mixed: PollItem[] = [
      { connection: b, events: ["readable"] },
      { fd: r3, events: ["readable"] },
    ];
    try {
      const waiting = poll(mixed);
      const child = spawn(process.execPath, ["-e", `require("node:fs").writeSync(3, "from the child")`], {
        stdio: ["ignore", "inherit", "inherit", w3],
      });
      const exited = new Promise((resolve) => child.on("exit", resolve));
      assert.deepEqual(summary(mixed, await waiting), [[1, true, false, false, undefined]]);
      const got = Buffer.alloc(64);
      assert.equal(got.subarray(0, readSync(r3, got)).toString(), "from the child");
      await exited;
    } finally {
      closeSync(r3);
      closeSync(w3);
    }
  });

  it("leaves nothing behind: a process that polled (and kept a Poller) exits by itself", () => {
    const [r, w] = fifo();
    const url = (file: string): string => JSON.stringify(new URL(`../../src/${file}`, import.meta.url).href);
    try {
      const child = spawnSync(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `const { poll, Poller } = await import(${url("channel/poll.js")});
           const { Connection } = await import(${url("channel/connection.js")});
           const { memoryPair } = await import(${url("transports/memory.js")});
           const conn = () => memoryPair().map((e) => new Connection(e));
           const [a, b] = conn(); const [, d] = conn();
           const poller = new Poller();
           poller.add({ fd: 3, events: ["readable"] });
           poller.add({ connection: b, events: ["readable"] });
           poller.add({ connection: d, events: ["readable"] });
           setImmediate(() => a.send(new Uint8Array([1])));
           console.log((await poller.wait({ timeoutMs: 600000 })).length);
           for (const m of b.getReadBuffers()) b.release(m);
           console.log((await poll([{ fd: 3, events: ["readable"] }, { connection: d, events: ["readable"] }], { timeoutMs: 1 })).length);
           const ac = new AbortController(); setImmediate(() => ac.abort());
           await poller.wait({ signal: ac.signal, timeoutMs: 600000 }).catch((e) => console.log(e.name));`,
        ],
        { encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "pipe", r] },
      );
      // A leaked timer (10 min), an fd watcher left started or a listener keeping a handle would keep it alive.
      assert.equal(child.signal, null, `the process did not exit by itself: ${child.stderr}`);
      assert.equal(child.status, 0, child.stderr);
      assert.equal(child.stdout.trim(), "1\n0\nAbortError");
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });
});

describe("Poller", () => {
  it("keeps its items across waits; add, modify and remove take effect, even during a wait", async () => {
    const [a1, b1] = pair();
    const [a2, b2] = pair();
    const [r, w] = fifo();
    const poller = new Poller();
    try {
      const one = { connection: b1, events: ["readable"] } as const;
      poller.add(one);
      poller.add({ fd: r, events: ["readable"] });
      assert.equal(poller.size, 2);
      for (let i = 0; i < 50; i++) {
        const waiting = poller.wait();
        await a1.send(text(`m${i}`));
        const ready = await waiting;
        assert.equal(ready.length, 1);
        assert.equal(ready[0]?.item, one);
        assert.deepEqual(readAllNow(b1), [`m${i}`]);
      }
      // Added during a wait, ready already: the wait settles with it.
      await a2.send(text("early"));
      const waiting = poller.wait();
      assert.equal(await stillPending(waiting), true);
      const two = { connection: b2, events: ["readable"] } as const;
      poller.add(two);
      assert.deepEqual(
        (await waiting).map((x) => x.item),
        [two],
      );
      readAllNow(b2);
      // Modified to writable (which it is): ready at once.
      poller.modify({ connection: b2, events: ["writable"] });
      const ready = await poller.wait({ timeoutMs: 0 });
      assert.deepEqual(
        ready.map((x) => [x.item, x.writable]),
        [[{ connection: b2, events: ["writable"] }, true]],
      );
      // Removed during a wait: the fd no longer wakes it.
      assert.equal(poller.remove(b2), true);
      assert.equal(poller.remove(b2), false);
      const last = poller.wait();
      assert.equal(poller.remove({ fd: r, events: ["readable"] }), true);
      writeSync(w, "ignored");
      assert.equal(await stillPending(last), true);
      await a1.send(text("end"));
      assert.equal((await last)[0]?.item, one);
    } finally {
      poller.close();
      closeSync(r);
      closeSync(w);
    }
  });

  it("one wait at a time; close() rejects a pending wait with ECLOSED and refuses later use", async () => {
    const [, b] = pair();
    const poller = new Poller();
    poller.add({ connection: b, events: ["readable"] });
    const waiting = poller.wait();
    await assert.rejects(poller.wait(), { code: "EUSAGE", message: /already pending/ });
    poller.close();
    poller.close();
    await assert.rejects(waiting, { code: "ECLOSED" });
    await assert.rejects(poller.wait(), { code: "ECLOSED" });
    assert.throws(() => poller.add({ connection: b, events: ["readable"] }), { code: "ECLOSED" });
    assert.equal(pollListeners(b), 0);
  });
});

describe("poll: bad input", () => {
  it("rejects each kind of bad item, event, timeout and signal with a typed error", async () => {
    const [, b] = pair();
    const [r, w] = fifo();
    const file = openSync(join(dir, "plain"), "w");
    const [, closed] = pair();
    await closed.close();
    const bad: [unknown, RegExp, string?][] = [
      ["not an array", /must be an array/],
      [[null], /must be \{ connection, events \}/],
      [[{ events: ["readable"] }], /exactly one of connection and fd, got neither/],
      [[{ connection: b, fd: r, events: ["readable"] }], /got both/],
      [[{ connection: {}, events: ["readable"] }], /must be a Connection/],
      [[{ fd: -1, events: ["readable"] }], /must be a file descriptor/],
      [[{ fd: 1.5, events: ["readable"] }], /must be a file descriptor/],
      [[{ fd: 1_000_000, events: ["readable"] }], /fd 1000000 cannot be polled: .*not open/],
      [[{ fd: file, events: ["readable"] }], /cannot be polled: .*regular files/],
      [[{ connection: b, events: [] }], /at least one of/],
      [[{ connection: b, events: ["readable", "urgent"] }], /unknown event "urgent"/],
      [[{ connection: b }], /at least one of/],
      [[{ connection: closed, events: ["readable"] }], /is closed/, "ECLOSED"],
      [
        [
          { connection: b, events: ["readable"] },
          { connection: b, events: ["writable"] },
        ],
        /already in this poller: list it once/,
      ],
      [
        [
          { fd: r, events: ["readable"] },
          { fd: r, events: ["writable"] },
        ],
        /fd \d+ is already in this poller/,
      ],
    ];
    try {
      for (const [items, message, code] of bad) {
        await assert.rejects(poll(items as PollItem[], { timeoutMs: 0 }), { code: code ?? "EUSAGE", message });
      }
      const good = [{ connection: b, events: ["readable"] }] as const;
      for (const timeoutMs of [-1, Number.NaN, 2 ** 31, "5"]) {
        await assert.rejects(poll(good, { timeoutMs: timeoutMs as number }), { code: "EUSAGE", message: /timeoutMs/ });
      }
      await assert.rejects(poll(good, { signal: {} as AbortSignal }), { code: "EUSAGE", message: /AbortSignal/ });
      const poller = new Poller();
      assert.throws(() => poller.modify({ connection: b, events: ["readable"] }), {
        code: "EUSAGE",
        message: /not in/,
      });
      poller.close();
      // A failed add leaves no fd watcher behind: the fd can be polled again.
      assert.deepEqual(await poll([{ fd: w, events: ["writable"] }], { timeoutMs: 0 }).then((x) => x.length), 1);
      assert.equal(pollListeners(b), 0);
    } finally {
      for (const fd of [r, w, file]) closeSync(fd);
    }
  });
});
