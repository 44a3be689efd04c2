import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { maxRecordBytes } from "../../src/ring/layout.js";
import type { WaitStrategy } from "../../src/ring/wait.js";
import { connectShm, ShmListener } from "../../src/transports/shm.js";
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
