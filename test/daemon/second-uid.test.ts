/**
 * Two real uids: the test creates a user, runs a daemon and listeners as that user, and tries, as
 * root (another uid, and one the 0700 directories do not stop), to take over a name, to resolve a
 * name that does not allow it, and to map the listener's memory through its shm rendezvous socket.
 * A name that allows root is reachable. Skipped, with the reason, where the test cannot be root.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { connect, connectionFlow } from "../../src/naming/api.js";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import { DaemonError } from "../../src/naming/protocol.js";
import { connectShm } from "../../src/transports/shm.js";
import { FABLE_BIN, isolatedPaths, namingChild, startDaemon } from "../kit/daemon.js";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const root = process.getuid?.() === 0;

test(
  "second uid: names, allow lists and shm memory are guarded by the kernel's uid",
  { skip: root ? false : "needs root to create a second user (useradd)" },
  async (t) => {
    const user = `fable${randomBytes(4).toString("hex")}`;
    try {
      execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]);
    } catch (err) {
      t.skip(`cannot create a second user with useradd: ${(err as Error).message}`);
      return;
    }
    cleanups.push(() => void execFileSync("userdel", [user]));
    const uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
    const as = { uid, gid };
    // The other user runs this checkout's code, so it must be able to read it (not under a 0700 home).
    const reads = spawnSync(
      process.execPath,
      ["-e", `require("node:fs").accessSync(${JSON.stringify(FABLE_BIN)}, 4)`],
      as,
    );
    if (reads.status !== 0) {
      t.skip(`uid ${uid} cannot read ${FABLE_BIN} (a directory above it is private), so it cannot run the daemon`);
      return;
    }
    const iso = isolatedPaths("uid", as);
    cleanups.push(iso.cleanup);
    const d = await startDaemon(iso, { as });
    cleanups.push(() => d.stop());
    const secret = namingChild({ mode: "listen", uri: "xio://u/secret" }, iso.env, as);
    cleanups.push(() => secret.kill());
    await secret.next("ready");
    const open = namingChild({ mode: "listen", uri: "xio://u/open", allow: [0] }, iso.env, as);
    cleanups.push(() => open.kill());
    await open.next("ready");

    const client = new DaemonClient({ paths: iso.paths, autostart: false, daemonUid: uid });
    cleanups.push(() => client.close());
    const code = async (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => "ok",
        (e: unknown) => (e instanceof DaemonError ? e.code : String(e)),
      );
    // Not a takeover, not a look-up, not a listing, not a stop.
    assert.equal(
      await code(
        client.request({ type: "register", name: "u/secret", allow: [], endpoints: { unix: "/tmp/steal.sock" } }),
      ),
      "EADDRINUSE",
    );
    assert.equal(await code(client.request({ type: "unregister", name: "u/secret" })), "ENOENT");
    assert.equal(
      await code(
        client.request({
          type: "resolve",
          name: "u/secret",
          requirements: { latency: "critical", spin: true, trust: "trusted", sizes: [] },
        }),
      ),
      "EACCES",
    );
    assert.deepEqual(
      (await client.request({ type: "names" })).names.map((n) => n.name),
      ["u/open"],
    );
    assert.equal(await code(client.request({ type: "stop" })), "EACCES");
    // Straight at the listener's shm rendezvous (root can see the path): it hangs up on uid 0.
    const opened = await client.request({
      type: "resolve",
      name: "u/open",
      requirements: { latency: "critical", spin: true, trust: "trusted", sizes: [] },
    });
    const openDir = dirname(opened.listener.endpoints.shm?.adaptive ?? "");
    const eps = readdirSync(iso.paths.runtimeDir).filter(
      (f) => f.startsWith("ep-") && join(iso.paths.runtimeDir, f) !== openDir,
    );
    assert.equal(eps.length, 1);
    for (const ep of eps) {
      await assert.rejects(
        connectShm(join(iso.paths.runtimeDir, ep, "shm-adaptive.sock"), { allowUids: [uid], timeoutMs: 2000 }),
        {
          code: "EPEER",
        },
      );
    }
    // The name that allows uid 0: reachable, over shared memory.
    const conn = await connect("xio://u/open", { client, spin: false });
    cleanups.push(() => conn.destroy());
    assert.equal(connectionFlow(conn)?.transport, "shm");
    await conn.send(new Uint8Array([42]));
    for await (const m of conn) {
      assert.deepEqual([...m], [42]);
      break;
    }
    await conn.close();
  },
);
