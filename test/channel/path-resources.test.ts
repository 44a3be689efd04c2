import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type tls from "node:tls";
import { after, describe, it } from "node:test";
import { openReconfigurable, type Connection } from "../../src/channel/connection.js";
import { PathResources, TlsHub } from "../../src/channel/path-resources.js";
import { dialEndpoint } from "../../src/channel/paths.js";
import { issueLeaf } from "../../src/daemon/tls-ca.js";
import { connectTls } from "../../src/transports/tls.js";
import type { TransportEnd } from "../../src/transports/transport.js";
import { connectUnix, listenUnix } from "../../src/transports/unix.js";

const dir = mkdtempSync(join(tmpdir(), "fable-path-resources-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const a = issueLeaf(join(dir, "ca"), "a");
const b = issueLeaf(join(dir, "ca"), "b");
const stranger = issueLeaf(join(dir, "other-ca"), "stranger");

function socketOf(end: TransportEnd): tls.TLSSocket {
  return (end as unknown as { input: tls.TLSSocket }).input;
}

function settle<T>(p: Promise<T>, ms: number): Promise<T | "none"> {
  return Promise.race([p, new Promise<"none">((resolve) => setTimeout(resolve, ms, "none"))]);
}

let n = 0;
/** A connected pair; each end makes its private directory under its own root. */
async function pair(root: string, connectorRoot = root): Promise<[Connection, Connection]> {
  const listener = await listenUnix(join(dir, `start-${n++}.sock`));
  const [x, y] = await Promise.all([listener.accept(), connectUnix(listener.address.path)]);
  await listener.close();
  return Promise.all([
    openReconfigurable(x, { role: "listener", dir: root, timeoutMs: 60_000 }),
    openReconfigurable(y, { role: "connector", dir: connectorRoot, timeoutMs: 60_000 }),
  ]);
}

describe("path resources", () => {
  it("one private directory per connection end, kept over its switches, removed when it closes", async () => {
    const roots = [join(dir, "listener"), join(dir, "connector")];
    for (const r of roots) mkdirSync(r);
    const entries = (root: string): string[] => readdirSync(root).filter((f) => f.startsWith("fable-path-"));
    const [p, q] = await pair(roots[0]!, roots[1]!);
    try {
      const seen = roots.map(() => new Set<string>());
      const kinds = ["shm", "unix", "shm", "unix", "shm", "tcp", "unix", "shm"] as const;
      for (const [i, kind] of kinds.entries()) {
        await (i % 2 === 0 ? p : q).reconfigure({ kind });
        for (const [r, root] of roots.entries()) {
          // Made once (the listener's at once: its resume socket is there), and there between switches.
          const now = entries(root);
          assert.equal(now.length, r === 0 || i > 0 ? 1 : 0, `${root} after the switch to ${kind}: ${now.join(", ")}`);
          for (const e of now) seen[r]!.add(e);
        }
      }
      assert.deepEqual(
        seen.map((s) => s.size),
        [1, 1],
      );
      // Each endpoint's socket went with it (the last one's may still be closing).
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(readdirSync(join(roots[0]!, [...seen[0]!][0]!)), ["resume.sock"]);
      assert.deepEqual(readdirSync(join(roots[1]!, [...seen[1]!][0]!)), []);
    } finally {
      await Promise.all([p.close(), q.close()]).catch(() => undefined);
      p.destroy();
      q.destroy();
    }
    for (let i = 0; i < 100 && roots.some((r) => entries(r).length > 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(roots.map(entries), [[], []]);
  });

  it("a destroyed connection removes its directory too; released resources open nothing", async () => {
    const root = join(dir, "destroyed");
    mkdirSync(root);
    const [p, q] = await pair(root);
    try {
      await q.reconfigure({ kind: "shm" });
      assert.equal(readdirSync(root).length, 2, "the listener's (resume socket) and the connector's");
    } finally {
      p.destroy();
      q.destroy();
    }
    for (let i = 0; i < 100 && readdirSync(root).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(readdirSync(root), []);
    const resources = new PathResources({ dir: root });
    await resources.close();
    await assert.rejects(resources.open({ kind: "shm" }), { code: "ERECONFIGURE" });
    assert.deepEqual(readdirSync(root), []);
  });

  it("tls switches share one listener, refuse a certificate from another CA, and resume the session", async () => {
    const resources = new PathResources({ tls: a });
    const other = new PathResources({ tls: () => Promise.resolve(a) });
    try {
      const first = await resources.open({ kind: "tls" });
      const second = await other.open({ kind: "tls" });
      assert.deepEqual(second.address, first.address, "one listener for the credentials");
      assert.notDeepEqual(second.token, first.token);

      // A stranger with the right token but a certificate from another CA is refused (TLS 1.3:
      // its handshake may finish before the server checks; its end then fails) and never routed.
      const accepted = first.accept(undefined);
      const bad = await dialEndpoint(
        first.address,
        first.token,
        { kind: "tls" },
        {
          tls: { ...stranger, ca: a.ca },
        },
      ).catch((e: unknown) => e);
      if (!(bad instanceof Error)) await assert.rejects((bad as TransportEnd).readable(), { code: "EPEER" });
      assert.equal(await settle(accepted, 200), "none");

      // The peer's dial with the other endpoint's token goes there, not here.
      const toSecond = await dialEndpoint(second.address, second.token, { kind: "tls" }, { tls: b });
      const atSecond = await second.accept(5000);
      assert.equal(await settle(accepted, 100), "none");

      const ours = await dialEndpoint(first.address, first.token, { kind: "tls" }, { tls: b });
      const atFirst = await accepted;
      // Both verified: the server end saw b's certificate; the second dial resumed the first's session.
      assert.equal(socketOf(atFirst).authorized, true);
      assert.equal(socketOf(atFirst).getPeerCertificate().subject.CN, "fable b");
      assert.equal(socketOf(toSecond).isSessionReused(), false);
      assert.equal(socketOf(ours).isSessionReused(), true);
      assert.equal(socketOf(atFirst).isSessionReused(), true);
      for (const end of [toSecond, atSecond, ours, atFirst]) end.destroy();
      await Promise.all([first.close(), second.close()]);
    } finally {
      await Promise.all([resources.close(), other.close()]);
    }
  });

  it("the hub closes when its last holder lets go, and a token is routed once", async () => {
    const resources = new PathResources({ tls: a });
    const endpoint = await resources.open({ kind: "tls" });
    const hub = TlsHub.acquire(a, "127.0.0.1");
    try {
      assert.equal(hub.holders, 2);
      const accepted = endpoint.accept(5000);
      const first = await dialEndpoint(endpoint.address, endpoint.token, { kind: "tls" }, { tls: b });
      const end = await accepted;
      // A second dial with the same token (a replay) is dropped.
      const again = await dialEndpoint(endpoint.address, endpoint.token, { kind: "tls" }, { tls: b });
      await assert.rejects(again.readable(), { code: "EPEER" });
      for (const e of [first, end]) e.destroy();
    } finally {
      await resources.close();
      hub.release();
    }
    assert.equal(hub.holders, 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const address = endpoint.address as { host: string; port: number };
    await assert.rejects(connectTls(address, { credentials: b }), { code: "EPEER" });
  });
});
