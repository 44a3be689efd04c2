/**
 * Live reconfiguration of a connection (DESIGN.md "Reconfiguration"): its transport is switched
 * while messages flow, with no loss, duplication or reordering. This module holds the agreement
 * between the two ends; connection.ts holds the per-record mechanics. The rules:
 *
 * Sequence numbers and control records
 * - Every data record (a whole message or one fragment) has the connection's next sequence number
 *   in its direction; control records (RECORD_CONTROL) carry the writer's next number but take
 *   none. A reconfigurable connection fragments at PATH_RECORD_BYTES, so any record fits any path.
 *
 * Setup (openReconfigurable)
 * - The end with role "listener" opens a resume endpoint (a unix socket in a private 0700
 *   directory, or tcp) with a random token, or registers a token with one its listener shares
 *   (resume-endpoint.ts), and sends SETUP {address, token}; the "connector" end is ready once it
 *   has it. Only the connector dials it; only the listener accepts on it.
 *
 * A switch (reconfigure(spec)), both directions
 * 1. The initiator opens an endpoint of the new kind with a fresh token (shm/unix: a socket in
 *    the connection's private 0700 directory; tcp: a listener on loopback; tls: a route at the
 *    process's shared tls listener; path-resources.ts), and sends OFFER {epoch, spec, address, token} on the
 *    current path. Epoch = highest epoch either end has seen + 1. A switch asked for while a
 *    resume (below) is under way starts after it: the resume takes the next epoch.
 * 2. The responder dials it; the first record on the new end is HELLO {token}, checked in
 *    constant time by the endpoint before the connection sees the end (strangers are dropped).
 *    If it cannot dial, or the offer is stale (its epoch is not above the responder's), it sends
 *    DECLINE {epoch, reason}; the initiator's reconfigure() rejects with ReconfigureError and
 *    nothing changes.
 * 3. Each end, once it has the new end (the responder after dialing, the initiator after
 *    accepting): its writer publishes, behind everything it has written, an EPOCH_END marker
 *    {old epoch, next seq} on the old path, then writes only on the new path.
 * 4. Each reader delivers the old path up to the peer's marker (checking that the marker's seq is
 *    the next one expected), then reads the new path. Records arriving early on the new path wait
 *    in it. Read buffers carry the epoch of the path they came from.
 * 5. An old path is closed once this end's marker is out, the peer's marker is in, and the
 *    application released every read buffer viewing it. Buffers still held drainTimeoutMs after the
 *    switch are copied to private memory ("copy", default, reported by a "drain" event) or the
 *    connection ends with DrainTimeoutError ("fail").
 * 6. When both directions are on the new path, the "switch" event fires (and
 *    diagnostics_channel "fable:connection:switch"). Offers cross: the listener's wins; the
 *    connector abandons its own (its reconfigure() rejects) and answers the listener's.
 *
 * Acknowledgements and failures
 * - A writer keeps every record it published until the peer acknowledges it: a copy, or over a
 *   ring (shm) the record itself where it lies until the ring goes (retention.ts). Readers
 *   acknowledge off the hot path: a timer (tickMs) sends ACK {next seq} when it moved. A writer
 *   with more than retainBytes unacknowledged waits (back-pressure).
 * - Any path failing abruptly (reset, peer ring corrupt, region unmapped) drops every path of the
 *   connection; the connector dials the resume endpoint (retrying) and the listener accepts. Each
 *   end sends RESUME {epoch, next seq it lacks} first on the fresh path; each writer re-sends its
 *   copies from the peer's seq, then goes on. A reader drops a record behind its next seq (a
 *   duplicate). Messages the connection had taken ahead of the application are read again;
 *   read buffers the application held on the dead path become unusable (their messages were
 *   delivered). No fresh path within timeoutMs: the connection fails with ResumeError.
 * - A connection destroyed (not closed) is not resumed: the connector says ABORT over one more dial
 *   of the resume endpoint, and a listener's shared resume endpoint answers a token it no longer
 *   routes with ABORT; the peer then fails at once with ResumeError (a reset), not after timeoutMs.
 * - A peer that breaks these rules (bad control record, marker at the wrong seq, a resume point
 *   outside the copies) fails the connection with a typed error; it cannot make us allocate more
 *   than retainBytes for it or read outside a record.
 */
import diagnostics from "node:diagnostics_channel";
import { FableError } from "../errors.js";
import { TransportError, type TransportEnd } from "../transports/transport.js";
import { PathResources } from "./path-resources.js";
import type { SharedResumeEndpoint } from "./resume-endpoint.js";
import type { TlsCredentials } from "../transports/tls.js";
import type { WaitStrategy } from "../ring/wait.js";
import type { Endpoint } from "./paths.js";
import {
  checkAddress,
  checkSpec,
  checkToken,
  CTL_DECLINE,
  CTL_OFFER,
  CTL_SETUP,
  decodeJson,
  dialEndpoint,
  encodeJson,
  ReconfigureError,
  sendAbort,
  type PathAddress,
  type PathSpec,
} from "./paths.js";

export { ReconfigureError } from "./paths.js";

export interface ReconfigureOptions {
  /** Which end opens the resume endpoint ("listener") and which dials it ("connector"). */
  readonly role: "listener" | "connector";
  /** How long the application may hold read buffers of a retired path (default 1000 ms). */
  readonly drainTimeoutMs?: number;
  /** After the drain timeout: copy them to private memory (default) or fail the connection. */
  readonly drainPolicy?: "copy" | "fail";
  /** Most unacknowledged bytes kept for re-sending (default 64 MiB); more makes the writer wait. */
  readonly retainBytes?: number;
  /** Period of the control timer: acknowledgements, control records, failure checks (default 5 ms). */
  readonly tickMs?: number;
  /** Time to build a new path or resume on one (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Transport of the resume endpoint (default "unix"; "tcp" when the ends may be on two hosts). */
  readonly resume?: "unix" | "tcp";
  /**
   * Listener: register with this endpoint (shared by the listener's connections) instead of
   * opening one per connection; `resume` is then the shared endpoint's.
   */
  readonly resumeEndpoint?: SharedResumeEndpoint;
  /** Directory under which private endpoint directories are made (default: the OS temp dir). */
  readonly dir?: string;
  /** tcp and tls endpoints listen on this host (default 127.0.0.1). */
  readonly host?: string;
  /**
   * This end's credentials for tls paths (a leaf of the per-user CA, src/daemon/tls-ca.ts), or a
   * function that gets them when a tls path is first built.
   */
  readonly tls?: TlsCredentials | (() => Promise<TlsCredentials>);
}

/** A switch or resume that happened (also a drain: `resent` then counts buffers copied). */
export interface SwitchEvent {
  readonly from: string;
  readonly to: string;
  /** How the new path's ends wait (shm; absent: the transport's default, or a resume path). */
  readonly wait?: WaitStrategy;
  readonly epoch: number;
  readonly reason: string;
  /** From agreeing on the path (or the failure) to both directions on the new one. */
  readonly pauseMs: number;
  /** Records re-sent after a resume. */
  readonly resent: number;
}

/** Old read buffers were still held when the drain timeout ran out (policy "fail"). */
export class DrainTimeoutError extends FableError {
  constructor(message: string) {
    super("EDRAIN", message);
  }
}

/** A failed path could not be replaced in time, or the peer's resume was inconsistent. */
export class ResumeError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("ERESUME", message, options);
  }
}

const switchChannel = diagnostics.channel("fable:connection:switch");

/** Publishes a switch, resume or drain on `node:diagnostics_channel` "fable:connection:switch". */
export function publishSwitch(connection: number, name: string, event: SwitchEvent): void {
  if (switchChannel.hasSubscribers) switchChannel.publish({ connection, event: name, ...event });
}

/** What the controller may do to its connection (closures made by the Connection). */
export interface PathHost {
  readonly id: number;
  epoch(): number;
  kind(): string;
  closed(): boolean;
  sendControl(bytes: Uint8Array): void;
  adopt(end: TransportEnd, epoch: number, from: string, to: PathSpec, reason: string): void;
  resumeOn(end: TransportEnd): void;
  fail(err: Error): void;
  destroy(err: Error): void;
  emit(name: "switch" | "drain", event: SwitchEvent): void;
}

interface Offer {
  readonly epoch: number;
  abort: (err: Error) => void;
}

/** One connection's side of the agreement. */
export class PathControl {
  readonly ready: Promise<void>;
  readonly drainTimeoutMs: number;
  readonly drainPolicy: "copy" | "fail";
  /** Kind of the path that failed last (for the resume event). */
  lastKind = "";
  readonly #host: PathHost;
  readonly #options: ReconfigureOptions;
  readonly #timeoutMs: number;
  #setReady!: () => void;
  #failReady!: (err: Error) => void;
  #readySettled = false;
  #resumeEndpoint: Endpoint | undefined;
  /** Lets go of this connection's place at a shared resume endpoint. */
  #resumeRelease: (() => void) | undefined;
  #resumeAt: { address: PathAddress; token: Uint8Array } | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #offer: Offer | undefined;
  #switched: ((event: SwitchEvent) => void) | undefined;
  #failedAt = 0;
  #resuming: { deadline: NodeJS.Timeout; dialing: boolean } | undefined;
  #closed = false;
  /** This connection's endpoint directory and tls hub places, kept across its switches. */
  readonly #resources: PathResources;
  /** The last few agreement steps, for debugState (switches are rare: this costs nothing that matters). */
  readonly #trace: string[] = [];

  #note(step: string): void {
    this.#trace.push(`${Math.round(performance.now())} ${step} (epoch ${this.#host.epoch()})`);
    if (this.#trace.length > 24) this.#trace.shift();
  }

  constructor(host: PathHost, options: ReconfigureOptions) {
    this.#host = host;
    this.#options = options;
    if (options.role !== "listener" && options.role !== "connector") {
      throw new ReconfigureError(`role must be "listener" or "connector", not ${JSON.stringify(options.role)}`);
    }
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#resources = new PathResources(this.#endpointOptions());
    this.drainTimeoutMs = options.drainTimeoutMs ?? 1000;
    this.drainPolicy = options.drainPolicy ?? "copy";
    this.ready = new Promise<void>((resolve, reject) => {
      this.#setReady = resolve;
      this.#failReady = reject;
    });
    // (Settled either way: a rejection nobody awaits is no crash.) close() then makes no error.
    const settled = (): void => {
      this.#readySettled = true;
    };
    void this.ready.then(settled, settled);
    if (options.role === "listener") void this.#openResume();
    else {
      const timer = setTimeout(
        () => this.#failReady(new ReconfigureError(`the peer sent no resume endpoint within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
      timer.unref();
      void this.ready.then(
        () => clearTimeout(timer),
        () => clearTimeout(timer),
      );
    }
  }

  async #openResume(): Promise<void> {
    const shared = this.#options.resumeEndpoint;
    if (shared !== undefined) {
      try {
        const at = await shared.register((end) => this.#resumeDialed(end));
        if (this.#closed) {
          at.release();
          return;
        }
        this.#resumeRelease = at.release;
        this.#host.sendControl(
          encodeJson(CTL_SETUP, { address: at.address, token: Buffer.from(at.token).toString("hex") }),
        );
        this.#setReady();
      } catch (err) {
        this.#failReady(err as Error);
      }
      return;
    }
    try {
      // Waiting for a resume must not keep the process alive: the connection's own path does that.
      const endpoint = await this.#resources.openResume(this.#options.resume ?? "unix");
      if (this.#closed) {
        await endpoint.close();
        return;
      }
      this.#resumeEndpoint = endpoint;
      this.#host.sendControl(
        encodeJson(CTL_SETUP, { address: endpoint.address, token: Buffer.from(endpoint.token).toString("hex") }),
      );
      this.#setReady();
      void this.#acceptResumes(endpoint);
    } catch (err) {
      this.#failReady(err as Error);
    }
  }

  /** The listener's side of resuming: every dial with the token starts the connection over on that end. */
  async #acceptResumes(endpoint: Endpoint): Promise<void> {
    for (;;) {
      let end: TransportEnd;
      try {
        end = await endpoint.accept(undefined);
      } catch {
        return; // closed
      }
      if (this.#closed || this.#host.closed()) {
        end.destroy();
        return;
      }
      this.#resumeDialed(end);
    }
  }

  /** The connector dialed the resume endpoint with our token: start over on `end`. */
  #resumeDialed(end: TransportEnd): void {
    if (this.#closed || this.#host.closed()) {
      end.destroy();
      return;
    }
    // Whatever we thought of our paths, the connector saw one fail.
    this.#host.fail(new TransportError("EPEER", `connection ${this.#host.id}: the peer resumed`));
    this.#host.resumeOn(end);
  }

  #endpointOptions(): { dir?: string; host?: string; tls?: TlsCredentials | (() => Promise<TlsCredentials>) } {
    return {
      ...(this.#options.tls !== undefined ? { tls: this.#options.tls } : {}),
      ...(this.#options.dir !== undefined ? { dir: this.#options.dir } : {}),
      ...(this.#options.host !== undefined ? { host: this.#options.host } : {}),
    };
  }

  /** @internal: the private endpoint directory, once made (tests check it is one per connection). */
  get endpointDir(): Promise<string> | undefined {
    return this.#resources.dir;
  }

  /** @internal: see Connection.debugState. */
  get debugState(): Record<string, unknown> {
    return {
      offer: this.#offer?.epoch,
      answering: this.#switched !== undefined,
      resuming: this.#resuming === undefined ? undefined : { dialing: this.#resuming.dialing },
      closed: this.#closed,
      trace: [...this.#trace],
    };
  }

  /** Switches to `spec`; serialised with other switches of this end. */
  reconfigure(spec: PathSpec, reason: string): Promise<SwitchEvent> {
    let checked: PathSpec;
    try {
      checked = checkSpec(spec);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const run = this.#chain.then(
      () => this.#switch(checked, reason),
      () => this.#switch(checked, reason),
    );
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves when no switch of this end is under way. */
  idle(): Promise<void> {
    return this.#chain.then(() => undefined);
  }

  async #switch(spec: PathSpec, reason: string): Promise<SwitchEvent> {
    await this.ready;
    // A turn of the event loop first: a switch asked for as the previous one completed (its
    // promise resolved as this end's marker went out) would otherwise build its endpoint and send
    // its offer before the writer's first messages on the new path, all inside that one's pause.
    await new Promise<void>((resolve) => setImmediate(resolve));
    // A resume under way takes the next epoch: an offer made now would carry one the peer has
    // used up by the time it reads it (and drops as stale), so the switch starts after it.
    while (this.#resuming !== undefined && !this.#closed) await this.#resumeFinished();
    if (this.#closed) throw new ReconfigureError(`connection ${this.#host.id} is closed`);
    const epoch = this.#host.epoch() + 1;
    const from = this.#host.kind();
    // The offer counts from here, so a path failing while the endpoint is built aborts it too.
    const offer: Offer = { epoch, abort: () => undefined };
    const aborted = new Promise<never>((_, reject) => (offer.abort = reject));
    aborted.catch(() => undefined);
    this.#offer = offer;
    this.#note(`offer ${epoch} ${spec.kind}`);
    const opening = this.#resources.open(spec);
    let endpoint: Endpoint | undefined;
    try {
      endpoint = await Promise.race([opening, aborted]);
      this.#host.sendControl(
        encodeJson(CTL_OFFER, {
          epoch,
          spec,
          address: endpoint.address,
          token: Buffer.from(endpoint.token).toString("hex"),
          reason,
        }),
      );
      const end = await Promise.race([endpoint.accept(this.#timeoutMs), aborted]);
      this.#note(`accepted ${epoch}`);
      if (this.#offer !== offer) {
        end.destroy();
        throw new ReconfigureError(`switch to ${spec.kind} was interrupted`);
      }
      const done = new Promise<SwitchEvent>((resolve) => (this.#switched = resolve));
      this.#host.adopt(end, epoch, from, spec, reason);
      return await Promise.race([done, aborted]);
    } catch (err) {
      this.#note(`offer ${epoch} failed: ${(err as Error).message.slice(0, 80)}`);
      throw err;
    } finally {
      if (this.#offer === offer) this.#offer = undefined;
      this.#switched = undefined;
      // Closed a turn later: this runs just as the new path starts (closing a listener, freeing a
      // spare region), and the writer's first messages on it go first.
      if (endpoint !== undefined) setImmediate(() => void endpoint?.close());
      else void opening.then((e) => e.close()).catch(() => undefined);
    }
  }

  /** Both directions are on the new path. */
  switched(event: SwitchEvent): void {
    this.#note(`switched ${event.epoch} (waiter ${this.#switched !== undefined})`);
    this.#switched?.(event);
  }

  /** A control record this module owns (SETUP, OFFER, DECLINE). */
  control(bytes: Uint8Array): void {
    const type = bytes[0];
    const body = decodeJson(bytes);
    if (type === CTL_SETUP) {
      if (this.#options.role !== "connector") throw new TransportError("EPROTOCOL", "SETUP sent to the listener end");
      this.#resumeAt = { address: checkAddress(body.address), token: checkToken(body.token) };
      this.#setReady();
      return;
    }
    if (type === CTL_OFFER) {
      const epoch = body.epoch;
      if (typeof epoch !== "number" || !Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
        throw new TransportError("EPROTOCOL", `OFFER with epoch ${String(epoch)}`);
      }
      const address = checkAddress(body.address);
      const token = checkToken(body.token);
      let spec: PathSpec;
      try {
        spec = checkSpec(body.spec);
      } catch (err) {
        this.#host.sendControl(encodeJson(CTL_DECLINE, { epoch, reason: (err as Error).message }));
        return;
      }
      this.#note(
        `got offer ${epoch} ${String((body.spec as { kind?: unknown } | undefined)?.kind)}; mine ${this.#offer?.epoch}`,
      );
      if (epoch <= this.#host.epoch()) {
        // Stale: abandoned by the peer (crossing offers), or overtaken by a resume. Say so, so
        // that an initiator still waiting for it stops now instead of at its timeout.
        this.#host.sendControl(encodeJson(CTL_DECLINE, { epoch, reason: `epoch ${epoch} is stale` }));
        return;
      }
      const mine = this.#offer;
      if (mine !== undefined) {
        if (this.#options.role === "listener") return; // crossing offers: ours wins
        this.#offer = undefined;
        mine.abort(new ReconfigureError(`switch abandoned: the peer offered epoch ${epoch} at the same time`));
      }
      // The initiator's reason (why it switches), so both ends report the same; a peer's text is capped.
      const reason = typeof body.reason === "string" ? body.reason.slice(0, 64) : "peer";
      const run = this.#chain.then(() => this.#answer(epoch, spec, address, token, reason));
      this.#chain = run.catch(() => undefined);
      return;
    }
    if (type === CTL_DECLINE) {
      this.#note(`got decline ${String(body.epoch)}: ${String(body.reason).slice(0, 60)}`);
      const offer = this.#offer;
      if (offer !== undefined && body.epoch === offer.epoch) {
        this.#offer = undefined;
        offer.abort(new ReconfigureError(`the peer declined the switch: ${String(body.reason).slice(0, 200)}`));
      }
      return;
    }
    throw new TransportError("EPROTOCOL", `unknown control record type ${type}`);
  }

  async #answer(epoch: number, spec: PathSpec, address: PathAddress, token: Uint8Array, reason: string): Promise<void> {
    this.#note(`answer ${epoch}`);
    if (this.#closed || epoch <= this.#host.epoch()) return;
    const from = this.#host.kind();
    let end: TransportEnd;
    try {
      end = await dialEndpoint(address, token, spec, { timeoutMs: this.#timeoutMs, ...this.#endpointOptions() });
    } catch (err) {
      this.#note(`answer ${epoch} dial failed: ${(err as Error).message.slice(0, 60)}`);
      if (!this.#host.closed()) {
        this.#host.sendControl(encodeJson(CTL_DECLINE, { epoch, reason: (err as Error).message }));
      }
      return;
    }
    // A resume that started and ended while we dialed took this epoch (or a later one): the
    // initiator gave this offer up, and adopting its path would write where nobody reads (the chaos
    // test caught it: seed 1482474742, stuck at switch 59).
    if (this.#closed || this.#host.closed() || this.#resuming !== undefined || epoch <= this.#host.epoch()) {
      this.#note(`answer ${epoch} dropped: ${this.#resuming !== undefined ? "resuming" : "stale"}`);
      end.destroy();
      return;
    }
    this.#note(`answer ${epoch} adopts`);
    const done = new Promise<SwitchEvent>((resolve) => (this.#switched = resolve));
    // Asked for before adopt(): a path failing inside it (a write to a dead socket) resumes at once.
    const resumeStarted = this.#resumeStarted();
    this.#host.adopt(end, epoch, from, spec, reason);
    // The next switch of this end waits for this one (or for a resume that replaces it).
    await Promise.race([done, resumeStarted]);
    this.#note(`answer ${epoch} done`);
    this.#switched = undefined;
  }

  #resumeWaiters: (() => void)[] = [];
  #resumeDoneWaiters: (() => void)[] = [];

  /** Resolves when the resume under way is over (the connection runs on a fresh path, or closed). */
  #resumeFinished(): Promise<void> {
    return new Promise((resolve) => this.#resumeDoneWaiters.push(resolve));
  }

  #wakeResumeDone(): void {
    const waiters = this.#resumeDoneWaiters;
    this.#resumeDoneWaiters = [];
    for (const w of waiters) w();
  }

  #resumeStarted(): Promise<void> {
    return new Promise((resolve) => this.#resumeWaiters.push(resolve));
  }

  /** Every path was dropped after `err`: get a fresh one (dial as connector, wait as listener). */
  resume(err: Error): void {
    if (this.#closed) return;
    this.#note(`resume: ${err.message.slice(0, 60)}`);
    const offer = this.#offer;
    this.#offer = undefined;
    offer?.abort(new ReconfigureError(`switch interrupted: a path failed (${err.message}); the connection resumes`));
    const waiters = this.#resumeWaiters;
    this.#resumeWaiters = [];
    for (const w of waiters) w();
    this.lastKind = this.#host.kind();
    if (this.#resuming === undefined) {
      this.#failedAt = performance.now();
      const deadline = setTimeout(() => {
        this.#host.destroy(
          new ResumeError(
            `connection ${this.#host.id}: no fresh path within ${this.#timeoutMs} ms after: ${err.message}`,
            { cause: err },
          ),
        );
      }, this.#timeoutMs);
      deadline.unref();
      this.#resuming = { deadline, dialing: false };
    }
    if (this.#options.role === "connector" && !this.#resuming.dialing) void this.#dialResume();
  }

  async #dialResume(): Promise<void> {
    const state = this.#resuming;
    const at = this.#resumeAt;
    if (state === undefined) return;
    if (at === undefined) {
      this.#host.destroy(
        new ResumeError(`connection ${this.#host.id}: a path failed before the resume endpoint was agreed`),
      );
      return;
    }
    state.dialing = true;
    try {
      for (let delay = 1; !this.#closed && this.#resuming === state; delay = Math.min(delay * 2, 50)) {
        try {
          const end = await dialEndpoint(at.address, at.token, { kind: at.address.kind === "tcp" ? "tcp" : "unix" });
          if (this.#closed || this.#resuming !== state) {
            end.destroy();
            return;
          }
          this.#host.resumeOn(end);
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    } finally {
      state.dialing = false;
    }
  }

  /**
   * The connection is being destroyed: a connector dials the listener's resume endpoint once more
   * and says ABORT there, so the listener fails at once (best effort: the dial runs on its own).
   * A listener has nothing to dial: its resume endpoint answers the connector's next dial with
   * ABORT instead (resume-endpoint.ts), once close() released the route.
   */
  abortPeer(): void {
    const at = this.#resumeAt;
    if (this.#options.role !== "connector" || at === undefined || this.#closed) return;
    dialEndpoint(at.address, at.token, { kind: at.address.kind === "tcp" ? "tcp" : "unix" }).then(sendAbort, () => {
      // The listener is gone already: nobody to tell.
    });
  }

  /** The connection runs on a fresh path again. */
  resumed(_event: SwitchEvent): void {
    this.#note("resumed");
    if (this.#resuming !== undefined) clearTimeout(this.#resuming.deadline);
    this.#resuming = undefined;
    this.#wakeResumeDone();
  }

  resumeMs(): number {
    return performance.now() - this.#failedAt;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#resuming !== undefined) clearTimeout(this.#resuming.deadline);
    this.#resuming = undefined;
    const offer = this.#offer;
    this.#offer = undefined;
    offer?.abort(new ReconfigureError(`connection ${this.#host.id} closed during a switch`));
    if (!this.#readySettled) {
      this.#failReady(new ReconfigureError(`connection ${this.#host.id} closed before it was ready`));
    }
    void this.#resumeEndpoint?.close();
    this.#resumeRelease?.();
    void this.#resources.close();
    for (const w of this.#resumeWaiters) w();
    this.#wakeResumeDone();
  }
}
