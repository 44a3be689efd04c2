/**
 * One resume endpoint shared by the reconfigurable connections of a listener (reconfigure.ts,
 * "Setup"): instead of a socket in a directory of its own per connection (mkdtemp, listen, close
 * and rmdir on every connect by name: a sixth of a busy listener's time), each connection
 * registers a token with the shared socket, and a dial whose HELLO carries that token resumes that
 * connection.
 *
 * The rules
 * - A token is TOKEN_BYTES random bytes; its first ROUTE_BYTES pick the connection, and the whole
 *   token is then compared in constant time, so a lookup tells a stranger nothing it can build on.
 * - A dialer has HELLO_TIMEOUT_MS to send its HELLO; silent dialers are dropped, each on its own,
 *   so none holds up the others; a token routed nowhere (a stranger's, or a connection released
 *   since: the listener destroyed it) gets an ABORT record, so a connector stops resuming at once.
 * - The socket (unix, in a private 0700 directory; or tcp) is opened on first use, does not keep
 *   the process alive, and is closed, directory and all, once its owner let go (close()) and every
 *   registration was released; a registration after that opens a fresh one.
 */
import { timingSafeEqual } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TransportListener } from "../transports/net-listener.js";
import { listenTcp } from "../transports/tcp.js";
import type { TransportEnd } from "../transports/transport.js";
import { listenUnix } from "../transports/unix.js";
import { HELLO_TIMEOUT_MS, type PathAddress, randomToken, readHelloToken, sendAbort } from "./paths.js";

/** Bytes of a token that name its registration. */
const ROUTE_BYTES = 8;

export interface ResumeEndpointOptions {
  /** "unix" (default) or "tcp" (when the ends may be on two hosts). */
  readonly kind?: "unix" | "tcp";
  /** Where the private directory of a unix endpoint is made (default: the OS temp dir). */
  readonly dir?: string;
  /** tcp: the host to listen on (default 127.0.0.1). */
  readonly host?: string;
}

/** One connection's place at a shared resume endpoint. */
export interface ResumeRegistration {
  readonly address: PathAddress;
  readonly token: Uint8Array;
  /** Stops routing dials to this connection (idempotent). */
  release(): void;
}

interface Route {
  readonly token: Uint8Array;
  readonly onEnd: (end: TransportEnd) => void;
}

interface Opened {
  readonly address: PathAddress;
  readonly listener: TransportListener<unknown>;
  readonly remove: () => void;
}

export class SharedResumeEndpoint {
  readonly #options: ResumeEndpointOptions;
  readonly #routes = new Map<string, Route>();
  #open: Promise<Opened> | undefined;
  #owned = true;

  constructor(options: ResumeEndpointOptions = {}) {
    this.#options = options;
  }

  /** Routes dials with the returned token to `onEnd` (a fresh, proven end each time) until released. */
  async register(onEnd: (end: TransportEnd) => void): Promise<ResumeRegistration> {
    const token = randomToken();
    const key = routeKey(token);
    this.#routes.set(key, { token, onEnd });
    const open = (this.#open ??= this.#start());
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#routes.delete(key);
      this.#closeIfUnused();
    };
    try {
      const { address } = await open;
      return { address, token, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** The owner lets go: the socket closes once the last registration is released. */
  close(): void {
    this.#owned = false;
    this.#closeIfUnused();
  }

  async #start(): Promise<Opened> {
    const kind = this.#options.kind ?? "unix";
    let opened: Opened;
    if (kind === "tcp") {
      const listener = await listenTcp({ host: this.#options.host ?? "127.0.0.1", port: 0 });
      opened = { address: { kind: "tcp", ...listener.address }, listener, remove: () => undefined };
    } else {
      // mkdtemp makes the directory 0700: only this uid can reach the socket inside.
      const dir = mkdtempSync(join(this.#options.dir ?? tmpdir(), "fable-resume-"));
      const remove = (): void => rmSync(dir, { recursive: true, force: true });
      const path = join(dir, "resume.sock");
      try {
        opened = { address: { kind: "unix", path }, listener: await listenUnix(path), remove };
      } catch (err) {
        remove();
        throw err;
      }
    }
    opened.listener.setRef(false);
    void this.#acceptLoop(opened.listener);
    return opened;
  }

  async #acceptLoop(listener: TransportListener<unknown>): Promise<void> {
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
    if (token === null) {
      end.destroy();
      return;
    }
    if (route === undefined || !timingSafeEqual(token, route.token)) {
      // No connection of ours answers to it (any more): the dialer need not try again.
      sendAbort(end);
      return;
    }
    route.onEnd(end);
  }

  #closeIfUnused(): void {
    if (this.#owned || this.#routes.size > 0 || this.#open === undefined) return;
    const open = this.#open;
    this.#open = undefined;
    // Ownership ends once: later registrations (a connection accepted as its listener closed)
    // open a socket of their own, closed with their last release.
    void open.then(
      async ({ listener, remove }) => {
        await listener.close();
        remove();
      },
      () => undefined,
    );
  }
}

function routeKey(token: Uint8Array): string {
  return Buffer.from(token.buffer, token.byteOffset, ROUTE_BYTES).toString("hex");
}
