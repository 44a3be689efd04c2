/**
 * Native unix streams for transparent mode: when the daemon picks unix for a transparent
 * connection (both ends are node:net sockets: daemon/selector.ts nativeStreamFirst), the two ends
 * are plain node:net sockets on one kernel unix connection, so Node's own stream path runs at both
 * (node:http's parser consumes a native socket's bytes in C++; an emulated socket feeds it from
 * 'data' events). What this file promises:
 * - The server side: a listener of its own (an internal net.Server on a unix socket in a fresh
 *   0700 directory of the daemon's runtime directory, registered as the name's stream endpoint)
 *   hands each accepted socket to the application's server as a 'connection', counted in its
 *   connections (close() waits for them, maxConnections applies), the peer's uid checked first
 *   (SO_PEERCRED: this uid only; anyone else is closed at once and said once on stderr).
 * - The client side: the application's socket (node:net's, without a handle) connects to that
 *   path with node:net's own connect; its peer's uid is checked on 'connect' (it must be the
 *   listener's, as the daemon registered it). A failed connect is what TCP says (ECONNREFUSED at
 *   the address the application asked for), never the private path.
 * - Both sides report the addresses the application would see over TCP (node:net gives a unix
 *   socket none): the TCP address it connected to or listens on, and the loopback for the other end.
 * - What a unix socket cannot do: resetAndDestroy() (TCP's RST) closes as destroy() does, so the
 *   peer sees an end, not ECONNRESET; the connection cannot switch transports live (a daemon's
 *   push is reported as a failed switch). FABLE_TRANSPARENT_NATIVE=0 keeps transparent connections
 *   on fable-io/net sockets over the daemon's other choices (shm), which do both.
 */
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import type { NativeStream } from "../naming/api.js";
import { myUid } from "../naming/paths.js";
import { loadNative } from "../native/load.js";
import { internalServer } from "../transports/common.js";
import { socketFd } from "../transports/rendezvous.js";
import type { Endpoint } from "./address.js";
import type { PeerAddress } from "./connector.js";
import { systemError } from "./errors.js";

/** What of node:net's Socket internals this file touches (all present in Node 20 and 22). */
interface NetSocketInternals {
  connecting: boolean;
  _peername: { address?: string; port?: number; family?: string } | null;
  _server: net.Server | null;
  server: net.Server | null;
  _destroy(error: Error | null, callback: (error?: Error | null) => void): void;
}
type NetSocket = net.Socket & NetSocketInternals;

/** node:net's connect, as it was before transparent mode patched it (the path is ours, never an application's). */
type Connect = (this: net.Socket, options: net.IpcSocketConnectOpts) => net.Socket;

export interface Addresses {
  /** This end's address, as the application would see it over TCP (all undefined for a unix path). */
  readonly local: PeerAddress;
  readonly remote: PeerAddress;
}

const asPeer = (a: PeerAddress): { address: string; port?: number; family: string } | null =>
  a.address === undefined
    ? null
    : { address: a.address, family: a.family ?? "IPv4", ...(a.port !== undefined ? { port: a.port } : {}) };

/** Gives a native unix socket standing for a TCP (or unix) connection the addresses the application expects. */
function dress(socket: NetSocket, addresses: Addresses): void {
  socket._peername = asPeer(addresses.remote);
  const local = asPeer(addresses.local);
  Object.assign(socket, { _getsockname: (): object => local ?? {} });
  if (addresses.remote.address !== undefined) {
    // node:net's resetAndDestroy throws on a unix socket; the application asked for TCP, which has one.
    Object.assign(socket, {
      resetAndDestroy(): net.Socket {
        if (!socket.destroyed) socket.destroy();
        return socket;
      },
    });
  }
}

/** The flags of a Writable's end that node:net's connect() resets (see openNative). */
const ENDING = ["ending", "ended", "finalCalled", "prefinished"] as const;

/** The peer's uid over a connected unix socket (SO_PEERCRED). */
function peerUid(socket: net.Socket): number {
  return loadNative().peerCredentials(socketFd(socket)).uid;
}

/**
 * Connects `socket` (node:net's, no handle) to a listener's stream endpoint `path`, through
 * node:net's own `connect`, unless it is `gone()` (closed meanwhile: then this throws); `uid`: the
 * listener's, which the peer must be. `endpoint`: what the application asked for, which errors name.
 */
export function openNative(
  socket: net.Socket,
  path: string,
  uid: number,
  endpoint: Endpoint,
  addresses: Addresses,
  connect: Connect,
  gone: () => boolean,
): NativeStream {
  const s = socket as NetSocket;
  if (gone()) throw new Error("the socket was closed before it connected");
  dress(s, addresses);
  let connected = false;
  // A connect that fails here failed at the private path: the application hears what TCP would say.
  const destroy = s._destroy;
  s._destroy = function (this: NetSocket, error, callback) {
    const e = error as NodeJS.ErrnoException | null;
    const failed = !connected && e !== null && e?.syscall === "connect";
    destroy.call(this, failed ? systemError("ECONNREFUSED", "connect", endpoint, e) : error, callback);
  };
  socket.prependOnceListener("connect", () => {
    connected = true;
    const peer = peerUid(socket);
    if (peer !== uid) {
      socket.destroy(
        systemError("EACCES", "connect", endpoint, new Error(`the stream endpoint's peer is uid ${peer}, not ${uid}`)),
      );
    }
  });
  // node:net's connect() makes the handle and resets the writable side as for a destroyed socket
  // (initSocketHandle -> _undestroy): an end() the application made while the daemon was asked
  // must survive it (node:net's own connecting socket has its handle before anyone can end it).
  const w = (socket as net.Socket & { _writableState?: Partial<Record<(typeof ENDING)[number], boolean>> })
    ._writableState;
  const kept = ENDING.filter((k) => w?.[k] === true);
  connect.call(socket, { path });
  if (w !== undefined) for (const k of kept) w[k] = true;
  return {
    bytes: () => ({ sent: socket.bytesWritten, received: socket.bytesRead }),
    closed: () => socket.destroyed,
  };
}

/** A server's stream endpoint: where native unix connections for it arrive. */
export interface StreamEndpoint {
  readonly path: string;
  setRef(ref: boolean): void;
  close(): void;
}

let refusedSaid = false;

/**
 * Listens on a fresh unix socket under `dir` (the daemon's runtime directory, 0700) and hands each
 * connection to `server` as node:net's own server would hand it a connection of its address.
 */
export async function listenNative(server: net.Server, dir: string, addresses: Addresses): Promise<StreamEndpoint> {
  const own = server as net.Server & {
    allowHalfOpen?: boolean;
    pauseOnConnect?: boolean;
    _connections: number;
  };
  const home = mkdtempSync(join(dir, "st-"));
  const path = join(home, "stream.sock");
  const inner = internalServer(
    net.createServer({ allowHalfOpen: own.allowHalfOpen === true, pauseOnConnect: own.pauseOnConnect === true }),
  ) as net.Server & { _connections: number };
  inner.on("connection", (socket: net.Socket) => {
    const s = socket as NetSocket;
    let uid: number;
    try {
      uid = peerUid(socket);
    } catch {
      socket.destroy();
      return;
    }
    if (uid !== myUid()) {
      if (!refusedSaid) {
        refusedSaid = true;
        process.stderr.write(`fable: transparent mode: refused a stream connection from uid ${uid}\n`);
      }
      socket.destroy();
      return;
    }
    if (server.maxConnections !== undefined && own._connections >= server.maxConnections) {
      socket.destroy(); // as node:net closes a connection past maxConnections
      return;
    }
    // The application's server counts it (close() waits for it; its 'close' decrements there).
    inner._connections--;
    own._connections++;
    s._server = server;
    s.server = server;
    dress(s, { local: addresses.local, remote: addresses.remote });
    server.emit("connection", socket);
  });
  inner.on("error", () => undefined); // an accept error (EMFILE) leaves the server as node:net leaves it
  await new Promise<void>((resolve, reject) => {
    inner.once("error", reject);
    // exclusive: a node:cluster worker listens itself (not through its primary, which would announce it).
    inner.listen({ path, exclusive: true }, () => {
      inner.off("error", reject);
      resolve();
    });
  }).catch((err: unknown) => {
    rmSync(home, { recursive: true, force: true });
    throw err;
  });
  return {
    path,
    setRef: (ref) => void (ref ? inner.ref() : inner.unref()),
    close: () => {
      inner.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
