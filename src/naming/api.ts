/**
 * `listen(uri)` and `connect(uri)`: the application names whom it talks to; fable picks the way.
 *
 *     const l = await listen("xio://app/cache");                  // registered with the daemon
 *     for await (const conn of l) serve(conn);                     // conn: a Connection
 *     const c = await connect("xio://app/cache", { latency: "critical", spin: false });
 *
 * xio:// names go through the per-user daemon (started on first use, see daemon-client.ts), but
 * the data never does. The listener opens its own rendezvous endpoints in a fresh 0700 directory
 * under the daemon's runtime directory (an shm rendezvous socket per wait strategy, a unix socket,
 * a loopback TCP port) and registers them. The connector asks the daemon, which answers with the
 * listener's endpoints and the candidates (transport x wait strategy) ranked by its Selector; the
 * connector tries them in that order and falls back (shm -> unix -> tcp) when one fails to set up.
 * The client reuses the daemon's answer for a name for a second (daemon-client.ts resolve()), but
 * only while it works: the first candidate of a kept answer failing to set up makes it ask again.
 * Every connection made through a name is a flow the connector reports (fallbacks included).
 * Connections made through a name are reconfigurable (channel/reconfigure.ts; path endpoints in
 * private directories under the daemon's runtime directory, tls credentials from the daemon when
 * a tls path is first built): the daemon pushes switches to the connecting end, which makes them
 * and reports each (and each resume after a path failure, reason "failure") as a flow event.
 *
 * Explicit URIs need no daemon: shm:///p.sock, unix:///p, tcp://host:port, and pipe://:
 * - `connect("pipe://")` in a child process is its end of the pipe its Node parent gave it as fd 3;
 *   `connect("pipe://", { child })` in the parent is the other end (`child.stdio[3]`, spawned with
 *   `stdio: [..., ..., ..., "pipe"]`). There is nothing to listen on: `listen("pipe://")` is EUSAGE.
 *
 * `listen` on a name or address in use is an AddressInUseError (EADDRINUSE); nothing is taken over.
 * Another uid reaches a user's daemon only where the system lets it (the control socket is in a
 * 0700 directory: root); the daemon still checks each caller's uid against a name's `allow` list,
 * and the shm rendezvous checks the peer's uid again.
 */
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { Connection, type ConnectionOptions, openReconfigurable } from "../channel/connection.js";
import type { PathSpec } from "../channel/paths.js";
import type { ReconfigureOptions, SwitchEvent } from "../channel/reconfigure.js";
import { SharedResumeEndpoint } from "../channel/resume-endpoint.js";
import { FableError, UsageError } from "../errors.js";
import { loadNative } from "../native/load.js";
import type { WaitStrategy } from "../ring/wait.js";
import { Deque, Waiters } from "../transports/common.js";
import { pipeFromFds, pipeFromStreams } from "../transports/pipe.js";
import { connectShm, ShmListener } from "../transports/shm.js";
import { connectTcp, listenTcp } from "../transports/tcp.js";
import type { TransportEnd, Trust } from "../transports/transport.js";
import { connectUnix, listenUnix } from "../transports/unix.js";
import { type DaemonClient, defaultDaemonClient } from "./daemon-client.js";
import { ensurePrivateDir } from "./paths.js";
import {
  type Candidate,
  choiceText,
  type Endpoints,
  type FlowAttempt,
  type FlowEvent,
  type FlowTransport,
  type PathChoice,
  type Push,
  type ReplyBodies,
  type RequirementsWire,
  type SelectableTransport,
  type SwitchReason,
} from "./protocol.js";
import { type FableUri, formatUri, parseUri } from "./uri.js";

/** The name or address is held by a live listener. */
export class AddressInUseError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("EADDRINUSE", message, options);
  }
}

/** No candidate transport could be set up (each one's reason is in the message and `attempts`). */
export class NoTransportError extends FableError {
  constructor(
    message: string,
    readonly attempts: readonly FlowAttempt[],
  ) {
    super("ENOTRANSPORT", message);
  }
}

export interface ListenOptions {
  /** Other uids that may connect (xio: the registration allows them; shm: the rendezvous does). */
  readonly allow?: readonly number[];
  /** xio: the transports to offer (default: shm where memfd works, unix, tcp). */
  readonly transports?: readonly SelectableTransport[];
  /** How this end treats what it reads (default "trusted"). */
  readonly trust?: Trust;
  /** shm:// only: how this end waits (xio listeners follow the connector's choice). */
  readonly wait?: WaitStrategy;
  /** shm: bytes of each ring. */
  readonly ringBytes?: number;
  /** xio: the daemon client (default: the process's, from the environment). */
  readonly client?: DaemonClient;
  readonly connection?: ConnectionOptions;
  /**
   * xio: a unix socket path where the caller's own server takes raw byte streams (transparent
   * mode's net.Server), registered beside the fable endpoints (Endpoints.stream).
   */
  readonly stream?: string;
}

export interface ConnectOptions {
  /** "critical" (default): rank by round trip; "bulk": by throughput. */
  readonly latency?: "critical" | "bulk";
  /** false: no end may busy-wait (default true). */
  readonly spin?: boolean;
  /** "untrusted": check and copy everything read (default "trusted"). */
  readonly trust?: Trust;
  /** Message sizes you expect, in bytes (helps the choice). */
  readonly sizes?: readonly number[];
  /** shm:// only: how this end waits (default adaptive, or block with spin: false). */
  readonly wait?: WaitStrategy;
  /** pipe:// in the parent: the child whose fd 3 is the pipe. */
  readonly child?: ChildProcess;
  readonly client?: DaemonClient;
  readonly connection?: ConnectionOptions;
}

/** How a connection made through a name was set up. */
export interface FlowInfo {
  /** The flow id the daemon lists it under. */
  readonly id: string;
  readonly name: string;
  /** The transport chosen at setup (a switch changes what `fable flows` shows, not this). */
  readonly transport: SelectableTransport;
  readonly wait: Candidate["wait"];
  /** Candidates that failed to set up first, and why. */
  readonly fallbacks: readonly FlowAttempt[];
}

const flowInfo = new WeakMap<Connection, FlowInfo>();

/** The flow of a connection made by connect("xio://..."); undefined for explicit URIs. */
export function connectionFlow(conn: Connection): FlowInfo | undefined {
  return flowInfo.get(conn);
}

interface Source {
  accept(): Promise<TransportEnd>;
  close(): Promise<void>;
  setRef?(ref: boolean): void;
}

/** Accepted connections of one URI; iterate with `for await`, or accept() one by one. */
export class Listener implements AsyncIterable<Connection> {
  /** What connect() takes to reach this listener (tcp: with the port chosen for port 0). */
  readonly uri: string;
  readonly #sources: Source[];
  readonly #queue = new Deque<Connection>();
  readonly #waiters = new Waiters();
  readonly #cleanup: () => Promise<void>;
  #closed = false;
  /** Set when the daemon restarted and someone else had taken the name meanwhile. */
  registrationLost: Error | undefined;

  readonly #reconfigure: ReconfigureOptions | undefined;

  /** @internal: made by listen(); `reconfigure`: accepted connections are reconfigurable (xio names). */
  constructor(
    uri: string,
    sources: Source[],
    options: ListenOptions,
    cleanup: () => Promise<void>,
    reconfigure?: ReconfigureOptions,
  ) {
    this.uri = uri;
    this.#sources = sources;
    this.#cleanup = cleanup;
    this.#reconfigure = reconfigure;
    for (const s of sources) void this.#pump(s, options);
  }

  async #pump(source: Source, options: ListenOptions): Promise<void> {
    while (!this.#closed) {
      let end: TransportEnd;
      try {
        end = await source.accept();
      } catch {
        // Closed, or this endpoint broke: the others keep accepting.
        return;
      }
      if (this.#closed) {
        end.destroy();
        return;
      }
      if (this.#reconfigure === undefined) this.#enqueue(new Connection(end, options.connection));
      else {
        // Agreeing the resume endpoint takes a round trip: other connectors need not wait for it.
        openReconfigurable(end, this.#reconfigure, options.connection).then(
          (conn) => this.#enqueue(conn),
          () => undefined, // the connector gave up on it (it falls back or fails on its side)
        );
      }
    }
  }

  #enqueue(conn: Connection): void {
    if (this.#closed) {
      conn.destroy();
      return;
    }
    this.#queue.push(conn);
    this.#waiters.resolveAll();
  }

  /** The next connection; rejects with ECLOSED once the listener is closed. */
  async accept(): Promise<Connection> {
    for (;;) {
      const c = this.#queue.shift();
      if (c !== undefined) return c;
      if (this.#closed) throw new FableError("ECLOSED", `${this.uri}: the listener is closed`);
      await this.#waiters.wait();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Connection, void, undefined> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (err) {
        if (this.#closed) return;
        throw err;
      }
    }
  }

  /** Whether the listener's own handles keep the event loop alive (default yes, like a net.Server's ref()/unref()). */
  setRef(ref: boolean): void {
    for (const s of this.#sources) s.setRef?.(ref);
  }

  /** Stops listening (the name is released); connections already accepted stay open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiters.rejectAll(new FableError("ECLOSED", `${this.uri}: the listener was closed`));
    for (let c = this.#queue.shift(); c !== undefined; c = this.#queue.shift()) c.destroy();
    await Promise.all(this.#sources.map((s) => s.close()));
    await this.#cleanup();
  }
}

export async function listen(uri: string, options: ListenOptions = {}): Promise<Listener> {
  const u = parseUri(uri);
  const text = formatUri(u);
  try {
    switch (u.scheme) {
      case "xio":
        return await listenName(u.name, options);
      case "shm": {
        const l = await ShmListener.listen(u.path, {
          ...shmOptions(options.trust, options.wait, options.allow && [process.getuid?.() ?? 0, ...options.allow]),
          ...(options.ringBytes !== undefined ? { ringBytes: options.ringBytes } : {}),
        });
        return new Listener(text, [l], options, async () => {});
      }
      case "unix":
        return new Listener(text, [await listenUnix(u.path, streamOptions(options.trust))], options, async () => {});
      case "tcp": {
        const l = await listenTcp(u, streamOptions(options.trust));
        // The URI says where it listens: a port 0 request shows the port the kernel chose.
        return new Listener(formatUri({ ...u, port: l.address.port }), [l], options, async () => {});
      }
      case "pipe":
        throw new UsageError(
          'pipe:// has nothing to listen on: the child calls connect("pipe://"), the parent connect("pipe://", { child })',
        );
    }
  } catch (err) {
    throw inUse(err, text);
  }
}

export async function connect(uri: string, options: ConnectOptions = {}): Promise<Connection> {
  const u = parseUri(uri);
  if (u.scheme === "xio") return connectName(u.name, options);
  const end = await connectExplicit(u, options);
  return new Connection(end, options.connection);
}

async function connectExplicit(
  u: Exclude<FableUri, { scheme: "xio" }>,
  options: ConnectOptions,
): Promise<TransportEnd> {
  switch (u.scheme) {
    case "shm":
      return connectShm(
        u.path,
        shmOptions(options.trust, options.wait ?? (options.spin === false ? "block" : undefined)),
      );
    case "unix":
      return connectUnix(u.path, streamOptions(options.trust));
    case "tcp":
      if (u.port === 0) throw new UsageError(`${formatUri(u)}: port 0 means "any" and only makes sense to listen`);
      return connectTcp(u, streamOptions(options.trust));
    case "pipe": {
      if (options.child === undefined) return pipeFromFds(3, 3, streamOptions(options.trust));
      const fd3 = options.child.stdio[3] as Duplex | null | undefined;
      if (fd3 === null || fd3 === undefined) {
        throw new UsageError('pipe:// with { child }: spawn the child with stdio[3] = "pipe"');
      }
      return pipeFromStreams(fd3, fd3, streamOptions(options.trust));
    }
  }
}

// ---- names ----------------------------------------------------------------------------------

const WAITS: readonly WaitStrategy[] = ["spin", "adaptive", "block"];

async function listenName(name: string, options: ListenOptions): Promise<Listener> {
  const client = options.client ?? defaultDaemonClient();
  const offered = options.transports ?? ["shm", "unix", "tcp"];
  ensurePrivateDir(client.paths.runtimeDir);
  const dir = mkdtempSync(join(client.paths.runtimeDir, "ep-"));
  const sources: Source[] = [];
  const endpoints: {
    shm?: NonNullable<Endpoints["shm"]>;
    unix?: string;
    tcp?: { host: string; port: number };
    stream?: string;
  } = options.stream !== undefined ? { stream: options.stream } : {};
  const uids = [process.getuid?.() ?? 0, ...(options.allow ?? [])];
  // One resume endpoint for all its connections (they outlive the listener: it closes after them).
  const resume = new SharedResumeEndpoint({ dir: client.paths.runtimeDir });
  const cleanup = async (): Promise<void> => {
    resume.close();
    await client.unregister(name);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const caps = loadNative().capabilities;
    if (offered.includes("shm") && caps.memfd && caps.futex) {
      const shm: Record<string, string> = {};
      for (const wait of WAITS) {
        const path = join(dir, `shm-${wait}.sock`);
        sources.push(
          await ShmListener.listen(path, {
            ...shmOptions(options.trust, wait, uids),
            ...(options.ringBytes !== undefined ? { ringBytes: options.ringBytes } : {}),
          }),
        );
        shm[wait] = path;
      }
      endpoints.shm = shm as unknown as NonNullable<Endpoints["shm"]>;
    }
    if (offered.includes("unix")) {
      const path = join(dir, "unix.sock");
      sources.push(await listenUnix(path, streamOptions(options.trust)));
      endpoints.unix = path;
    }
    if (offered.includes("tcp")) {
      const l = await listenTcp({ host: "127.0.0.1", port: 0 }, streamOptions(options.trust));
      sources.push(l);
      endpoints.tcp = l.address;
    }
    const listener = new Listener(`xio://${name}`, sources, options, cleanup, {
      ...reconfigureOptions(client, "listener"),
      resumeEndpoint: resume,
    });
    await client.register(name, options.allow ?? [], endpoints, (err) => (listener.registrationLost = err));
    return listener;
  } catch (err) {
    resume.close();
    await Promise.all(sources.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function requirementsOf(options: ConnectOptions, socket: boolean): RequirementsWire {
  return {
    latency: options.latency ?? "critical",
    spin: options.spin ?? true,
    trust: options.trust ?? "trusted",
    sizes: [...(options.sizes ?? [])],
    ...(socket ? { socket } : {}),
  };
}

async function connectName(name: string, options: ConnectOptions): Promise<Connection> {
  const client = options.client ?? defaultDaemonClient();
  const requirements = requirementsOf(options, false);
  return connectAnswered(name, requirements, await client.resolve(name, requirements), client, options);
}

/** connectName with the daemon's answer in hand. */
async function connectAnswered(
  name: string,
  requirements: RequirementsWire,
  { reply, cached }: { reply: ReplyBodies["resolve"]; cached: boolean },
  client: DaemonClient,
  options: ConnectOptions,
): Promise<Connection> {
  if (cached) {
    // A kept answer is used only while it works: the listener may have moved or died since.
    try {
      return await connectResolved(name, reply, client, options, false);
    } catch {
      client.forgetResolved(name);
    }
    return connectResolved(name, (await client.resolve(name, requirements)).reply, client, options, true);
  }
  return connectResolved(name, reply, client, options, true);
}

/**
 * Tries the daemon's candidates in order; with `fallback` false (a kept answer) only the first,
 * so a stale answer never leads to a fallback the daemon would not pick now.
 */
async function connectResolved(
  name: string,
  reply: ReplyBodies["resolve"],
  client: DaemonClient,
  options: ConnectOptions,
  fallback: boolean,
): Promise<Connection> {
  const { listener, selection } = reply;
  const attempts: FlowAttempt[] = [];
  const failed = new Set<SelectableTransport>();
  for (const candidate of fallback ? selection.ranked : selection.ranked.slice(0, 1)) {
    // A transport that failed to set up fails the same way with another wait strategy.
    if (failed.has(candidate.transport)) continue;
    let end: TransportEnd;
    try {
      end = await openCandidate(candidate, listener.endpoints, listener.uid, options);
    } catch (err) {
      failed.add(candidate.transport);
      attempts.push({ candidate, error: String((err as Error).message ?? err).slice(0, 1000) });
      continue;
    }
    let conn: Connection;
    try {
      conn = await openReconfigurable(end, reconfigureOptions(client, "connector"), options.connection);
    } catch (err) {
      failed.add(candidate.transport);
      attempts.push({ candidate, error: String((err as Error).message ?? err).slice(0, 1000) });
      continue;
    }
    const since = Date.now();
    const id = randomUUID();
    flowInfo.set(conn, { id, name, transport: candidate.transport, wait: candidate.wait, fallbacks: attempts });
    const flow = new FlowSwitches(conn, id, client, { transport: candidate.transport, wait: candidate.wait });
    client.trackFlow(
      () => ({
        id,
        name,
        listenerPid: listener.pid,
        listenerCpus: listener.cpus,
        connectorCpus: reply.connector.cpus,
        transport: flow.current.transport,
        wait: flow.current.wait,
        epoch: conn.epoch,
        fallbacks: attempts,
        since,
        counters: conn.stats,
      }),
      // A failed path resumes (not the end of the flow); a peer's orderly close is.
      () => conn.closed || conn.transport.ended,
      (push) => flow.pushed(push),
    );
    return conn;
  }
  const why =
    selection.ranked.length === 0
      ? selection.verdicts.map((v) => `${candidateText(v.candidate)}: ${v.reason}`).join("; ")
      : attempts.map((a) => `${candidateText(a.candidate)}: ${a.error}`).join("; ");
  throw new NoTransportError(`no transport to xio://${name} could be set up (${why})`, attempts);
}

/** A byte stream a transparent-mode connector opened itself on a listener's native stream endpoint. */
export interface NativeStream {
  /** Bytes written and read so far (node:net's bytesWritten and bytesRead). */
  bytes(): { readonly sent: number; readonly received: number };
  /** Whether it is closed (the flow ended). */
  closed(): boolean;
}

/**
 * Transparent mode's connect to a name (a node:net socket at the application's end): asks the
 * daemon as a socket connector (RequirementsWire.socket). When the daemon ranks unix first and the
 * listener takes native streams (ListenOptions.stream), `openNative(path, uid)` opens that unix
 * socket itself (uid: the listener's, for the caller to check the peer against) and the stream is
 * a flow like any other, reported from its byte counts (messages: 0, a byte stream has none); it
 * cannot switch (a push is reported as a failed switch). Otherwise: a Connection, as connect() makes.
 */
export async function connectSocket(
  name: string,
  options: ConnectOptions,
  openNative: (path: string, uid: number) => NativeStream,
): Promise<Connection | NativeStream> {
  const client = options.client ?? defaultDaemonClient();
  const requirements = requirementsOf(options, true);
  let answer = await client.resolve(name, requirements);
  let path = answer.reply.listener.endpoints.stream;
  if (answer.cached && path !== undefined && !existsSync(path)) {
    // A kept answer of a listener that has gone (or restarted elsewhere): ask again.
    client.forgetResolved(name);
    answer = await client.resolve(name, requirements);
    path = answer.reply.listener.endpoints.stream;
  }
  const { listener, selection, connector } = answer.reply;
  const first = selection.ranked[0];
  if (first?.transport !== "unix" || path === undefined) {
    return connectAnswered(name, requirements, answer, client, options);
  }
  const stream = openNative(path, listener.uid);
  const id = randomUUID();
  const since = Date.now();
  const choice: PathChoice = { transport: "unix", wait: null };
  client.trackFlow(
    () => {
      const { sent, received } = stream.bytes();
      return {
        id,
        name,
        listenerPid: listener.pid,
        listenerCpus: listener.cpus,
        connectorCpus: connector.cpus,
        transport: "unix",
        wait: null,
        epoch: 0,
        fallbacks: [],
        since,
        counters: { sentMessages: 0, sentBytes: sent, receivedMessages: 0, receivedBytes: received, writeWaits: 0 },
      };
    },
    () => stream.closed(),
    (push) =>
      client.reportFlowEvent(id, {
        from: choice,
        to: push.to,
        epoch: 0,
        reason: push.reason,
        pauseMs: 0,
        resent: 0,
        at: Date.now(),
        error:
          "a native unix socket of transparent mode cannot switch (FABLE_TRANSPARENT_NATIVE=0 makes switchable ones)",
      }),
  );
  return stream;
}

function openCandidate(c: Candidate, e: Endpoints, uid: number, options: ConnectOptions): Promise<TransportEnd> {
  const missing = (): never => {
    throw new FableError("ENOENDPOINT", `the listener registered no ${c.transport} endpoint`);
  };
  switch (c.transport) {
    case "shm": {
      const wait = c.wait ?? "adaptive";
      const path = e.shm?.[wait] ?? missing();
      return connectShm(path, shmOptions(options.trust, wait, [uid]));
    }
    case "unix":
      return connectUnix(e.unix ?? missing(), streamOptions(options.trust));
    case "tcp":
      return connectTcp(e.tcp ?? missing(), streamOptions(options.trust));
  }
}

/** How connections made through a name reconfigure: endpoints under the daemon's runtime dir, tls from the daemon. */
function reconfigureOptions(client: DaemonClient, role: "listener" | "connector"): ReconfigureOptions {
  return { role, dir: client.paths.runtimeDir, tls: () => client.tlsCredentials() };
}

const REASONS: readonly string[] = ["manual", "contention", "location", "trust", "failure", "peer"];

/**
 * The connecting end's side of a flow's switches: makes the switches the daemon pushes, and
 * reports every switch of the connection (pushed, the application's own, the peer's, a resume
 * after a failure) as a flow event.
 */
class FlowSwitches {
  current: PathChoice;
  readonly #conn: Connection;
  readonly #id: string;
  readonly #client: DaemonClient;

  constructor(conn: Connection, id: string, client: DaemonClient, initial: PathChoice) {
    this.#conn = conn;
    this.#id = id;
    this.#client = client;
    this.current = initial;
    conn.on("switch", (event) => this.#switched(event));
  }

  #switched(event: SwitchEvent): void {
    const from = this.current;
    const transport = event.to as FlowTransport;
    const to: PathChoice = { transport, wait: transport === "shm" ? (event.wait ?? "adaptive") : null };
    this.current = to;
    const reason: SwitchReason =
      event.reason === "resume"
        ? "failure"
        : REASONS.includes(event.reason)
          ? (event.reason as SwitchReason)
          : "manual";
    this.#client.reportFlowEvent(this.#id, {
      from,
      to,
      epoch: event.epoch,
      reason,
      pauseMs: event.pauseMs,
      resent: event.resent,
      at: Date.now(),
    });
  }

  /** The daemon decided a switch: make it (its "switch" event reports it), or report why not. */
  pushed(push: Push): void {
    const spec: PathSpec =
      push.to.transport === "shm" && push.to.wait !== null
        ? { kind: "shm", wait: push.to.wait }
        : { kind: push.to.transport };
    this.#conn.reconfigure(spec, push.reason).catch((err: Error) => {
      this.#client.reportFlowEvent(this.#id, {
        from: this.current,
        to: push.to,
        epoch: this.#conn.epoch,
        reason: push.reason,
        pauseMs: 0,
        resent: 0,
        at: Date.now(),
        error: String(err.message).slice(0, 1000),
      });
    });
  }
}

/**
 * Asks the daemon to switch the flow `flowId` (see `fable flows`) to `to`: the API form of
 * `fable reconfigure`. Resolves with the flow's switch event once its connecting end reported it
 * (rejects with ERECONFIGURE if that end could not switch, ETIMEDOUT after `timeoutMs`).
 */
export async function reconfigureFlow(
  flowId: string,
  to: PathChoice,
  options: { readonly client?: DaemonClient; readonly timeoutMs?: number } = {},
): Promise<FlowEvent> {
  const client = options.client ?? defaultDaemonClient();
  const asked = Date.now();
  const reply = await client.request({ type: "reconfigure", flowId, to });
  const deadline = asked + (options.timeoutMs ?? 10_000);
  for (;;) {
    const { flows } = await client.request({ type: "flows" });
    const flow = flows.find((f) => f.id === flowId);
    if (flow === undefined) throw new FableError("ENOENT", `flow ${flowId} ended before it switched`);
    // Ours: the first manual event after the push (a switch raises the epoch; a failed one does not).
    const event = flow.events.find(
      (e) => e.reason === "manual" && (e.epoch > reply.epoch || (e.error !== undefined && e.at >= asked)),
    );
    if (event?.error !== undefined) throw new FableError("ERECONFIGURE", `flow ${flowId}: ${event.error}`);
    if (event !== undefined) return event;
    if (Date.now() > deadline) {
      throw new FableError("ETIMEDOUT", `flow ${flowId} did not report its switch to ${choiceText(to)} in time`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function candidateText(c: Candidate): string {
  return c.wait === null ? c.transport : `${c.transport}:${c.wait}`;
}

function shmOptions(
  trust: Trust | undefined,
  wait: WaitStrategy | undefined,
  allowUids?: readonly number[],
): { trust?: Trust; wait?: WaitStrategy; allowUids?: readonly number[] } {
  return {
    ...(trust !== undefined ? { trust } : {}),
    ...(wait !== undefined ? { wait } : {}),
    ...(allowUids !== undefined ? { allowUids } : {}),
  };
}

function streamOptions(trust: Trust | undefined): { trust?: Trust } {
  return trust !== undefined ? { trust } : {};
}

function inUse(err: unknown, where: string): unknown {
  const e = err as { code?: unknown; message?: unknown };
  if (e.code !== "EADDRINUSE" || err instanceof AddressInUseError) return err;
  return new AddressInUseError(`cannot listen on ${where}: it is in use (${String(e.message)})`, { cause: err });
}
