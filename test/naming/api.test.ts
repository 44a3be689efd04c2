/** listen()/connect() with explicit URIs: no daemon, typed errors, and pipe:// between a parent and its child. */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AddressInUseError, connect, listen } from "../../src/naming/api.js";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import { UriError } from "../../src/naming/uri.js";
import { namingChild } from "../kit/daemon.js";

const dir = mkdtempSync(join(tmpdir(), "fable-api-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function roundTrip(uri: string): Promise<string> {
  const l = await listen(uri);
  try {
    const c = await connect(l.uri);
    const s = await l.accept();
    await c.send(new Uint8Array([9]));
    for await (const m of s) {
      assert.deepEqual([...m], [9]);
      break;
    }
    const kind = c.transport.kind;
    await c.close();
    return kind;
  } finally {
    await l.close();
  }
}

test("api: explicit shm://, unix:// and tcp:// URIs connect with their own transport, no daemon involved", async () => {
  const env = process.env.FABLE_RUNTIME_DIR;
  process.env.FABLE_RUNTIME_DIR = join(dir, "no-daemon-here");
  try {
    assert.equal(await roundTrip(`shm://${join(dir, "a.sock")}`), "shm");
    assert.equal(await roundTrip(`unix://${join(dir, "b.sock")}`), "unix");
    assert.equal(await roundTrip("tcp://127.0.0.1:0"), "tcp");
  } finally {
    if (env === undefined) delete process.env.FABLE_RUNTIME_DIR;
    else process.env.FABLE_RUNTIME_DIR = env;
  }
});

test("api: listening where a live listener is, is AddressInUseError; the first keeps working", async () => {
  for (const uri of [`unix://${join(dir, "taken-u.sock")}`, `shm://${join(dir, "taken-s.sock")}`]) {
    const first = await listen(uri);
    await assert.rejects(listen(uri), (err: unknown) => err instanceof AddressInUseError && err.code === "EADDRINUSE");
    const c = await connect(uri);
    const s = await first.accept();
    await c.close();
    await s.close();
    await first.close();
  }
});

test("api: bad URIs and meaningless uses are typed errors", async () => {
  await assert.rejects(listen("xio://a b"), UriError);
  await assert.rejects(connect("ftp://x"), UriError);
  await assert.rejects(listen("pipe://"), { code: "EUSAGE" });
  await assert.rejects(connect("tcp://127.0.0.1:0"), { code: "EUSAGE" });
});

test("api: pipe:// is fd 3 of a child on one side and the child's stdio[3] on the other", async () => {
  const child = namingChild({ mode: "connect", uri: "pipe://" }, {}, undefined, { pipe: true });
  try {
    const conn = await connect("pipe://", { child: child.child });
    // The child sends one numbered message and waits for it to come back.
    for await (const m of conn) {
      await conn.send(m.slice());
      break;
    }
    const done = await child.next("streamed");
    assert.equal(done.inOrder, true);
    assert.equal(done.sent, 1);
    conn.destroy();
  } finally {
    await child.kill();
  }
});

test("api: FABLE_NO_AUTOSTART=1 and no daemon: xio:// is ENODAEMON, and listen leaves nothing behind", async () => {
  const saved = process.env.FABLE_NO_AUTOSTART;
  process.env.FABLE_NO_AUTOSTART = "1";
  try {
    const runtimeDir = join(dir, "none");
    const client = new DaemonClient({ paths: { runtimeDir, stateDir: join(dir, "none-state") } });
    await assert.rejects(connect("xio://x", { client }), { code: "ENODAEMON", message: /autostart is off/ });
    await assert.rejects(listen("xio://x", { client }), { code: "ENODAEMON" });
    assert.deepEqual(readdirSync(runtimeDir), []);
    client.close();
  } finally {
    if (saved === undefined) delete process.env.FABLE_NO_AUTOSTART;
    else process.env.FABLE_NO_AUTOSTART = saved;
  }
});
