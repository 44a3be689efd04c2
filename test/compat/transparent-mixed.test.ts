/**
 * Transparent mode across versions: a client that expects a native unix socket (the server's
 * marker says it takes native streams) but gets a fable connection from the daemon (one that does
 * not rank unix first, as a daemon without native streams would) carries the application's
 * node:net socket over a fable-io/net socket (adopted-socket.ts). The daemon runs in this process
 * with a selector that offers shm only. node:http's client corks and writes while its socket still
 * connects; every request must complete, over shm. (The whole net conformance suite runs this way
 * too: net-transparent-mixed.test.ts.)
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { installTransparentMode } from "../../src/compat/transparent.js";
import { Daemon } from "../../src/daemon/server.js";
import { tcpAddressName } from "../../src/naming/address-names.js";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import { eventually, type Isolated, isolatedPaths } from "../kit/daemon.js";
import { ShmOnlySelector } from "../kit/shm-only-selector.js";

const iso: Isolated = isolatedPaths("transparent-mixed");
Object.assign(process.env, iso.env, { FABLE_TRANSPARENT_NATIVE: "1" });
if (!installTransparentMode()) throw new Error("transparent mode did not install");
let daemon: Daemon | undefined;
let client: DaemonClient | undefined;

before(async () => {
  daemon = await Daemon.start({ paths: iso.paths, selector: new ShmOnlySelector() });
  client = new DaemonClient({ paths: iso.paths, autostart: false });
});

after(async () => {
  client?.close();
  await daemon?.close();
  iso.cleanup();
});

/** Resolves once `server` (listening on TCP) is registered: its clients then get fable connections. */
async function registered(server: net.Server): Promise<{ port: number; name: string }> {
  const { port } = server.address() as net.AddressInfo;
  const name = tcpAddressName("127.0.0.1", port);
  const marker = join(iso.paths.runtimeDir, "addr", name.replaceAll("/", "+"));
  await eventually(`${name} registered`, async () => (existsSync(marker) ? true : undefined));
  return { port, name };
}

/** `what` settles within 5 s, or fails the test naming it (a hang is the bug these tests are for). */
function within<T>(label: string, what: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: nothing in 5 s (hung)`)), 5_000);
  });
  return Promise.race([what, timeout]).finally(() => clearTimeout(timer));
}

const echoBody: http.RequestListener = (req, res) => {
  let body = "";
  req.setEncoding("utf8").on("data", (d: string) => (body += d));
  req.on("end", () => res.end(`${req.method} ${req.url} ${body}`));
};

it("node:http requests complete over the fable connection handed to a client expecting native", async () => {
  const server = http.createServer(echoBody);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const agent = new http.Agent({ keepAlive: true });
  try {
    const { port, name } = await registered(server);
    const request = (method: string, path: string, body: string | undefined, a: http.Agent | false): Promise<string> =>
      within(
        `${method} ${path}`,
        new Promise((resolve, reject) => {
          const req = http.request({ host: "127.0.0.1", port, method, path, agent: a }, (res) => {
            let text = "";
            res.setEncoding("utf8").on("data", (d: string) => (text += d));
            res.on("end", () => resolve(text));
          });
          req.on("error", reject);
          if (body !== undefined) req.write(body);
          req.end();
        }),
      );
    // Headers written at end(); a body written while the socket connects; a large one; then a fresh connection.
    assert.equal(await request("GET", "/a", undefined, agent), "GET /a ");
    assert.equal(await request("POST", "/b", "hello", agent), "POST /b hello");
    const big = "x".repeat(100_000);
    assert.equal(await request("POST", "/c", big, agent), `POST /c ${big}`);
    assert.equal(await request("PUT", "/d", "body", false), "PUT /d body");
    // Over fable, not TCP: the daemon saw the client's flows, over shm.
    const flows = await eventually("the client's flows", async () => {
      const { flows: all } = await (client as DaemonClient).request({ type: "flows" });
      const mine = all.filter((f) => f.name === name);
      return mine.length > 0 ? mine : undefined;
    });
    assert.ok(
      flows.every((f) => f.transport === "shm" && f.transparent),
      JSON.stringify(flows.map((f) => [f.transport, f.transparent])),
    );
  } finally {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

it("fetch and undici requests complete the same way", async () => {
  const server = http.createServer(echoBody);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = await registered(server);
    const base = `http://127.0.0.1:${port}`;
    const signal = AbortSignal.timeout(5_000);
    assert.equal(await (await fetch(`${base}/x`, { signal })).text(), "GET /x ");
    assert.equal(await (await fetch(`${base}/y`, { method: "POST", body: "zz", signal })).text(), "POST /y zz");
    const undici = await import("undici");
    const u = await undici.request(`${base}/u`, { method: "POST", body: "q", headersTimeout: 5_000 });
    assert.equal(await u.body.text(), "POST /u q");
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

it("the peer's end reaches a socket that does not read: 'end', then 'close' (it hung)", async () => {
  // The server ends at once; the client writes (corked) and ends without ever reading. node:net emits
  // 'end' at EOF when nothing is buffered, then closes (allowHalfOpen false).
  const server = net.createServer((s) => {
    s.resume();
    s.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = await registered(server);
    for (const how of ["connect()", "new Socket().connect()"]) {
      const c = how === "connect()" ? net.connect(port, "127.0.0.1") : new net.Socket().connect(port, "127.0.0.1");
      const closed = new Promise<boolean>((resolve) => c.once("close", resolve));
      const ended = new Promise<void>((resolve) => c.once("end", resolve));
      await within(`${how} connect`, new Promise((resolve) => c.once("connect", resolve)));
      c.cork();
      c.write("some bytes");
      process.nextTick(() => c.uncork());
      c.end();
      await within(`${how} 'end'`, ended);
      assert.equal(await within(`${how} 'close'`, closed), false);
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
