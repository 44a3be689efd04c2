/**
 * A node:net Socket that the application made itself (`new net.Socket()`, then `.connect(...)`, as
 * pg and hand-made agents do), carried over a fable-io/net Socket in transparent mode. The
 * application keeps its own object (instanceof net.Socket, its listeners and options); what
 * node:net would do with a kernel handle goes to the fable socket instead:
 * - writes, writev, end (our FIN) and destroy go to the fable socket; its bytes are pushed into
 *   this socket's readable side, with back-pressure both ways (a write's callback waits for the
 *   fable socket's; a full readable side pauses the fable socket);
 * - 'connect' then 'ready' once the fable socket connects; an error of it destroys this socket with it;
 * - node:net's own code does the rest, as for a socket without a handle: its timeout timer (refreshed
 *   here on every read and write), 'end' and EPIPE for writes after the peer's end, readyState.
 * The fable socket runs half-open: whether this socket ends its side after the peer's end is
 * node:net's decision (allowHalfOpen), made on this socket. 'close' carries hadError, as node:net's
 * does for a socket that had a handle.
 */
import type net from "node:net";
import type { PeerAddress } from "./connector.js";
import { nodeError } from "./errors.js";
import type { Socket } from "./socket.js";

/** What of node:net's Socket internals this file touches (all present in Node 20 and 22). */
interface NetSocketInternals {
  connecting: boolean;
  _peername: { address?: string; port?: number; family?: string } | null;
  _sockname: unknown;
  _host: string | null;
  _undestroy(): void;
  _unrefTimer(): void;
  [key: symbol]: unknown;
}
type NetSocket = net.Socket & NetSocketInternals;
type Callback = (error?: Error | null) => void;

interface Carried {
  inner: Socket;
  connected: boolean;
  reset: boolean;
  bytesRead: number;
  bytesWritten: number;
  local: PeerAddress;
}

const carried = new WeakMap<net.Socket, Carried>();

/** Whether `socket` is an application's node:net socket carried over fable. */
export function isAdopted(socket: unknown): boolean {
  return carried.has(socket as net.Socket);
}

/** node:net keeps its timeout timer under a symbol of its own: found by its description. */
function timerOf(socket: NetSocket): NodeJS.Timeout | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === "timeout");
  return key === undefined ? undefined : (socket[key] as NodeJS.Timeout | undefined);
}

const asPeer = (a: PeerAddress): { address: string; port?: number; family: string } | null =>
  a.address === undefined
    ? null
    : { address: a.address, family: a.family ?? "IPv4", ...(a.port !== undefined ? { port: a.port } : {}) };

/**
 * Makes `socket` (an application's node:net Socket, not connected, no handle) carry its bytes over
 * `inner` (a fable-io/net Socket already connecting, allowHalfOpen). Returns `socket`, as connect() does.
 */
export function adopt(
  socket: net.Socket,
  inner: Socket,
  addresses: { readonly local: PeerAddress; readonly remote: PeerAddress },
  options: { readonly timeout?: number | undefined; readonly host?: string | undefined },
  connectListener: (() => void) | undefined,
): net.Socket {
  const s = socket as NetSocket;
  let state = carried.get(socket);
  if (state !== undefined) {
    if (!socket.destroyed) {
      inner.destroy();
      throw nodeError("ERR_SOCKET_CONNECTING", "Socket is already connecting or connected");
    }
    // node:net lets a destroyed socket connect again.
    s._undestroy();
    s.write = Object.getPrototypeOf(socket).write as typeof socket.write;
    state.inner = inner;
    state.connected = false;
    state.reset = false;
    state.local = addresses.local;
  } else {
    state = { inner, connected: false, reset: false, bytesRead: 0, bytesWritten: 0, local: addresses.local };
    carried.set(socket, state);
    takeOver(s, state);
  }
  const st = state;
  s.connecting = true;
  s._peername = null;
  s._sockname = null;
  s._host = options.host ?? null;
  if (connectListener !== undefined) socket.once("connect", connectListener);
  if (options.timeout !== undefined) socket.setTimeout(options.timeout);

  inner.on("data", (chunk: Buffer) => {
    st.bytesRead += chunk.length;
    s._unrefTimer();
    if (!socket.push(chunk)) inner.pause();
  });
  inner.once("end", () => {
    socket.push(null);
    // As node:net at EOF: 'end' comes out when nothing is buffered, even with no reader.
    socket.read(0);
  });
  inner.once("error", (err: Error) => socket.destroy(err));
  inner.once("connect", () => {
    if (socket.destroyed) return;
    st.connected = true;
    s.connecting = false;
    s._peername = asPeer(addresses.remote);
    socket.emit("connect");
    socket.emit("ready");
  });
  return socket;
}

/** Puts the forwarding methods on the socket itself (its prototype stays node:net's). */
function takeOver(s: NetSocket, state: Carried): void {
  const write = (chunk: Buffer | string, encoding: BufferEncoding, callback: Callback | undefined): void => {
    state.bytesWritten += typeof chunk === "string" ? Buffer.byteLength(chunk, encoding) : chunk.length;
    state.inner.write(chunk, encoding, callback);
  };
  const done =
    (callback: Callback): Callback =>
    (err) => {
      s._unrefTimer();
      callback(err ?? null);
    };
  Object.assign(s, {
    _read(): void {
      if (state.inner.isPaused()) state.inner.resume();
    },
    _write(chunk: Buffer | string, encoding: BufferEncoding, callback: Callback): void {
      write(chunk, encoding, done(callback));
    },
    _writev(chunks: { chunk: Buffer | string; encoding: BufferEncoding }[], callback: Callback): void {
      state.inner.cork();
      chunks.forEach((c, i) => write(c.chunk, c.encoding, i === chunks.length - 1 ? done(callback) : undefined));
      state.inner.uncork();
    },
    // node:net's own write path: a write it held while the socket was connecting, before it was adopted.
    _writeGeneric(writev: boolean, data: unknown, encoding: BufferEncoding, callback: Callback): void {
      if (writev) s._writev?.(data as { chunk: Buffer | string; encoding: BufferEncoding }[], callback);
      else s._write(data as Buffer | string, encoding, callback);
    },
    _final(callback: Callback): void {
      // The fable socket sends its end once connected and everything before it is written.
      state.inner.end(() => callback());
    },
    _destroy(error: Error | null, callback: Callback): void {
      s.connecting = false;
      clearTimeout(timerOf(s));
      if (!state.reset && !state.inner.destroyed) state.inner.destroy();
      callback(error);
      process.nextTick(() => s.emit("close", error !== null && error !== undefined));
    },
    resetAndDestroy(): net.Socket {
      if (s.destroyed) return s;
      state.reset = true;
      state.inner.resetAndDestroy();
      if (s.connecting) state.inner.once("close", () => s.destroy());
      else s.destroy();
      return s;
    },
    ref(): net.Socket {
      state.inner.ref();
      return s;
    },
    unref(): net.Socket {
      state.inner.unref();
      return s;
    },
    _getsockname(): object {
      return asPeer(state.local) ?? {};
    },
  });
  Object.defineProperties(s, {
    pending: { configurable: true, get: () => !state.connected || s.connecting || s.destroyed },
    bytesRead: { configurable: true, get: () => state.bytesRead },
    // As node:net counts: handed on, plus still queued here.
    bytesWritten: { configurable: true, get: () => state.bytesWritten + s.writableLength },
  });
}
