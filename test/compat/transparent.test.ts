/**
 * Transparent mode with real processes: an unmodified node:http server and an unmodified fastify
 * server (test/fixtures/transparent), each started through `fable run` against a real daemon and
 * exercised by a client started through `fable run` with node:http, the global fetch, undici, ws
 * and autocannon. Every response is checked by the client; the daemon must list a new
 * transparent flow for each kind of client while its connections are open. The same programs
 * without `fable run` still talk plain TCP (no flow). Bad use: a socket used after destroy, an
 * address announced by another uid, no daemon at all.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tcpAddressName, unixAddressName } from "../../src/naming/address-names.js";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import type { FlowEntry } from "../../src/naming/protocol.js";
import { repoRoot } from "../kit/cli.js";
import { fixture, type Proc, start } from "../kit/transparent.js";
import { type DaemonProcess, eventually, FABLE_BIN, type Isolated, isolatedPaths, startDaemon } from "../kit/daemon.js";

const SERVERS = [
  { file: "http-server.mjs", hello: "hello from node:http\n" },
  { file: "fastify-server.mjs", hello: "hello from fastify\n" },
] as const;
const KINDS = ["http", "fetch", "undici", "ws", "autocannon"] as const;
const CHECKED = { http: 4, fetch: 4, undici: 4, ws: 4 };

describe("transparent mode (fable run): unmodified servers and clients over fable", () => {
  let iso: Isolated;
  let daemon: DaemonProcess;
  let client: DaemonClient;
  const procs: Proc[] = [];

  before(async () => {
    iso = isolatedPaths("transparent");
    daemon = await startDaemon(iso);
    client = new DaemonClient({ paths: iso.paths, autostart: false });
  });

  after(async () => {
    for (const p of procs) await p.kill();
    client.close();
    await daemon.stop();
    iso.cleanup();
  });

  const flows = async (): Promise<readonly FlowEntry[]> => (await client.request({ type: "flows" })).flows;

  for (const server of SERVERS) {
    it(`${server.file}: node:http, fetch, undici, ws and autocannon, each a transparent flow; plain TCP without fable run`, async () => {
      const s = start([fixture(server.file)], iso.env, true);
      procs.push(s);
      const { port, pid } = (await s.json()) as { port: number; pid: number };
      const name = tcpAddressName("127.0.0.1", port);
      await eventually(`${name} registered`, async () =>
        (await client.request({ type: "names" })).names.some((n) => n.name === name && n.pid === pid)
          ? true
          : undefined,
      );

      const env = { ...iso.env, BASE: `http://127.0.0.1:${port}`, HELLO: server.hello };
      const c = start([fixture("client.mjs")], { ...env, HOLD: "1" }, true);
      procs.push(c);
      const seen = new Set<string>();
      for (const kind of KINDS) {
        assert.deepEqual(await c.json(), { phase: kind });
        // Each kind made a fable connection of its own: a flow not seen in an earlier phase.
        const fresh = await eventually(`a new transparent flow while ${kind} holds its connections`, async () => {
          const mine = (await flows()).filter((f) => f.name === name && f.listenerPid === pid && !seen.has(f.id));
          return mine.length > 0 ? mine : undefined;
        });
        for (const f of fresh) {
          assert.equal(f.transparent, true, `${kind}: flow ${f.id} is not marked transparent`);
          assert.notEqual(f.connectorPid, pid);
          assert.ok(["shm", "unix"].includes(f.transport), `${kind}: transport ${f.transport}`);
          seen.add(f.id);
        }
        c.send("next");
      }
      const result = (await c.json()) as { checked: Record<string, number> };
      assert.equal(await c.exit(), 0, c.stderr());
      assert.deepEqual({ ...result.checked, autocannon: undefined }, { ...CHECKED, autocannon: undefined });
      assert.ok((result.checked.autocannon ?? 0) > 0);
      assert.equal(c.stderr(), "");

      // Without fable run, the same client reaches the same server over its real TCP listener: no flow.
      const before = new Set((await flows()).map((f) => f.id));
      const plain = start([fixture("client.mjs")], env, false);
      procs.push(plain);
      const plainResult = (await plain.json()) as { checked: Record<string, number> };
      assert.equal(await plain.exit(), 0, plain.stderr());
      assert.equal(plainResult.checked.http, CHECKED.http);
      assert.ok((plainResult.checked.autocannon ?? 0) > 0);
      const plainPid = plain.child.pid;
      assert.ok(!(await flows()).some((f) => !before.has(f.id) && f.connectorPid === plainPid));
      await s.kill();
      assert.equal(s.stderr(), "");
    });
  }

  it("node:https and fetch to an unmodified https server: TLS over fable flows", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "fable-transparent-tls-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    const made = spawnSync("openssl", [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
      ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    ]);
    if (made.status !== 0) {
      t.skip(`openssl could not make a test certificate: ${String(made.error ?? made.stderr)}`);
      return;
    }
    const s = start([fixture("https-server.mjs")], { ...iso.env, KEY: key, CERT: cert }, true);
    procs.push(s);
    const { port, pid } = (await s.json()) as { port: number; pid: number };
    const name = tcpAddressName("127.0.0.1", port);
    await eventually(`${name} registered`, async () =>
      (await client.request({ type: "names" })).names.some((n) => n.name === name && n.pid === pid) ? true : undefined,
    );
    const c = start(
      [fixture("https-client.mjs")],
      { ...iso.env, BASE: `https://127.0.0.1:${port}`, NODE_EXTRA_CA_CERTS: cert },
      true,
    );
    procs.push(c);
    const got = await c.json();
    assert.deepEqual(got, { pid: got.pid, https: "hello over tls /https\n", fetch: "hello over tls /fetch\n" });
    // node:https's keep-alive connection and fetch's: two transparent flows of the client.
    await eventually("two transparent flows of the https client", async () => {
      const mine = (await flows()).filter((f) => f.name === name && f.connectorPid === got.pid && f.transparent);
      return mine.length >= 2 ? true : undefined;
    });
    c.send("done");
    assert.equal(await c.exit(), 0, c.stderr());
    await s.kill();
  });

  it("a node:http server on a unix path: http.request({ socketPath }) goes over a transparent flow", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fable-transparent-unix-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "http.sock");
    const server = `const s = require("node:http").createServer((q, r) => r.end("unix " + q.url));
      s.listen(process.env.SOCK, () => console.log(JSON.stringify({ pid: process.pid })));`;
    const s = start(["-e", server], { ...iso.env, SOCK: path }, true);
    procs.push(s);
    const { pid } = (await s.json()) as { pid: number };
    const name = unixAddressName(path);
    await eventually(`${name} registered`, async () =>
      (await client.request({ type: "names" })).names.some((n) => n.name === name && n.pid === pid) ? true : undefined,
    );
    const get = `const http = require("node:http");
      const agent = new http.Agent({ keepAlive: true });
      http.get({ socketPath: process.env.SOCK, path: "/x", agent }, (r) => {
        let t = ""; r.on("data", (d) => (t += d));
        r.on("end", () => { console.log(JSON.stringify({ pid: process.pid, text: t }));
          process.stdin.once("data", () => { agent.destroy(); process.exit(0); }); });
      });`;
    const c = start(["-e", get], { ...iso.env, SOCK: path }, true);
    procs.push(c);
    const got = await c.json();
    assert.equal(got.text, "unix /x");
    await eventually("the unix client's transparent flow", async () =>
      (await flows()).some((f) => f.name === name && f.connectorPid === got.pid && f.transparent) ? true : undefined,
    );
    c.send("done");
    assert.equal(await c.exit(), 0, c.stderr());
    await s.kill();
  });

  it("node:http server and client without fable run: plain TCP, nothing registered", async () => {
    const s = start([fixture("http-server.mjs")], iso.env, false);
    procs.push(s);
    const { port } = (await s.json()) as { port: number };
    const c = start(
      [fixture("client.mjs")],
      { ...iso.env, BASE: `http://127.0.0.1:${port}`, HELLO: SERVERS[0].hello },
      false,
    );
    procs.push(c);
    const result = (await c.json()) as { checked: Record<string, number> };
    assert.equal(await c.exit(), 0, c.stderr());
    assert.equal(result.checked.fetch, CHECKED.fetch);
    const names = (await client.request({ type: "names" })).names;
    assert.ok(!names.some((n) => n.name === tcpAddressName("127.0.0.1", port)));
    await s.kill();
  });

  it("a socket used after destroy: the write fails as node:net's does (ERR_STREAM_DESTROYED); --require works too", async () => {
    const s = start([fixture("http-server.mjs")], iso.env, true);
    procs.push(s);
    const { port, pid } = (await s.json()) as { port: number; pid: number };
    const name = tcpAddressName("127.0.0.1", port);
    await eventually(`${name} registered`, async () =>
      (await client.request({ type: "names" })).names.some((n) => n.name === name && n.pid === pid) ? true : undefined,
    );
    const viaFable = start([fixture("misuse.mjs")], { ...iso.env, PORT: String(port) }, true);
    const viaNet = start([fixture("misuse.mjs")], { ...iso.env, PORT: String(port) }, false);
    // node --require fable-io/register (the CommonJS entry) turns it on too.
    const viaRequire = start(
      ["--require", join(repoRoot, "register.cjs"), fixture("misuse.mjs")],
      { ...iso.env, PORT: String(port) },
      false,
    );
    procs.push(viaFable, viaNet, viaRequire);
    const [f, n, r] = await Promise.all([viaFable.json(), viaNet.json(), viaRequire.json()]);
    assert.equal(f.fable, true);
    assert.equal(r.fable, true);
    assert.equal(n.fable, false);
    assert.deepEqual({ ...f, fable: undefined }, { ...n, fable: undefined });
    assert.deepEqual(r, f);
    assert.equal(f.writeError, "ERR_STREAM_DESTROYED");
    await s.kill();
  });

  const notRoot = process.getuid?.() !== 0 ? "needs root to leave a file owned by another uid" : false;

  it("an address announced by another uid is not used: plain TCP, said once on stderr", { skip: notRoot }, async () => {
    const s = start([fixture("http-server.mjs")], iso.env, false);
    procs.push(s);
    const { port, pid } = (await s.json()) as { port: number; pid: number };
    // What another user's transparent server would leave, planted in this user's directory.
    const name = tcpAddressName("127.0.0.1", port);
    const dir = join(iso.paths.runtimeDir, "addr");
    mkdirSync(dir, { mode: 0o700, recursive: true });
    const marker = join(dir, name.replaceAll("/", "+"));
    writeFileSync(marker, JSON.stringify({ name, pid }));
    chownSync(marker, 65534, 65534);
    const c = start(
      [fixture("client.mjs")],
      { ...iso.env, BASE: `http://127.0.0.1:${port}`, HELLO: SERVERS[0].hello },
      true,
    );
    procs.push(c);
    const result = (await c.json()) as { checked: Record<string, number> };
    assert.equal(await c.exit(), 0, c.stderr());
    assert.equal(result.checked.undici, CHECKED.undici);
    const lines = c.stderr().trim().split("\n");
    assert.equal(lines.length, 1, c.stderr());
    assert.match(lines[0] ?? "", /127\.0\.0\.1:\d+ is registered by uid 65534, not this process's uid \d+/);
    await s.kill();
  });

  it("the daemon gone after a server registered: clients reach it over TCP, said once on stderr", async () => {
    const gone = isolatedPaths("transparent-gone");
    const d = await startDaemon(gone);
    try {
      const s = start([fixture("http-server.mjs")], gone.env, true);
      procs.push(s);
      const { port } = (await s.json()) as { port: number };
      const marker = join(gone.paths.runtimeDir, "addr", tcpAddressName("127.0.0.1", port).replaceAll("/", "+"));
      await eventually("the server's marker", async () => (existsSync(marker) ? true : undefined));
      await d.kill();
      const c = start(
        [fixture("client.mjs")],
        { ...gone.env, BASE: `http://127.0.0.1:${port}`, HELLO: SERVERS[0].hello },
        true,
      );
      procs.push(c);
      const result = (await c.json()) as { checked: Record<string, number> };
      assert.equal(await c.exit(), 0, c.stderr());
      assert.equal(result.checked.http, CHECKED.http);
      const lines = c.stderr().trim().split("\n");
      assert.equal(lines.length, 1, c.stderr());
      assert.match(lines[0] ?? "", /^fable: transparent mode: the fable daemon is not running: 127\.0\.0\.1:\d+/);
      await s.kill();
    } finally {
      await d.kill();
      gone.cleanup();
    }
  });

  it("an unref'd server does not hold its process through its fable listener", async () => {
    const s = start([fixture("unref-server.mjs")], iso.env, true);
    procs.push(s);
    const { port, pid } = (await s.json()) as { port: number; pid: number };
    const name = tcpAddressName("127.0.0.1", port);
    await eventually(`${name} registered`, async () =>
      (await client.request({ type: "names" })).names.some((n) => n.name === name && n.pid === pid) ? true : undefined,
    );
    const c = start(
      [
        "-e",
        `fetch("http://127.0.0.1:${port}/").then(async (r) => console.log(JSON.stringify({ text: await r.text() })))`,
      ],
      iso.env,
      true,
    );
    procs.push(c);
    assert.deepEqual(await c.json(), { text: "bye\n" });
    assert.equal(await c.exit(), 0, c.stderr());
    const still = new Promise<string>((resolve) =>
      setTimeout(() => resolve("still running after 15 s"), 15_000).unref(),
    );
    assert.equal(await Promise.race([s.exit(), still]), 0, s.stderr());
  });

  it("fable run passes the command's exit code through; a missing command is a usage error (2)", async () => {
    const seven = start(["-e", "process.exit(7)"], iso.env, true);
    assert.equal(await seven.exit(), 7);
    const missing = spawn(process.execPath, [FABLE_BIN, "run", "--", "fable-no-such-command"], {
      env: { ...process.env, ...iso.env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    missing.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const code = await new Promise<number | null>((resolve) => missing.once("exit", resolve));
    assert.equal(code, 2);
    assert.match(err, /fable run: no such command: fable-no-such-command/);
  });

  it("no daemon: the server says so once on stderr and serves over TCP; clients work", async () => {
    const none = isolatedPaths("transparent-none");
    try {
      const s = start([fixture("http-server.mjs")], none.env, true);
      procs.push(s);
      const { port } = (await s.json()) as { port: number };
      await eventually("the server's word on stderr", async () => (s.stderr() === "" ? undefined : true));
      const c = start(
        [fixture("client.mjs")],
        { ...none.env, BASE: `http://127.0.0.1:${port}`, HELLO: SERVERS[0].hello },
        true,
      );
      procs.push(c);
      const result = (await c.json()) as { checked: Record<string, number> };
      assert.equal(await c.exit(), 0, c.stderr());
      assert.equal(result.checked.ws, CHECKED.ws);
      assert.equal(c.stderr(), "");
      const lines = s.stderr().trim().split("\n");
      assert.equal(lines.length, 1, s.stderr());
      assert.match(lines[0] ?? "", /^fable: transparent mode: the fable daemon is unreachable \(.*\); using TCP only$/);
      await s.kill();
    } finally {
      none.cleanup();
    }
  });
});
