/**
 * The unix-socket rendezvous: how two processes on one host meet at an explicit path and hand
 * each other file descriptors (a shared-memory region's memfd) by SCM_RIGHTS. The shm transport
 * uses it today; the daemon will use the same module at its own path.
 *
 * What it promises
 * - `RendezvousListener.listen(path)` listens at `path`. A stale socket file left by a dead
 *   listener is replaced; a live listener at the path is an error (EADDRINUSE), never stolen.
 * - Every connection knows its peer's credentials (SO_PEERCRED, taken by the kernel at connect).
 *   By default both sides accept only a peer of their own uid: the listener drops others at
 *   accept, the connecting side refuses a listener of another uid.
 * - Messages are length-prefixed frames (u32 little-endian length, then the bytes); descriptors
 *   ride with the frame they were sent with. `send()` never blocks; `receive()` waits for the
 *   socket to be readable on a libuv poll handle (no thread, no polling interval between the
 *   peer's answer and ours: connection setup time matters) and gives up after `timeoutMs`.
 * - Afterwards the connection stays open as a liveness channel: `watch(onGone)` hands the socket
 *   to libuv and calls `onGone` once when the peer's end closes, whether it closed it or died
 *   (the kernel closes a dead process's sockets).
 *
 * Node gives no API for SCM_RIGHTS on a net.Socket, so the addon does sendmsg/recvmsg on the
 * socket's descriptor, `socket._handle.fd` (undocumented, present on unix sockets since Node
 * 0.x). The socket is kept paused while we do, so libuv reads nothing (it would drop the
 * descriptors); it is resumed by watch(), after the rendezvous.
 */
import { closeSync, unlinkSync } from "node:fs";
import { connect as netConnect, createServer, type Server, type Socket } from "node:net";
import { loadNative } from "../native/load.js";
import type { FdWatcher, PeerCredentials } from "../native/native.js";
import { internalServer } from "./common.js";
import { TransportError } from "./transport.js";

export interface RendezvousOptions {
  /** Peer uids accepted (default: only this process's uid). */
  readonly allowUids?: readonly number[];
  /** How long receive() (and connect) wait for the peer (default 5000 ms). */
  readonly timeoutMs?: number;
}

export interface RendezvousMessage {
  readonly data: Uint8Array;
  /** Descriptors that came with the message; the receiver owns them (fs.closeSync). */
  readonly fds: number[];
}

const DEFAULT_TIMEOUT_MS = 5000;
/** Largest frame either side accepts: a rendezvous message is a few hundred bytes. */
export const MAX_FRAME_BYTES = 64 * 1024;
const MAX_FDS = 16;

/** The descriptor of a net.Socket over a unix socket (see the module comment). */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) {
    throw new TransportError("EPEER", "the rendezvous socket has no file descriptor (closed, or not a unix socket)");
  }
  return fd;
}

function allowedUids(options: RendezvousOptions): readonly number[] {
  return options.allowUids ?? [process.getuid?.() ?? -1];
}

/** One end of a rendezvous connection. */
export class RendezvousConnection {
  readonly socket: Socket;
  readonly peer: PeerCredentials;
  readonly #timeoutMs: number;
  #pending = new Uint8Array(0);
  #pendingFds: number[] = [];
  #watched = false;
  #gone = false;
  /** Closes the fd watcher of a receive() under way (see #readable). */
  #stopWatching: (() => void) | undefined;

  /** @internal: made by RendezvousListener.accept() and connectRendezvous(). */
  constructor(socket: Socket, options: RendezvousOptions) {
    this.socket = socket;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.peer = loadNative().peerCredentials(socketFd(socket));
    // Until watch() nobody listens for errors; an error then is seen by receive()/send().
    socket.on("error", () => {});
  }

  /** Sends one frame with `fds` (kept open here). */
  send(data: Uint8Array, fds: readonly number[] = []): void {
    if (data.length > MAX_FRAME_BYTES) {
      throw new TransportError("ETOOBIG", `rendezvous frame of ${data.length} bytes (at most ${MAX_FRAME_BYTES})`);
    }
    const frame = new Uint8Array(4 + data.length);
    new DataView(frame.buffer).setUint32(0, data.length, true);
    frame.set(data, 4);
    let sent: number;
    try {
      sent = loadNative().sendFds(socketFd(this.socket), fds, frame);
    } catch (cause) {
      throw new TransportError("EPEER", `rendezvous send failed: ${(cause as Error).message}`, { cause });
    }
    // A fresh unix socket has a buffer of hundreds of KiB: a short send means something is wrong.
    if (sent !== frame.length) {
      throw new TransportError("EPEER", `rendezvous send wrote ${sent} of ${frame.length} bytes`);
    }
  }

  /** Receives one frame, polling without blocking the event loop; EPEER on EOF or timeout. */
  async receive(): Promise<RendezvousMessage> {
    const native = loadNative();
    const deadline = Date.now() + this.#timeoutMs;
    let delay = 0;
    for (;;) {
      const frame = this.#takeFrame();
      if (frame !== undefined) return frame;
      if (this.#gone || this.socket.destroyed) {
        throw new TransportError("EPEER", "the rendezvous peer closed the connection before sending its message");
      }
      let got;
      try {
        got = native.recvFds(socketFd(this.socket), MAX_FDS - this.#pendingFds.length, MAX_FRAME_BYTES + 4);
      } catch (cause) {
        this.#closeFds();
        throw new TransportError("EPEER", `rendezvous receive failed: ${(cause as Error).message}`, { cause });
      }
      if (got !== null) {
        if (got.data.length === 0) {
          this.#gone = true;
          continue;
        }
        const joined = new Uint8Array(this.#pending.length + got.data.length);
        joined.set(this.#pending);
        joined.set(got.data, this.#pending.length);
        this.#pending = joined;
        this.#pendingFds.push(...got.fds);
        delay = 0;
        continue;
      }
      const now = Date.now();
      if (now >= deadline) {
        this.#closeFds();
        throw new TransportError("EPEER", `the rendezvous peer sent nothing within ${this.#timeoutMs} ms`);
      }
      if (!(await this.#readable(deadline - now))) {
        await new Promise((resolve) => (delay === 0 ? setImmediate(resolve) : setTimeout(resolve, delay)));
        delay = Math.min(Math.max(1, delay * 2), 20);
      }
    }
  }

  /**
   * Waits until the socket is readable (or hung up, or `ms` passed) on a libuv poll handle, so the
   * answer is taken the moment it lands instead of at the next tick of a backoff. libuv itself
   * does not watch the fd meanwhile: the socket is paused and sends go through sendmsg. False
   * when the fd cannot be watched (libuv still holds it): the caller polls instead.
   */
  #readable(ms: number): Promise<boolean> {
    const native = loadNative();
    return new Promise((resolve) => {
      let watcher: FdWatcher | undefined;
      const done = (): void => {
        clearTimeout(timer);
        watcher?.close();
        watcher = undefined;
        if (this.#stopWatching === done) this.#stopWatching = undefined;
        resolve(true);
      };
      const timer = setTimeout(done, ms);
      try {
        watcher = native.fdWatch(socketFd(this.socket), native.fdEvents.readable, done);
        this.#stopWatching = done;
      } catch {
        clearTimeout(timer);
        resolve(false);
      }
    });
  }

  /**
   * From now on the connection only tells whether the peer is there: `onGone` is called once when
   * it closes (orderly or because the peer died). Data the peer sends now is ignored.
   */
  watch(onGone: (error?: Error) => void): void {
    if (this.#watched) return;
    this.#watched = true;
    let called = false;
    const gone = (error?: Error): void => {
      if (called) return;
      called = true;
      onGone(error);
    };
    const s = this.socket;
    s.on("data", () => {});
    s.on("end", () => gone());
    s.on("close", () => gone());
    s.on("error", (err) => gone(err));
    if (this.#gone || s.destroyed) queueMicrotask(() => gone());
    else s.resume();
  }

  /** Orderly end (the peer sees EOF). */
  end(): void {
    this.#stopWatching?.();
    this.socket.end();
  }

  destroy(): void {
    // The watcher goes before the fd: closed after it, it would stop libuv watching whatever
    // socket the process opens next on the same fd number (that socket then never reads or writes).
    this.#stopWatching?.();
    this.#closeFds();
    this.socket.destroy();
  }

  #takeFrame(): RendezvousMessage | undefined {
    const p = this.#pending;
    if (p.length < 4) return undefined;
    const length = new DataView(p.buffer, p.byteOffset, 4).getUint32(0, true);
    if (length > MAX_FRAME_BYTES) {
      this.#closeFds();
      throw new TransportError(
        "EPROTOCOL",
        `the rendezvous peer announced a ${length}-byte frame (at most ${MAX_FRAME_BYTES})`,
      );
    }
    if (p.length < 4 + length) return undefined;
    const data = p.slice(4, 4 + length);
    this.#pending = p.slice(4 + length);
    const fds = this.#pendingFds;
    this.#pendingFds = [];
    return { data, fds };
  }

  #closeFds(): void {
    for (const fd of this.#pendingFds.splice(0)) closeQuietly(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing to release
  }
}

/** Listens at a unix socket path and hands out accepted connections. */
export class RendezvousListener {
  readonly path: string;
  readonly #server: Server;
  readonly #queue: RendezvousConnection[] = [];
  readonly #waiters: { resolve: (c: RendezvousConnection) => void; reject: (e: Error) => void }[] = [];
  #closed = false;
  /** Connections dropped because the peer's uid is not allowed. */
  rejected = 0;

  private constructor(path: string, server: Server, options: RendezvousOptions) {
    this.path = path;
    this.#server = server;
    const uids = allowedUids(options);
    server.on("connection", (socket: Socket) => {
      let conn: RendezvousConnection;
      try {
        conn = new RendezvousConnection(socket, options);
      } catch {
        socket.destroy();
        return;
      }
      if (!uids.includes(conn.peer.uid)) {
        this.rejected++;
        socket.destroy();
        return;
      }
      const waiter = this.#waiters.shift();
      if (waiter !== undefined) waiter.resolve(conn);
      else this.#queue.push(conn);
    });
  }

  /** Listens at `path`, replacing a stale socket file (one nobody listens at). */
  static async listen(path: string, options: RendezvousOptions = {}): Promise<RendezvousListener> {
    for (let attempt = 0; ; attempt++) {
      const server = internalServer(createServer({ pauseOnConnect: true }));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          // exclusive: in a node:cluster worker, its own socket (not one the primary holds and hands out).
          server.listen({ path, exclusive: true }, () => {
            server.off("error", reject);
            resolve();
          });
        });
        return new RendezvousListener(path, server, options);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt > 0 || !(await isStale(path))) throw err;
        unlinkSync(path);
      }
    }
  }

  /** The next accepted connection (in arrival order). */
  accept(): Promise<RendezvousConnection> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#closed) return Promise.reject(new TransportError("ECLOSED", `the listener at ${this.path} is closed`));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Whether the listening socket keeps the event loop alive (default yes). */
  setRef(ref: boolean): void {
    if (ref) this.#server.ref();
    else this.#server.unref();
  }

  /** Stops listening and removes the socket file; connections already accepted stay open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters.splice(0))
      w.reject(new TransportError("ECLOSED", `the listener at ${this.path} closed`));
    for (const c of this.#queue.splice(0)) c.destroy();
    // server.close()'s callback waits for every accepted connection to end; those are not ours
    // to wait for. The listening socket itself (and its path, unlinked by libuv) goes at once.
    this.#server.close();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Whether nobody listens at `path` (connecting is refused). */
function isStale(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

/** Connects to the listener at `path`; refuses a listener whose uid is not allowed. */
export async function connectRendezvous(path: string, options: RendezvousOptions = {}): Promise<RendezvousConnection> {
  const socket = netConnect(path);
  socket.pause(); // libuv must not read: it would drop the descriptors the listener sends
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new TransportError(
          "EPEER",
          `connecting to ${path} took longer than ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`,
        ),
      );
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(
        new TransportError("EPEER", `cannot connect to the rendezvous at ${path}: ${err.message}`, { cause: err }),
      );
    });
  });
  const conn = new RendezvousConnection(socket, options);
  if (!allowedUids(options).includes(conn.peer.uid)) {
    conn.destroy();
    throw new TransportError("EPEER", `the listener at ${path} runs as uid ${conn.peer.uid}, which is not allowed`);
  }
  return conn;
}
