import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadNative } from "../../src/native/load.js";
import type { WaitStrategy } from "../../src/ring/wait.js";
import { connectRendezvous, RendezvousListener } from "../../src/transports/rendezvous.js";
import { connectShm, type ShmEnd, ShmListener } from "../../src/transports/shm.js";
import type { TransportError } from "../../src/transports/transport.js";
import { roundTrip } from "../kit/echo-round-trip.js";
import { type PeerProcess, startPeer, transportModule } from "../kit/peer.js";

const dir = mkdtempSync(join(tmpdir(), "fable-shm-process-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let unique = 0;
const socketPath = (): string => join(dir, `p${unique++}.sock`);

async function echoPeer(
  wait: WaitStrategy,
  options: { ringBytes?: number; trust?: "trusted" | "untrusted" } = {},
): Promise<{ end: ShmEnd; peer: PeerProcess; listener: ShmListener }> {
  const path = socketPath();
  const listener = await ShmListener.listen(path, { wait, trust: "untrusted", ...options });
  const accepting = listener.accept();
  const peer = await startPeer({
    module: transportModule("shm"),
    export: "connectShm",
    args: [path, { wait, trust: options.trust ?? "untrusted" }],
  });
  return { end: await accepting, peer, listener };
}

describe("shm transport between two Node processes", () => {
  for (const wait of ["spin", "block", "adaptive"] as const) {
    it(`${wait}: every size from 0 B to maxRecordBytes, then 20,000 mixed records, echoed in order`, async () => {
      const { end, peer, listener } = await echoPeer(wait, { ringBytes: 256 * 1024 });
      try {
        assert.equal(end.peer.pid, peer.pid);
        assert.equal(end.waitStrategy, wait);
        const max = end.maxRecordBytes;
        const edges = [0, 1, 15, 16, 17, 31, 32, 33, 64, 1000, 4096, 65_536, max - 16, max - 1, max];
        await roundTrip(end, edges);
        const sizes = Array.from({ length: 20_000 }, (_, i) => (i * 7919) % (i % 50 === 0 ? max + 1 : 257));
        await roundTrip(end, sizes);
        end.close();
        const { echoed } = await peer.waitFor("ended");
        assert.equal(echoed, edges.length + sizes.length);
      } finally {
        end.destroy();
        await peer.kill();
        await listener.close();
      }
    });
  }

  it("the peer is SIGKILLed mid-traffic: the survivor fails with EPEER at once, no hang", async () => {
    const { end, peer, listener } = await echoPeer("adaptive");
    try {
      const traffic = roundTrip(
        end,
        Array.from({ length: 10_000_000 }, (_, i) => i % 2000),
      ).catch((e: unknown) => e as TransportError);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const t0 = Date.now();
      await peer.kill();
      const error = await traffic;
      assert.equal((error as TransportError).code, "EPEER", String(error));
      assert.equal(end.failure?.code, "EPEER");
      assert.ok(Date.now() - t0 < 5000);
      assert.throws(() => end.reserve(1), { code: "EPEER" });
    } finally {
      end.destroy();
      await listener.close();
    }
  });

  it("the peer destroys its end: this end reads what it published, then fails with EPEER", async () => {
    const { end, peer, listener } = await echoPeer("block");
    try {
      await roundTrip(end, [10, 20, 30]);
      peer.send({ cmd: "destroy" });
      await assert.rejects(
        (async () => {
          for (;;) {
            for (let r = end.next(); r !== null; r = end.next()) end.free();
            await end.readable();
          }
        })(),
        { code: "EPEER" },
      );
    } finally {
      end.destroy();
      await peer.kill();
      await listener.close();
    }
  });
});

describe("shm ends and the event loop", () => {
  // A child connects, unrefs its end and sleeps in readable(): with the wake socket it exits by
  // itself (nothing else holds its loop); a futex waiter thread would hold it.
  const child = (path: string, sleeper: string): Promise<{ code: number | null; ms: number }> => {
    const shm = new URL("../../src/transports/shm.js", import.meta.url).href;
    const script =
      `const { connectShm } = await import(${JSON.stringify(shm)});` +
      `const end = await connectShm(${JSON.stringify(path)}, { wait: "block", sleeper: ${JSON.stringify(sleeper)} });` +
      `end.setRef(false); void end.readable().catch(() => {}); process.stdout.write("waiting\\n");`;
    const started = Date.now();
    const p = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const killer = setTimeout(() => p.kill("SIGKILL"), 3000);
    return new Promise((resolve) =>
      p.once("exit", (code) => {
        clearTimeout(killer);
        resolve({ code, ms: Date.now() - started });
      }),
    );
  };

  it("an unref'd end asleep on its wake socket lets the process exit; asleep on a waiter thread it does not", async () => {
    const path = socketPath();
    const listener = await ShmListener.listen(path, { wait: "block" });
    const ends: ShmEnd[] = [];
    try {
      for (const [sleeper, exits] of [
        ["socket", true],
        ["futex", false],
      ] as const) {
        const accepting = listener.accept();
        const exited = child(path, sleeper);
        ends.push(await accepting);
        const { code } = await exited;
        assert.equal(code === 0, exits, `${sleeper}: exit code ${code} (null: still running after 3 s)`);
      }
    } finally {
      for (const e of ends) e.destroy();
      await listener.close();
    }
  });
});

describe("shm rendezvous", () => {
  const native = loadNative();

  it("replaces a stale socket file left by a dead listener, and never steals a live one", async () => {
    const path = socketPath();
    // A listener that dies by SIGKILL leaves its socket file behind.
    const child = spawn(process.execPath, [
      "-e",
      `require("node:net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`,
    ]);
    await new Promise((resolve) => child.stdout.once("data", resolve));
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    assert.ok(existsSync(path));
    const listener = await ShmListener.listen(path);
    try {
      await assert.rejects(ShmListener.listen(path), { code: "EADDRINUSE" });
      const [a, b] = await Promise.all([listener.accept(), connectShm(path)]);
      assert.equal(a.peer.pid, process.pid);
      assert.equal(b.ringBytes, a.ringBytes);
      a.close();
      b.close();
    } finally {
      await listener.close();
    }
    assert.equal(existsSync(path), false, "close() removes the socket file");
  });

  it("accepts only allowed uids, on both sides", async () => {
    const uid = process.getuid?.() ?? 0;
    const path = socketPath();
    const strict = await RendezvousListener.listen(path, { allowUids: [uid + 1] });
    try {
      await assert.rejects(connectShm(path, { timeoutMs: 2000 }), { code: "EPEER", message: /closed|nothing/ });
      assert.equal(strict.rejected, 1);
    } finally {
      await strict.close();
    }
    const listener = await ShmListener.listen(path);
    try {
      await assert.rejects(connectShm(path, { allowUids: [uid + 1] }), { code: "EPEER", message: /uid/ });
    } finally {
      await listener.close();
    }
  });

  it("a listener that sends something else than an shm hello: EPROTOCOL; one that sends nothing: EPEER", async () => {
    const path = socketPath();
    const fake = await RendezvousListener.listen(path);
    const region = native.shmCreate("fable-test", 8192);
    const [wakeA, wakeB] = native.wakePair();
    const hello = (...words: number[]): Uint8Array => new Uint8Array(new Uint32Array([0x48534246, ...words]).buffer);
    const fine = [region, wakeA, wakeB];
    try {
      const cases: [Uint8Array, number[], RegExp][] = [
        [new Uint8Array([1, 2, 3]), fine, /not an shm hello/],
        [hello(2, 4096, 0, 0, 1024 + 4096, 2 * (1024 + 4096)), [], /0 fds/],
        [hello(2, 4096, 0, 0, 1024 + 4096, 2 * (1024 + 4096)), [region], /1 fds/],
        [hello(9, 4096, 0, 0, 1024 + 4096, 2 * (1024 + 4096)), fine, /version 9/],
        // A listener of the futex-only protocol (version 1) is told apart from garbage.
        [hello(1, 4096, 0, 0, 1024 + 4096, 2 * (1024 + 4096)), [region], /version 1, not 2/],
        [hello(2, 3000, 0, 0, 4024, 8048), fine, /ring of 3000/],
        [hello(2, 4096, 0, 0, 1024 + 4096, 2 * (1024 + 4096)), fine, /region has 8192/],
        // A wake socket that is no datagram socket (here the region itself) is refused.
        [hello(2, 2048, 0, 0, 1024 + 2048, 2 * (1024 + 2048)), [region, region, wakeB], /bad wake socket/],
      ];
      for (const [bytes, fds, message] of cases) {
        const connecting = connectShm(path);
        const conn = await fake.accept();
        conn.send(bytes, fds);
        await assert.rejects(connecting, { code: "EPROTOCOL", message });
        conn.destroy();
      }
      // The rings are not initialised: attaching checks the control blocks too.
      const right = 2 * (1024 + 2048);
      const blank = native.shmCreate("fable-test", right);
      const connecting = connectShm(path);
      const conn = await fake.accept();
      conn.send(hello(2, 2048, 0, 0, 1024 + 2048, right), [blank, wakeA, wakeB]);
      await assert.rejects(connecting, { code: "EPROTOCOL", message: /magic/ });
      conn.destroy();
      const { closeSync } = await import("node:fs");
      closeSync(blank);

      const silent = connectShm(path, { timeoutMs: 200 });
      const quiet = await fake.accept();
      await assert.rejects(silent, { code: "EPEER", message: /nothing within 200 ms/ });
      quiet.destroy();
    } finally {
      const { closeSync } = await import("node:fs");
      for (const fd of fine) closeSync(fd);
      await fake.close();
    }
  });

  it("frames survive being split and coalesced, and descriptors arrive with their frame", async () => {
    const path = socketPath();
    const listener = await RendezvousListener.listen(path);
    try {
      const connecting = connectRendezvous(path);
      const a = await listener.accept();
      const b = await connecting;
      const region = native.shmCreate("fable-test", 4096);
      a.send(new Uint8Array([1]), [region]);
      a.send(new Uint8Array(5000).fill(7));
      a.send(new Uint8Array(0));
      const first = await b.receive();
      assert.deepEqual([...first.data], [1]);
      assert.equal(first.fds.length, 1);
      const second = await b.receive();
      assert.equal(second.data.length, 5000);
      assert.deepEqual(second.fds, []);
      assert.equal((await b.receive()).data.length, 0);
      const { closeSync } = await import("node:fs");
      closeSync(region);
      closeSync(first.fds[0]!);
      let gone = false;
      b.watch(() => (gone = true));
      a.end();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(gone, true);
      a.destroy();
      b.destroy();
    } finally {
      await listener.close();
    }
  });
});
