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
