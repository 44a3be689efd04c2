/**
 * poll(): waiting on many connections and file descriptors at once (the paper's xpoll), on the
 * event loop: nothing blocks and no thread waits.
 *
 *     const ready = await poll([{ connection, events: ["readable"] }, { fd, events: ["writable"] }], { timeoutMs: 9 });
 *
 * Like poll(2) it resolves with the items that are ready, as soon as at least one is: at once if
 * one is ready when it is called (checked synchronously first), else when one becomes ready, or
 * with [] after `timeoutMs` (0: just check; left out: no limit). An AbortSignal rejects it with the
 * signal's reason. When it settles every watcher it set up is gone: no listener, timer or fd
 * handle outlives it (a connection's own transport wait may: see the end of this comment).
 * `Poller` keeps a set of items across waits, for a loop over many connections that should not
 * register them again on every turn.
 *
 * What the events mean (a result reports `ended` and `error` whatever was asked, as poll(2)
 * reports POLLHUP and POLLERR):
 * - connection, readable: reading would not wait: getReadBuffers() returns at least one message
 *   (Connection.isReadable(); it throws ENOSPACE instead while the application holds
 *   maxHeldReadBuffers), or the connection has ended or failed. A message still arriving in
 *   fragments does not count.
 * - connection, writable: getWriteBuffers() hands out a buffer (Connection.isWritable(): room is
 *   learnt by trying, as with a non-blocking socket).
 * - connection, ended: the peer closed and every message has been read (Connection.ended).
 * - connection, error: the transport's failure (e.g. EPEER: the peer died), ConnectionClosedError
 *   once the connection was closed here, or, when writable was asked, the ECLOSED error
 *   getWriteBuffers() throws once the peer closed (what it sent can still be read).
 * - fd, readable / writable: read(2) / write(2) would not block (a read also does not block at a
 *   hang-up or an error, so those count as readable too); ended: the peer hung up (POLLRDHUP, or a
 *   pipe's POLLHUP once its data has been read); error: POLLERR (e.g. the write end of a pipe whose
 *   read end was closed).
 *
 * Fds are watched with libuv poll handles on this thread's loop (the addon's fdWatch): one
 * watcher per fd, never an fd Node itself reads or writes (a net.Socket's, process.stdin's), and
 * libuv makes a watched fd non-blocking. Remove an fd (or let poll() settle) before closing it.
 *
 * Connections are waited on through their own readable() and writable(). Each connection keeps at
 * most one pending per direction, shared by every poll() and Poller: waiting again does not pile
 * them up.
 * For memory and stream transports a pending wait is a bare promise; for shm and sab it is the
 * ring's own wait, asked not to spin first (`{ spin: false }`: an adaptive end sleeps at once, a
 * spin-only end polls from the event loop); once no poll() or Poller watches that direction any
 * more, the wait is cancelled (transport.cancelWait), so nothing spins or stays armed for nobody.
 */
import { FableError, UsageError } from "../errors.js";
import { loadNative } from "../native/load.js";
import type { FdWatcher } from "../native/native.js";
import { Connection, ConnectionClosedError } from "./connection.js";

export type PollEvent = "readable" | "writable";

export interface ConnectionPollItem {
  readonly connection: Connection;
  /** At least one. */
  readonly events: readonly PollEvent[];
}

export interface FdPollItem {
  /** A socket, pipe, FIFO or terminal this process holds and Node does not itself read or write. */
  readonly fd: number;
  /** At least one. */
  readonly events: readonly PollEvent[];
}

export type PollItem = ConnectionPollItem | FdPollItem;

/** One ready item; see the module comment for what each flag means. */
export interface PollResult<I extends PollItem = PollItem> {
  /** The item as it was given. */
  readonly item: I;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly ended: boolean;
  readonly error: Error | undefined;
}

export interface PollOptions {
  /** Milliseconds to wait for readiness before resolving with []: 0 just checks; left out (or Infinity), no limit. */
  readonly timeoutMs?: number;
  /** Aborting rejects the wait with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** setTimeout's longest delay; a longer one would fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Waits until at least one item is ready and resolves with every ready item, in the order given;
 * see the module comment. Bad input (an item that is neither a connection nor an fd, an unknown
 * event, a connection closed here, the same connection or fd twice, a bad timeout) rejects with a
 * UsageError, or ConnectionClosedError for a closed connection.
 */
export async function poll<I extends PollItem>(
  items: readonly I[],
  options: PollOptions = {},
): Promise<PollResult<I>[]> {
  if (!Array.isArray(items)) throw new UsageError(`poll: items must be an array of { connection | fd, events }`);
  const poller = new Poller<I>();
  try {
    for (const item of items) poller.add(item);
    return await poller.wait(options);
  } finally {
    poller.close();
  }
}

/**
 * A set of poll items kept across waits: fd watchers are made once (and only stopped between
 * waits), and connections are not registered again on every turn. Items are keyed by their
 * connection or fd: each may be in a poller once. add(), modify() and remove() may be called while
 * a wait() is pending and take effect in it. One wait() at a time. close() releases the fd
 * watchers; a poller that is only dropped keeps nothing alive (stopped watchers do not hold the
 * loop) and the garbage collector closes them.
 */
export class Poller<I extends PollItem = PollItem> {
  readonly #entries = new Map<Connection | number, Entry<I>>();
  #pending: PendingWait<I> | undefined;
  #closed = false;

  /** Items in the poller. */
  get size(): number {
    return this.#entries.size;
  }

  /** Adds an item; its connection or fd must not be in the poller yet. */
  add(item: I): void {
    this.#checkOpen("add");
    const key = targetOf(item);
    if (this.#entries.has(key)) {
      throw new UsageError(
        `poll: ${describeTarget(key)} is already in this poller: list it once, with every event in one item (or modify() it)`,
      );
    }
    const entry = makeEntry(item);
    this.#entries.set(key, entry);
    this.#pending?.added(entry);
  }

  /** Replaces the item of the same connection or fd (new events); throws UsageError if there is none. */
  modify(item: I): void {
    this.#checkOpen("modify");
    const key = targetOf(item);
    const entry = this.#entries.get(key);
    if (entry === undefined) throw new UsageError(`poll: modify(): ${describeTarget(key)} is not in this poller`);
    this.#pending?.removed(entry);
    entry.update(item);
    this.#pending?.added(entry);
  }

  /** Removes the item of this connection or fd (or of the item's); false if there was none. */
  remove(target: I | Connection | number): boolean {
    const key = target instanceof Connection || typeof target === "number" ? target : targetOf(target);
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    this.#pending?.removed(entry);
    entry.close();
    return true;
  }

  /**
   * Resolves with the ready items as soon as at least one is ready (at once if one is now), or
   * with [] after `timeoutMs`; rejects with the signal's reason when aborted. Every watcher it
   * armed is disarmed when it settles.
   */
  wait(options: PollOptions = {}): Promise<PollResult<I>[]> {
    try {
      this.#checkOpen("wait");
      if (this.#pending !== undefined) throw new UsageError("poll: a wait() of this poller is already pending");
      const timeoutMs = checkTimeout(options.timeoutMs);
      const signal = checkSignal(options.signal);
      signal?.throwIfAborted();
      const ready = this.#ready();
      if (ready.length > 0 || timeoutMs === 0) return Promise.resolve(ready);
      return new Promise<PollResult<I>[]>((resolve, reject) => {
        this.#pending = new PendingWait(this.#entries, timeoutMs, signal, (outcome) => {
          this.#pending = undefined;
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        });
      });
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** Ends a pending wait (it rejects with ECLOSED) and closes every fd watcher. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending?.finish(new FableError("ECLOSED", "poll: the poller was closed while a wait() was pending"));
    for (const entry of this.#entries.values()) entry.close();
    this.#entries.clear();
  }

  #ready(): PollResult<I>[] {
    const out: PollResult<I>[] = [];
    for (const entry of this.#entries.values()) {
      const result = entry.check();
      if (result !== undefined) out.push(result);
    }
    return out;
  }

  #checkOpen(op: string): void {
    if (this.#closed) throw new FableError("ECLOSED", `poll: ${op}() on a closed poller`);
  }
}

/** One wait in progress: arms every entry, and settles once with what is ready, [], or an error. */
class PendingWait<I extends PollItem> {
  readonly #entries: Map<Connection | number, Entry<I>>;
  readonly #settle: (outcome: PollResult<I>[] | Error) => void;
  readonly #signal: AbortSignal | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(
    entries: Map<Connection | number, Entry<I>>,
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
    settle: (outcome: PollResult<I>[] | Error) => void,
  ) {
    this.#entries = entries;
    this.#settle = settle;
    this.#signal = signal;
    signal?.addEventListener("abort", this.#onAbort);
    if (timeoutMs !== undefined) this.#timer = setTimeout(() => this.finish([]), timeoutMs);
    for (const entry of entries.values()) entry.arm(this.#wake);
  }

  /** An entry joined during the wait: it may be ready already. */
  added(entry: Entry<I>): void {
    if (this.#done) return;
    if (entry.check() !== undefined) this.#wake();
    else entry.arm(this.#wake);
  }

  removed(entry: Entry<I>): void {
    entry.disarm();
  }

  finish(outcome: PollResult<I>[] | Error): void {
    if (this.#done) return;
    this.#done = true;
    for (const entry of this.#entries.values()) entry.disarm();
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#settle(outcome);
  }

  /** Something an entry waits on happened: settle if anything is ready, else re-arm what fired. */
  readonly #wake = (): void => {
    if (this.#done) return;
    const ready: PollResult<I>[] = [];
    for (const entry of this.#entries.values()) {
      const result = entry.check();
      if (result !== undefined) ready.push(result);
    }
    if (ready.length > 0) {
      this.finish(ready);
      return;
    }
    // A false alarm (e.g. only a fragment arrived): whatever fired waits again.
    for (const entry of this.#entries.values()) entry.arm(this.#wake);
  };

  readonly #onAbort = (): void => {
    this.finish(toError(this.#signal?.reason));
  };
}

/** One item of a poller: its synchronous check and its watcher. */
interface Entry<I extends PollItem> {
  /** The result now, or undefined when nothing asked for (nor an end or error) holds. */
  check(): PollResult<I> | undefined;
  /** Calls `wake` (at least) once something may have changed; idempotent while armed. */
  arm(wake: () => void): void;
  disarm(): void;
  /** New events for the same target (the entry is disarmed). */
  update(item: I): void;
  close(): void;
}

function makeEntry<I extends PollItem>(item: I): Entry<I> {
  checkItem(item);
  return "connection" in item ? new ConnectionEntry(item) : new FdEntry(item as I & FdPollItem);
}

// ---- connections ---------------------------------------------------------------------------

/**
 * One direction (reading or writing) of a connection's waits, shared by every entry that watches
 * it: at most one wait pending at a time, and the error it ended with (a rejected wait means that
 * direction is over for good).
 */
class WaitSide {
  readonly listeners = new Set<() => void>();
  readonly #start: () => Promise<void>;
  #pending = false;
  error: Error | undefined;

  constructor(start: () => Promise<void>) {
    this.#start = start;
  }

  /** A wait is pending. */
  get pending(): boolean {
    return this.#pending;
  }

  listen(wake: () => void): void {
    this.listeners.add(wake);
    if (this.#pending || this.error !== undefined) return;
    this.#pending = true;
    settled(this.#start, (error) => {
      this.#pending = false;
      if (error !== undefined) this.error ??= error;
      notify(this.listeners);
    });
  }
}

const NO_SPIN = { spin: false } as const;

class ConnectionWatch {
  readonly read: WaitSide;
  readonly write: WaitSide;
  readonly #connection: Connection;

  constructor(connection: Connection) {
    this.#connection = connection;
    // No spin before sleeping: over many connections each one's spin would be paid in turn.
    this.read = new WaitSide(() => connection.readable(NO_SPIN));
    this.write = new WaitSide(() => connection.writable(NO_SPIN));
  }

  unlisten(wake: () => void): void {
    this.read.listeners.delete(wake);
    this.write.listeners.delete(wake);
  }

  /**
   * An entry left its poll (a poll() settled, a Poller dropped it or closed). Between a Poller's
   * waits the transport wait stays pending for the next one; once no entry watches a direction, a
   * transport that spins or sleeps for it stops (the wait settles as a spurious wake-up) instead of
   * polling or staying armed for nobody.
   */
  release(): void {
    const transport = this.#connection.transport;
    if (this.read.pending && this.read.listeners.size === 0) transport.cancelWait?.("read");
    if (this.write.pending && this.write.listeners.size === 0) transport.cancelWait?.("write");
  }
}

const watches = new WeakMap<Connection, ConnectionWatch>();

function watchOf(connection: Connection): ConnectionWatch {
  let watch = watches.get(connection);
  if (watch === undefined) {
    watch = new ConnectionWatch(connection);
    watches.set(connection, watch);
  }
  return watch;
}

/** Runs `start` and reports once how its promise settled (a synchronous throw counts as a rejection). */
function settled(start: () => Promise<void>, done: (error: Error | undefined) => void): void {
  let promise: Promise<void>;
  try {
    promise = start();
  } catch (error) {
    promise = Promise.reject(toError(error));
  }
  promise.then(
    () => done(undefined),
    (error: unknown) => done(toError(error)),
  );
}

function notify(listeners: Set<() => void>): void {
  for (const wake of [...listeners]) wake();
}

/**
 * @internal (tests): the wake-up listeners poll() and Poller waits have registered on a
 * connection; 0 whenever none is pending.
 */
export function pollListeners(connection: Connection): number {
  const watch = watches.get(connection);
  return watch === undefined ? 0 : new Set([...watch.read.listeners, ...watch.write.listeners]).size;
}

class ConnectionEntry<I extends PollItem> implements Entry<I> {
  #item: I & ConnectionPollItem;
  readonly #connection: Connection;
  #read: boolean;
  #write: boolean;
  #wake: (() => void) | undefined;

  constructor(item: I & ConnectionPollItem) {
    if (item.connection.closed) {
      throw new ConnectionClosedError(`poll: connection ${item.connection.id} is closed: remove it from the poll`);
    }
    this.#item = item;
    this.#connection = item.connection;
    this.#read = item.events.includes("readable");
    this.#write = item.events.includes("writable");
  }

  check(): PollResult<I> | undefined {
    const c = this.#connection;
    const watch = watches.get(c);
    let error: Error | undefined = c.transport.failure;
    if (error === undefined && c.closed) error = new ConnectionClosedError(`connection ${c.id} is closed`);
    if (error === undefined && this.#read) error = watch?.read.error;
    if (error === undefined && this.#write) error = watch?.write.error;
    const ended = c.ended;
    const readable = this.#read && c.isReadable();
    const writable = this.#write && error === undefined && c.isWritable();
    if (!readable && !writable && !ended && error === undefined) return undefined;
    return { item: this.#item, readable, writable, ended, error };
  }

  arm(wake: () => void): void {
    if (this.#wake !== undefined && this.#wake !== wake) this.disarm();
    this.#wake = wake;
    const watch = watchOf(this.#connection);
    if (this.#read) watch.read.listen(wake);
    if (this.#write) watch.write.listen(wake);
  }

  disarm(): void {
    if (this.#wake === undefined) return;
    watches.get(this.#connection)?.unlisten(this.#wake);
    this.#wake = undefined;
  }

  update(item: I): void {
    checkItem(item);
    this.#item = item as I & ConnectionPollItem;
    this.#read = item.events.includes("readable");
    this.#write = item.events.includes("writable");
  }

  close(): void {
    this.disarm();
    watches.get(this.#connection)?.release();
  }
}

// ---- file descriptors ----------------------------------------------------------------------

class FdEntry<I extends PollItem> implements Entry<I> {
  #item: I & FdPollItem;
  readonly #fd: number;
  #mask: number;
  readonly #watcher: FdWatcher;
  #wake: (() => void) | undefined;
  /** The error the watcher last reported, when the synchronous check cannot see it. */
  #watchError: Error | undefined;

  constructor(item: I & FdPollItem) {
    this.#item = item;
    this.#fd = item.fd;
    this.#mask = maskOf(item.events);
    try {
      // Made stopped (0): it is started only while a wait is pending.
      this.#watcher = loadNative().fdWatch(item.fd, 0, this.#onEvent);
    } catch (cause) {
      throw new UsageError(`poll: fd ${item.fd} cannot be polled: ${(cause as Error).message}`, { cause });
    }
  }

  check(): PollResult<I> | undefined {
    const { readable: R, writable: W, disconnect: D, error: E } = loadNative().fdEvents;
    let bits: number;
    try {
      bits = loadNative().fdPoll(this.#fd, this.#mask);
    } catch (cause) {
      // Closed under us: report it rather than wait for an fd that can never be ready.
      const error = new FableError("EBADF", `poll: fd ${this.#fd} is no longer open: ${(cause as Error).message}`, {
        cause,
      });
      return { item: this.#item, readable: (this.#mask & R) !== 0, writable: false, ended: false, error };
    }
    let error: Error | undefined;
    if ((bits & E) !== 0) {
      error = new FableError(
        "EPOLLERR",
        `fd ${this.#fd}: an error condition (POLLERR), e.g. the read end of its pipe was closed`,
      );
    } else {
      error = this.#watchError;
    }
    this.#watchError = undefined;
    const ended = (bits & D) !== 0;
    const readable = (this.#mask & R) !== 0 && ((bits & R) !== 0 || ended || error !== undefined);
    const writable = (this.#mask & W) !== 0 && (bits & W) !== 0;
    if (!readable && !writable && !ended && error === undefined) return undefined;
    return { item: this.#item, readable, writable, ended, error };
  }

  arm(wake: () => void): void {
    this.#wake = wake;
    if (!this.#watcher.active) this.#watcher.update(this.#mask);
  }

  disarm(): void {
    this.#wake = undefined;
    this.#watcher.update(0);
  }

  update(item: I): void {
    checkItem(item);
    this.#item = item as I & FdPollItem;
    this.#mask = maskOf(item.events);
  }

  close(): void {
    this.#wake = undefined;
    this.#watcher.close();
  }

  readonly #onEvent = (error: Error | null): void => {
    if (error !== null) this.#watchError = error;
    this.#wake?.();
  };
}

// ---- arguments -----------------------------------------------------------------------------

function checkItem(item: unknown): asserts item is PollItem {
  if (typeof item !== "object" || item === null) {
    throw new UsageError(`poll: an item must be { connection, events } or { fd, events }, not ${describe(item)}`);
  }
  const o = item as { connection?: unknown; fd?: unknown; events?: unknown };
  const hasConnection = "connection" in o;
  const hasFd = "fd" in o;
  if (hasConnection === hasFd) {
    throw new UsageError(
      `poll: an item needs exactly one of connection and fd, got ${hasConnection ? "both" : "neither"}: ${describe(item)}`,
    );
  }
  if (hasConnection && !(o.connection instanceof Connection)) {
    throw new UsageError(`poll: item.connection must be a Connection, not ${describe(o.connection)}`);
  }
  if (hasFd && (typeof o.fd !== "number" || !Number.isInteger(o.fd) || o.fd < 0 || o.fd > 2 ** 31 - 1)) {
    throw new UsageError(`poll: item.fd must be a file descriptor (a whole number >= 0), not ${describe(o.fd)}`);
  }
  const events = o.events;
  if (!Array.isArray(events) || events.length === 0) {
    throw new UsageError(`poll: item.events must name at least one of "readable", "writable"; got ${describe(events)}`);
  }
  for (const e of events as unknown[]) {
    if (e !== "readable" && e !== "writable") {
      throw new UsageError(`poll: unknown event ${describe(e)}: the events are "readable" and "writable"`);
    }
  }
}

function checkTimeout(timeoutMs: unknown): number | undefined {
  if (timeoutMs === undefined || timeoutMs === Infinity) return undefined;
  if (typeof timeoutMs !== "number" || !(timeoutMs >= 0) || timeoutMs > MAX_TIMEOUT_MS) {
    throw new UsageError(
      `poll: timeoutMs must be a number of milliseconds from 0 to ${MAX_TIMEOUT_MS} (leave it out to wait without a limit), not ${describe(timeoutMs)}`,
    );
  }
  return timeoutMs;
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal))
    throw new UsageError(`poll: signal must be an AbortSignal, not ${describe(signal)}`);
  return signal;
}

function maskOf(events: readonly PollEvent[]): number {
  const { readable, writable } = loadNative().fdEvents;
  return (events.includes("readable") ? readable : 0) | (events.includes("writable") ? writable : 0);
}

function targetOf(item: PollItem): Connection | number {
  checkItem(item);
  return "connection" in item ? item.connection : item.fd;
}

function describeTarget(target: Connection | number): string {
  return typeof target === "number" ? `fd ${target}` : `connection ${target.id}`;
}

function describe(value: unknown): string {
  if (value instanceof Connection) return `connection ${value.id}`;
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value !== "object" || value === null) return String(value);
  try {
    return JSON.stringify(value, (_key, v: unknown) => (v instanceof Connection ? `connection ${v.id}` : v)) ?? "?";
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new FableError("EABORT", `poll: aborted: ${String(value)}`);
}
