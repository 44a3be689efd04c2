/**
 * A net.Server over fable listeners: listen() on a fable URI or node:net's arguments, a
 * 'connection' event per accepted fable Socket, 'listening', 'close' once closed and every
 * connection gone, 'error' (EADDRINUSE...), close()/listen() callbacks, address(), ref/unref,
 * maxConnections, getConnections and an AbortSignal that closes it, as node:net's Server.
 *
 * How an endpoint is listened on is the `listen` option (connector.ts), per server: the default
 * listens on shm, unix and tcp; the daemon's names plug in by passing theirs. Feeding an http or
 * ws server: `createServer((socket) => httpServer.emit("connection", socket))`.
 */
import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import { endpointOf, endpointOfString, type Endpoint, type NetAddressOptions, type PathTransport } from "./address.js";
import { type CompatListener, defaultListen, type Listen, type TransportOptions } from "./connector.js";
import { nodeError } from "./errors.js";
import { Socket } from "./socket.js";

export interface ServerOptions {
  /** Accepted sockets keep writing after the peer's end (default false). */
  readonly allowHalfOpen?: boolean | undefined;
  /** Accepted sockets start paused. */
  readonly pauseOnConnect?: boolean | undefined;
  readonly highWaterMark?: number | undefined;
  /** How listen() listens on an endpoint (default: shm, unix and tcp; see connector.ts). */
  readonly listen?: Listen | undefined;
  readonly transportOptions?: TransportOptions | undefined;
  /** Which transport a bare path means (default "unix"). */
  readonly transport?: PathTransport | undefined;
  /** Accepted for compatibility; nothing to configure on fable transports. */
  readonly noDelay?: boolean | undefined;
  readonly keepAlive?: boolean | undefined;
}

export interface ListenOptions extends NetAddressOptions {
  readonly backlog?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Accepted for compatibility. */
  readonly exclusive?: boolean | undefined;
}

export class Server extends EventEmitter {
  /** Connections beyond this are dropped as they arrive (node:net's maxConnections). */
  maxConnections: number | undefined;

  readonly #listen: Listen;
  readonly #options: ServerOptions;
  readonly #pathTransport: PathTransport;
  #listener: CompatListener | undefined;
  #starting = false;
  #refed = true;
  readonly #sockets = new Set<Socket>();
  /** close() was called and 'close' is not yet emitted. */
  #closing = false;

  constructor(connectionListener?: (socket: Socket) => void);
  constructor(options?: ServerOptions, connectionListener?: (socket: Socket) => void);
  constructor(options?: ServerOptions | ((socket: Socket) => void), connectionListener?: (socket: Socket) => void) {
    super();
    const opts = typeof options === "function" || options === undefined ? {} : options;
    const listener = typeof options === "function" ? options : connectionListener;
    this.#options = opts;
    this.#listen = opts.listen ?? defaultListen(opts.transportOptions);
    this.#pathTransport = opts.transport ?? "unix";
    if (listener !== undefined) this.on("connection", listener);
  }

  get listening(): boolean {
    return this.#listener !== undefined;
  }

  listen(options: ListenOptions, listeningListener?: () => void): this;
  listen(port?: number, host?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number, host?: string, listeningListener?: () => void): this;
  listen(port?: number, listeningListener?: () => void): this;
  /** A fable URI (`shm:///x.sock`), a path, or a decimal port. */
  listen(address: string, listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    const last = args[args.length - 1];
    const callback = typeof last === "function" ? (last as () => void) : undefined;
    const [first, second] = args;
    let endpoint: Endpoint;
    let signal: AbortSignal | undefined;
    if (first !== null && typeof first === "object") {
      const o = first as ListenOptions;
      endpoint = endpointOf(
        o.port === undefined && o.path === undefined && o.uri === undefined ? { ...o, port: 0 } : o,
        this.#pathTransport,
        "127.0.0.1",
      );
      signal = o.signal;
    } else if (typeof first === "string") {
      endpoint = endpointOfString(first, this.#pathTransport, "127.0.0.1");
    } else {
      const port = typeof first === "number" ? first : 0;
      endpoint = endpointOf(
        { port, host: typeof second === "string" ? second : "127.0.0.1" },
        this.#pathTransport,
        "127.0.0.1",
      );
    }
    if (this.#listener !== undefined || this.#starting) {
      throw nodeError("ERR_SERVER_ALREADY_LISTEN", "Listen method has been called more than once without closing.");
    }
    if (callback !== undefined) this.once("listening", callback);
    if (signal?.aborted === true) {
      process.nextTick(() => this.close());
      return this;
    }
    signal?.addEventListener("abort", () => this.close(), { once: true });
    this.#starting = true;
    this.#closing = false;
    this.#listen(endpoint).then(
      (listener) => {
        this.#starting = false;
        if (this.#closing) {
          void listener.close();
          this.#emitCloseIfDrained();
          return;
        }
        this.#listener = listener;
        if (!this.#refed) listener.setRef(false);
        this.emit("listening");
        void this.#acceptLoop(listener);
      },
      (err: unknown) => {
        this.#starting = false;
        this.emit("error", err);
      },
    );
    return this;
  }

  async #acceptLoop(listener: CompatListener): Promise<void> {
    for (;;) {
      let connected;
      try {
        connected = await listener.accept();
      } catch (err) {
        if (this.#listener !== listener) return; // closed
        this.emit("error", err);
        return;
      }
      if (this.maxConnections !== undefined && this.#sockets.size >= this.maxConnections) {
        connected.connection.destroy();
        this.emit("drop", {});
        continue;
      }
      const o = this.#options;
      const socket = new Socket({
        connection: connected,
        allowHalfOpen: o.allowHalfOpen ?? false,
        manualStart: o.pauseOnConnect === true,
        ...(o.highWaterMark !== undefined
          ? { readableHighWaterMark: o.highWaterMark, writableHighWaterMark: o.highWaterMark }
          : {}),
      });
      socket.server = this;
      if (o.pauseOnConnect === true) socket.pause();
      this.#sockets.add(socket);
      socket.once("close", () => {
        this.#sockets.delete(socket);
        this.#emitCloseIfDrained();
      });
      this.emit("connection", socket);
    }
  }

  /**
   * Stops accepting; 'close' (and `callback`) once every accepted socket has closed too.
   * Not listening: `callback` gets ERR_SERVER_NOT_RUNNING (node:net).
   */
  close(callback?: (err?: Error) => void): this {
    if (callback !== undefined) {
      if (this.#listener === undefined && !this.#starting) {
        this.once("close", () => callback(nodeError("ERR_SERVER_NOT_RUNNING", "Server is not running.")));
      } else {
        this.once("close", callback);
      }
    }
    const listener = this.#listener;
    this.#listener = undefined;
    this.#closing = true;
    if (listener !== undefined) void listener.close();
    this.#emitCloseIfDrained();
    return this;
  }

  #emitCloseIfDrained(): void {
    if (!this.#closing || this.#starting || this.#listener !== undefined || this.#sockets.size > 0) return;
    this.#closing = false;
    process.nextTick(() => this.emit("close"));
  }

  /** The path for shm and unix servers (as node:net for a pipe), { address, family, port } for tcp; null when not listening. */
  address(): AddressInfo | string | null {
    return this.#listener?.address ?? null;
  }

  getConnections(callback: (err: Error | null, count: number) => void): this {
    const n = this.#sockets.size;
    process.nextTick(() => callback(null, n));
    return this;
  }

  ref(): this {
    this.#refed = true;
    this.#listener?.setRef(true);
    return this;
  }

  unref(): this {
    this.#refed = false;
    this.#listener?.setRef(false);
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#listener === undefined && !this.#starting) return;
    await new Promise<void>((resolve, reject) => this.close((err) => (err === undefined ? resolve() : reject(err))));
  }
}
