/**
 * A net.Socket over a fable Connection: the events, methods and error codes of node:net that
 * applications and libraries (http, undici, ws) rely on, as a Duplex of bytes.
 *
 * The byte stream on the connection: each non-empty message carries bytes, in order; message
 * boundaries mean nothing (a write larger than a record is cut into several). An empty message is
 * this side's end of output (node:net's FIN: socket.end()); the connection itself closes once
 * both sides have sent theirs, so allowHalfOpen works in both directions. A peer that closes the
 * connection without an empty message ended its output too (a plain Connection user). destroy()
 * closes the connection in order (the peer reads what was sent, then 'end', and its writes fail
 * with EPIPE, as after a TCP FIN); resetAndDestroy() and failures abort it (the peer gets
 * ECONNRESET, as after a TCP RST).
 *
 * What keeps the event loop alive is the transport's handles (setRef), and for a shared-memory end
 * a sleeping waiter while a read waits: an unref'd socket therefore waits for data by checking an
 * unref'd timer (1 ms, backing off to 50 ms) instead, until ref() or data.
 *
 * Addresses (remoteAddress, remotePort, address()...) are what the connector reported (see
 * connector.ts): a tcp transport's real ones; none for unix and shm, as node:net for unix sockets.
 */
import { addAbortSignal, Duplex } from "node:stream";
import { Connection } from "../channel/connection.js";
import { READY } from "../ring/wait.js";
import type { TransportEnd } from "../transports/transport.js";
import { endpointOf, endpointOfString, type NetAddressOptions, type PathTransport } from "./address.js";
import {
  type Connected,
  type Connector,
  defaultConnector,
  type PeerAddress,
  type TransportOptions,
} from "./connector.js";
import { abortError, ioError, nodeError } from "./errors.js";

export interface SocketOptions {
  /** Keep writing after the peer's end (default false: end our side too, as node:net). */
  readonly allowHalfOpen?: boolean | undefined;
  readonly readableHighWaterMark?: number | undefined;
  readonly writableHighWaterMark?: number | undefined;
  /** Destroys the socket with an AbortError when aborted (while connecting or later). */
  readonly signal?: AbortSignal | undefined;
  /** How connect() reaches an endpoint (default: shm, unix and tcp; see connector.ts). */
  readonly connector?: Connector | undefined;
  /** Options of the default connector. */
  readonly transportOptions?: TransportOptions | undefined;
  /** Which transport a bare path means (default "unix"). */
  readonly transport?: PathTransport | undefined;
  /** An established connection to wrap (no 'connect' event, like a server's socket). */
  readonly connection?: Connection | TransportEnd | Connected | undefined;
  /** With `connection`: do not start reading until the application reads (a server's pauseOnConnect). */
  readonly manualStart?: boolean | undefined;
}

export interface SocketConnectOptions extends NetAddressOptions {
  readonly signal?: AbortSignal | undefined;
  /** node:net's connect options that change nothing here, accepted for compatibility. */
  readonly noDelay?: boolean | undefined;
  readonly keepAlive?: boolean | undefined;
  readonly keepAliveInitialDelay?: number | undefined;
  readonly family?: number | undefined;
  readonly timeout?: number | undefined;
}

const EMPTY = new Uint8Array(0);
/** Largest record a write is cut into: a record this size moves in one step and keeps memory bounded. */
const MAX_WRITE_RECORD = 256 * 1024;
const UNREF_POLL_FIRST_MS = 1;
const UNREF_POLL_MAX_MS = 50;

type Callback = (error?: Error | null) => void;

/**
 * Connections of sockets not yet destroyed. When the process exits, the kernel ends a TCP or unix
 * socket for it in order (the peer reads a FIN); a fable transport's peer would see its end vanish
 * without a close and report a reset. So at exit each one is closed in order (what can run
 * synchronously: marking shm rings closed, queueing a socket transport's end frame).
 */
const live = new Set<Connection>();
let exitHookInstalled = false;

function closeAtExit(conn: Connection): void {
  live.add(conn);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of live) c.close().catch(() => undefined);
  });
}

export class Socket extends Duplex {
  /** True while connect() is in progress. */
  connecting = false;
  /** The server that accepted this socket (node:net sets it too; http reads it). */
  server: unknown = null;

  readonly #connector: Connector;
  readonly #pathTransport: PathTransport;
  #conn: Connection | undefined;
  #local: PeerAddress | undefined;
  #remote: PeerAddress | undefined;
  /** Work waiting for the connection (a write, the end) while connecting. */
  #onConnect: (() => void)[] = [];

  #bytesRead = 0;
  #bytesSent = 0;
  #timeoutMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #refed = true;

  #wantRead = false;
  #pulling = false;
  #waitingRead = false;
  /** A #pull() is scheduled for the next tick. */
  #deferred = false;
  #pollTimer: NodeJS.Timeout | undefined;
  #pollMs = UNREF_POLL_FIRST_MS;
  /** The peer's end of output arrived. */
  #finReceived = false;
  /** Our end of output went out. */
  #finSent = false;
  #reset = false;
  /** connect() started or a connection was given: node:net has a handle then, and 'close' says hadError. */
  #opened = false;

  constructor(options: SocketOptions = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      // node:net emits 'close' itself, with hadError.
      emitClose: false,
      autoDestroy: true,
      ...(options.readableHighWaterMark !== undefined ? { readableHighWaterMark: options.readableHighWaterMark } : {}),
      ...(options.writableHighWaterMark !== undefined ? { writableHighWaterMark: options.writableHighWaterMark } : {}),
    });
    this.#connector = options.connector ?? defaultConnector(options.transportOptions);
    this.#pathTransport = options.transport ?? "unix";
    // After our fields exist: an aborted signal destroys at once.
    if (options.signal !== undefined) addAbortSignal(options.signal, this);
    const c = options.connection;
    if (c !== undefined) {
      this.#attach(
        c instanceof Connection ? { connection: c } : "connection" in c ? c : { connection: new Connection(c) },
      );
      // node:net reads at once (up to the high-water mark), so a peer's end is seen even before 'data' listeners.
      if (options.manualStart !== true) this.read(0);
    }
    // node:net: once the peer ended and we do not stay half-open, writing is EPIPE.
    this.on("end", () => {
      if (!this.allowHalfOpen) this.write = writeAfterFin;
    });
  }

  // ---- connecting ------------------------------------------------------------------------

  connect(options: SocketConnectOptions, connectListener?: () => void): this;
  connect(port: number, host?: string, connectListener?: () => void): this;
  connect(port: number, connectListener?: () => void): this;
  /** A fable URI (`shm:///x.sock`), a path, or a decimal port. */
  connect(address: string, connectListener?: () => void): this;
  connect(...args: unknown[]): this {
    const [options, listener] = normalizeConnectArgs(args);
    if (this.connecting || this.#conn !== undefined) {
      throw nodeError("ERR_SOCKET_CONNECTING", "Socket is already connecting or connected");
    }
    // Destroyed already (a signal that was aborted before connect, as node:net): nothing to do.
    if (this.destroyed) return this;
    const endpoint =
      typeof options === "string"
        ? endpointOfString(options, this.#pathTransport, "localhost")
        : endpointOf(options, this.#pathTransport, "localhost");
    if (listener !== undefined) this.once("connect", listener);
    if (typeof options !== "string" && options.timeout !== undefined) this.setTimeout(options.timeout);
    this.connecting = true;
    this.#opened = true;
    const signal = typeof options === "string" ? undefined : options.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.connecting = false;
        process.nextTick(() => this.destroy(abortError(signal)));
        return this;
      }
    }
    this.#connector(endpoint, { signal }).then(
      (connected) => {
        this.connecting = false;
        if (this.destroyed) {
          connected.connection.destroy();
          return;
        }
        this.#attach(connected);
        this.emit("connect");
        this.emit("ready");
        if (this.#wantRead) this.#pull();
        else if (!this.isPaused()) this.read(0);
      },
      (err: unknown) => {
        this.connecting = false;
        this.destroy(err as Error);
      },
    );
    return this;
  }

  #attach(connected: Connected): void {
    this.#opened = true;
    this.#conn = connected.connection;
    closeAtExit(this.#conn);
    this.#local = connected.local;
    this.#remote = connected.remote;
    if (!this.#refed) this.#conn.transport.setRef?.(false);
    const work = this.#onConnect;
    this.#onConnect = [];
    for (const w of work) w();
  }

  /** Runs `work` once connected (at once if connected). */
  #whenConnected(work: () => void): void {
    if (this.#conn !== undefined) work();
    else this.#onConnect.push(work);
  }

  // ---- reading ---------------------------------------------------------------------------

  override _read(): void {
    this.#wantRead = true;
    // A pull is already scheduled after a delivery: it waits then, outside _read (see #waitAfterDelivery).
    if (!this.#deferred) this.#pull();
  }

  #pull(): void {
    const conn = this.#conn;
    if (conn === undefined || this.#pulling || this.#waitingRead || this.#finReceived || this.destroyed) return;
    this.#pulling = true;
    let pushed = false;
    try {
      while (this.#wantRead && !this.#finReceived) {
        let buffers;
        try {
          buffers = conn.getReadBuffers();
        } catch (err) {
          this.destroy(ioError(err, "read"));
          return;
        }
        if (buffers.length === 0) {
          if (conn.ended) this.#endOfInput();
          else if (pushed) this.#waitAfterDelivery();
          else if (this.#waitReadable(conn)) continue;
          return;
        }
        pushed = true;
        for (const b of buffers) {
          const n = b.bytes.length;
          if (n === 0 || this.#finReceived) {
            conn.release(b);
            this.#endOfInput();
            continue;
          }
          const copy = Buffer.allocUnsafe(n);
          copy.set(b.bytes);
          conn.release(b);
          this.#bytesRead += n;
          this.#activity();
          if (!this.push(copy)) this.#wantRead = false;
        }
      }
    } finally {
      this.#pulling = false;
    }
  }

  /**
   * A wait may spin first (shm: up to its budget, synchronously), and what was just pushed reaches
   * the application's 'data' handler only on the next tick: wait after it, so its reply is
   * already written while we spin (without this an echo paid the whole spin budget each turn).
   */
  #waitAfterDelivery(): void {
    if (this.#deferred) return;
    this.#deferred = true;
    process.nextTick(this.#afterDelivery);
  }

  /** (One function for every message: no closure per delivery.) */
  readonly #afterDelivery = (): void => {
    this.#deferred = false;
    this.#pull();
  };

  #endOfInput(): void {
    if (this.#finReceived) return;
    this.#finReceived = true;
    this.push(null);
    // As node:net at EOF: lets 'end' come out when nothing is buffered, even with no reader.
    this.read(0);
    this.#closeWhenBothEnded();
  }

  /**
   * Waits for the next record; true when one is there already (the wait found it, spinning
   * synchronously: the caller reads on at once, with no hop through the microtask queue).
   */
  #waitReadable(conn: Connection): boolean {
    if (!this.#refed && conn.transport.cancelWait !== undefined) {
      // A waiting shm end's sleeper thread would hold the loop: look now and then instead.
      this.#pollTimer = setTimeout(() => {
        this.#pollTimer = undefined;
        this.#pollMs = Math.min(this.#pollMs * 2, UNREF_POLL_MAX_MS);
        if (conn.isReadable()) this.#pollMs = UNREF_POLL_FIRST_MS;
        this.#pull();
      }, this.#pollMs);
      this.#pollTimer.unref();
      return false;
    }
    const waited = conn.readable();
    if (waited === READY) return true;
    this.#waitingRead = true;
    waited.then(
      () => {
        this.#waitingRead = false;
        this.#pull();
      },
      (err: unknown) => {
        this.#waitingRead = false;
        if (!this.destroyed) this.destroy(ioError(err, "read"));
      },
    );
    return false;
  }

  // ---- writing ---------------------------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    if (this.#conn !== undefined) this.#writeBytes(chunk, callback);
    else this.#onConnect.push(() => this.#writeBytes(chunk, callback));
  }

  override _writev(chunks: { chunk: Buffer }[], callback: Callback): void {
    const whole = chunks.length === 1 ? (chunks[0]?.chunk ?? EMPTY) : Buffer.concat(chunks.map((c) => c.chunk));
    this.#whenConnected(() => this.#writeBytes(whole, callback));
  }

  /**
   * Copies `bytes` into records as room allows; `callback` once all are published. Every
   * message's path (room for all of it now) makes no closure and no promise.
   */
  #writeBytes(bytes: Uint8Array, callback: Callback): void {
    const conn = this.#conn as Connection;
    const max = Math.min(conn.transport.maxRecordBytes, MAX_WRITE_RECORD);
    let offset = 0;
    try {
      while (offset < bytes.length) {
        const n = Math.min(bytes.length - offset, max);
        const [buffer] = conn.getWriteBuffers(n);
        if (buffer === undefined) {
          const rest = bytes.subarray(offset);
          conn.writable().then(
            () => {
              if (!this.destroyed) this.#writeBytes(rest, callback);
            },
            (err: unknown) => {
              if (!this.destroyed) callback(ioError(err, "write"));
            },
          );
          return;
        }
        buffer.bytes.set(offset === 0 && n === bytes.length ? bytes : bytes.subarray(offset, offset + n));
        conn.commit(buffer);
        offset += n;
        this.#bytesSent += n;
      }
    } catch (err) {
      callback(ioError(err, "write"));
      return;
    }
    this.#activity();
    callback();
  }

  override _final(callback: Callback): void {
    this.#whenConnected(() => {
      this.#sendFin().then(() => callback(), callback);
    });
  }

  /** Publishes our end of output (an empty message); a peer already gone needs none. */
  async #sendFin(): Promise<void> {
    const conn = this.#conn as Connection;
    try {
      for (;;) {
        const [buffer] = conn.getWriteBuffers(0);
        if (buffer !== undefined) {
          conn.commit(buffer);
          break;
        }
        await conn.writable();
      }
    } catch {
      // The peer closed or reset: like a shutdown() then, nothing to tell it; reading reports a reset.
      return;
    }
    this.#finSent = true;
    this.#closeWhenBothEnded();
  }

  #closeWhenBothEnded(): void {
    const conn = this.#conn;
    if (conn !== undefined && this.#finSent && this.#finReceived && !conn.closed) {
      conn.close().catch(() => conn.destroy());
    }
  }

  // ---- ending ----------------------------------------------------------------------------

  override _destroy(error: Error | null, callback: Callback): void {
    this.#clearTimers();
    const conn = this.#conn;
    if (conn !== undefined) live.delete(conn);
    if (conn !== undefined && !conn.closed) {
      if (this.#reset || conn.transport.failure !== undefined) conn.destroy();
      else conn.close().catch(() => conn.destroy());
    }
    this.#onConnect = [];
    callback(error);
    // node:net: a socket that never had a handle emits 'close' with no argument.
    if (this.#opened) process.nextTick(() => this.emit("close", error !== null && error !== undefined));
    else process.nextTick(() => this.emit("close"));
  }

  #clearTimers(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  /** Ends our side, then destroys once that is written (node:net). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once("finish", () => this.destroy());
  }

  /** Destroys the socket so that the peer sees a reset (ECONNRESET), as node:net does for TCP. */
  resetAndDestroy(): this {
    if (this.destroyed || (this.#conn === undefined && !this.connecting)) {
      if (!this.destroyed) this.destroy(nodeError("ERR_SOCKET_CLOSED", "Socket is closed"));
      return this;
    }
    this.#reset = true;
    if (this.connecting) this.once("connect", () => this.destroy());
    else this.destroy();
    return this;
  }

  // ---- timers and the event loop -----------------------------------------------------------

  /** Emits 'timeout' after `ms` without reading or writing (0 turns it off); the socket stays open. */
  setTimeout(ms: number, callback?: () => void): this {
    if (!Number.isFinite(ms) || ms < 0) {
      throw nodeError(
        "ERR_OUT_OF_RANGE",
        `The value of "msecs" is out of range. It must be a non-negative finite number. Received ${ms}`,
        RangeError as ErrorConstructor,
      );
    }
    if (callback !== undefined) {
      if (ms === 0) this.removeListener("timeout", callback);
      else this.once("timeout", callback);
    }
    this.#timeoutMs = ms;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (ms > 0 && !this.destroyed) {
      this.#timer = setTimeout(() => this.emit("timeout"), ms);
      this.#timer.unref();
    }
    return this;
  }

  get timeout(): number | undefined {
    return this.#timeoutMs === 0 ? undefined : this.#timeoutMs;
  }

  #activity(): void {
    this.#timer?.refresh();
  }

  ref(): this {
    this.#setRef(true);
    return this;
  }

  unref(): this {
    this.#setRef(false);
    return this;
  }

  #setRef(ref: boolean): void {
    if (this.#refed === ref) return;
    this.#refed = ref;
    const conn = this.#conn;
    if (conn === undefined || conn.closed) return;
    conn.transport.setRef?.(ref);
    if (!ref && this.#waitingRead) conn.transport.cancelWait?.("read");
    if (ref && this.#pollTimer !== undefined) {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = undefined;
      this.#pollMs = UNREF_POLL_FIRST_MS;
      this.#pull();
    }
  }

  /** Accepted for compatibility: fable transports have no Nagle delay and no idle probes to configure. */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  // ---- state and addresses ---------------------------------------------------------------

  /** The connection under this socket (undefined until connected). */
  get connection(): Connection | undefined {
    return this.#conn;
  }

  get pending(): boolean {
    return this.#conn === undefined || this.connecting || this.destroyed;
  }

  get readyState(): "opening" | "open" | "readOnly" | "writeOnly" | "closed" {
    if (this.connecting) return "opening";
    if (this.readable && this.writable) return "open";
    if (this.readable && !this.writable) return "readOnly";
    if (!this.readable && this.writable) return "writeOnly";
    return "closed";
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes handed to the transport, plus those still queued in this socket (as node:net counts). */
  get bytesWritten(): number {
    return this.#bytesSent + this.writableLength;
  }

  /** Deprecated in node:net: the bytes queued for writing. */
  get bufferSize(): number {
    return this.writableLength;
  }

  /** { address, family, port } of this end for a tcp transport; {} for unix and shm (node:net: {} for a pipe). */
  address(): { address: string; family: string; port: number } | Record<string, never> {
    const l = this.#local;
    if (l?.address === undefined || l.port === undefined) return {};
    return { address: l.address, family: l.family ?? "IPv4", port: l.port };
  }

  get localAddress(): string | undefined {
    return this.#local?.address;
  }

  get localPort(): number | undefined {
    return this.#local?.port;
  }

  get localFamily(): string | undefined {
    return this.#local?.family;
  }

  get remoteAddress(): string | undefined {
    return this.#remote?.address;
  }

  get remotePort(): number | undefined {
    return this.#remote?.port;
  }

  get remoteFamily(): string | undefined {
    return this.#remote?.family;
  }
}

/** node:net's write once the peer ended and we are not half-open: EPIPE. */
function writeAfterFin(this: Socket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (!this.writableEnded) return Duplex.prototype.write.call(this, chunk, encoding as BufferEncoding, cb as Callback);
  const callback = typeof encoding === "function" ? encoding : cb;
  const err = nodeError("EPIPE", "This socket has been ended by the other party");
  if (typeof callback === "function") process.nextTick(callback as Callback, err);
  this.destroy(err);
  return false;
}

/** connect()'s argument forms, as node:net's normalizeArgs reads them. */
export function normalizeConnectArgs(args: unknown[]): [SocketConnectOptions | string, (() => void) | undefined] {
  const last = args[args.length - 1];
  const listener = typeof last === "function" ? (last as () => void) : undefined;
  const [first, second] = args;
  if (first !== null && typeof first === "object") return [first as SocketConnectOptions, listener];
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    return [{ port: Number(first), ...(typeof second === "string" ? { host: second } : {}) }, listener];
  }
  if (typeof first === "string") return [first, listener];
  throw nodeError(
    "ERR_MISSING_ARGS",
    'The "options" or "port" or "path" argument must be specified',
    TypeError as ErrorConstructor,
  );
}
