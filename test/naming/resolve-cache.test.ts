/**
 * The client keeps the daemon's answer for a name a short while (daemon-client.ts resolve()), and
 * uses a kept answer only while it works: a listener that went and came back under the same name
 * is found again at once.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { Connection } from "../../src/channel/connection.js";
import { connect, connectionFlow, type Listener, listen } from "../../src/naming/api.js";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import { isolatedPaths, startDaemon } from "../kit/daemon.js";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function serve(l: Listener): void {
  void (async () => {
    for await (const conn of l) {
      void (async () => {
        try {
          for await (const m of conn) await conn.send(m.slice());
        } finally {
          conn.destroy();
        }
      })();
    }
  })();
}

async function roundTrip(conn: Connection, byte: number): Promise<void> {
  await conn.send(new Uint8Array([byte]));
  const r = await conn[Symbol.asyncIterator]().next();
  assert.deepEqual([...(r.value ?? [])], [byte]);
  await conn.close();
}

test("resolve cache: a second answer is kept; a listener that moved is found again; 0 keeps nothing", async () => {
  const iso = isolatedPaths("resolve-cache");
  cleanups.push(iso.cleanup);
  const d = await startDaemon(iso);
  cleanups.push(() => d.stop());
  const own = (resolveCacheMs?: number): DaemonClient => {
    const c = new DaemonClient({
      paths: iso.paths,
      autostart: false,
      ...(resolveCacheMs !== undefined ? { resolveCacheMs } : {}),
    });
    cleanups.push(() => c.close());
    return c;
  };
  const listening = own();
  // Long enough that the kept answer outlives the listener it names, however slow the machine.
  const client = own(600_000);
  const requirements = { latency: "critical", spin: false, trust: "trusted", sizes: [] } as const;

  let l = await listen("xio://kept/a", { client: listening });
  cleanups.push(() => l.close());
  serve(l);
  const first = await client.resolve("kept/a", requirements);
  assert.equal(first.cached, false);
  const again = await client.resolve("kept/a", requirements);
  assert.equal(again.cached, true);
  assert.deepEqual(again.reply, first.reply);
  // Other requirements are another answer.
  assert.equal((await client.resolve("kept/a", { ...requirements, trust: "untrusted" })).cached, false);
  const before = await connect("xio://kept/a", { client, spin: false });
  cleanups.push(() => before.destroy());
  await roundTrip(before, 1);

  // The listener goes and another takes the name (new endpoints): the kept answer fails to set
  // up, is dropped, and the daemon is asked again; no fallback is made from the stale answer.
  await l.close();
  l = await listen("xio://kept/a", { client: listening });
  serve(l);
  const conn = await connect("xio://kept/a", { client, spin: false });
  cleanups.push(() => conn.destroy());
  assert.equal(conn.transport.kind, "shm");
  assert.deepEqual(connectionFlow(conn)?.fallbacks, []);
  await roundTrip(conn, 2);
  const now = await client.resolve("kept/a", requirements);
  assert.equal(now.cached, true);
  assert.notDeepEqual(now.reply.listener.endpoints, first.reply.listener.endpoints);

  const never = own(0);
  assert.equal((await never.resolve("kept/a", requirements)).cached, false);
  assert.equal((await never.resolve("kept/a", requirements)).cached, false);
});
