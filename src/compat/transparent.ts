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
 *   fetch of https: URLs) to such an address gets the same fable socket under its TLS. A socket
 *   the application made (`new net.Socket()`, then connect()) stays its own object and carries
 *   its bytes over a fable socket (adopted-socket.ts).
 * - An address of this host: loopback, localhost, 0.0.0.0 and :: (connected to loopback), an
 *   IPv4-mapped literal as its IPv4, and the addresses of os.networkInterfaces() (read again at
 *   most every HOST_ADDRESSES_TTL_MS). It reaches a server on it, on 0.0.0.0 (IPv4) or on :: (both,
 *   unless ipv6Only), as TCP would. Host names other than localhost are left to node:net.
 * - A node:cluster worker's shared server: see register().
 * - The decision is synchronous (connect must return a socket): a registered server also leaves a
 *   marker file in `<runtime dir>/addr/` (0700, this user's), so a connect costs a few stat calls;
 *   a marker of a process that is gone is removed, one owned by another uid is refused (said
 *   once on stderr: the connection goes over TCP), and so is every marker while the daemon is not
 *   running (its pid file names no live process; said once). The daemon stays the authority: the
 *   connect asks it, and its refusal is the socket's error.
 * - The daemon unreachable when a server registers: the server is served over TCP only, said once
 *   on stderr; the application never sees an error from fable here.
 * - FABLE_TRANSPARENT=0 turns it all off. fable's own sockets (its transports, the daemon's
 *   control socket) are never taken over: fable's servers are marked (internalServer) and never
 *   registered, and only a registered address is taken over, so fable's connects pass through.
 *   (No AsyncLocalStorage: in Node 20 using one puts a hook on every promise of the process, which
 *   cost an application 200-300 ns per await.)
 */
import { lstatSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import cluster from "node:cluster";
import http from "node:http";
import { syncBuiltinESMExports } from "node:module";
import net from "node:net";
import tls from "node:tls";
import { networkInterfaces } from "node:os";
import { join, resolve } from "node:path";
import { Connection } from "../channel/connection.js";
import { tcpAddressName, unixAddressName } from "../naming/address-names.js";
import { connect as connectUri, connectSocket, type Listener, listen as listenUri } from "../naming/api.js";
import { defaultDaemonClient } from "../naming/daemon-client.js";
import { checkPrivateDir, ensurePrivateDir, myUid, pidFile } from "../naming/paths.js";
import { DaemonError } from "../naming/protocol.js";
import { adopt, isAdopted } from "./adopted-socket.js";
import type { Endpoint } from "./address.js";
import type { Connector, PeerAddress } from "./connector.js";
import { listenNative, openNative, type StreamEndpoint } from "./native-stream.js";
import { systemError } from "./errors.js";
import { normalizeConnectArgs, Socket } from "./socket.js";
import { INTERNAL_SERVER } from "../transports/common.js";

const isInternalServer = (server: net.Server): boolean =>
  (server as { [INTERNAL_SERVER]?: true })[INTERNAL_SERVER] === true;

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
  /** The server's process; for a cluster's group marker, the primary's. */
  readonly pid: number;
  /** A wildcard IPv6 server that takes no IPv4 connections (listen's ipv6Only). */
  readonly v6only?: boolean;
  /** A cluster's group marker: its workers registered `<name>/worker-<id>` each (see register()). */
  readonly workers?: boolean;
  /** The server takes native unix streams (native-stream.ts): its clients get node:net sockets. */
  readonly stream?: boolean;
}

function runtimeDir(): string {
  return defaultDaemonClient().paths.runtimeDir;
}

const markerDir = (): string => join(runtimeDir(), "addr");
/** One file per name: "+" is no name character, so "/" -> "+" keeps file names unambiguous. */
const markerFile = (name: string): string => name.replaceAll("/", "+");
const markerPath = (name: string): string => join(markerDir(), markerFile(name));
const WORKER = "worker-";

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
  return {
    name,
    pid: marker.pid,
    ...(marker.v6only === true ? { v6only: true } : {}),
    ...(marker.workers === true ? { workers: true } : {}),
    ...(marker.stream === true ? { stream: true } : {}),
  };
}

/** Round robin over a cluster's workers, per group (started at this pid, so clients spread). */
const nextWorker = new Map<string, number>();

/**
 * The registered server that takes a connect to `name`: its marker's, or for a cluster one of its
 * live workers in turn. `dualStack`: an IPv4 client reaching a wildcard IPv6 server.
 */
function serverOf(name: string, shownAs: string, dualStack: boolean): Marker | undefined {
  const marker = readMarker(name, shownAs);
  if (marker === undefined || (dualStack && marker.v6only === true)) return undefined;
  if (marker.workers !== true) return marker;
  const prefix = `${markerFile(name)}+${WORKER}`;
  let files: string[];
  try {
    files = readdirSync(markerDir()).filter((f) => f.startsWith(prefix) && !f.endsWith(".tmp"));
  } catch {
    return undefined;
  }
  const workers = files
    .sort()
    .map((f) => readMarker(`${name}/${f.slice(prefix.length - WORKER.length)}`, shownAs))
    .filter((m) => m !== undefined);
  if (workers.length === 0) return undefined;
  const turn = nextWorker.get(name) ?? process.pid;
  nextWorker.set(name, turn + 1);
  return workers[turn % workers.length];
}

// ---- which addresses are this host's ---------------------------------------------------------

/** How long the list of this host's addresses is kept (an address added or removed is seen after this). */
const HOST_ADDRESSES_TTL_MS = 2_000;
let hostAddresses: { readonly at: number; readonly set: ReadonlySet<string> } | undefined;

/** Whether `ip` (canonical) is an address of this host: loopback, or one of os.networkInterfaces(). */
function isHostAddress(ip: string): boolean {
  if (ip.startsWith("127.") || ip === "::1") return true;
  const now = performance.now();
  if (hostAddresses === undefined || now - hostAddresses.at > HOST_ADDRESSES_TTL_MS) {
    const set = new Set<string>();
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) set.add(a.family === "IPv6" ? canonicalIPv6(a.address) : a.address);
    }
    hostAddresses = { at: now, set };
  }
  return hostAddresses.set.has(ip);
}

/** An IPv6 literal as node:net's address() writes it (compressed, lower case); a zone is dropped. */
function canonicalIPv6(ip: string): string {
  const bare = ip.replace(/%.*$/, "");
  try {
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return bare;
  }
}

/**
 * The addresses the kernel connects to for `host`, canonical: localhost's loopbacks (by `family`),
 * an IPv4-mapped IPv6 literal as its IPv4, an unspecified address (0.0.0.0, ::) as its loopback
 * (what Linux does with it). Host names other than localhost would need a lookup: none here.
 */
function destinations(host: string, family: unknown): string[] {
  if (host === "localhost") return family === 4 ? ["127.0.0.1"] : family === 6 ? ["::1"] : ["127.0.0.1", "::1"];
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (net.isIPv4(bare)) return [bare === "0.0.0.0" ? "127.0.0.1" : bare];
  if (!net.isIPv6(bare.replace(/%.*$/, ""))) return [];
  const ip = canonicalIPv6(bare);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(ip);
  if (mapped !== null) {
    const n = (parseInt(mapped[1] ?? "0", 16) << 16) | parseInt(mapped[2] ?? "0", 16);
    return [[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")];
  }
  return [ip === "::" ? "::1" : ip];
}

interface Candidate {
  readonly name: string;
  /** The destination, as the socket reports it as its remote address. */
  readonly ip: string;
  /** An IPv4 destination served by a wildcard IPv6 server (not if that server is ipv6Only). */
  readonly dualStack: boolean;
}

/**
 * Names a TCP connect to host:port may reach, most specific first: the destination's own, then
 * the wildcard servers (0.0.0.0 for IPv4, :: for both). Only destinations that are this host's.
 */
function tcpCandidates(host: string, port: number, family: unknown): Candidate[] {
  const names: Candidate[] = [];
  for (const ip of destinations(host, family)) {
    if (!isHostAddress(ip)) continue;
    const v4 = net.isIPv4(ip);
    names.push({ name: tcpAddressName(ip, port), ip, dualStack: false });
    if (v4) names.push({ name: tcpAddressName("0.0.0.0", port), ip, dualStack: false });
    names.push({ name: tcpAddressName("::", port), ip, dualStack: v4 });
  }
  return names;
}

interface Target {
  readonly endpoint: Endpoint;
  readonly marker: Marker;
  /** What the application asked for, as a socket reports it. */
  readonly remote: PeerAddress;
  /** The host as given (node:net keeps it as socket._host). */
  readonly host?: string;
}

/** The registered fable server a node:net connect(...args) would reach, if any. */
function targetOf(args: unknown[]): Target | undefined {
  let options: { port?: unknown; host?: unknown; path?: unknown; family?: unknown };
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
    const marker = serverOf(unixAddressName(path), path, false);
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
  for (const c of tcpCandidates(host, port, options.family)) {
    const marker = serverOf(c.name, `${host}:${port}`, c.dualStack);
    if (marker === undefined) continue;
    const v6 = net.isIPv6(c.ip);
    return {
      endpoint: { kind: "tcp", host: c.ip, port, uri: `tcp://${v6 ? `[${c.ip}]` : c.ip}:${port}` },
      marker,
      remote: { address: c.ip, port, family: v6 ? "IPv6" : "IPv4" },
      host,
    };
  }
  return undefined;
}

/** A connect through the daemon that failed, as the application hears it. */
function connectFailure(err: unknown, target: Target): Error {
  if (err instanceof DaemonError && (err.code === "ENODAEMON" || err.code === "EDAEMONUID")) {
    sayOnce("daemon", `transparent mode: the fable daemon is unreachable (${err.message})`);
  }
  const e = err as { code?: unknown; message?: unknown };
  // The server went away between its marker and the daemon (ENOENT): what TCP would say then.
  const code = e.code === "EACCES" ? "EACCES" : "ECONNREFUSED";
  const failure = systemError(code, "connect", target.endpoint, err);
  failure.message += ` (fable transparent mode: ${String(e.message)}; FABLE_TRANSPARENT=0 turns it off)`;
  return failure;
}

// spin: false: a server serves many sockets from one event loop, and a busy-wait on one starves the
// others (under autocannon the daemon's fixed-order shm:spin ran far below shm:block here).
const CONNECT_OPTIONS = { spin: false } as const;

/** Connects through the daemon to the fable listener of `target`'s server. */
function transparentConnector(target: Target): Connector {
  return async (_endpoint, { signal }) => {
    signal?.throwIfAborted();
    let connection: Connection;
    try {
      connection = await connectUri(`xio://${target.marker.name}`, CONNECT_OPTIONS);
    } catch (err) {
      throw connectFailure(err, target);
    }
    return { connection, local: localOf(target), remote: target.remote };
  };
}

/**
 * Whether a transparent connection may be a native unix socket where the daemon picks unix
 * (native-stream.ts): FABLE_TRANSPARENT_NATIVE=0 says no, for servers (they offer no stream
 * endpoint) and clients (they ask as fable-io/net sockets would). Read when transparent mode installs.
 */
let nativeStreams = true;

/**
 * On a node:net socket that transparent mode connects (native or carried over fable): the name of
 * the address it reaches, for whoever needs to tell (a fable-io/net socket has `connection`).
 */
export const TRANSPARENT: unique symbol = Symbol.for("fable.transparent") as never;

/** node:net's own Socket.prototype.connect (transparent mode patches it). */
const nodeSocketConnect = net.Socket.prototype.connect;

/**
 * `socket` (node:net's, no handle) connecting to `target`'s server, which takes native streams.
 * The daemon is asked as a socket connector (naming/api.ts connectSocket): its choice of unix opens
 * `socket` itself on the server's stream endpoint (native-stream.ts); any other carries its bytes
 * over a fable-io/net socket (adopted-socket.ts). Meanwhile node:net holds its reads and writes, as
 * for any socket that is connecting.
 */
function nativeSocket(
  socket: net.Socket,
  target: Target,
  timeout: number | undefined,
  listener: (() => void) | undefined,
): net.Socket {
  const s = socket as net.Socket & { connecting: boolean; _host: string | null; [TRANSPARENT]?: string };
  s.connecting = true;
  s._host = target.host ?? null;
  s[TRANSPARENT] = target.marker.name;
  if (listener !== undefined) socket.once("connect", listener);
  if (timeout !== undefined) socket.setTimeout(timeout);
  const addresses = { local: localOf(target), remote: target.remote };
  // Closed before the daemon answered (destroyed, or an aborted signal: node:net then closes it without
  // marking it destroyed): nothing is opened.
  let closed = false;
  socket.once("close", () => (closed = true));
  const gone = (): boolean => closed || socket.destroyed;
  connectSocket(target.marker.name, CONNECT_OPTIONS, (path, uid) =>
    openNative(socket, path, uid, target.endpoint, addresses, nodeSocketConnect, gone),
  ).then(
    (made) => {
      if (!(made instanceof Connection)) return;
      if (gone()) {
        made.destroy();
        return;
      }
      const inner = new Socket({
        connector: () => Promise.resolve({ connection: made, ...addresses }),
        allowHalfOpen: true,
      });
      inner.connect({ uri: target.endpoint.uri });
      s.connecting = false;
      adopt(socket, inner, addresses, { host: target.host }, undefined);
    },
    (err: unknown) => {
      if (!gone()) socket.destroy(connectFailure(err, target));
    },
  );
  return socket;
}

/**
 * This end's address as a socket to `target` reports it: the loopback of the family asked for, and
 * port 0 (a fable connection has no port of its own; node:net always gives a TCP socket a number).
 */
function localOf(target: Target): PeerAddress {
  const family = target.remote.family;
  return family === undefined ? target.remote : { address: family === "IPv6" ? "::1" : "127.0.0.1", port: 0, family };
}

/** tls.connect's options from its argument forms: (options), (port[, host][, options]), (path[, options]). */
function tlsOptions(args: unknown[]): (tls.ConnectionOptions & { family?: number }) | undefined {
  const [first, second] = args;
  const options = args.find((a, i) => i > 0 && a !== null && typeof a === "object") as
    tls.ConnectionOptions | undefined;
  if (first !== null && typeof first === "object") return first as tls.ConnectionOptions;
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    return { ...options, port: Number(first), ...(typeof second === "string" ? { host: second } : {}) };
  }
  if (typeof first === "string") return { ...options, path: first };
  return undefined;
}

/** A fable-io/net socket connecting to `target`, with what of node:net's connect options applies. */
function fableSocket(
  target: Target,
  options: { allowHalfOpen?: boolean | undefined; signal?: AbortSignal | undefined; timeout?: number | undefined },
  listener: (() => void) | undefined,
): Socket {
  // The signal goes to the socket, as node:net's connect() gives it to its Socket: aborted already, it is destroyed
  // before it opens anything ('close' without hadError).
  const socket = new Socket({
    connector: transparentConnector(target),
    allowHalfOpen: options.allowHalfOpen === true,
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  // The address as parsed here (node:net's options carry more: http passes `path: null`).
  socket.connect(
    {
      uri: target.endpoint.uri,
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
  /** Where native unix connections for the server arrive (native-stream.ts); none with FABLE_TRANSPARENT_NATIVE=0. */
  stream: StreamEndpoint | undefined;
  closed: boolean;
  /** The server's ref()/unref(), applied to the fable listener too. */
  refed: boolean;
}

const registrations = new WeakMap<net.Server, Registration>();
/** Servers unref'd (maybe before they listened). */
const unrefed = new WeakSet<net.Server>();
const myMarkers = new Set<string>();
/** Stream endpoints of this process's servers (their directories go when it exits). */
const myStreams = new Set<StreamEndpoint>();

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

/** What listen() was told that the address does not show. */
interface ListenFlags {
  readonly exclusive: boolean;
  readonly ipv6Only: boolean;
}
const listenFlags = new WeakMap<net.Server, ListenFlags>();

/**
 * Registers a listening server's address with the daemon, and announces it with a marker.
 *
 * A cluster worker's server (node:cluster, not `exclusive`) shares its address with the other
 * workers: the primary holds the listening socket and hands TCP connections to workers, and it
 * cannot hand over fable connections (they are not one descriptor). So each worker registers
 * `<name>/worker-<id>` with its own fable listener and marker, and leaves a group marker for
 * `<name>` in the primary's name (alive while it is); a client takes the group's live workers in
 * turn. The primary's own listening server (the one node:cluster makes to hand out connections)
 * stops listening in the same tick it starts, and is left alone.
 */
async function register(server: net.Server): Promise<void> {
  if (!server.listening) return; // node:cluster's primary took the handle away (see above)
  const what = nameOfServer(server);
  if (what === undefined || registrations.has(server)) return;
  const flags = listenFlags.get(server);
  const worker = cluster.isWorker && flags?.exclusive !== true ? cluster.worker : undefined;
  const name = worker === undefined ? what.name : `${what.name}/${WORKER}${worker.id}`;
  const registration: Registration = {
    name,
    listener: undefined,
    stream: undefined,
    closed: false,
    refed: !unrefed.has(server),
  };
  registrations.set(server, registration);
  let listener: Listener;
  try {
    if (nativeStreams) {
      ensurePrivateDir(runtimeDir());
      registration.stream = await listenNative(server, runtimeDir(), {
        local: what.local,
        remote: remoteOf(what.local),
      });
      myStreams.add(registration.stream);
      if (!registration.refed) registration.stream.setRef(false);
    }
    listener = await listenUri(`xio://${name}`, {
      transports: ["shm", "unix"],
      ...(registration.stream !== undefined ? { stream: registration.stream.path } : {}),
    });
  } catch (err) {
    registrations.delete(server);
    registration.stream?.close();
    // The workers of a cluster fail alike: its first worker speaks for them (said once, not once per worker).
    if (worker !== undefined && worker.id !== 1) return;
    const e = err as { code?: unknown; message?: unknown };
    if (err instanceof DaemonError && (e.code === "ENODAEMON" || e.code === "EDAEMONUID" || e.code === "EDAEMONGONE")) {
      sayOnce("daemon", `transparent mode: the fable daemon is unreachable (${String(e.message)}); using TCP only`);
    } else {
      sayOnce(`register:${name}`, `transparent mode: ${what.shownAs} stays TCP only: ${String(e.message)}`);
    }
    return;
  }
  if (registration.closed || !server.listening) {
    registration.stream?.close();
    await listener.close();
    return;
  }
  registration.listener = listener;
  if (!registration.refed) listener.setRef(false);
  const v6only = flags?.ipv6Only === true && what.local.family === "IPv6" ? { v6only: true } : {};
  const stream = registration.stream !== undefined ? { stream: true } : {};
  try {
    if (worker !== undefined) writeMarker({ name: what.name, pid: process.ppid, workers: true, ...v6only });
    writeMarker({ name, pid: process.pid, ...v6only, ...stream });
    myMarkers.add(name);
  } catch (err) {
    sayOnce(`marker:${name}`, `transparent mode: cannot announce ${what.shownAs}: ${(err as Error).message}`);
  }
  void acceptLoop(server, listener, what.local);
}

/** The client's address as a server's socket reports it: the loopback of the server's family, port 0. */
function remoteOf(local: PeerAddress): PeerAddress {
  return local.family === undefined
    ? local
    : { address: local.family === "IPv6" ? "::1" : "127.0.0.1", port: 0, family: local.family };
}

async function acceptLoop(server: net.Server, listener: Listener, local: PeerAddress): Promise<void> {
  const remote = remoteOf(local);
  // node:net's own fields: its connection count (close() waits for it, getConnections() reports it).
  const options = server as net.Server & {
    allowHalfOpen?: boolean;
    pauseOnConnect?: boolean;
    _connections: number;
    _emitCloseIfDrained(): void;
  };
  for (;;) {
    let connection: Connection;
    try {
      connection = await listener.accept();
    } catch {
      return; // closed
    }
    if (server.maxConnections !== undefined && options._connections >= server.maxConnections) {
      connection.destroy(); // as node:net closes a connection past maxConnections
      continue;
    }
    options._connections++;
    const socket = new Socket({
      connection: { connection, local, remote },
      allowHalfOpen: options.allowHalfOpen === true,
      manualStart: options.pauseOnConnect === true,
    });
    socket.server = server;
    socket.once("close", () => {
      options._connections--;
      options._emitCloseIfDrained();
    });
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
  if (r.stream !== undefined) {
    r.stream.close();
    myStreams.delete(r.stream);
  }
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
  nativeStreams = process.env.FABLE_TRANSPARENT_NATIVE !== "0";
  const original = { connect: net.connect, createConnection: net.createConnection };
  const listen = net.Server.prototype.listen;
  const close = net.Server.prototype.close;
  const ref = net.Server.prototype.ref;
  const unref = net.Server.prototype.unref;

  // node:net's connect() makes a Socket and calls its connect(): that call is not looked at twice.
  let inNetConnect = false;
  const connect = function (this: unknown, ...args: unknown[]): net.Socket {
    const target = targetOf(args);
    if (target === undefined) {
      inNetConnect = true;
      try {
        return (original.connect as (...a: unknown[]) => net.Socket).apply(this, args);
      } finally {
        inNetConnect = false;
      }
    }
    const [options, listener] = normalizeConnectArgs(args);
    const o = typeof options === "string" ? {} : options;
    if (nativeStreams && target.marker.stream === true) {
      // As node:net's connect() makes its socket.
      return nativeSocket(new net.Socket(o as net.SocketConstructorOpts), target, o.timeout, listener);
    }
    // Applications hold it as a net.Socket: it has what http, undici and ws use of one.
    return fableSocket(target, o, listener) as unknown as net.Socket;
  } as typeof net.connect;

  // An application's own `new net.Socket()` connecting to a registered address (pg, hand-made agents): it keeps
  // its object, which carries its bytes over a fable socket (adopted-socket.ts). A socket with a handle already
  // (a TLSSocket from tls.connect, one made from an fd) is node:net's.
  const socketConnect = nodeSocketConnect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const self = this as net.Socket & { _handle?: unknown };
    if (!inNetConnect && !(this instanceof tls.TLSSocket) && (self._handle === null || self._handle === undefined)) {
      // node:net's own callers pass their arguments normalized already, as one array.
      const flat = Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
      const target = this.connecting && !isAdopted(this) ? undefined : targetOf(flat);
      if (target !== undefined) {
        const [options, listener] = normalizeConnectArgs(flat);
        const o = typeof options === "string" ? {} : options;
        if (nativeStreams && target.marker.stream === true) return nativeSocket(this, target, o.timeout, listener);
        const inner = fableSocket(target, { allowHalfOpen: true }, undefined);
        const local = localOf(target);
        return adopt(
          this,
          inner,
          { local, remote: target.remote },
          { timeout: o.timeout, host: target.host },
          listener,
        );
      }
    }
    return (socketConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof socketConnect;

  // tls.connect makes its own TCP socket unless given one: to a registered address, give it a fable one (TLS
  // then runs over fable, and the server's tls 'connection' listener wraps the fable socket the same way).
  const tlsConnect = tls.connect;
  tls.connect = function (this: unknown, ...args: unknown[]): tls.TLSSocket {
    const o = tlsOptions(args);
    if (o !== undefined && !o.socket) {
      const target = targetOf([{ port: o.port, host: o.host, path: o.path, family: o.family }]);
      if (target !== undefined) {
        const socket =
          nativeStreams && target.marker.stream === true
            ? nativeSocket(new net.Socket(), target, undefined, undefined)
            : (fableSocket(target, o, undefined) as unknown as net.Socket);
        const callback = args.find((a) => typeof a === "function");
        return (tlsConnect as (...a: unknown[]) => tls.TLSSocket).call(this, { ...o, socket }, callback);
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
    if (!isInternalServer(this)) {
      const [first] = args;
      const o = first !== null && typeof first === "object" ? (first as net.ListenOptions) : {};
      listenFlags.set(this, { exclusive: o.exclusive === true, ipv6Only: o.ipv6Only === true });
      // A microtask later: node:cluster's primary takes its server's handle in a 'listening' listener of its own.
      this.once("listening", () => queueMicrotask(() => void register(this)));
    }
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
    r.stream?.setRef(refed);
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
    for (const stream of myStreams) stream.close();
  });
  return true;
}
