import { maxRecordBytes } from "../../src/ring/layout.js";
import type { SleeperKind, WaitStrategy } from "../../src/ring/wait.js";
import { createSab, openSab } from "../../src/transports/sab.js";
import { runConformance } from "./conformance.js";

/** Rings big enough that the suite's held records plus a burst of 200 more fit. */
const RING_BYTES = 2 * 1024 * 1024;

const variants: [WaitStrategy, SleeperKind][] = [
  ["adaptive", "atomics"],
  ["block", "atomics"],
  ["block", "futex"],
  ["spin", "atomics"],
];

for (const [wait, sleeper] of variants) {
  // Both ends in this thread: the suite drives both (test/transports/sab-worker.test.ts crosses threads).
  runConformance(
    `sab (${wait}, ${sleeper})`,
    async ({ trust }) => {
      const { end: a, peer } = createSab({ trust, wait, sleeper, ringBytes: RING_BYTES });
      const b = openSab(peer, { trust, wait, sleeper });
      return {
        a,
        b,
        cleanup: async () => {
          a.destroy();
          b.destroy();
        },
        // b's thread "dies": its port closes without anything said in the rings.
        killPeer: async () => {
          peer.port.close();
        },
      };
    },
    { maxRecordBytes: maxRecordBytes(RING_BYTES) },
  );
}
