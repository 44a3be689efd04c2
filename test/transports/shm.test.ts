import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { maxRecordBytes } from "../../src/ring/layout.js";
import type { WaitStrategy } from "../../src/ring/wait.js";
import { connectShm, type ShmEnd, ShmListener } from "../../src/transports/shm.js";
import { startPeer, transportModule } from "../kit/peer.js";
import { runConformance } from "./conformance.js";

const dir = mkdtempSync(join(tmpdir(), "fable-shm-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let unique = 0;
const socketPath = (): string => join(dir, `shm-${process.pid}-${unique++}.sock`);

/** Rings big enough that the suite's held records plus a burst of 200 more fit. */
const RING_BYTES = 2 * 1024 * 1024;

for (const wait of ["adaptive", "spin", "block"] as const satisfies readonly WaitStrategy[]) {
  runConformance(
    `shm (${wait})`,
    async ({ trust }) => {
      const path = socketPath();
      const listener = await ShmListener.listen(path, { trust, wait, ringBytes: RING_BYTES });
      const [a, b] = await Promise.all([listener.accept(), connectShm(path, { trust, wait })]);
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
        const listener = await ShmListener.listen(path, { trust, wait, ringBytes: RING_BYTES });
        const accepting = listener.accept();
        const peer = await startPeer({ module: transportModule("shm"), export: "connectShm", args: [path, { wait }] });
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
  const listener = await ShmListener.listen(path, { wait: "block" });
  const ends: ShmEnd[] = [];
  try {
    const before = threads();
    for (let i = 0; i < 8; i++) {
      const [a, b] = await Promise.all([listener.accept(), connectShm(path, { wait: "block" })]);
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
