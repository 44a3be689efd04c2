import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import type { SleeperKind, WaitStrategy } from "../../src/ring/wait.js";
import { createSab, type SabEnd, type SabOptions } from "../../src/transports/sab.js";
import type { TransportError } from "../../src/transports/transport.js";
import { roundTrip } from "../kit/echo-round-trip.js";

const WORKER = new URL("../kit/sab-echo-worker.js", import.meta.url);

async function startEcho(options: SabOptions, theirs: SabOptions = options): Promise<{ end: SabEnd; worker: Worker }> {
  const { end, peer } = createSab(options);
  const worker = new Worker(WORKER, { workerData: { peer, options: theirs }, transferList: [peer.port] });
  await new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  return { end, worker };
}

describe("sab transport between the main thread and a worker", () => {
  const variants: [WaitStrategy, SleeperKind][] = [
    ["spin", "atomics"],
    ["block", "atomics"],
    ["block", "futex"],
    ["adaptive", "atomics"],
    ["adaptive", "futex"],
  ];
  for (const [wait, sleeper] of variants) {
    it(`${wait} (${sleeper}): every size up to maxRecordBytes, then a stream, echoed in order`, async () => {
      const { end, worker } = await startEcho({ wait, sleeper, trust: "untrusted", ringBytes: 256 * 1024 });
      try {
        const max = end.maxRecordBytes;
        await roundTrip(end, [0, 1, 15, 16, 17, 64, 1000, 4096, 65_536, max - 1, max]);
        const sizes = Array.from({ length: 20_000 }, (_, i) => (i * 7919) % (i % 10 === 0 ? max : 300));
        await roundTrip(end, sizes);
        end.close();
        const done = await new Promise<{ ended?: number }>((resolve) => worker.once("message", resolve));
        assert.equal(done.ended, 11 + sizes.length);
      } finally {
        await worker.terminate();
      }
    });
  }

  it("block on both sides, one record at a time: no wake-up is ever lost (10,000 sleeps)", async () => {
    for (const sleeper of ["atomics", "futex"] as const) {
      const { end, worker } = await startEcho({ wait: "block", sleeper, trust: "trusted" });
      try {
        await roundTrip(
          end,
          Array.from({ length: 5000 }, () => 8),
        );
      } finally {
        end.close();
        await worker.terminate();
      }
    }
  });

  it("mixed strategies: the waker makes whichever wake call the sleeper needs", async () => {
    const { end, worker } = await startEcho(
      { wait: "block", sleeper: "futex", trust: "trusted" },
      { wait: "block", sleeper: "atomics", trust: "trusted" },
    );
    try {
      await roundTrip(
        end,
        Array.from({ length: 2000 }, (_, i) => i % 50),
      );
    } finally {
      end.close();
      await worker.terminate();
    }
  });

  it("the worker is terminated mid-traffic: this end fails with EPEER, no hang", async () => {
    const { end, worker } = await startEcho({ wait: "adaptive", trust: "untrusted" });
    const traffic = roundTrip(
      end,
      Array.from({ length: 1_000_000 }, () => 100),
    ).catch((e: unknown) => e as TransportError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await worker.terminate();
    const error = await traffic;
    assert.equal((error as TransportError).code, "EPEER", String(error));
    assert.equal(end.failure?.code, "EPEER");
  });
});
