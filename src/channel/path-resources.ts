/**
 * What a reconfigurable connection keeps across its switches, so that a switch builds only what
 * is new (reconfigure.ts, "A switch"):
 *
 * - one private (0700) directory for its shm and unix endpoints (and a listener's resume socket),
 *   made on first use (off the event loop) and removed, with whatever is left in it, when the connection closes,
 *   is destroyed or fails; each endpoint's socket file in it goes with its endpoint. One mkdtemp
 *   and one recursive rm per switch were two thread-pool round trips on the switch's path.
 * - a place at one tls listener per credentials (and host) in the process (TlsHub): making a
 *   tls.Server builds a secure context, 1.2-2.5 ms of one event loop turn on the 2-vCPU guest, on
 *   every switch to tls. The hub's single server takes every switch's dial; the HELLO token (the
 *   first record, as on a one-off endpoint) routes the end to the switch that waits for it, and
 *   strangers are dropped. Both ends are verified as before (requestCert, rejectUnauthorized, CA
 *   only). One server also means one set of session ticket keys, so a dialer that kept the
 *   session of an earlier switch resumes it (tls.ts) and neither end signs again.
 *
 * The hub's listening socket does not keep the process alive and closes when the last connection
 * holding a place there lets go.
 */
import { timingSafeEqual } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ShmListener } from "../transports/shm.js";
import { listenTls, type TlsCredentials } from "../transports/tls.js";
import type { TransportListener } from "../transports/net-listener.js";
import type { TcpAddress } from "../transports/tcp.js";
import type { TransportEnd } from "../transports/transport.js";
import { listenUnix } from "../transports/unix.js";
import {
  Endpoint,
  HELLO_TIMEOUT_MS,
  randomToken,
  readHelloToken,
  ReconfigureError,
  type EndpointOptions,
  type PathSpec,
} from "./paths.js";

/** Bytes of a token that name its route at a hub. */
const ROUTE_BYTES = 8;

interface Route {
  readonly token: Uint8Array;
  deliver(end: TransportEnd): void;
}

/** One tls listener per (credentials, host) in this process, shared by the switches of every connection using it. */
export class TlsHub {
  static readonly #hubs = new WeakMap<TlsCredentials, Map<string, TlsHub>>();

  /** A place at the hub of `credentials` on `host` (made if there is none); give it back with release(). */
  static acquire(credentials: TlsCredentials, host: string): TlsHub {
    let byHost = TlsHub.#hubs.get(credentials);
    if (byHost === undefined) TlsHub.#hubs.set(credentials, (byHost = new Map()));
    let hub = byHost.get(host);
    if (hub === undefined) byHost.set(host, (hub = new TlsHub(credentials, host, () => byHost.delete(host))));
    hub.#holders++;
    return hub;
  }

  readonly #credentials: TlsCredentials;
  readonly #host: string;
  readonly #forget: () => void;
  readonly #routes = new Map<string, Route>();
  #holders = 0;
  #listening: Promise<TransportListener<TcpAddress>> | undefined;

  private constructor(credentials: TlsCredentials, host: string, forget: () => void) {
    this.#credentials = credentials;
    this.#host = host;
    this.#forget = forget;
  }

  /** Connections holding a place (for tests). */
  get holders(): number {
    return this.#holders;
  }

  serves(credentials: TlsCredentials): boolean {
    return credentials === this.#credentials;
  }

  /** An endpoint whose accept() yields the dial that proved its (fresh) token. */
  async endpoint(): Promise<Endpoint> {
    if (this.#holders === 0) throw new ReconfigureError("tls hub used after its last holder released it");
    const listener = await (this.#listening ??= this.#listen());
    const token = randomToken();
    const key = routeKey(token);
    const arrived: TransportEnd[] = [];
    let waiter: ((end: TransportEnd) => void) | undefined;
    this.#routes.set(key, {
      token,
      deliver: (end) => {
        if (waiter !== undefined) waiter(end);
        else arrived.push(end);
      },
    });
    const accept = (): Promise<TransportEnd> => {
      const end = arrived.shift();
      if (end !== undefined) return Promise.resolve(end);
      return new Promise((resolve) => (waiter = resolve));
    };
    const close = (): Promise<void> => {
      this.#routes.delete(key);
      for (const end of arrived.splice(0)) end.destroy();
      return Promise.resolve();
    };
    return Endpoint.routed({ kind: "tls", ...listener.address }, token, accept, close);
  }

  /** A holder lets go; the last one closes the listener. */
  release(): void {
    if (this.#holders === 0) return;
    if (--this.#holders > 0) return;
    this.#forget();
    const listening = this.#listening;
    this.#listening = undefined;
    void listening?.then(
      (l) => l.close(),
      () => undefined,
    );
  }

  async #listen(): Promise<TransportListener<TcpAddress>> {
    const listener = await listenTls({ host: this.#host, port: 0 }, { credentials: this.#credentials });
    listener.setRef(false);
    void this.#acceptLoop(listener);
    return listener;
  }

  async #acceptLoop(listener: TransportListener<TcpAddress>): Promise<void> {
    for (;;) {
      let end: TransportEnd;
      try {
        end = await listener.accept();
      } catch {
        return; // closed
      }
      void this.#route(end);
    }
  }

  /** Reads the dialer's HELLO and hands the end to the endpoint whose token it carries; drops strangers. */
  async #route(end: TransportEnd): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<null>((resolve) => {
      timer = setTimeout(resolve, HELLO_TIMEOUT_MS, null);
      timer.unref();
    });
    let token: Uint8Array | null;
    try {
      token = await Promise.race([readHelloToken(end), silent]);
    } catch {
      token = null; // the dialer died while proving itself
    } finally {
      clearTimeout(timer);
    }
    const route = token === null ? undefined : this.#routes.get(routeKey(token));
    if (token === null || route === undefined || !timingSafeEqual(token, route.token)) {
      end.destroy();
      return;
    }
    this.#routes.delete(routeKey(token)); // one dial per token
    route.deliver(end);
  }
}

function routeKey(token: Uint8Array): string {
  return Buffer.from(token.buffer, token.byteOffset, ROUTE_BYTES).toString("hex");
}

export interface PathResourceOptions extends EndpointOptions {
  /** Where the connection's private directory is made (default: the OS temp dir). */
  readonly dir?: string;
}

/** One connection's directory and hub places, for the endpoints its switches open. */
export class PathResources {
  readonly #options: PathResourceOptions;
  #dir: Promise<string> | undefined;
  #made = 0;
  /** Hub places by host: one per host, for the credentials last used there. */
  readonly #hubs = new Map<string, TlsHub>();
  #closed = false;

  constructor(options: PathResourceOptions = {}) {
    this.#options = options;
  }

  /** The private directory, if it was made (for tests). */
  get dir(): Promise<string> | undefined {
    return this.#dir;
  }

  /** Opens an endpoint of `spec` for one switch: in the private directory, or at a tls hub. */
  async open(spec: PathSpec): Promise<Endpoint> {
    if (this.#closed) throw new ReconfigureError("the connection's path resources are released");
    const options = this.#options;
    if (spec.kind === "tcp") return Endpoint.open(spec, options);
    if (spec.kind === "tls") {
      if (options.tls === undefined) {
        throw new ReconfigureError("a tls path needs credentials (the reconfigure option tls)");
      }
      const credentials = typeof options.tls === "function" ? await options.tls() : options.tls;
      return this.#hub(credentials, options.host ?? "127.0.0.1").endpoint();
    }
    const dir = await this.#privateDir();
    // Each endpoint has a file of its own: the previous switch's may still be closing.
    const path = join(dir, `${spec.kind}-${this.#made++}.sock`);
    const trust = options.trust ?? "trusted";
    // Closing a listener removes its socket file (libuv unlinks it); the directory stays.
    if (spec.kind === "shm") {
      const listener = await ShmListener.listen(path, {
        trust,
        once: true,
        ...(spec.wait !== undefined ? { wait: spec.wait } : {}),
      });
      return Endpoint.listening({ kind: "shm", path }, randomToken(), listener);
    }
    const listener = await listenUnix(path, { trust });
    return Endpoint.listening({ kind: "unix", path }, randomToken(), listener);
  }

  /**
   * The listener's resume endpoint (reconfigure.ts, "Setup"): unix, a socket in the private
   * directory (made now); tcp, a listener of its own. It does not keep the process alive.
   */
  async openResume(kind: "unix" | "tcp"): Promise<Endpoint> {
    if (kind === "tcp") return Endpoint.open({ kind }, { ...this.#options, ref: false });
    const listener = await listenUnix(join(await this.#privateDir(), "resume.sock"), {
      trust: this.#options.trust ?? "trusted",
    });
    listener.setRef(false);
    return Endpoint.listening({ kind: "unix", path: listener.address.path }, randomToken(), listener);
  }

  async #privateDir(): Promise<string> {
    if (this.#closed) throw new ReconfigureError("the connection's path resources are released");
    const dir = await (this.#dir ??= mkdtemp(join(this.#options.dir ?? tmpdir(), "fable-path-")));
    if (this.#closed) throw new ReconfigureError("the connection's path resources are released");
    return dir;
  }

  #hub(credentials: TlsCredentials, host: string): TlsHub {
    const held = this.#hubs.get(host);
    if (held?.serves(credentials)) return held;
    // New credentials (a rotation): the place at the old ones' hub goes.
    held?.release();
    const hub = TlsHub.acquire(credentials, host);
    this.#hubs.set(host, hub);
    return hub;
  }

  /** Removes the directory (and what is left in it) and gives back the hub places. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const hub of this.#hubs.values()) hub.release();
    this.#hubs.clear();
    const dir = this.#dir;
    if (dir === undefined) return;
    const path = await dir.catch(() => undefined);
    if (path !== undefined) await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}
