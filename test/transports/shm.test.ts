import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { maxRecordBytes } from "../../src/ring/layout.js";
import type { WaitStrategy } from "../../src/ring/wait.js";
import { connectShm, type ShmEnd, ShmListener, type ShmSleeper } from "../../src/transports/shm.js";
import { startPeer, transportModule } from "../kit/peer.js";
import { runConformance } from "./conformance.js";

const dir = mkdtempSync(join(tmpdir(), "fable-shm-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let unique = 0;
const socketPath = (): string => join(dir, `shm-${process.pid}-${unique++}.sock`);

/** Rings big enough that the suite's held records plus a burst of 200 more fit. */
const RING_BYTES = 2 * 1024 * 1024;

const VARIANTS = [
  { wait: "adaptive" },
  { wait: "spin" },
  { wait: "block" },
  // The waiter-thread sleeper, which ends without an event loop's fd watch use.
  { wait: "block", sleeper: "futex" },
] as const satisfies readonly { wait: WaitStrategy; sleeper?: ShmSleeper }[];

for (const variant of VARIANTS) {
  const { wait } = variant;
  const sleeper: ShmSleeper = "sleeper" in variant ? variant.sleeper : "socket";
  const label = sleeper === "socket" ? wait : `${wait}, ${sleeper} sleeper`;
  runConformance(
    `shm (${label})`,
    async ({ trust }) => {
      const path = socketPath();
      const listener = await ShmListener.listen(path, { trust, wait, sleeper, ringBytes: RING_BYTES });
      const [a, b] = await Promise.all([listener.accept(), connectShm(path, { trust, wait, sleeper })]);
      return {
        a,
        b,
        cleanup: async () => {
          a.destroy();
          b.destroy();
          await listener.close();
        },
        // b's process "dies": its liveness socket goes away without anything said in the rings.
        killPeer: async () => {
          b.connection.socket.destroy();
        },
      };
    },
    {
      maxRecordBytes: maxRecordBytes(RING_BYTES),
      remote: async ({ trust }) => {
        const path = socketPath();
        const listener = await ShmListener.listen(path, { trust, wait, sleeper, ringBytes: RING_BYTES });
        const accepting = listener.accept();
        const peer = await startPeer({
          module: transportModule("shm"),
          export: "connectShm",
          args: [path, { wait, sleeper }],
        });
        const end = await accepting;
        return {
          end,
          peer,
          cleanup: async () => {
            end.destroy();
            await peer.kill();
            await listener.close();
          },
        };
      },
    },
  );
}

test("shm: an end whose peer ended lets its waiter thread go, even if the application never closes it", async () => {
  const threads = (): number => readdirSync("/proc/self/task").length;
  const path = socketPath();
  const listener = await ShmListener.listen(path, { wait: "block", sleeper: "futex" });
  const ends: ShmEnd[] = [];
  try {
    const before = threads();
    for (let i = 0; i < 8; i++) {
      const [a, b] = await Promise.all([listener.accept(), connectShm(path, { wait: "block", sleeper: "futex" })]);
      ends.push(a, b);
      // a sleeps for a record (its waiter thread starts), then b ends orderly; a is never closed.
      const waiting = a.readable();
      b.close();
      await waiting;
      assert.equal(a.next(), null);
      assert.equal(a.ended, true);
    }
    // Each waiter thread ends when its sleeper is closed (asynchronously): give them a moment.
    for (let i = 0; i < 100 && threads() > before + 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(threads() <= before + 1, `${threads() - before} threads more than before 8 ended connections`);
  } finally {
    for (const e of ends) e.destroy();
    await listener.close();
  }
});

test("shm: sleeping ends wake through their wake sockets: no thread per sleeper, and no fd left after close", async () => {
  const threads = (): number => readdirSync("/proc/self/task").length;
  const fds = (): number => readdirSync("/proc/self/fd").length;
  const path = socketPath();
  const beforeFds = fds();
  const listener = await ShmListener.listen(path, { wait: "block" });
  const ends: ShmEnd[] = [];
  try {
    const beforeThreads = threads();
    const pairs: [ShmEnd, ShmEnd][] = [];
    for (let i = 0; i < 8; i++) {
      const pair = await Promise.all([listener.accept(), connectShm(path, { wait: "block" })]);
      ends.push(...pair);
      pairs.push(pair);
    }
    // 16 ends asleep at once, each woken by its peer's byte: ping from a to b and back.
    for (let round = 0; round < 20; round++) {
      const waits = pairs.map(([, b]) => b.readable());
      assert.ok(
        pairs.every(([, b]) => b.waiting("read")),
        "every b sleeps",
      );
      for (const [a] of pairs) {
        a.reserve(8)!.fill(round);
        a.publish(8, 0, round);
      }
      await Promise.all(waits);
      for (const [a, b] of pairs) {
        const record = b.next()!;
        assert.deepEqual([...record.bytes], new Array(8).fill(round));
        b.free();
        const back = a.readable();
        b.reserve(1)![0] = round;
        b.publish(1, 0, round);
        await back;
        assert.equal(a.next()!.bytes[0], round);
        a.free();
      }
    }
    // No waiter thread was started (libuv's own pool may start lazily: allow one).
    assert.ok(threads() <= beforeThreads + 1, `${threads() - beforeThreads} threads more with 16 sleeping ends`);
    for (const e of ends.splice(0)) e.close();
    // Each end held its socket, its region's liveness socket, its wake socket and its peer's;
    // the listener, the region it made for the next connection (freed by its close).
    await listener.close();
    for (let i = 0; i < 50 && fds() > beforeFds; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(fds() <= beforeFds, `${fds() - beforeFds} fds more after closing 8 connections and the listener`);
  } finally {
    for (const e of ends) e.destroy();
    await listener.close();
  }
});

test("shm: the region made ahead for the next connection is a fresh one each time, and close frees it", async () => {
  const fds = (): number => readdirSync("/proc/self/fd").length;
  const before = fds();
  for (const closeAt of ["at once", "after a turn"] as const) {
    const path = socketPath();
    const listener = await ShmListener.listen(path, { wait: "block" });
    const ends: ShmEnd[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const [a, b] = await Promise.all([listener.accept(), connectShm(path, { wait: "block" })]);
        ends.push(a, b);
        // Nothing of an earlier connection shows in this one's rings: its region is its own.
        assert.equal(b.next(), null);
        assert.equal(a.next(), null);
        a.reserve(4)!.fill(i);
        a.publish(4, 0, i);
        await b.readable();
        assert.deepEqual([...b.next()!.bytes], [i, i, i, i]);
        b.free();
      }
      // Closed before the next region is made (it would be made once this turn is done), or after.
      if (closeAt === "after a turn") await new Promise((r) => setImmediate(r));
      await listener.close();
    } finally {
      for (const e of ends) e.destroy();
      await listener.close();
    }
  }
  for (let i = 0; i < 50 && fds() > before; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(fds() <= before, `${fds() - before} fds more after the listeners and their connections closed`);
});

test("shm: a listener for one connection makes its region right after listening, and none after it", async () => {
  const fds = (): number => readdirSync("/proc/self/fd").length;
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  const held: Record<string, [number, number]> = {};
  for (const once of [true, false]) {
    const path = socketPath();
    const before = fds();
    const listener = await ShmListener.listen(path, { once });
    const ends: ShmEnd[] = [];
    try {
      await turn();
      const listening = fds() - before; // the socket; with once, also the region's memfd and wake pair
      const [a, b] = await Promise.all([listener.accept(), connectShm(path)]);
      ends.push(a, b);
      await turn();
      const connected = fds() - before;
      held[String(once)] = [listening, connected];
    } finally {
      for (const e of ends) e.destroy();
      await listener.close();
    }
  }
  const [onceListening, onceConnected] = held["true"]!;
  const [plainListening, plainConnected] = held["false"]!;
  assert.equal(onceListening - plainListening, 3, "a region made ahead: its memfd and the wake pair");
  assert.equal(plainConnected - onceConnected, 3, "no region made ahead for a second connection");
});

test("shm: a sleeper kind that does not exist is a usage error naming it", async () => {
  await assert.rejects(ShmListener.listen(socketPath(), { sleeper: "eventfd" as ShmSleeper }), {
    code: "EUSAGE",
    message: /sleeper must be one of socket, futex, not "eventfd"/,
  });
});
