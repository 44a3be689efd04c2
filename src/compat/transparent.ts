/**
 * Transparent mode: unmodified programs on fable (`node --import fable-io/register app.js`, or
 * `fable run -- cmd`, which puts that import in NODE_OPTIONS for the whole process tree).
 *
 * What it promises
 * - A net.Server (so http, https, fastify, ws servers) that listens on a TCP address or a unix
 *   path still listens there for everyone else. Once listening, it also registers that address
 *   with the daemon under the address's name (naming/address-names.ts), owned by this process and
 *   gone with it, and its own fable listener (shm and unix rendezvous, in the daemon's runtime
 *   directory) hands each fable connection to the same server object: a 'connection' event with a
 *   fable-io/net Socket. close() stops both.
 * - net.connect/createConnection (so http.Agent, undici, the global fetch, ws, autocannon) to an
 *   address of this host that a fable server of this user registered returns a fable-io/net
 *   Socket over a connection the daemon chose: a flow in `fable flows`, marked transparent.
 *   Everything else is node:net's own call, unchanged. tls.connect without a `socket` (https,
 *   fetch of https: URLs) to such an address gets the same fable socket under its TLS.
 * - The decision is synchronous (connect must return a socket): a registered server also leaves a
 *   marker file in `<runtime dir>/addr/` (0700, this user's), so a connect costs a few stat calls;
 *   a marker of a process that is gone is removed, one owned by another uid is refused (said
 *   once on stderr: the connection goes over TCP), and so is every marker while the daemon is not
 *   running (its pid file names no live process; said once). The daemon stays the authority: the
 *   connect asks it, and its refusal is the socket's error.
 * - The daemon unreachable when a server registers: the server is served over TCP only, said once
 *   on stderr; the application never sees an error from fable here.
 * - FABLE_TRANSPARENT=0 turns it all off. fable's own sockets (its transports, the daemon's
 *   control socket) are never taken over: whatever runs inside `internally()` is node:net's.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { lstatSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { syncBuiltinESMExports } from "node:module";
import net from "node:net";
import tls from "node:tls";
import { networkInterfaces } from "node:os";
import { join, resolve } from "node:path";
import type { Connection } from "../channel/connection.js";
import { tcpAddressName, unixAddressName } from "../naming/address-names.js";
import { connect as connectUri, type Listener, listen as listenUri } from "../naming/api.js";
import { defaultDaemonClient } from "../naming/daemon-client.js";
import { checkPrivateDir, ensurePrivateDir, myUid, pidFile } from "../naming/paths.js";
import { DaemonError } from "../naming/protocol.js";
import type { Endpoint } from "./address.js";
import type { Connector, PeerAddress } from "./connector.js";
import { systemError } from "./errors.js";
import { normalizeConnectArgs, Socket } from "./socket.js";

const inside = new AsyncLocalStorage<true>();

/** Runs `work` (and everything it starts, asynchronously too) with node:net's own functions. */
export function internally<T>(work: () => T): T {
  return inside.run(true, work);
}

const isInternal = (): boolean => inside.getStore() === true;

/** Says `text` on stderr once per `key` for this process. */
const said = new Set<string>();
function sayOnce(key: string, text: string): void {
  if (said.has(key)) return;
  said.add(key);
  process.stderr.write(`fable: ${text}\n`);
}

// ---- markers --------------------------------------------------------------------------------

interface Marker {
  readonly name: string;
  readonly pid: number;
}

function runtimeDir(): string {
  return defaultDaemonClient().paths.runtimeDir;
}

const markerDir = (): string => join(runtimeDir(), "addr");
/** One file per name: "+" is no name character, so "/" -> "+" keeps file names unambiguous. */
const markerPath = (name: string): string => join(markerDir(), name.replaceAll("/", "+"));

function writeMarker(marker: Marker): void {
  const dir = markerDir();
  ensurePrivateDir(runtimeDir());
  ensurePrivateDir(dir);
  const path = markerPath(marker.name);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(marker), { mode: 0o600 });
  renameSync(temporary, path);
}

function removeMarker(name: string): void {
  try {
    const path = markerPath(name);
    const m = JSON.parse(readFileSync(path, "utf8")) as Partial<Marker>;
    if (m.pid === process.pid) rmSync(path, { force: true });
  } catch {
    // Gone already, or never written.
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the daemon's pid file names a live process (a daemon that stopped or died leaves none that is). */
function daemonAlive(): boolean {
  try {
    const pid = Number(readFileSync(pidFile(defaultDaemonClient().paths), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid);
  } catch {
    return false;
  }
}

/** The live marker of `name` made by this uid, if any (see the module comment). */
function readMarker(name: string, shownAs: string): Marker | undefined {
  const path = markerPath(name);
  let owner: number;
  try {
    owner = lstatSync(path).uid;
  } catch {
    return undefined;
  }
  let marker: Partial<Marker>;
  try {
    marker = JSON.parse(readFileSync(path, "utf8")) as Partial<Marker>;
  } catch {
    return undefined; // being written (renamed in whole), or not ours to read
  }
  if (typeof marker.pid !== "number" || marker.name !== name) return undefined;
  if (owner !== myUid()) {
    sayOnce(
      `foreign:${name}`,
      `transparent mode: ${shownAs} is registered by uid ${owner}, not this process's uid ${myUid()}: ` +
        "connecting directly (TCP, unix) instead",
    );
    return undefined;
  }
  if (!alive(marker.pid)) {
    rmSync(path, { force: true });
    return undefined;
  }
  if (!daemonAlive()) {
    // The connection would be made through the daemon: without one, the server's TCP listener serves us.
    sayOnce(
      "daemon",
      `transparent mode: the fable daemon is not running: ${shownAs} and the like are reached directly (TCP, unix)`,
    );
    return undefined;
  }
  return { name, pid: marker.pid };
}

// ---- which addresses are this host's ---------------------------------------------------------

let localAddresses: Set<string> | undefined;

function isLocal(ip: string): boolean {
  if (ip.startsWith("127.") || ip === "::1" || ip.startsWith("::ffff:127.")) return true;
  if (localAddresses === undefined) {
    localAddresses = new Set();
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) localAddresses.add(a.address);
  }
  return localAddresses.has(ip);
}

/** Names a TCP connect to host:port may reach, most specific first (a wildcard server takes any local address). */
function tcpCandidates(host: string, port: number): string[] {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const ips = bare === "localhost" ? ["127.0.0.1", "::1"] : net.isIP(bare) !== 0 ? [bare] : [];
  const names: string[] = [];
  for (const ip of ips) {
    if (!isLocal(ip)) continue;
    names.push(tcpAddressName(ip, port));
    if (net.isIPv4(ip)) names.push(tcpAddressName("0.0.0.0", port));
    names.push(tcpAddressName("::", port));
  }
  return [...new Set(names)];
}

interface Target {
  readonly endpoint: Endpoint;
  readonly marker: Marker;
  /** What the application asked for, as a socket reports it. */
  readonly remote: PeerAddress;
}

/** The registered fable server a node:net connect(...args) would reach, if any. */
function targetOf(args: unknown[]): Target | undefined {
  let options: { port?: unknown; host?: unknown; path?: unknown };
  try {
    const [o] = normalizeConnectArgs(args);
    options = typeof o === "string" ? { path: o } : (o as typeof options);
  } catch {
    return undefined; // node:net reports bad arguments its own way
  }
  if (typeof options.path === "string" && options.path.length > 0) {
    // node:net: a path makes it a unix socket, whatever else is given.
    if (options.path.startsWith("\0")) return undefined;
    const path = resolve(options.path);
    const marker = readMarker(unixAddressName(path), path);
    if (marker === undefined) return undefined;
    return {
      endpoint: { kind: "unix", path, uri: `unix://${path}` },
      marker,
      remote: { address: undefined, port: undefined, family: undefined },
    };
  }
  const port = typeof options.port === "string" ? Number(options.port) : options.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  const host = typeof options.host === "string" && options.host.length > 0 ? options.host : "localhost";
  for (const name of tcpCandidates(host, port)) {
    const marker = readMarker(name, `${host}:${port}`);
    if (marker === undefined) continue;
    const ip = host === "localhost" ? "127.0.0.1" : host.replace(/^\[|\]$/g, "");
    return {
      endpoint: { kind: "tcp", host: ip, port, uri: `tcp://${net.isIPv6(ip) ? `[${ip}]` : ip}:${port}` },
      marker,
      remote: { address: ip, port, family: net.isIPv6(ip) ? "IPv6" : "IPv4" },
    };
  }
  return undefined;
}

/** Connects through the daemon to the fable listener of `target`'s server. */
function transparentConnector(target: Target): Connector {
  return async (_endpoint, { signal }) => {
    signal?.throwIfAborted();
    let connection: Connection;
    try {
      // spin: false: a server serves many sockets from one event loop, and a busy-wait on one starves the
      // others (under autocannon the daemon's fixed-order shm:spin ran far below shm:block here).
      connection = await internally(() => connectUri(`xio://${target.marker.name}`, { spin: false }));
    } catch (err) {
      if (err instanceof DaemonError && (err.code === "ENODAEMON" || err.code === "EDAEMONUID")) {
        sayOnce("daemon", `transparent mode: the fable daemon is unreachable (${err.message})`);
      }
      const e = err as { code?: unknown; message?: unknown };
      // The server went away between its marker and the daemon (ENOENT): what TCP would say then.
      const code = e.code === "EACCES" ? "EACCES" : "ECONNREFUSED";
      const failure = systemError(code, "connect", target.endpoint, err);
      failure.message += ` (fable transparent mode: ${String(e.message)}; FABLE_TRANSPARENT=0 turns it off)`;
      throw failure;
    }
    const family = target.remote.family;
    const local: PeerAddress =
      family === undefined
        ? target.remote
        : { address: family === "IPv6" ? "::1" : "127.0.0.1", port: undefined, family };
    return { connection, local, remote: target.remote };
  };
}

/** A fable-io/net socket connecting to `target`, with what of node:net's connect options applies. */
function fableSocket(
  target: Target,
  options: { allowHalfOpen?: boolean | undefined; signal?: AbortSignal | undefined; timeout?: number | undefined },
  listener: (() => void) | undefined,
): Socket {
  const socket = new Socket({ connector: transparentConnector(target), allowHalfOpen: options.allowHalfOpen === true });
  // The address as parsed here (node:net's options carry more: http passes `path: null`).
  socket.connect(
    {
      uri: target.endpoint.uri,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    },
    listener,
  );
  return socket;
}

// ---- servers --------------------------------------------------------------------------------

interface Registration {
  readonly name: string;
  listener: Listener | undefined;
  closed: boolean;
  /** The server's ref()/unref(), applied to the fable listener too. */
  refed: boolean;
}

const registrations = new WeakMap<net.Server, Registration>();
/** Servers unref'd (maybe before they listened). */
const unrefed = new WeakSet<net.Server>();
const myMarkers = new Set<string>();

/** What the server's address is registered as; undefined for what transparent mode leaves alone. */
function nameOfServer(server: net.Server): { name: string; shownAs: string; local: PeerAddress } | undefined {
  const a = server.address();
  if (a === null) return undefined;
  if (typeof a === "string") {
    // An abstract socket has no path to stand for; fable's own sockets live in the runtime directory.
    if (a.length === 0 || a.startsWith("\0")) return undefined;
    const path = resolve(a);
    if (path.startsWith(`${resolve(runtimeDir())}/`)) return undefined;
    return {
      name: unixAddressName(path),
      shownAs: path,
      local: { address: undefined, port: undefined, family: undefined },
    };
  }
  return {
    name: tcpAddressName(a.address, a.port),
    shownAs: a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
    local: { address: a.address, port: a.port, family: a.family },
  };
}

async function register(server: net.Server): Promise<void> {
  const what = nameOfServer(server);
  if (what === undefined || registrations.has(server)) return;
  const registration: Registration = {
    name: what.name,
    listener: undefined,
    closed: false,
    refed: !unrefed.has(server),
  };
  registrations.set(server, registration);
  let listener: Listener;
  try {
    listener = await internally(() => listenUri(`xio://${what.name}`, { transports: ["shm", "unix"] }));
  } catch (err) {
    registrations.delete(server);
    const e = err as { code?: unknown; message?: unknown };
    if (err instanceof DaemonError && (e.code === "ENODAEMON" || e.code === "EDAEMONUID" || e.code === "EDAEMONGONE")) {
      sayOnce("daemon", `transparent mode: the fable daemon is unreachable (${String(e.message)}); using TCP only`);
    } else {
      sayOnce(`register:${what.name}`, `transparent mode: ${what.shownAs} stays TCP only: ${String(e.message)}`);
    }
    return;
  }
  if (registration.closed || !server.listening) {
    await listener.close();
    return;
  }
  registration.listener = listener;
  if (!registration.refed) listener.setRef(false);
  try {
    writeMarker({ name: what.name, pid: process.pid });
    myMarkers.add(what.name);
  } catch (err) {
    sayOnce(`marker:${what.name}`, `transparent mode: cannot announce ${what.shownAs}: ${(err as Error).message}`);
  }
  void acceptLoop(server, listener, what.local);
}

async function acceptLoop(server: net.Server, listener: Listener, local: PeerAddress): Promise<void> {
  const remote: PeerAddress =
    local.family === undefined
      ? local
      : { address: local.family === "IPv6" ? "::1" : "127.0.0.1", port: undefined, family: local.family };
  const options = server as net.Server & { allowHalfOpen?: boolean; pauseOnConnect?: boolean };
  for (;;) {
    let connection: Connection;
    try {
      connection = await listener.accept();
    } catch {
      return; // closed
    }
    const socket = new Socket({
      connection: { connection, local, remote },
      allowHalfOpen: options.allowHalfOpen === true,
      manualStart: options.pauseOnConnect === true,
    });
    socket.server = server;
    if (options.pauseOnConnect === true) socket.pause();
    server.emit("connection", socket);
  }
}

function unregister(server: net.Server): void {
  const r = registrations.get(server);
  if (r === undefined) return;
  registrations.delete(server);
  r.closed = true;
  removeMarker(r.name);
  myMarkers.delete(r.name);
  void r.listener?.close().catch(() => undefined);
}

// ---- installing -----------------------------------------------------------------------------

let installed = false;

/** Whether transparent mode is on in this process. */
export function transparentModeInstalled(): boolean {
  return installed;
}

/** Patches node:net (and http.Agent's default createConnection); nothing when FABLE_TRANSPARENT=0. */
export function installTransparentMode(): boolean {
  if (installed) return true;
  if (process.env.FABLE_TRANSPARENT === "0") return false;
  try {
    checkPrivateDir(runtimeDir());
  } catch (err) {
    // A runtime directory that exists but is unsafe: refuse to keep markers there (one line, then TCP).
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      sayOnce("unsafe", `transparent mode is off: ${(err as Error).message}`);
      return false;
    }
  }
  installed = true;
  const original = { connect: net.connect, createConnection: net.createConnection };
  const listen = net.Server.prototype.listen;
  const close = net.Server.prototype.close;
  const ref = net.Server.prototype.ref;
  const unref = net.Server.prototype.unref;

  const connect = function (this: unknown, ...args: unknown[]): net.Socket {
    const target = isInternal() ? undefined : targetOf(args);
    if (target === undefined) return (original.connect as (...a: unknown[]) => net.Socket).apply(this, args);
    const [options, listener] = normalizeConnectArgs(args);
    // Applications hold it as a net.Socket: it has what http, undici and ws use of one.
    return fableSocket(target, typeof options === "string" ? {} : options, listener) as unknown as net.Socket;
  } as typeof net.connect;

  // tls.connect makes its own TCP socket unless given one: to a registered address, give it a fable one (TLS
  // then runs over fable, and the server's tls 'connection' listener wraps the fable socket the same way).
  const tlsConnect = tls.connect;
  tls.connect = function (this: unknown, ...args: unknown[]): tls.TLSSocket {
    const [first] = args;
    if (!isInternal() && first !== null && typeof first === "object" && !("socket" in first && first.socket)) {
      const o = first as tls.ConnectionOptions;
      const target = targetOf([{ port: o.port, host: o.host, path: o.path }]);
      if (target !== undefined) {
        const socket = fableSocket(target, o, undefined) as unknown as net.Socket;
        return (tlsConnect as (...a: unknown[]) => tls.TLSSocket).call(this, { ...o, socket }, ...args.slice(1));
      }
    }
    return (tlsConnect as (...a: unknown[]) => tls.TLSSocket).apply(this, args);
  } as typeof tls.connect;

  net.connect = connect;
  net.createConnection = connect as typeof net.createConnection;
  // http.Agent captured node:net's createConnection when it loaded.
  if (http.Agent.prototype.createConnection === (original.createConnection as unknown)) {
    http.Agent.prototype.createConnection = connect as unknown as typeof http.Agent.prototype.createConnection;
  }
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    if (!isInternal()) this.once("listening", () => void register(this));
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof listen;
  net.Server.prototype.close = function (this: net.Server, ...args: unknown[]) {
    unregister(this);
    return (close as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof close;
  // An unref'd server lets the process exit: its fable listener must not hold it either.
  const setRef = (server: net.Server, refed: boolean): void => {
    if (refed) unrefed.delete(server);
    else unrefed.add(server);
    const r = registrations.get(server);
    if (r === undefined) return;
    r.refed = refed;
    r.listener?.setRef(refed);
  };
  net.Server.prototype.ref = function (this: net.Server) {
    setRef(this, true);
    return ref.call(this);
  };
  net.Server.prototype.unref = function (this: net.Server) {
    setRef(this, false);
    return unref.call(this);
  };
  // ESM named imports of node:net (import { connect } from "node:net") see the new functions.
  syncBuiltinESMExports();
  process.once("exit", () => {
    for (const name of myMarkers) removeMarker(name);
  });
  return true;
}
