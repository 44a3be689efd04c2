/**
 * Transparent mode for the ways of reaching a server that transparent.test.ts does not cover, with
 * real processes started through `fable run` and a real daemon:
 * - sockets the program makes itself (`new net.Socket()`, then `.connect(port, host)` or
 *   `.connect(path)`): a raw HTTP exchange, an http.Agent, undici and ws each making theirs so;
 * - hosts other than localhost: wildcard servers (0.0.0.0, ::) reached by loopback, by this host's
 *   own interface addresses and by the unspecified address; and what must stay node:net's (an
 *   address not this host's, an IPv4 client of an ipv6Only server);
 * - a node:cluster server: each worker serves fable connections of its own, in turn.
 * Each response is checked; the daemon must list a transparent flow for each where it should.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tcpAddressName, unixAddressName } from "../../src/naming/address-names.js";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import type { FlowEntry } from "../../src/naming/protocol.js";
import { type DaemonProcess, eventually, type Isolated, isolatedPaths, startDaemon } from "../kit/daemon.js";
import { fixture, type Proc, start } from "../kit/transparent.js";

/** This host's first non-internal address of a family, if any. */
function interfaceAddress(family: "IPv4" | "IPv6"): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (!a.internal && a.family === family && !a.address.startsWith("fe80:")) return a.address;
    }
  }
  return undefined;
}

const hostOf = (ip: string): string => (ip.includes(":") ? `[${ip}]` : ip);

describe("transparent mode (fable run): own sockets, other hosts, cluster workers", () => {
  let iso: Isolated;
  let daemon: DaemonProcess;
  let client: DaemonClient;
  const procs: Proc[] = [];
  const seen = new Set<string>();

  before(async () => {
    iso = isolatedPaths("transparent-reach");
    daemon = await startDaemon(iso);
    client = new DaemonClient({ paths: iso.paths, autostart: false });
  });

  after(async () => {
    for (const p of procs) await p.kill();
    client.close();
    await daemon.stop();
    iso.cleanup();
  });

  const run = (args: readonly string[], env: NodeJS.ProcessEnv, viaFable: boolean): Proc => {
    const p = start(args, { ...iso.env, ...env }, viaFable);
    procs.push(p);
    return p;
  };
  const flows = async (): Promise<readonly FlowEntry[]> => (await client.request({ type: "flows" })).flows;
  const registered = (name: string, pid: number): Promise<true> =>
    eventually(`${name} registered`, async () =>
      (await client.request({ type: "names" })).names.some((n) => n.name === name && n.pid === pid) ? true : undefined,
    );
  /** Flows not seen before that match, marked transparent; waits for at least one. */
  const freshFlows = async (what: string, match: (f: FlowEntry) => boolean): Promise<FlowEntry[]> => {
    const fresh = await eventually(`a new transparent flow: ${what}`, async () => {
      const mine = (await flows()).filter((f) => match(f) && !seen.has(f.id));
      return mine.length > 0 ? mine : undefined;
    });
    for (const f of fresh) {
      assert.equal(f.transparent, true, `${what}: flow ${f.id} is not marked transparent`);
      assert.ok(["shm", "unix"].includes(f.transport), `${what}: transport ${f.transport}`);
      seen.add(f.id);
    }
    return fresh;
  };

  it("new net.Socket().connect(port, host): raw HTTP, an http.Agent, undici and ws each get a transparent flow", async () => {
    const s = run([fixture("http-server.mjs")], {}, true);
    const { port, pid } = (await s.json()) as { port: number; pid: number };
    const name = tcpAddressName("127.0.0.1", port);
    await registered(name, pid);
    const env = { BASE: `http://127.0.0.1:${port}` };
    const c = run([fixture("new-socket-client.mjs")], { ...env, HOLD: "1" }, true);
    for (const kind of ["raw", "agent", "undici", "ws"]) {
      assert.deepEqual(await c.json(), { phase: kind });
      await freshFlows(kind, (f) => f.name === name && f.listenerPid === pid);
      c.send("next");
    }
    const result = (await c.json()) as { checked: Record<string, number>; sockets: Record<string, unknown> };
    assert.equal(await c.exit(), 0, c.stderr());
    assert.deepEqual(result.checked, { raw: 4, agent: 4, undici: 4, ws: 4 });
    // The application's own object, reporting the address it asked for.
    const socket = { isNetSocket: true, remoteAddress: "127.0.0.1", remotePort: port };
    assert.deepEqual(result.sockets, { raw: socket, agent: socket, undici: socket, ws: socket });
    assert.equal(c.stderr(), "");

    // Without fable run: the same client over TCP, the same results (and a real local port), no flow.
    const before = new Set((await flows()).map((f) => f.id));
    const plain = run([fixture("new-socket-client.mjs")], env, false);
    const plainResult = (await plain.json()) as typeof result;
    assert.equal(await plain.exit(), 0, plain.stderr());
    assert.deepEqual(plainResult, result);
    assert.ok(!(await flows()).some((f) => !before.has(f.id) && f.connectorPid === plain.child.pid));
    await s.kill();
    assert.equal(s.stderr(), "");
  });

  it("new net.Socket().connect(path) to a unix server: raw HTTP, an http.Agent and undici over transparent flows", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fable-reach-unix-"));
    try {
      const path = join(dir, "http.sock");
      const s = run([fixture("http-server.mjs")], { SOCK: path }, true);
      const { pid } = (await s.json()) as { pid: number };
      const name = unixAddressName(path);
      await registered(name, pid);
      const c = run([fixture("new-socket-client.mjs")], { BASE: `unix:${path}`, HOLD: "1" }, true);
      for (const kind of ["raw", "agent", "undici"]) {
        assert.deepEqual(await c.json(), { phase: kind });
        await freshFlows(kind, (f) => f.name === name && f.listenerPid === pid);
        c.send("next");
      }
      const result = (await c.json()) as { checked: Record<string, number>; sockets: Record<string, unknown> };
      assert.equal(await c.exit(), 0, c.stderr());
      assert.deepEqual(result.checked, { raw: 4, agent: 4, undici: 4 });
      const socket = { isNetSocket: true, remoteAddress: null, remotePort: null };
      assert.deepEqual(result.sockets, { raw: socket, agent: socket, undici: socket });
      await s.kill();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a server on 0.0.0.0: reached by 127.0.0.1, 0.0.0.0 and this host's own IPv4 address, each over fable", async () => {
    const s = run([fixture("http-server.mjs")], { HOST: "0.0.0.0" }, true);
    const { port, pid } = (await s.json()) as { port: number; pid: number };
    const name = tcpAddressName("0.0.0.0", port);
    await registered(name, pid);
    const own = interfaceAddress("IPv4");
    const hosts = ["127.0.0.1", "0.0.0.0", ...(own === undefined ? [] : [own]), "localhost"];
    const c = run([fixture("reach-client.mjs")], { BASES: hosts.map((h) => `http://${h}:${port}`).join(",") }, true);
    for (const host of hosts) {
      const { pid: clientPid } = await c.json();
      // node:http's connection and fetch's: two flows of this client at each address.
      const fresh = await freshFlows(host, (f) => f.name === name && f.connectorPid === clientPid);
      if (fresh.length < 2)
        await freshFlows(`${host}, the second`, (f) => f.name === name && f.connectorPid === clientPid);
      c.send("next");
    }
    assert.deepEqual(await c.json(), { checked: 2 * hosts.length });
    assert.equal(await c.exit(), 0, c.stderr());
    assert.equal(c.stderr(), "");
    await s.kill();
  });

  const v6 = interfaceAddress("IPv6");
  it("a server on ::: reached by ::1, by 127.0.0.1 (dual stack) and this host's IPv6 address, over fable", async () => {
    const s = run([fixture("http-server.mjs")], { HOST: "::" }, true);
    const { port, pid } = (await s.json()) as { port: number; pid: number };
    const name = tcpAddressName("::", port);
    await registered(name, pid);
    const hosts = ["::1", "127.0.0.1", "::ffff:127.0.0.1", ...(v6 === undefined ? [] : [v6])];
    const c = run(
      [fixture("reach-client.mjs")],
      { BASES: hosts.map((h) => `http://${hostOf(h)}:${port}`).join(",") },
      true,
    );
    for (const host of hosts) {
      const { pid: clientPid } = await c.json();
      const fresh = await freshFlows(host, (f) => f.name === name && f.connectorPid === clientPid);
      if (fresh.length < 2)
        await freshFlows(`${host}, the second`, (f) => f.name === name && f.connectorPid === clientPid);
      c.send("next");
    }
    assert.deepEqual(await c.json(), { checked: 2 * hosts.length });
    assert.equal(await c.exit(), 0, c.stderr());
    await s.kill();
  });

  it("left to node:net: an IPv4 client of an ipv6Only server (refused as over TCP), an address not this host's", async () => {
    const server = `const s = require("node:http").createServer((q, r) => r.end("v6 only"));
      s.listen({ host: "::", port: 0, ipv6Only: true }, () =>
        console.log(JSON.stringify({ port: s.address().port, pid: process.pid })));`;
    const s = run(["-e", server], {}, true);
    const { port, pid } = (await s.json()) as { port: number; pid: number };
    await registered(tcpAddressName("::", port), pid);
    const probe = async (host: string, p: number, viaFable: boolean): Promise<Record<string, unknown>> => {
      const c = run([fixture("probe-client.mjs")], { HOST: host, PORT: String(p) }, viaFable);
      const got = await c.json();
      assert.equal(await c.exit(), 0, c.stderr());
      return got;
    };
    const refused = { outcome: "ECONNREFUSED", message: `connect ECONNREFUSED 127.0.0.1:${port}` };
    assert.deepEqual(await probe("127.0.0.1", port, true), { viaConnect: refused, viaSocket: refused });
    assert.deepEqual(await probe("127.0.0.1", port, false), { viaConnect: refused, viaSocket: refused });
    // ::1 is served by it: the fable one.
    const served = await probe("::1", port, true);
    assert.equal((served.viaConnect as { outcome: string }).outcome, "connect");
    assert.deepEqual(served.viaSocket, { outcome: "connect", isNetSocket: true });

    // A marker for an address of another host (TEST-NET-2), planted as a live server's: never looked at.
    const foreign = "198.51.100.7";
    const fake = tcpAddressName(foreign, port);
    const dir = join(iso.paths.runtimeDir, "addr");
    mkdirSync(dir, { mode: 0o700, recursive: true });
    writeFileSync(join(dir, fake.replaceAll("/", "+")), JSON.stringify({ name: fake, pid }), { mode: 0o600 });
    const got = (await probe(foreign, port, true)) as Record<string, { outcome: string; message?: string }>;
    for (const how of ["viaConnect", "viaSocket"]) {
      // node:net's own outcome (the network may time out or say it is unreachable), never fable's word.
      assert.notEqual(got[how]?.outcome, "connect", `${how}: ${JSON.stringify(got[how])}`);
      assert.doesNotMatch(got[how]?.message ?? "", /fable/, how);
    }
    await s.kill();
  });

  it("a node:cluster http server: each worker serves transparent flows in turn; clients without fable run use TCP", async () => {
    const s = run([fixture("cluster-server.mjs")], { WORKERS: "2" }, true);
    const { port, ports, workers } = (await s.json()) as { port: number; ports: number; workers: number[] };
    assert.equal(ports, 1, "the workers share one port");
    const base = tcpAddressName("127.0.0.1", port);
    const names = (await client.request({ type: "names" })).names;
    for (const w of workers) {
      await eventually(`a worker name of ${w}`, async () =>
        (await client.request({ type: "names" })).names.some((n) => n.name.startsWith(`${base}/worker-`) && n.pid === w)
          ? true
          : undefined,
      );
    }
    assert.ok(!names.some((n) => n.name === base), "the shared address itself is no worker's name");

    const env = { BASE: `http://127.0.0.1:${port}`, HELLO: "hello from node:http\n" };
    const c = run([fixture("client.mjs")], { ...env, HOLD: "1" }, true);
    const served = new Set<number>();
    for (const kind of ["http", "fetch", "undici", "ws", "autocannon"]) {
      assert.deepEqual(await c.json(), { phase: kind });
      const fresh = await freshFlows(kind, (f) => f.name.startsWith(`${base}/worker-`));
      for (const f of fresh) {
        assert.ok(workers.includes(f.listenerPid), `${kind}: served by ${f.listenerPid}, not a worker`);
        served.add(f.listenerPid);
      }
      c.send("next");
    }
    const result = (await c.json()) as { checked: Record<string, number> };
    assert.equal(await c.exit(), 0, c.stderr());
    const { autocannon, ...checked } = result.checked;
    assert.deepEqual(checked, { http: 4, fetch: 4, undici: 4, ws: 4 });
    assert.ok((autocannon ?? 0) > 0, "autocannon: no responses");
    assert.deepEqual([...served].sort(), [...workers].sort(), "every worker served fable connections");
    assert.equal(c.stderr(), "");

    const plain = run([fixture("client.mjs")], env, false);
    const plainResult = (await plain.json()) as typeof result;
    assert.equal(await plain.exit(), 0, plain.stderr());
    assert.equal(plainResult.checked.undici, 4);
    await s.kill();
    assert.equal(s.stderr(), "");
  });

  it("a node:cluster http server with no daemon: TCP, correct responses, said once on stderr", async () => {
    const none = isolatedPaths("transparent-reach-none");
    try {
      const s = start([fixture("cluster-server.mjs")], { ...none.env, WORKERS: "2" }, true);
      procs.push(s);
      const { port } = (await s.json()) as { port: number };
      await eventually("the server's word on stderr", async () => (s.stderr() === "" ? undefined : true));
      const c = start(
        [fixture("client.mjs")],
        { ...none.env, BASE: `http://127.0.0.1:${port}`, HELLO: "hello from node:http\n" },
        true,
      );
      procs.push(c);
      const result = (await c.json()) as { checked: Record<string, number> };
      assert.equal(await c.exit(), 0, c.stderr());
      assert.equal(result.checked.fetch, 4);
      assert.equal(result.checked.ws, 4);
      assert.equal(c.stderr(), "");
      // Both workers found no daemon; the cluster says so once.
      await new Promise((r) => setTimeout(r, 500));
      const lines = s.stderr().trim().split("\n");
      assert.equal(lines.length, 1, s.stderr());
      assert.match(lines[0] ?? "", /^fable: transparent mode: the fable daemon is unreachable \(.*\); using TCP only$/);
      await s.kill();
    } finally {
      none.cleanup();
    }
  });
});
