/**
 * The client of the per-user fable daemon (one per process by default; tests make their own).
 *
 * What it promises
 * - request() sends one request and resolves with its reply, or rejects with a DaemonError
 *   carrying the daemon's code (EADDRINUSE, EACCES, ENOENT, EBADREQUEST...).
 * - The daemon is started on first use if none runs (detached `fable daemon run`, logging to the
 *   state directory), unless `autostart: false` or FABLE_NO_AUTOSTART=1. Racing starters are
 *   fine: the daemon's lock (paths.ts lockAddress) leaves one, and every client connects to it.
 * - The daemon is checked before anything is sent: the socket's peer (SO_PEERCRED) must run as
 *   the expected uid (this process's, by default), or the client refuses it (EDAEMONUID).
 * - State that must survive the daemon (registered names, open flows) is kept here; if the
 *   control connection drops, the client reconnects with backoff (50 ms doubling to 2 s), registers
 *   the names again and reports the flows again. Connections already made never depend on it.
 * - Flows are reported at most every `reportIntervalMs` (default 500, at least 100), from a timer,
 *   only when something changed: never on the data path. A new flow is first reported within
 *   FIRST_REPORT_MS, with the others new by then, in one write (a report per connect woke the
 *   daemon once per connection: a tenth of a busy connector's time).
 * - The control socket does not keep the process alive unless a request is in flight.
 * - Pushes from the daemon (a switch decided for a flow, protocol.ts Push) are schema-checked and
 *   handed to the flow's `onPush`; a push for a flow this client does not track is ignored.
 * - resolve() keeps the daemon's answer for a name and requirements `resolveCacheMs` (default
 *   1000 ms; 0: never): a process that connects to one name many times a second asks once, as a
 *   DNS client does within a TTL. The caller forgets an answer that did not work (forgetResolved).
 * - Frames sent in one turn of the event loop leave in one write (fewer system calls and wake-ups
 *   of the daemon when many connections report at once).
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { loadNative } from "../native/load.js";
import { socketFd } from "../transports/rendezvous.js";
import {
  checkPush,
  checkReply,
  DaemonError,
  encodeFrame,
  type Endpoints,
  type FlowEvent,
  type FlowReport,
  FrameDecoder,
  type Push,
  type ReplyBodies,
  type RequestBody,
  type RequestType,
} from "./protocol.js";
import { controlSocket, type DaemonPaths, daemonPaths, ensurePrivateDir, logFile, myUid } from "./paths.js";

export interface DaemonClientOptions {
  /** Default: from the environment (paths.ts). */
  readonly paths?: DaemonPaths;
  /** Start the daemon when none runs (default true unless FABLE_NO_AUTOSTART=1). */
  readonly autostart?: boolean;
  /** The uid the daemon must run as (default this process's). */
  readonly daemonUid?: number;
  /** Flow reports at most this often (default 500 ms, at least 100). */
  readonly reportIntervalMs?: number;
  /** How long to wait for a daemon being started (default 10 s). */
  readonly startTimeoutMs?: number;
  /** How long resolve() reuses the daemon's answer (default 1000 ms; 0: ask every time). */
  readonly resolveCacheMs?: number;
}

/** Answers resolve() keeps at most (the oldest go first). */
const RESOLVED_KEPT = 256;

interface Pending {
  readonly resolve: (reply: Record<string, unknown>) => void;
  readonly reject: (error: Error) => void;
}

interface Registration {
  readonly name: string;
  readonly allow: readonly number[];
  readonly endpoints: Endpoints;
  /** Told when a re-registration after a daemon restart fails (someone took the name meanwhile). */
  readonly onLost: (error: Error) => void;
}

interface TrackedFlow {
  readonly report: () => FlowReport;
  readonly done: () => boolean;
  readonly onPush: ((push: Push) => void) | undefined;
  lastSent: string;
}

/** A new flow is reported this soon (with every other flow new by then). */
const FIRST_REPORT_MS = 50;
const BIN = fileURLToPath(new URL("../../../bin/fable.js", import.meta.url));
const MAX_BACKOFF_MS = 2000;

export class DaemonClient {
  readonly paths: DaemonPaths;
  readonly #autostart: boolean;
  readonly #daemonUid: number;
  readonly #reportMs: number;
  readonly #startTimeoutMs: number;
  #socket: net.Socket | undefined;
  #connecting: Promise<net.Socket> | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #registrations = new Map<string, Registration>();
  readonly #flows = new Map<string, TrackedFlow>();
  #reportTimer: NodeJS.Timeout | undefined;
  #firstReport: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #backoff = 50;
  #closed = false;
  #corked = false;
  readonly #resolveCacheMs: number;
  readonly #resolved = new Map<string, { reply: ReplyBodies["resolve"]; until: number }>();
  /** Times the control connection was made again after it dropped. */
  reconnects = 0;

  constructor(options: DaemonClientOptions = {}) {
    this.paths = options.paths ?? daemonPaths();
    this.#autostart = options.autostart ?? process.env.FABLE_NO_AUTOSTART !== "1";
    this.#daemonUid = options.daemonUid ?? myUid();
    this.#reportMs = Math.max(100, options.reportIntervalMs ?? 500);
    this.#startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.#resolveCacheMs = options.resolveCacheMs ?? 1000;
  }

  /**
   * The daemon's answer for connecting to `name` with `requirements` (a resolve request), reused
   * for resolveCacheMs; `cached` says whether it was.
   */
  async resolve(
    name: string,
    requirements: Extract<RequestBody, { type: "resolve" }>["requirements"],
  ): Promise<{ reply: ReplyBodies["resolve"]; cached: boolean }> {
    const key = `${name}\n${requirements.latency}\n${requirements.spin}\n${requirements.trust}\n${requirements.sizes.join(",")}\n${requirements.socket === true}`;
    const kept = this.#resolved.get(key);
    if (kept !== undefined && performance.now() < kept.until) return { reply: kept.reply, cached: true };
    const reply = await this.request({ type: "resolve", name, requirements });
    if (this.#resolveCacheMs > 0) {
      this.#resolved.delete(key);
      this.#resolved.set(key, { reply, until: performance.now() + this.#resolveCacheMs });
      if (this.#resolved.size > RESOLVED_KEPT) this.#resolved.delete(this.#resolved.keys().next().value as string);
    }
    return { reply, cached: false };
  }

  /** Drops the kept answers for `name` (one did not work: the listener moved or died). */
  forgetResolved(name: string): void {
    for (const key of this.#resolved.keys()) if (key.startsWith(`${name}\n`)) this.#resolved.delete(key);
  }

  /** Sends a request and waits for its reply. */
  async request<T extends RequestType>(body: Extract<RequestBody, { type: T }>): Promise<ReplyBodies[T]> {
    if (this.#closed) throw new DaemonError("ECLOSED", "the daemon client was closed");
    const socket = await this.#connected();
    return this.#send(socket, body) as Promise<ReplyBodies[T]>;
  }

  #send(socket: net.Socket, body: RequestBody): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      socket.ref();
      if (!this.#corked) {
        this.#corked = true;
        socket.cork();
        process.nextTick(() => {
          this.#corked = false;
          socket.uncork();
        });
      }
      socket.write(encodeFrame({ ...body, id }));
    });
  }

  /** Registers a name; kept here and registered again after a daemon restart. */
  async register(
    name: string,
    allow: readonly number[],
    endpoints: Endpoints,
    onLost: (e: Error) => void,
  ): Promise<void> {
    await this.request({ type: "register", name, allow, endpoints });
    this.#registrations.set(name, { name, allow, endpoints, onLost });
  }

  async unregister(name: string): Promise<void> {
    if (!this.#registrations.delete(name)) return;
    // The daemon also drops it when this process exits; a daemon that is down has nothing to drop.
    if (this.#socket !== undefined) await this.request({ type: "unregister", name }).catch(() => undefined);
  }

  /**
   * Reports a flow now and then whenever it changed, until `done()` says it ended; the daemon's
   * pushes for it go to `onPush`.
   */
  trackFlow(report: () => FlowReport, done: () => boolean, onPush?: (push: Push) => void): void {
    const flow: TrackedFlow = { report, done, onPush, lastSent: "" };
    this.#flows.set(report().id, flow);
    if (this.#firstReport === undefined) {
      this.#firstReport = setTimeout(() => {
        this.#firstReport = undefined;
        this.#reportFlows();
      }, FIRST_REPORT_MS);
      this.#firstReport.unref();
    }
    if (this.#reportTimer === undefined) {
      this.#reportTimer = setInterval(() => this.#reportFlows(), this.#reportMs);
      this.#reportTimer.unref();
    }
  }

  #reportFlows(): void {
    for (const [id, flow] of this.#flows) {
      if (flow.done()) {
        this.#reportFlow(flow);
        this.#flows.delete(id);
        if (this.#socket !== undefined)
          this.#send(this.#socket, { type: "flow-close", flowId: id }).catch(() => undefined);
      } else {
        this.#reportFlow(flow);
      }
    }
    if (this.#flows.size === 0 && this.#reportTimer !== undefined) {
      clearInterval(this.#reportTimer);
      this.#reportTimer = undefined;
    }
  }

  #reportFlow(flow: TrackedFlow): void {
    const socket = this.#socket;
    if (socket === undefined) return; // re-reported on reconnect
    const report = flow.report();
    const text = JSON.stringify(report);
    if (text === flow.lastSent) return;
    flow.lastSent = text;
    this.#send(socket, { type: "flow", flow: report }).catch(() => {
      flow.lastSent = "";
    });
  }

  /** Reports a switch of a tracked flow now (the flow's report goes first, so the daemon knows it). */
  reportFlowEvent(flowId: string, event: FlowEvent): void {
    const flow = this.#flows.get(flowId);
    const socket = this.#socket;
    if (flow === undefined || socket === undefined) return;
    this.#reportFlow(flow);
    this.#send(socket, { type: "flow-event", flowId, event }).catch(() => undefined);
  }

  #tls: Promise<ReplyBodies["tls-credentials"]> | undefined;

  /** This uid's tls credentials from the daemon (asked once per client). */
  tlsCredentials(): Promise<ReplyBodies["tls-credentials"]> {
    this.#tls ??= this.request({ type: "tls-credentials" });
    this.#tls.catch(() => (this.#tls = undefined));
    return this.#tls;
  }

  /** Stops reconnecting and closes the control connection (names it registered go with it). */
  close(): void {
    this.#closed = true;
    if (this.#reportTimer !== undefined) clearInterval(this.#reportTimer);
    if (this.#firstReport !== undefined) clearTimeout(this.#firstReport);
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  // ---- the control connection -------------------------------------------------------------

  #connected(): Promise<net.Socket> {
    if (this.#socket !== undefined) return Promise.resolve(this.#socket);
    this.#connecting ??= this.#open().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #open(): Promise<net.Socket> {
    const path = controlSocket(this.paths);
    let socket: net.Socket;
    try {
      socket = await dial(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (!this.#autostart || (code !== "ENOENT" && code !== "ECONNREFUSED")) {
        throw new DaemonError(
          "ENODAEMON",
          `no fable daemon answers at ${path} (${code ?? String(err)})` +
            (this.#autostart ? "" : ": start one with `fable daemon start` (autostart is off)"),
          { cause: err },
        );
      }
      socket = await this.#startDaemon(path);
    }
    const peer = loadNative().peerCredentials(socketFd(socket));
    if (peer.uid !== this.#daemonUid) {
      socket.destroy();
      throw new DaemonError(
        "EDAEMONUID",
        `the process at ${path} runs as uid ${peer.uid}, not ${this.#daemonUid}: not our daemon`,
      );
    }
    this.#attach(socket);
    return socket;
  }

  async #startDaemon(path: string): Promise<net.Socket> {
    ensurePrivateDir(this.paths.runtimeDir);
    ensurePrivateDir(this.paths.stateDir);
    const log = openSync(logFile(this.paths), "a", 0o600);
    try {
      const child = spawn(process.execPath, [BIN, "daemon", "run"], {
        detached: true,
        stdio: ["ignore", log, log],
        env: {
          ...process.env,
          FABLE_RUNTIME_DIR: this.paths.runtimeDir,
          FABLE_STATE_DIR: this.paths.stateDir,
          // Started from a program in transparent mode (fable run): the daemon itself must not be.
          FABLE_TRANSPARENT: "0",
        },
      });
      child.on("error", () => undefined);
      child.unref();
    } finally {
      closeSync(log);
    }
    const deadline = Date.now() + this.#startTimeoutMs;
    for (let delay = 20; ; delay = Math.min(delay * 2, 200)) {
      try {
        return await dial(path);
      } catch (err) {
        if (Date.now() > deadline) {
          throw new DaemonError(
            "ENODAEMON",
            `started a fable daemon, but nothing answers at ${path} after ${this.#startTimeoutMs} ms: see ${logFile(this.paths)}`,
            { cause: err },
          );
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  #attach(socket: net.Socket): void {
    this.#socket = socket;
    this.#backoff = 50;
    socket.unref();
    const decoder = new FrameDecoder();
    socket.on("data", (chunk: Buffer) => {
      let messages: unknown[];
      try {
        messages = decoder.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      for (const m of messages) {
        if (checkPush(m)) this.#onPush(m);
        else this.#onReply(m);
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => this.#lost(socket));
  }

  #onPush(push: Push): void {
    const flow = this.#flows.get(push.flowId);
    if (flow === undefined || flow.done()) return;
    flow.onPush?.(push);
  }

  #onReply(message: unknown): void {
    if (!checkReply(message) || message.id === null) return;
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    if (this.#pending.size === 0) this.#socket?.unref();
    if (message.ok) pending.resolve(message);
    else pending.reject(new DaemonError(message.error.code, message.error.message));
  }

  #lost(socket: net.Socket): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    const error = new DaemonError("EDAEMONGONE", "the fable daemon closed the control connection");
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
    if (!this.#closed && (this.#registrations.size > 0 || this.#flows.size > 0)) this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#reconnectTimer !== undefined) return;
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#reconnect();
    }, delay);
    this.#reconnectTimer.unref();
  }

  async #reconnect(): Promise<void> {
    if (this.#closed) return;
    let socket: net.Socket;
    try {
      socket = await this.#connected();
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.reconnects++;
    for (const r of [...this.#registrations.values()]) {
      this.#send(socket, { type: "register", name: r.name, allow: r.allow, endpoints: r.endpoints }).catch(
        (err: Error) => {
          if (err instanceof DaemonError && err.code === "EDAEMONGONE") return; // the next reconnect tries again
          this.#registrations.delete(r.name);
          r.onLost(err);
        },
      );
    }
    for (const flow of this.#flows.values()) {
      flow.lastSent = "";
      this.#reportFlow(flow);
    }
  }
}

function dial(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
  });
}

let shared: DaemonClient | undefined;

/** The process's client, from the environment's paths (made on first use). */
export function defaultDaemonClient(): DaemonClient {
  shared ??= new DaemonClient();
  return shared;
}
