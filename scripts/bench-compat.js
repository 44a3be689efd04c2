#!/usr/bin/env node
/* global URL, Buffer, performance, setTimeout */
// npm run bench:compat: the same net echo and the same node:http server, over node:net (unix
// socket, TCP loopback) and over fable-io/net (shm), the server in a second process each time.
//   echo: 64 B messages, one outstanding: round trip p50/p99 (ns) per round;
//   http: sequential GET requests on one keep-alive connection: requests/s per round.
//   autocannon: an unmodified node:http server (scripts/lib/http-hello-server.js) and autocannon in
//   separate processes, plain (TCP loopback) vs both under `fable run` (transparent mode, through a
//   daemon of its own): requests/s and latency p50/p99 for 1 and 10 connections. `fable run` is
//   measured both ways transparent connections go: native unix sockets (the default) and, as
//   "emulated", fable-io/net sockets over the daemon's other choice (FABLE_TRANSPARENT_NATIVE=0).
//   Also the CPU each side spent per request (autocannon's process.cpuUsage over its run; the
//   server's, asked before and after over TCP): on a shared machine requests/s swings with what
//   else runs, CPU per request much less.
// Rounds are interleaved across the paths; each figure is the median of rounds with its spread.
// Options: --rounds N (default 5), --echo-ms, --http-ms (default 1000 each per round),
// --ac-rounds N (default 3), --ac-s seconds per autocannon run (default 3), --autocannon-only,
// --no-emulated (skip the emulated fable run), --only echo|http|layer|autocannon (one section; echo and
// http are the net section's two parts).
//   layer: what the Socket layer itself costs, free of the machine's wake-ups and spinning: a 64 B
//   echo between two fable-io/net Sockets, and the same between two bare Connections, each pair over
//   the memory transport in this one thread (both ends' work in every round trip), interleaved.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { printMachine } from "./lib/machine.js";

const fable = await import(new URL("../dist/src/compat/net.js", import.meta.url).href);
const arg = (name, d) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? d : Number(process.argv[i + 1]);
};
const rounds = arg("--rounds", 5);
const echoMs = arg("--echo-ms", 1000);
const httpMs = arg("--http-ms", 1000);
const onlyAt = process.argv.indexOf("--only");
const only = onlyAt < 0 ? undefined : process.argv[onlyAt + 1];
if (only !== undefined && !["echo", "http", "layer", "autocannon"].includes(only)) {
  throw new Error(`bench:compat: --only takes echo, http, layer or autocannon, not ${only}`);
}
const runs = (section) => only === undefined || only === section;

// A fresh directory for the socket paths: a pid-named path in /tmp could be a crashed run's leftover.
const sockDir = mkdtempSync(join(tmpdir(), "fable-bc-"));
process.on("exit", () => rmSync(sockDir, { recursive: true, force: true }));
const paths = [
  { name: "node:net unix", lib: "node:net", listen: () => join(sockDir, "u.sock") },
  { name: "node:net tcp", lib: "node:net", listen: () => 0 },
  { name: "fable-io/net shm", lib: "fable", listen: () => `shm://${join(sockDir, "s.sock")}` },
];

/** Starts a server process (echo or http) on `address`; resolves with what to connect to and a stop(). */
function startServer(kind, lib, address) {
  const modUrl = lib === "fable" ? new URL("../dist/src/compat/net.js", import.meta.url).href : "node:net";
  const script = `
    const net = await import(${JSON.stringify(modUrl)});
    const http = await import("node:http");
    const address = ${JSON.stringify(address)};
    let server;
    if (${JSON.stringify(kind)} === "echo") {
      server = net.createServer((s) => s.on("data", (d) => s.write(d)));
    } else {
      const app = http.createServer((req, res) => res.end("ok"));
      server = net.createServer((s) => app.emit("connection", s));
    }
    server.listen(...(typeof address === "number" ? [address, "127.0.0.1"] : [address]), () => {
      const a = server.address();
      process.stdout.write(JSON.stringify(typeof a === "string" ? a : a.port) + "\\n");
    });
    process.stdin.on("end", () => process.exit(0));
    process.stdin.resume();`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  return new Promise((resolve) => {
    child.stdout.once("data", (d) => {
      const where = JSON.parse(d.toString());
      resolve({ where, stop: () => child.stdin.end() });
    });
  });
}

function connectTo(lib, where) {
  if (lib === "fable") return fable.connect(typeof where === "number" ? { port: where } : `shm://${where}`);
  return typeof where === "number" ? net.connect(where, "127.0.0.1") : net.connect(where);
}

async function echoRound(lib, where) {
  const socket = connectTo(lib, where);
  await new Promise((r) => socket.once("connect", r));
  const msg = Buffer.alloc(64, 7);
  const samples = [];
  let got = 0;
  let t0 = 0n;
  const end = performance.now() + echoMs;
  await new Promise((resolve) => {
    socket.on("data", (d) => {
      got += d.length;
      if (got < 64) return;
      got -= 64;
      samples.push(Number(process.hrtime.bigint() - t0));
      if (performance.now() > end) return resolve();
      t0 = process.hrtime.bigint();
      socket.write(msg);
    });
    t0 = process.hrtime.bigint();
    socket.write(msg);
  });
  socket.destroy();
  samples.sort((a, b) => a - b);
  const warm = samples.slice(Math.floor(samples.length / 10));
  warm.sort((a, b) => a - b);
  return { p50: warm[Math.floor(warm.length / 2)], p99: warm[Math.floor(warm.length * 0.99)], n: warm.length };
}

async function httpRound(lib, where) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  agent.createConnection = () => connectTo(lib, where);
  const get = () =>
    new Promise((resolve, reject) => {
      http
        .get({ agent, host: "localhost", path: "/" }, (res) => {
          res.resume();
          res.on("end", resolve);
        })
        .on("error", reject);
    });
  await get();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < httpMs) {
    await get();
    n++;
  }
  const rate = n / ((performance.now() - t0) / 1000);
  agent.destroy();
  return rate;
}

/** The autocannon section's third mode: transparent connections as fable-io/net sockets (FABLE_TRANSPARENT_NATIVE=0). */
const EMULATED = "fable run, emulated";
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread1 = (xs) => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;
const spread = (xs) => `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`;

await printMachine();
if (!process.argv.includes("--autocannon-only") && (runs("echo") || runs("http"))) await netSections();
if (runs("layer")) await layerSection();
if (arg("--ac-rounds", 3) > 0 && runs("autocannon")) await autocannonSection();

async function netSections() {
  console.log(`bench:compat: ${rounds} interleaved rounds; echo ${echoMs} ms and http ${httpMs} ms per path per round`);
  const echo = new Map(paths.map((p) => [p.name, []]));
  const rps = new Map(paths.map((p) => [p.name, []]));
  const servers = new Map();
  for (const p of paths) {
    servers.set(p.name, {
      echo: await startServer("echo", p.lib, p.listen()),
      http: await startServer("http", p.lib, typeof p.listen() === "number" ? 0 : p.listen() + ".http"),
    });
  }
  for (let r = 0; r < rounds; r++) {
    if (runs("echo"))
      for (const p of paths) echo.get(p.name).push(await echoRound(p.lib, servers.get(p.name).echo.where));
    if (runs("http"))
      for (const p of paths) rps.get(p.name).push(await httpRound(p.lib, servers.get(p.name).http.where));
  }
  for (const s of servers.values()) {
    s.echo.stop();
    s.http.stop();
  }
  if (runs("echo")) printEcho(echo);
  if (runs("http")) printHttp(rps);
}

function printEcho(echo) {
  console.log("\n64 B net echo, round trip (ns): median of rounds' p50 [spread], median p99");
  for (const p of paths) {
    const rs = echo.get(p.name);
    const p50 = rs.map((x) => x.p50);
    console.log(`  ${p.name.padEnd(18)} p50 ${median(p50)} [${spread(p50)}]  p99 ${median(rs.map((x) => x.p99))}`);
  }
  const base = median(echo.get("node:net unix").map((x) => x.p50));
  const fab = median(echo.get("fable-io/net shm").map((x) => x.p50));
  console.log(`  node:net unix / fable-io/net shm p50: ${(base / fab).toFixed(2)}x`);
}

function printHttp(rps) {
  console.log("\nnode:http, one keep-alive connection, sequential GETs: requests/s, median of rounds [spread]");
  for (const p of paths) {
    const rs = rps.get(p.name);
    console.log(`  ${p.name.padEnd(18)} ${median(rs).toFixed(0)} [${spread(rs)}]`);
  }
}

// ---- the Socket layer's own cost, in one thread -------------------------------------------------

async function layerSection() {
  const { memoryPair } = await import(new URL("../dist/src/transports/memory.js", import.meta.url).href);
  const { Connection } = await import(new URL("../dist/src/channel/connection.js", import.meta.url).href);
  const n = 50_000;
  const msg = Buffer.alloc(64, 7);
  /** ns per round trip of a 64 B echo between two Sockets. */
  const sockets = async () => {
    const [a, b] = memoryPair();
    const server = new fable.Socket({ connection: b });
    server.on("data", (d) => server.write(d));
    const client = new fable.Socket({ connection: a });
    let i = 0;
    let got = 0;
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => {
      client.on("data", (d) => {
        got += d.length;
        if (got < 64) return;
        got -= 64;
        if (++i >= n) return resolve();
        client.write(msg);
      });
      client.write(msg);
    });
    const ns = Number(process.hrtime.bigint() - t0) / n;
    client.destroy();
    server.destroy();
    return ns;
  };
  /** The same echo between two bare Connections (getReadBuffers/readable, getWriteBuffers/commit). */
  const connections = async () => {
    const [a, b] = memoryPair().map((end) => new Connection(end));
    const serve = async () => {
      for (;;) {
        const got = b.getReadBuffers();
        if (got.length === 0) {
          await b.readable();
          continue;
        }
        for (const r of got) {
          const [w] = b.getWriteBuffers(r.bytes.length);
          w.bytes.set(r.bytes);
          b.release(r);
          b.commit(w);
        }
      }
    };
    serve().catch(() => undefined); // ends when b is destroyed
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const [w] = a.getWriteBuffers(64);
      w.bytes.set(msg);
      a.commit(w);
      for (;;) {
        const got = a.getReadBuffers();
        if (got.length === 0) {
          await a.readable();
          continue;
        }
        for (const r of got) a.release(r);
        break;
      }
    }
    const ns = Number(process.hrtime.bigint() - t0) / n;
    a.destroy();
    b.destroy();
    return ns;
  };
  await sockets(); // warm-up (the JIT)
  await connections();
  const s = [];
  const c = [];
  for (let r = 0; r < rounds; r++) {
    s.push(await sockets());
    c.push(await connections());
  }
  const ratio = s.map((x, i) => x / c[i]);
  console.log(
    `\nSocket layer, 64 B echo in one thread over the memory transport (${rounds} interleaved rounds of ${n}):`,
  );
  console.log(`  fable-io/net Sockets  ${median(s).toFixed(0)} ns per round trip [${spread(s)}]`);
  console.log(`  bare Connections      ${median(c).toFixed(0)} ns per round trip [${spread(c)}]`);
  console.log(
    `  Sockets / Connections: ${median(ratio).toFixed(2)}x [${Math.min(...ratio).toFixed(2)}-${Math.max(...ratio).toFixed(2)}] (median of per-round ratios)`,
  );
}

// ---- autocannon against an unmodified server: TCP loopback vs `fable run` -----------------------

/** The hello server's CPU time so far (µs), asked over TCP (GET /cpu, see http-hello-server.js). */
function serverCpu(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/cpu", agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d) => (body += d));
        res.on("end", () => resolve(Number(body)));
      })
      .on("error", reject);
  });
}

async function autocannonSection() {
  const acRounds = arg("--ac-rounds", 3);
  const acSeconds = arg("--ac-s", 3);
  const fableBin = new URL("../bin/fable.js", import.meta.url).pathname;
  const helloScript = new URL("./lib/http-hello-server.js", import.meta.url).pathname;
  const acScript = new URL("./lib/autocannon-run.js", import.meta.url).pathname;
  // A daemon of its own (temporary runtime and state dirs); it reads this machine's bench results as usual,
  // but never calibrates in the background while we time (with no result it keeps its fixed order).
  const root = mkdtempSync(join(tmpdir(), "fable-bc-ac-"));
  const run = join(root, "run");
  const state = join(root, "state");
  mkdirSync(run, { mode: 0o700 });
  mkdirSync(state, { mode: 0o700 });
  const env = {
    ...process.env,
    FABLE_RUNTIME_DIR: run,
    FABLE_STATE_DIR: state,
    FABLE_NO_AUTOSTART: "1",
    FABLE_CALIBRATION: "off",
  };
  const daemon = spawn(process.execPath, [fableBin, "daemon", "run"], { env, stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; !existsSync(join(run, "daemon.sock")); i++) {
    if (i > 200) throw new Error("bench:compat: the fable daemon did not start");
    await new Promise((r) => setTimeout(r, 25));
  }
  const argv = (viaFable, script, args) =>
    viaFable ? [fableBin, "run", "--", process.execPath, script, ...args] : [script, ...args];
  const firstLine = (child) =>
    new Promise((resolve, reject) => {
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d) => {
        out += d;
        const i = out.indexOf("\n");
        if (i >= 0) resolve(JSON.parse(out.slice(0, i)));
      });
      child.once("exit", (code) => reject(new Error(`${child.spawnargs.join(" ")} exited with ${code}`)));
    });
  const modes = ["tcp", "fable run", ...(process.argv.includes("--no-emulated") ? [] : [EMULATED])];
  const envOf = (mode) => (mode === EMULATED ? { ...env, FABLE_TRANSPARENT_NATIVE: "0" } : env);
  const servers = {};
  for (const mode of modes) {
    const child = spawn(process.execPath, argv(mode !== "tcp", helloScript, []), {
      env: envOf(mode),
      stdio: ["pipe", "pipe", "inherit"],
    });
    const port = await firstLine(child);
    servers[mode] = { child, port };
  }
  // The transparent servers are ready for fable once their addresses are announced.
  for (const mode of modes.filter((m) => m !== "tcp")) {
    const marker = join(run, "addr", `.addr+tcp+127.0.0.1+${servers[mode].port}`);
    for (let i = 0; !existsSync(marker); i++) {
      if (i > 400) throw new Error(`bench:compat: the server under fable run never registered (${marker})`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const results = new Map();
  const transports = {};
  for (let r = 0; r < acRounds; r++) {
    for (const connections of [1, 10]) {
      for (const mode of modes) {
        const url = `http://127.0.0.1:${servers[mode].port}/`;
        const serverCpu0 = await serverCpu(servers[mode].port);
        const child = spawn(process.execPath, argv(mode !== "tcp", acScript, [url, connections, acSeconds]), {
          env: envOf(mode),
          stdio: ["ignore", "pipe", "inherit"],
        });
        if (mode !== "tcp" && transports[mode] === undefined) {
          // Which transport the daemon chose, seen while the run holds its connections (fable run starts it first).
          const name = `.addr/tcp/127.0.0.1/${servers[mode].port}`;
          for (let i = 0; i < 10 && (transports[mode] === undefined || transports[mode].length === 0); i++) {
            await new Promise((res) => setTimeout(res, 200));
            const flows = spawnSync(process.execPath, [fableBin, "flows", "--json"], { env, encoding: "utf8" });
            const list = flows.status === 0 ? JSON.parse(flows.stdout).filter((f) => f.name === name) : [];
            transports[mode] = [
              ...new Set(list.map((f) => (f.wait === null ? f.transport : `${f.transport}:${f.wait}`))),
            ];
          }
        }
        const out = await firstLine(child);
        if (out.errors > 0 || out.non2xx > 0)
          throw new Error(`bench:compat: autocannon ${mode}: ${JSON.stringify(out)}`);
        out.serverCpuUs = (await serverCpu(servers[mode].port)) - serverCpu0;
        const key = `${mode}|${connections}`;
        results.set(key, [...(results.get(key) ?? []), out]);
      }
    }
  }
  for (const s of Object.values(servers)) s.child.stdin.end();
  daemon.kill("SIGTERM");
  await new Promise((r) => daemon.once("exit", r));
  rmSync(root, { recursive: true, force: true });

  const seen = modes
    .filter((m) => m !== "tcp")
    .map((m) => `${m}: ${transports[m]?.join(", ") || "(none seen)"}`)
    .join("; ");
  console.log(
    `\nautocannon against an unmodified node:http server, ${acRounds} interleaved rounds of ${acSeconds} s;` +
      ` flows: ${seen}`,
  );
  console.log("  requests/s and latency (us, from autocannon's per-response times): median of rounds [spread]");
  for (const connections of [1, 10]) {
    const row = {};
    for (const mode of modes) {
      const rs = results.get(`${mode}|${connections}`);
      row[mode] = {
        rps: median(rs.map((x) => x.rps)),
        p50: median(rs.map((x) => x.p50 * 1000)),
        p99: median(rs.map((x) => x.p99 * 1000)),
      };
      console.log(
        `  ${String(connections).padStart(2)} conn  ${mode.padEnd(19)}  ${row[mode].rps.toFixed(0).padStart(6)} req/s ` +
          `[${spread(rs.map((x) => x.rps))}]  p50 ${row[mode].p50.toFixed(0)} us  p99 ${row[mode].p99.toFixed(0)} us ` +
          `[${spread(rs.map((x) => x.p99 * 1000))}]`,
      );
    }
    const t = row.tcp;
    for (const mode of modes.filter((m) => m !== "tcp")) {
      const f = row[mode];
      console.log(
        `  ${String(connections).padStart(2)} conn  ${mode} / tcp: ${(f.rps / t.rps).toFixed(2)}x requests/s, ` +
          `p99 ${f.p99.toFixed(0)} vs ${t.p99.toFixed(0)} us (${(f.p99 / t.p99).toFixed(2)}x)`,
      );
    }
  }
  console.log("  CPU per request (µs), client (autocannon) and server: median of rounds [spread]");
  for (const connections of [1, 10]) {
    for (const mode of modes) {
      const rs = results.get(`${mode}|${connections}`);
      const client = rs.map((x) => x.cpuUs / x.total);
      const server = rs.map((x) => x.serverCpuUs / x.total);
      console.log(
        `  ${String(connections).padStart(2)} conn  ${mode.padEnd(19)}  client ${median(client).toFixed(1)} ` +
          `[${spread1(client)}]  server ${median(server).toFixed(1)} [${spread1(server)}]`,
      );
    }
  }
}
