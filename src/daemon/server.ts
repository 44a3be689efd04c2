/**
 * The fable daemon's process side: the control socket, the lock that keeps it to one per runtime
 * directory, and the checks every byte from a client passes before a handler sees it.
 *
 * What it promises
 * - One daemon per runtime directory: start() first binds an abstract unix socket named after the
 *   directory (paths.ts lockAddress). Binding is atomic and the kernel frees it when the daemon
 *   dies, so of several starters racing exactly one gets on (the others get DaemonRunningError,
 *   EALREADY), and a crashed daemon leaves no lock behind. Only the lock holder touches the control
 *   socket file (replacing a stale one).
 * - The control socket sits in a 0700 directory of the daemon's uid (paths.ts checks it).
 * - Every connection's credentials come from the kernel (SO_PEERCRED); every frame is checked
 *   (protocol.ts FrameDecoder: length cap, version, JSON) and every message against its schema
 *   before NameService.handle() sees it. A broken frame gets an EPROTOCOL reply and the connection
 *   is closed; a message that fails its schema gets EBADREQUEST and the connection goes on. A
 *   client that does not read its replies is dropped once 8 MiB of them wait. Nothing one client
 *   sends reaches another client's state except through the handlers' rules.
 * - When a control connection closes, its names and flows go (NameService.endSession); every
 *   `sweepMs` (default 250) names of dead processes go too.
 * - Pushes (a switch decided for a flow) go to the control connection its connecting end reported
 *   it on. The contention trigger reads /proc every `contentionMs` (default 100, never less), and
 *   only while some flow has a spinning end.
 */
import { chmodSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { FableError } from "../errors.js";
import { loadNative } from "../native/load.js";
import { controlSocket, type DaemonPaths, ensurePrivateDir, lockAddress, myUid, pidFile } from "../naming/paths.js";
import { internalServer } from "../transports/common.js";
import {
  checkRequest,
  type DaemonStatus,
  encodeFrame,
  FrameDecoder,
  MAX_REQUEST_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  requestId,
} from "../naming/protocol.js";
import { socketFd } from "../transports/rendezvous.js";
import { type MetricsServer, startMetrics } from "./metrics.js";
import { NameService } from "./name-service.js";
import { readEndSample, readPlacement } from "./placement.js";
import type { Selector } from "./selector.js";
import { issueLeaf, type LeafCredentials } from "./tls-ca.js";

/** Another daemon already serves this runtime directory. */
export class DaemonRunningError extends FableError {
  constructor(message: string) {
    super("EALREADY", message);
  }
}

export interface DaemonOptions {
  readonly paths: DaemonPaths;
  readonly selector: Selector;
  /** Serve Prometheus text metrics at http://host:port/metrics (loopback only). */
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly sweepMs?: number;
  /** Period of the contention trigger's /proc sampling (default and least 100 ms). */
  readonly contentionMs?: number;
  readonly log?: (line: string) => void;
}

/** Replies waiting for a client that does not read: past this it is dropped. */
const MAX_UNREAD_REPLIES = 8 * 1024 * 1024;

export class Daemon {
  readonly socketPath: string;
  readonly service: NameService;
  readonly startedAt = Date.now();
  readonly #options: DaemonOptions;
  readonly #lock: net.Server;
  readonly #server: net.Server;
  readonly #clients = new Set<net.Socket>();
  readonly #sweep: NodeJS.Timeout;
  readonly #contention: NodeJS.Timeout;
  /** Where to push to each session's client. */
  readonly #sessions = new Map<number, (message: object) => void>();
  #leaf: LeafCredentials | undefined;
  #metrics: MetricsServer | undefined;
  #closing: Promise<void> | undefined;
  readonly #done: Promise<void>;
  #resolveDone!: () => void;
  #nextSession = 1;

  private constructor(options: DaemonOptions, lock: net.Server) {
    this.#options = options;
    this.#lock = lock;
    this.socketPath = controlSocket(options.paths);
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
    this.service = new NameService({
      selector: options.selector,
      placement: (pid) => readPlacement(pid),
      alive: processAlive,
      onStop: () => void this.close(),
      sample: (pid) => readEndSample(pid),
      push: (session, message) => {
        const send = this.#sessions.get(session);
        send?.(message);
        return send !== undefined;
      },
      // The leaf every end of this uid presents on tls paths; issued once per daemon run (rotation re-issues it).
      tlsCredentials: () => (this.#leaf ??= issueLeaf(join(options.paths.stateDir, "tls-ca"), "connections")),
      status: () => ({
        pid: process.pid,
        uid: myUid(),
        version: PROTOCOL_VERSION,
        startedAt: this.startedAt,
        socket: this.socketPath,
        clients: this.#clients.size,
        metrics: this.#metrics?.url ?? null,
        memory: memory(),
      }),
    });
    this.#server = internalServer(net.createServer((socket) => this.#accept(socket)));
    this.#sweep = setInterval(() => this.service.sweep(), options.sweepMs ?? 250);
    this.#sweep.unref();
    this.#contention = setInterval(
      () => {
        if (this.service.spinningFlows > 0) this.service.sampleContention();
      },
      Math.max(100, options.contentionMs ?? 100),
    );
    this.#contention.unref();
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    ensurePrivateDir(options.paths.runtimeDir);
    const lock = await takeLock(options.paths);
    const daemon = new Daemon(options, lock);
    try {
      rmSync(daemon.socketPath, { force: true }); // a dead daemon's; we hold the lock, so nobody else's
      await listen(daemon.#server, daemon.socketPath);
      chmodSync(daemon.socketPath, 0o600);
      writeFileSync(pidFile(options.paths), `${process.pid}\n`, { mode: 0o600 });
      if (options.metrics !== undefined) daemon.#metrics = await startMetrics(options.metrics, daemon);
    } catch (err) {
      await daemon.close();
      throw err;
    }
    options.log?.(
      `fable daemon ${process.pid} serving ${daemon.socketPath}; selection: ${options.selector.describe()}`,
    );
    return daemon;
  }

  /** Resolves once the daemon has stopped (close(), or a `stop` request). */
  get done(): Promise<void> {
    return this.#done;
  }

  get metricsUrl(): string | null {
    return this.#metrics?.url ?? null;
  }

  get clients(): number {
    return this.#clients.size;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#sweep);
      clearInterval(this.#contention);
      this.#server.close();
      for (const c of this.#clients) c.destroy();
      await this.#metrics?.close();
      try {
        unlinkSync(pidFile(this.#options.paths));
      } catch {
        // never written, or removed already
      }
      await this.#options.selector.close();
      this.#lock.close();
      this.#options.log?.(`fable daemon ${process.pid} stopped`);
      this.#resolveDone();
    })();
    return this.#closing;
  }

  #accept(socket: net.Socket): void {
    let creds;
    try {
      creds = loadNative().peerCredentials(socketFd(socket));
    } catch {
      socket.destroy();
      return;
    }
    const caller = { ...creds, session: this.#nextSession++ };
    this.#clients.add(socket);
    const decoder = new FrameDecoder(MAX_REQUEST_BYTES);
    const reply = (message: object): void => {
      if (socket.destroyed) return;
      if (socket.writableLength > MAX_UNREAD_REPLIES) {
        socket.destroy();
        return;
      }
      socket.write(encodeFrame(message));
    };
    this.#sessions.set(caller.session, reply);
    socket.on("data", (chunk: Buffer) => {
      let messages: unknown[];
      try {
        messages = decoder.push(chunk);
      } catch (err) {
        const message = err instanceof ProtocolError ? err.message : String(err);
        reply({ id: null, ok: false, error: { code: "EPROTOCOL", message: `${message}: closing the connection` } });
        socket.end();
        socket.destroySoon();
        socket.removeAllListeners("data");
        return;
      }
      // The replies to one read's requests leave in one write: a client that sends a batch (flow
      // reports) is woken once, not once per reply.
      socket.cork();
      for (const m of messages) {
        const checked = checkRequest(m);
        if (!checked.ok)
          reply({ id: requestId(m), ok: false, error: { code: "EBADREQUEST", message: checked.reason } });
        else reply(this.service.handle(caller, checked.request));
      }
      socket.uncork();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.#clients.delete(socket);
      this.#sessions.delete(caller.session);
      this.service.endSession(caller.session);
    });
  }
}

function memory(): NonNullable<DaemonStatus["memory"]> {
  const { rss, heapUsed, heapTotal } = process.memoryUsage();
  return { rss, heapUsed, heapTotal };
}

/** Whether `pid` is a live process (a zombie counts as dead: it will never answer again). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return true; // gone between the two looks, or /proc hidden: kill() said it was there
  }
  const state = stat.charAt(stat.lastIndexOf(")") + 2);
  return state !== "Z" && state !== "X";
}

function listen(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

async function takeLock(paths: DaemonPaths): Promise<net.Server> {
  const address = lockAddress(paths);
  const lock = internalServer(net.createServer((s) => s.destroy()));
  try {
    await listen(lock, address);
    lock.unref();
    return lock;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
  }
  const holder = await lockHolder(address);
  if (holder !== undefined && holder.uid !== myUid()) {
    throw new FableError(
      "ELOCKSQUAT",
      `uid ${holder.uid} (pid ${holder.pid}) holds the fable daemon lock of ${paths.runtimeDir}: cannot start`,
    );
  }
  throw new DaemonRunningError(
    `a fable daemon${holder === undefined ? "" : ` (pid ${holder.pid})`} already serves ${controlSocket(paths)}`,
  );
}

function lockHolder(address: string): Promise<{ pid: number; uid: number } | undefined> {
  return new Promise((resolve) => {
    const s = net.connect(address);
    s.once("connect", () => {
      let creds;
      try {
        creds = loadNative().peerCredentials(socketFd(s));
      } catch {
        creds = undefined;
      }
      s.destroy();
      resolve(creds);
    });
    s.once("error", () => resolve(undefined));
  });
}
