/**
 * The daemon's state and request handlers: names, who owns them, the choice of transport for a
 * connect, and the flow table. No sockets here: `handle(caller, request)` takes the caller's
 * kernel-given credentials and a request already checked against its schema, and returns the
 * reply, so it is tested as a plain function (test/daemon/name-service.test.ts).
 *
 * Rules
 * - A name belongs to the uid that registered it, through one control connection (a "session").
 *   Registering a name that is held by a live process is EADDRINUSE, whoever asks: never a steal.
 * - A name goes when its session ends (the client's socket closed: orderly or crash) or when its
 *   process is found dead (sweep(), and before every resolve).
 * - Only its owner's uid, and uids it allows, may resolve it (EACCES otherwise; ENOENT if none).
 * - Flows are reported by their connecting end; a uid sees its own flows and those to its names.
 * - Limits per session and in total keep a hostile client from making the daemon grow unbounded.
 * - Live reconfiguration (issue 10): each flow has a policy state (policy.ts). Triggers (a
 *   `reconfigure` command, a `flow-location` or `flow-trust` mark, a contention sample from
 *   sampleContention()) go through it; a decision is pushed to the flow's connecting end over its
 *   control connection, which reports the outcome as a `flow-event`. Only the flow's uid (or its
 *   name's owner) may trigger; only the reporting session may report events. A flow has one
 *   switch in flight at a time; one not reported within PENDING_TIMEOUT_MS counts as failed.
 * - The Selector learns how many new flows each listener took in the last second (counted when a
 *   flow is first reported; at most LIMITS.busyListeners listeners are counted at once).
 */
import type { PeerCredentials } from "../native/native.js";
import { isAddressName } from "../naming/address-names.js";
import {
  choiceText,
  type DaemonStatus,
  type Endpoints,
  type FlowEntry,
  type FlowEvent,
  FLOW_EVENTS_KEPT,
  type FlowReport,
  type NameEntry,
  type PathChoice,
  type Push,
  type Reply,
  type ReplyBodies,
  type Request,
  type SelectableTransport,
  type SwitchReason,
} from "../naming/protocol.js";
import {
  decide,
  DEFAULT_POLICY,
  type EndSample,
  type FlowPolicy,
  type PolicyOptions,
  type Signal,
  contention,
  spins,
  startPolicy,
} from "./policy.js";
import { type EndPlacement, nativeStreamFirst, type SelectionRequest, type Selector } from "./selector.js";

export interface Caller extends PeerCredentials {
  /** The control connection the request came on. */
  readonly session: number;
}

export interface NameServiceOptions {
  readonly selector: Selector;
  readonly placement: (pid: number) => EndPlacement;
  readonly alive: (pid: number) => boolean;
  /** Asked to stop the daemon (a `stop` request from the daemon's own uid). */
  readonly onStop?: () => void;
  readonly status?: () => Omit<DaemonStatus, "names" | "flows" | "selector">;
  readonly now?: () => number;
  readonly uid?: number;
  /** Sends a push to the client of a session; false when it is gone. */
  readonly push?: (session: number, message: Push) => boolean;
  /** Reads where a process runs now (contention trigger); default: none (no sampling). */
  readonly sample?: (pid: number) => EndSample;
  /** This uid's tls leaf (the daemon's per-user CA). */
  readonly tlsCredentials?: () => { key: string; cert: string; ca: string };
  readonly policy?: PolicyOptions;
}

/** A pushed switch not reported within this long counts as failed (the client is old, or stuck). */
export const PENDING_TIMEOUT_MS = 10_000;

/** Switches in all, by reason and transports (metrics). */
export interface SwitchTotal {
  readonly reason: SwitchReason;
  readonly from: string;
  readonly to: string;
  count: number;
  pauseMs: number;
  resent: number;
}

export const LIMITS = {
  namesPerSession: 20_000,
  flowsPerSession: 20_000,
  names: 200_000,
  flows: 200_000,
  busyListeners: 10_000,
} as const;

/** New flows of one listener over the last second, in ten 100 ms buckets (memory does not grow with the rate). */
class ArrivalRate {
  readonly #slot = new Float64Array(10).fill(-1);
  readonly #count = new Uint32Array(10);

  add(now: number): void {
    const tick = Math.floor(now / 100);
    const i = tick % 10;
    if (this.#slot[i] !== tick) {
      this.#slot[i] = tick;
      this.#count[i] = 0;
    }
    this.#count[i] = (this.#count[i] as number) + 1;
  }

  /** Arrivals in the last 10 buckets (this one included). */
  perSecond(now: number): number {
    const tick = Math.floor(now / 100);
    let n = 0;
    for (let i = 0; i < 10; i++) if ((this.#slot[i] as number) > tick - 10) n += this.#count[i] as number;
    return n;
  }
}

interface NameRecord extends NameEntry {
  readonly session: number;
  readonly endpoints: Endpoints;
}

interface FlowRecord extends Omit<FlowEntry, "transparent"> {
  readonly session: number;
  readonly policy: FlowPolicy;
  /** When the pending switch was pushed. */
  readonly pendingAt: number;
}

class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class NameService {
  readonly #o: NameServiceOptions;
  readonly #names = new Map<string, NameRecord>();
  readonly #flows = new Map<string, FlowRecord>();
  readonly #sessionNames = new Map<number, Set<string>>();
  readonly #sessionFlows = new Map<number, Set<string>>();
  readonly #now: () => number;
  readonly #uid: number;
  readonly #switchTotals = new Map<string, SwitchTotal>();
  /** New flows per listener pid, for the Selector (see CHURN_FLOWS_PER_SECOND). */
  readonly #arrivals = new Map<number, ArrivalRate>();

  constructor(options: NameServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#uid = options.uid ?? process.getuid?.() ?? 0;
  }

  get nameCount(): number {
    return this.#names.size;
  }

  get flowCount(): number {
    return this.#flows.size;
  }

  /** Switches so far by reason, from and to (metrics). */
  switchTotals(): readonly SwitchTotal[] {
    return [...this.#switchTotals.values()];
  }

  /** Every flow, for the metrics endpoint. */
  allFlows(): readonly FlowEntry[] {
    return [...this.#flows.values()].map(publicFlow);
  }

  handle(caller: Caller, request: Request): Reply {
    try {
      return { id: request.id, ok: true, ...this.#dispatch(caller, request) };
    } catch (err) {
      if (err instanceof RequestError)
        return { id: request.id, ok: false, error: { code: err.code, message: err.message } };
      const e = err as { code?: unknown; message?: unknown };
      return {
        id: request.id,
        ok: false,
        error: { code: typeof e.code === "string" ? e.code : "EINTERNAL", message: String(e.message ?? err) },
      };
    }
  }

  #dispatch(caller: Caller, r: Request): ReplyBodies[Request["type"]] {
    switch (r.type) {
      case "register":
        return this.#register(caller, r.name, r.allow, r.endpoints);
      case "unregister": {
        const held = this.#names.get(r.name);
        if (held === undefined || held.session !== caller.session) {
          throw new RequestError("ENOENT", `xio://${r.name} is not registered by this connection`);
        }
        this.#dropName(held);
        return {};
      }
      case "resolve":
        return this.#resolve(caller, r.name, r.requirements, r.pid);
      case "flow":
        return this.#flow(caller, r.flow);
      case "flow-close": {
        const key = `${caller.uid}:${r.flowId}`;
        const flow = this.#flows.get(key);
        if (flow !== undefined && flow.session === caller.session) this.#dropFlow(key, flow);
        return {};
      }
      case "names":
        return { names: [...this.#names.values()].filter((n) => visible(n, caller.uid)).map(publicName) };
      case "flows":
        return {
          flows: [...this.#flows.values()]
            .filter((f) => f.uid === caller.uid || this.#names.get(f.name)?.uid === caller.uid)
            .map(publicFlow),
        };
      case "status":
        return {
          ...(this.#o.status?.() ?? {
            pid: process.pid,
            uid: this.#uid,
            version: 1,
            startedAt: 0,
            socket: "",
            clients: 0,
            metrics: null,
          }),
          selector: this.#o.selector.describe(),
          names: this.#names.size,
          flows: this.#flows.size,
        };
      case "stop":
        if (caller.uid !== this.#uid)
          throw new RequestError("EACCES", `uid ${caller.uid} may not stop uid ${this.#uid}'s daemon`);
        queueMicrotask(() => this.#o.onStop?.());
        return {};
      case "reconfigure": {
        const [key, flow] = this.#controlled(caller, r.flowId);
        if (flow.policy.pending !== undefined) {
          throw new RequestError(
            "EBUSY",
            `flow ${r.flowId} is switching to ${choiceText(flow.policy.pending)}; try again`,
          );
        }
        const pushed = this.#signal(key, flow, { kind: "manual", to: r.to });
        if (pushed === null) {
          throw new RequestError(
            "ENOCHANGE",
            flow.policy.untrusted
              ? `flow ${r.flowId} stays on tls while its path is marked untrusted; it moves to ${choiceText(r.to)} once trusted`
              : `flow ${r.flowId} already runs on ${choiceText(flow.policy.current)}`,
          );
        }
        return { pushed: true, epoch: flow.epoch, from: flow.policy.current };
      }
      case "flow-event":
        return this.#flowEvent(caller, r.flowId, r.event);
      case "flow-location": {
        const [key, flow] = this.#controlled(caller, r.flowId);
        return { pushed: this.#signal(key, flow, { kind: "location", apart: r.apart }) };
      }
      case "flow-trust": {
        const [key, flow] = this.#controlled(caller, r.flowId);
        return { pushed: this.#signal(key, flow, { kind: "trust", trusted: r.trusted }) };
      }
      case "tls-credentials": {
        if (caller.uid !== this.#uid) {
          throw new RequestError("EACCES", `uid ${caller.uid} may not have uid ${this.#uid}'s tls credentials`);
        }
        if (this.#o.tlsCredentials === undefined) throw new RequestError("ENOTSUP", "this daemon holds no tls CA");
        return this.#o.tlsCredentials();
      }
    }
  }

  /** The flow `flowId` if the caller may trigger switches of it (its uid, or its name's owner). */
  #controlled(caller: Caller, flowId: string): [string, FlowRecord] {
    for (const [key, f] of this.#flows) {
      if (f.id !== flowId) continue;
      if (f.uid === caller.uid || this.#names.get(f.name)?.uid === caller.uid) return [key, f];
    }
    throw new RequestError("ENOENT", `no flow ${flowId} (see \`fable flows\`)`);
  }

  /** Runs a signal through the flow's policy and pushes the decision; the choice pushed, or null. */
  #signal(key: string, flow: FlowRecord, signal: Signal): PathChoice | null {
    const now = this.#now();
    let policy = flow.policy;
    if (policy.pending !== undefined && now - flow.pendingAt > PENDING_TIMEOUT_MS) {
      policy = decide(
        policy,
        { kind: "reported", to: policy.pending, reason: "manual", ok: false },
        now,
        this.#policy(),
      ).state;
    }
    const { state, decision } = decide(policy, signal, now, this.#policy());
    if (decision === undefined) {
      this.#flows.set(key, { ...flow, policy: state });
      return null;
    }
    const sent =
      this.#o.push?.(flow.session, {
        push: "reconfigure",
        flowId: flow.id,
        to: decision.to,
        reason: decision.reason,
      }) ?? false;
    // Not delivered: nothing is in flight (the next signal decides again).
    this.#flows.set(key, { ...flow, policy: sent ? state : { ...state, pending: undefined }, pendingAt: now });
    return sent ? decision.to : null;
  }

  #policy(): PolicyOptions {
    return this.#o.policy ?? DEFAULT_POLICY;
  }

  #flowEvent(caller: Caller, flowId: string, event: FlowEvent): ReplyBodies["flow-event"] {
    const key = `${caller.uid}:${flowId}`;
    const flow = this.#flows.get(key);
    if (flow === undefined || flow.session !== caller.session) {
      throw new RequestError("ENOENT", `no flow ${flowId} reported by this connection`);
    }
    const ok = event.error === undefined;
    const { state } = decide(
      flow.policy,
      { kind: "reported", to: ok ? event.to : event.from, reason: event.reason, ok },
      this.#now(),
      this.#policy(),
    );
    const events = [...flow.events, event].slice(-FLOW_EVENTS_KEPT);
    this.#flows.set(key, {
      ...flow,
      policy: state,
      events,
      switches: flow.switches + (ok ? 1 : 0),
      ...(ok ? { transport: event.to.transport, wait: event.to.wait, epoch: Math.max(flow.epoch, event.epoch) } : {}),
    });
    if (ok) {
      const from = choiceText(event.from);
      const to = choiceText(event.to);
      const tkey = `${event.reason}|${from}|${to}`;
      const total = this.#switchTotals.get(tkey) ?? { reason: event.reason, from, to, count: 0, pauseMs: 0, resent: 0 };
      total.count++;
      total.pauseMs += event.pauseMs;
      total.resent += event.resent;
      this.#switchTotals.set(tkey, total);
    }
    return {};
  }

  /** Whether any flow has a spinning end (the contention trigger samples only then). */
  get spinningFlows(): number {
    let n = 0;
    for (const f of this.#flows.values()) if (spins(f.policy.base)) n++;
    return n;
  }

  /**
   * The contention trigger: where the two ends of every flow whose base spins run now; switches
   * (through the policy) those that share one CPU to blocking waits, and back. The daemon calls it
   * at most every 100 ms, and only while spinningFlows > 0.
   */
  sampleContention(): void {
    const read = this.#o.sample;
    if (read === undefined) return;
    const samples = new Map<number, EndSample | null>();
    const at = (pid: number): EndSample | null => {
      let s = samples.get(pid);
      if (s === undefined) {
        try {
          s = read(pid);
        } catch {
          s = null; // gone: the sweep drops its flows
        }
        samples.set(pid, s);
      }
      return s;
    };
    for (const [key, f] of [...this.#flows]) {
      if (!spins(f.policy.base)) continue;
      const a = at(f.connectorPid);
      const b = at(f.listenerPid);
      if (a === null || b === null) continue;
      this.#signal(key, f, { kind: "contention", sample: contention(a, b) });
    }
  }

  #register(caller: Caller, name: string, allow: readonly number[], endpoints: Endpoints): ReplyBodies["register"] {
    const offered = offeredBy(endpoints);
    if (offered.length === 0)
      throw new RequestError("EBADREQUEST", `xio://${name}: a registration needs at least one endpoint`);
    const held = this.#names.get(name);
    if (held !== undefined) {
      if (this.#o.alive(held.pid)) {
        throw new RequestError(
          "EADDRINUSE",
          `xio://${name} is taken (uid ${held.uid}, pid ${held.pid}${held.uid === caller.uid ? "" : ": another user's"}); pick another name`,
        );
      }
      this.#dropName(held);
    }
    const mine = this.#sessionNames.get(caller.session) ?? new Set<string>();
    if (mine.size >= LIMITS.namesPerSession || this.#names.size >= LIMITS.names) {
      throw new RequestError("ELIMIT", `too many names (${mine.size} on this connection, ${this.#names.size} in all)`);
    }
    mine.add(name);
    this.#sessionNames.set(caller.session, mine);
    this.#names.set(name, {
      name,
      uid: caller.uid,
      pid: caller.pid,
      allow: [...allow],
      offered,
      since: this.#now(),
      session: caller.session,
      endpoints,
    });
    return {};
  }

  #resolve(
    caller: Caller,
    name: string,
    requirements: Extract<Request, { type: "resolve" }>["requirements"],
    pid?: number,
  ): ReplyBodies["resolve"] {
    const held = this.#names.get(name);
    if (held !== undefined && !this.#o.alive(held.pid)) this.#dropName(held);
    const entry = this.#names.get(name);
    if (entry === undefined) throw new RequestError("ENOENT", `no process listens at xio://${name}`);
    if (!visible(entry, caller.uid)) {
      throw new RequestError(
        "EACCES",
        `xio://${name} belongs to uid ${entry.uid} and does not allow uid ${caller.uid}`,
      );
    }
    const listener = this.#o.placement(entry.pid);
    const connector = this.#o.placement(pid ?? caller.pid);
    const request: SelectionRequest = {
      listener,
      connector,
      // (Not `{ ...requirements }`: see #flow on spreading a parsed request.)
      requirements: {
        latency: requirements.latency,
        spin: requirements.spin,
        trust: requirements.trust,
        sizes: [...requirements.sizes],
        socket: requirements.socket === true,
      },
      offered: entry.offered,
      listenerNewFlowsPerSecond: this.#arrivals.get(entry.pid)?.perSecond(this.#now()) ?? 0,
      nativeStream: entry.endpoints.stream !== undefined,
    };
    const selection = nativeStreamFirst(this.#o.selector.select(request), request);
    return {
      listener: { pid: entry.pid, uid: entry.uid, cpus: listener.allowedCpus, endpoints: entry.endpoints },
      connector: { pid: connector.pid, cpus: connector.allowedCpus },
      selection,
    };
  }

  #flow(caller: Caller, report: FlowReport): ReplyBodies["flow"] {
    const key = `${caller.uid}:${report.id}`;
    const before = this.#flows.get(key);
    const mine = this.#sessionFlows.get(caller.session) ?? new Set<string>();
    if (before === undefined && (mine.size >= LIMITS.flowsPerSession || this.#flows.size >= LIMITS.flows)) {
      throw new RequestError("ELIMIT", `too many flows (${mine.size} on this connection, ${this.#flows.size} in all)`);
    }
    if (before !== undefined && before.session !== caller.session) this.#sessionFlows.get(before.session)?.delete(key);
    const now = this.#now();
    const rates = { sentMessages: 0, sentBytes: 0, receivedMessages: 0, receivedBytes: 0 };
    if (before !== undefined && now > before.reportedAt) {
      const s = (now - before.reportedAt) / 1000;
      for (const k of Object.keys(rates) as (keyof typeof rates)[]) {
        rates[k] = Math.max(0, (report.counters[k] - before.counters[k]) / s);
      }
    }
    if (before === undefined) {
      let arrivals = this.#arrivals.get(report.listenerPid);
      if (arrivals === undefined && this.#arrivals.size < LIMITS.busyListeners) {
        this.#arrivals.set(report.listenerPid, (arrivals = new ArrivalRate()));
      }
      arrivals?.add(now);
    }
    mine.add(key);
    this.#sessionFlows.set(caller.session, mine);
    // Field by field, not `{ ...report, ... }`: V8 gave each record spread from a parsed report a
    // hidden class of its own, all of them garbage in old space once the flow closed (at 1000
    // connects a second, the daemon's heap saw-toothed by tens of MiB between collections).
    this.#flows.set(key, {
      id: report.id,
      name: report.name,
      listenerPid: report.listenerPid,
      listenerCpus: report.listenerCpus,
      connectorCpus: report.connectorCpus,
      transport: report.transport,
      wait: report.wait,
      epoch: report.epoch,
      fallbacks: report.fallbacks,
      since: report.since,
      counters: report.counters,
      connectorPid: caller.pid,
      uid: caller.uid,
      rates,
      reportedAt: now,
      session: caller.session,
      events: before?.events ?? [],
      switches: before?.switches ?? 0,
      // A re-report after a daemon restart starts a fresh policy on what the flow runs on.
      policy: before?.policy ?? startPolicy({ transport: report.transport, wait: report.wait }, now),
      pendingAt: before?.pendingAt ?? 0,
    });
    return {};
  }

  /** The control connection `session` ended: its names and flows go with it. */
  endSession(session: number): void {
    for (const name of this.#sessionNames.get(session) ?? []) {
      const n = this.#names.get(name);
      if (n !== undefined && n.session === session) this.#names.delete(name);
    }
    this.#sessionNames.delete(session);
    for (const key of this.#sessionFlows.get(session) ?? []) {
      if (this.#flows.get(key)?.session === session) this.#flows.delete(key);
    }
    this.#sessionFlows.delete(session);
  }

  /** Drops names and flows of processes that are gone (a crash the socket did not show yet). */
  sweep(): void {
    const dead = new Map<number, boolean>();
    const isDead = (pid: number): boolean => {
      let d = dead.get(pid);
      if (d === undefined) dead.set(pid, (d = !this.#o.alive(pid)));
      return d;
    };
    // (Deleting the entry a Map iteration is at is safe: no copy of 10,000 names every sweep.)
    for (const n of this.#names.values()) if (isDead(n.pid)) this.#dropName(n);
    for (const [key, f] of this.#flows) if (isDead(f.connectorPid)) this.#dropFlow(key, f);
    const now = this.#now();
    for (const [pid, a] of this.#arrivals) if (a.perSecond(now) === 0) this.#arrivals.delete(pid);
  }

  #dropName(n: NameRecord): void {
    this.#names.delete(n.name);
    this.#sessionNames.get(n.session)?.delete(n.name);
  }

  #dropFlow(key: string, f: FlowRecord): void {
    this.#flows.delete(key);
    this.#sessionFlows.get(f.session)?.delete(key);
  }
}

function visible(n: NameEntry, uid: number): boolean {
  return n.uid === uid || n.allow.includes(uid);
}

function offeredBy(e: Endpoints): SelectableTransport[] {
  const out: SelectableTransport[] = [];
  if (e.shm !== undefined) out.push("shm");
  if (e.unix !== undefined) out.push("unix");
  if (e.tcp !== undefined) out.push("tcp");
  return out;
}

function publicName(n: NameRecord): NameEntry {
  return { name: n.name, uid: n.uid, pid: n.pid, allow: n.allow, offered: n.offered, since: n.since };
}

function publicFlow(f: FlowRecord): FlowEntry {
  const { session: _session, policy: _policy, pendingAt: _pendingAt, ...rest } = f;
  return { ...rest, transparent: isAddressName(f.name) };
}
