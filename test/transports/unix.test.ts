import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { connectUnix, listenUnix } from "../../src/transports/unix.js";
import { socketPairs } from "../kit/socket-pairs.js";
import { hostileStreamCases, runConformance } from "./conformance.js";
import { DEFAULT_MAX_RECORD_BYTES } from "../../src/transports/common.js";

const dir = mkdtempSync(join(tmpdir(), "fable-unix-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let sockets = 0;
const socketPath = (): string => join(dir, `t${++sockets}.sock`);

const fixtures = socketPairs({
  listen: (options) => listenUnix(socketPath(), options),
  connect: (address, options) => connectUnix(address.path, options),
  raw: (address) => net.connect(address.path),
  peer: { file: "unix", export: "connectUnix", args: (address, options) => [address.path, options] },
});

runConformance("unix", fixtures.pair, {
  remote: fixtures.remote,
  hostile: { open: fixtures.hostile, cases: hostileStreamCases(DEFAULT_MAX_RECORD_BYTES) },
});

describe("unix transport", () => {
  it("large records back to back, each writer buffer reused only once written: every byte arrives", async () => {
    const pair = await fixtures.pair({ trust: "trusted" });
    const { a, b } = pair;
    const sizes = Array.from({ length: 120 }, (_, i) => 16 * 1024 + 1 + ((i * 7919) % 40_000));
    const pattern = (n: number, i: number): number => (n * 131 + i * 7) & 0xff;
    const sending = (async () => {
      for (const [n, size] of sizes.entries()) {
        let view = a.reserve(size);
        while (view === null) {
          await a.writable();
          view = a.reserve(size);
        }
        for (let i = 0; i < size; i++) view[i] = pattern(n, i);
        a.publish(size, 3, n);
      }
    })();
    for (let n = 0; n < sizes.length;) {
      const r = b.next();
      if (r === null) {
        await b.readable();
        continue;
      }
      assert.equal(r.seq, n);
      assert.equal(r.bytes.length, sizes[n]);
      for (let i = 0; i < r.bytes.length; i++) {
        if (r.bytes[i] !== pattern(n, i)) assert.fail(`record ${n} differs at byte ${i}`);
      }
      b.free();
      n++;
    }
    await sending;
    await pair.cleanup();
  });

  it("reports a path in use, and never removes a file it did not make", async () => {
    const path = socketPath();
    writeFileSync(path, "not a socket");
    await assert.rejects(listenUnix(path), { code: "EADDRINUSE", message: new RegExp(path) });
    assert.ok(existsSync(path));
  });

  it("removes its socket file on close; accept() then rejects with ECLOSED", async () => {
    const path = socketPath();
    const listener = await listenUnix(path);
    assert.deepEqual(listener.address, { path });
    assert.ok(existsSync(path));
    const accepting = listener.accept();
    await listener.close();
    await assert.rejects(accepting, { code: "ECLOSED" });
    await assert.rejects(listener.accept(), { code: "ECLOSED" });
    assert.equal(existsSync(path), false);
  });

  it("a path that is not a non-empty string is EUSAGE, naming the argument", async () => {
    for (const bad of [{ path: socketPath() }, "", undefined]) {
      await assert.rejects(listenUnix(bad as unknown as string), {
        code: "EUSAGE",
        message: /listenUnix: path must be/,
      });
      await assert.rejects(connectUnix(bad as unknown as string), {
        code: "EUSAGE",
        message: /connectUnix: path must be/,
      });
    }
  });

  it("a connect with nobody listening fails with EPEER, naming the path", async () => {
    const path = socketPath();
    await assert.rejects(connectUnix(path), { code: "EPEER", message: new RegExp(path) });
  });

  it("accepted ends outlive the listener", async () => {
    const listener = await listenUnix(socketPath());
    const [b, a] = await Promise.all([connectUnix(listener.address.path), listener.accept()]);
    await listener.close();
    const view = b.reserve(3);
    assert.ok(view !== null);
    view.set([1, 2, 3]);
    b.publish(3, 0, 9);
    await a.readable();
    assert.deepEqual([...(a.next()?.bytes ?? [])], [1, 2, 3]);
    a.free();
    a.close();
    b.close();
  });
});
