/**
 * Waiting for one side of a ring: the reader for a record, the writer for space. Three
 * strategies, one promise-returning `wait()`:
 * - "spin": poll shared memory with Atomics.load and never sleep. The poll runs in slices of
 *   `spinSliceUs`, one loop for every spin wait of the thread; between slices the event loop runs
 *   (setImmediate), which is where a peer's death (a socket closing, a port closing) is noticed:
 *   the spin is bounded by that check.
 * - "block": sleep as soon as nothing is there, on a sleeper that does not block the event loop
 *   (a wake socket watched by the event loop, a native waiter thread doing FUTEX_WAIT, or
 *   Atomics.waitAsync for SharedArrayBuffers).
 * - "adaptive": spin up to `spinBudgetUs` (inside wait() when it is the thread's only pending
 *   wait, else in the thread's loop beside the others), then sleep. Spinning about as long as a
 *   sleep-and-wake costs keeps the waste within twice the optimum (the classic spin-then-block
 *   bound). See DEFAULT_SPIN_BUDGET_US for the measured default.
 *
 * The sleep handshake (no lost wake-up). Each side has a sleeping flag in the control block; the
 * flag is also the futex word its sleeper waits on.
 *   sleeper: store flag = K (atomic, sequentially consistent); re-check the condition; if it
 *            holds, store flag = 0 and go on; else sleep while flag == K.
 *   waker:   make the condition true (atomic store of a record's size word, or of the consumer
 *            position); then load the flag; if non-zero, exchange it to 0 and wake.
 * All four accesses are sequentially consistent (V8 emits xchg, a full barrier, for Atomics.store
 * on x86-64, so there the waker's flag load may be a plain one: layout.ts STORE_IS_FULL_FENCE),
 * so they have one total order. If the sleeper's re-check comes before the waker's
 * store, then its flag store came earlier still, and the waker's flag load (after its store) sees
 * K and wakes. Otherwise the re-check sees the condition and the sleeper does not sleep. The wake
 * cannot reach the sleeper too early either: FUTEX_WAIT (and Atomics.waitAsync) atomically
 * compare the flag with K before sleeping, and the waker sets it to 0 first, so a sleep that
 * starts after the wake returns at once. A spurious wake-up (the flag was cleared for another
 * reason, the poll timeout) only re-runs the check.
 */
import { loadNative } from "../native/load.js";
import { RingError } from "./errors.js";
import { AWAKE, SLEEPING_ATOMICS, SLEEPING_FUTEX } from "./layout.js";
import { wakeSleeper } from "./wake.js";
import type { WakeSocket } from "./wake-socket.js";

export type WaitStrategy = "spin" | "block" | "adaptive";
export const WAIT_STRATEGIES: readonly WaitStrategy[] = Object.freeze(["spin", "block", "adaptive"]);

/** Which sleeper a side uses: the addon's waiter thread, or Atomics.waitAsync (SharedArrayBuffer only). */
export type SleeperKind = "futex" | "atomics";

export interface WaitOptions {
  readonly strategy: WaitStrategy;
  readonly sleeper?: SleeperKind;
  /** Sleep by watching this end's wake socket instead (the peer must hold its other end). */
  readonly wakeSocket?: WakeSocket;
  /** Adaptive: how long wait() spins before it sleeps. */
  readonly spinBudgetUs?: number;
  /** Spin: how long one synchronous poll lasts before the event loop gets a turn. */
  readonly spinSliceUs?: number;
  /** A sleeper re-checks at least this often even without a wake-up (guards against a peer that never wakes). */
  readonly pollMs?: number;
}

/**
 * Adaptive spin budget. Measured on the 2-vCPU KVM guest this project is developed on (Node 20):
 * a sleep and its wake-up cost 60-150 us, and the peer's young-generation collections pause it
 * for 0.1-0.25 ms every few ms at full speed. A 50 us budget slept ~500 times a second in a
 * 64 B ping-pong (each time costing a wake-up and disturbing both CPUs); 200 us sleeps a few
 * dozen times, and an idle receiver still costs < 0.1 % of a CPU once asleep.
 */
export const DEFAULT_SPIN_BUDGET_US = 200;
/** Adaptive: the learned spin budget never goes below this (see RingWait's #spun). */
const MIN_SPIN_BUDGET_MS = 0.01;
/** Adaptive: one spin in this many gets the whole budget, whatever was learned. */
const PROBE_EVERY = 32;
/** Spin: the event loop (timers, I/O, a peer's death) waits at most this long between slices. */
export const DEFAULT_SPIN_SLICE_US = 500;
export const DEFAULT_POLL_MS = 1000;

/** What a side waits for. */
export interface WaitCondition {
  /** The whole condition (records or space, or the peer closed). */
  ready(): boolean;
  /**
   * The part worth polling in a tight loop (ready() is checked too, every 64 polls): each
   * Atomics.load is a builtin call in V8 (about 9 ns), so a spinning reader polls one word.
   */
  poll?(): boolean;
}

/** Sleeps until woken (or the poll timeout), then calls back once per arm(). */
export interface Sleeper {
  /** The sleeping-flag value this sleeper waits on (and its wakers read). */
  readonly flagValue: number;
  arm(): void;
  close(): void;
}

type SleeperFactory = (words: Int32Array, index: number, pollMs: number, onWake: () => void) => Sleeper;

/** A native waiter thread doing FUTEX_WAIT on the flag: works on any memory, across processes. */
export const futexSleeper: SleeperFactory = (words, index, pollMs, onWake) => {
  const waiter = loadNative().waiterCreate(words, index * 4, onWake);
  return {
    flagValue: SLEEPING_FUTEX,
    arm: () => waiter.arm(SLEEPING_FUTEX, pollMs),
    close: () => waiter.close(),
  };
};

/**
 * Atomics.waitAsync on the flag: threads of one process over a SharedArrayBuffer only (V8 emulates
 * it per process). It does not keep the event loop alive by itself, so a ref'd timer does while
 * it sleeps.
 */
export const atomicsSleeper: SleeperFactory = (words, index, pollMs, onWake) => {
  if (!(words.buffer instanceof SharedArrayBuffer)) {
    throw new RingError("EUSAGE", "the atomics sleeper needs a SharedArrayBuffer; use the futex sleeper");
  }
  let keepAlive: NodeJS.Timeout | undefined;
  let closed = false;
  const woken = (): void => {
    clearTimeout(keepAlive);
    keepAlive = undefined;
    if (!closed) onWake();
  };
  const waitAsync = (Atomics as unknown as AtomicsWithWaitAsync).waitAsync;
  return {
    flagValue: SLEEPING_ATOMICS,
    arm: () => {
      keepAlive = setTimeout(noop, 0x7fffffff);
      const r = waitAsync(words, index, SLEEPING_ATOMICS, pollMs);
      if (r.async) void r.value.then(woken);
      else queueMicrotask(woken);
    },
    close: () => {
      closed = true;
      clearTimeout(keepAlive);
      // Settles a pending waitAsync now (its callback sees `closed`).
      Atomics.notify(words, index);
    },
  };
};

interface AtomicsWithWaitAsync {
  waitAsync(
    a: Int32Array,
    index: number,
    value: number,
    timeoutMs?: number,
  ): { async: false; value: string } | { async: true; value: Promise<string> };
}

function noop(): void {}

/** How a spin inside wait() ended. */
const SPUN_OUT = 0;
const SPUN_READY = 1;
const SPUN_OTHER = 2;

/**
 * What wait() returns when its condition held at once and the side has not failed: a caller may
 * compare with it to know, without a hop through the microtask queue, that nothing is pending.
 */
export const READY: Promise<void> = Promise.resolve();

/** A pending wait, as the thread's spin loop sees it. */
interface Pending {
  /**
   * Until when (performance.now() ms) it spins: Infinity for "spin", the end of its budget for
   * "adaptive"; -1 once asleep (or "block"): then it is polled only while others spin anyway.
   */
  spinUntil: number;
  readonly sliceMs: number;
  /** One poll: the cheap check, or the whole condition when `full`. */
  check(full: boolean): boolean;
  /** Its condition holds: settle it. */
  settle(): void;
  /** Its spin budget is over: it sleeps. */
  sleep(): void;
  /** Adaptive: whether its spin ended in its condition (true) or in sleep (false). */
  spun(success: boolean): void;
}

/**
 * Every wait pending on this thread (module state is per thread) is polled by one loop, one
 * slice per event-loop turn, while any of them spins. Each wait spinning on its own (a slice per
 * spin wait, an adaptive budget spent inside wait()) would make a message on one connection wait
 * behind the other connections' spinning: a server with 20 connections answered each ping after
 * 0.3-0.6 ms instead of tens of us (`npm run bench:fanin`). Polling them all costs one load each
 * per round, sleeping ones included (they are settled without waiting for their wake-up), and a
 * slice ends as soon as any wait is settled, so its continuation runs at once.
 *
 * A wait whose only company is asleep still spins inside wait() (see RingWait.wait), polling the
 * sleeping ones as it goes: a process with one busy connection and an idle one paid a trip through
 * the event loop on every wait of the busy one (a Connection's 64 B round trip over shm went from
 * ~2.5 us to ~7 us when a second, idle connection was open).
 */
const pendingWaits = new Set<Pending>();
/** Entries of pendingWaits that spin (spinUntil >= 0); the others are asleep. */
let spinningWaits = 0;
let spinScheduled = false;

function addPending(p: Pending): void {
  if (pendingWaits.has(p)) return;
  pendingWaits.add(p);
  if (p.spinUntil >= 0) spinningWaits++;
}

function removePending(p: Pending): void {
  if (pendingWaits.delete(p) && p.spinUntil >= 0) spinningWaits--;
}

/** A pending entry's spin is over: it sleeps. */
function markAsleep(p: Pending): void {
  if (p.spinUntil >= 0 && pendingWaits.has(p)) spinningWaits--;
  p.spinUntil = -1;
}

/** Whether a sleeping wait of this thread would be settled now (polled during a spin inside wait()). */
function anotherReady(self: Pending): boolean {
  for (const p of pendingWaits) if (p !== self && p.check(false)) return true;
  return false;
}

/**
 * Settles every other wait whose condition holds (after a spin inside wait() saw one): their
 * continuations run right after the caller's, not one event-loop turn later.
 */
function settleOthers(self: Pending): void {
  for (const p of pendingWaits) {
    if (p === self || !p.check(true)) continue;
    const spun = p.spinUntil >= 0 && p.spinUntil !== Infinity;
    removePending(p);
    if (spun) p.spun(true);
    p.settle();
  }
}

function scheduleSlice(): void {
  if (spinScheduled) return;
  spinScheduled = true;
  setImmediate(spinSlice);
}

function spinSlice(): void {
  spinScheduled = false;
  const start = performance.now();
  let sliceEnd = -1;
  for (const p of pendingWaits) {
    if (p.spinUntil > start) sliceEnd = Math.max(sliceEnd, Math.min(start + p.sliceMs, p.spinUntil));
  }
  if (sliceEnd > start) {
    for (let round = 0; ; round++) {
      let settled = false;
      const full = (round & 63) === 63;
      for (const p of pendingWaits) {
        if (!p.check(full)) continue;
        const spun = p.spinUntil >= 0 && p.spinUntil !== Infinity;
        removePending(p);
        if (spun) p.spun(true);
        p.settle();
        settled = true;
      }
      if (settled || pendingWaits.size === 0) break;
      // The clock costs as much as several polls.
      if ((round & 15) === 15 && performance.now() >= sliceEnd) break;
    }
  }
  const now = performance.now();
  const expired: Pending[] = [];
  let spinning = false;
  for (const p of pendingWaits) {
    if (p.spinUntil > now) spinning = true;
    else if (p.spinUntil >= 0) expired.push(p);
  }
  for (const p of expired) {
    markAsleep(p);
    p.spun(false);
    p.sleep();
  }
  if (spinning) scheduleSlice();
}

/** One side's waiting: the strategy, its sleeper (made on first sleep) and the pending promise. */
export class RingWait {
  readonly strategy: WaitStrategy;
  readonly #words: Int32Array;
  readonly #flag: number;
  readonly #condition: WaitCondition;
  readonly #maxBudgetMs: number;
  /** Adaptive: the spin budget now, learned from how spins ended (see #spun). */
  #budgetMs: number;
  /** Adaptive: spins so far; every PROBE_EVERY-th one gets the whole budget (see #spun). */
  #spins = 0;
  readonly #sliceMs: number;
  readonly #pollMs: number;
  readonly #makeSleeper: SleeperFactory;
  #sleeper: Sleeper | undefined;
  #pending: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;
  /** Set by fail(); a function until first needed (an orderly close mostly rejects no wait). */
  #error: Error | (() => Error) | undefined;
  readonly #entry: Pending;
  /** The sleeper is armed and will call back (once). */
  #armed = false;

  constructor(words: Int32Array, flagIndex: number, condition: WaitCondition, options: WaitOptions) {
    this.strategy = options.strategy;
    if (!WAIT_STRATEGIES.includes(this.strategy)) {
      throw new RingError(
        "EUSAGE",
        `wait strategy "${String(this.strategy)}" is not one of ${WAIT_STRATEGIES.join(", ")}`,
      );
    }
    this.#words = words;
    this.#flag = flagIndex;
    this.#condition = condition;
    this.#maxBudgetMs = (options.spinBudgetUs ?? DEFAULT_SPIN_BUDGET_US) / 1000;
    this.#budgetMs = this.#maxBudgetMs;
    this.#sliceMs = (options.spinSliceUs ?? DEFAULT_SPIN_SLICE_US) / 1000;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    const wakeSocket = options.wakeSocket;
    this.#makeSleeper =
      wakeSocket !== undefined
        ? (_words, _index, pollMs, onWake) => wakeSocket.sleeper(pollMs, onWake)
        : options.sleeper === "atomics"
          ? atomicsSleeper
          : futexSleeper;
    const poll = condition.poll?.bind(condition);
    this.#entry = {
      spinUntil: -1,
      sliceMs: this.#sliceMs,
      check: poll === undefined ? () => condition.ready() : (full) => (full ? condition.ready() : poll()),
      settle: () => this.#settle(),
      sleep: () => {
        if (this.#pending !== undefined && this.#error === undefined) this.#sleep();
      },
      spun: (success) => this.#spun(success),
    };
  }

  /**
   * Resolves once the condition holds; rejects with the error given to fail(). `spin` false skips
   * the synchronous spin: adaptive sleeps at once, spin polls only from the event loop.
   */
  wait(spin = true): Promise<void> {
    if (this.#error !== undefined) return Promise.reject(this.#failure());
    if (this.#pending !== undefined) return this.#pending.promise;
    const strategy = this.strategy;
    const condition = this.#condition;
    // (Spinning checks ready() too, after its first polls.) A wait spins here only while no other
    // wait of this thread spins: then they are all polled together (see spinSlice). Sleeping ones
    // are polled as it spins; when one is ready the spin goes on in the thread's loop.
    const alone = spinningWaits === 0;
    let ready: boolean;
    /** Adaptive, interrupted by another wait: when the rest of its budget ends. */
    let spinUntil = -1;
    /** The spin ended because another wait of the thread can be settled. */
    let other = false;
    if (strategy === "block" || !spin || !alone) ready = condition.ready();
    else if (strategy === "spin") {
      const spun = this.#spin(this.#sliceMs);
      ready = spun === SPUN_READY;
      other = spun === SPUN_OTHER;
    } else {
      ready = condition.ready();
      if (!ready) {
        const start = performance.now();
        const budget = this.#spinBudget();
        const spun = this.#spin(budget);
        ready = spun === SPUN_READY;
        other = spun === SPUN_OTHER;
        if (other) spinUntil = start + budget;
        else this.#spun(ready, ready ? performance.now() - start : 0);
      }
    }
    if (other) settleOthers(this.#entry);
    if (ready) {
      // The condition may have failed the side (a corrupt peer) while it was checked.
      return this.#error === undefined ? READY : Promise.reject(this.#failure());
    }
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A rejection nobody awaits (the caller gave up waiting) is no crash: fail() reports it to
    // whoever still awaits, and the side's owner reports it on every later call.
    promise.catch(() => {});
    this.#pending = { promise, resolve, reject };
    const entry = this.#entry;
    if (strategy === "spin") {
      entry.spinUntil = Infinity;
      addPending(entry);
      scheduleSlice();
    } else if (strategy === "adaptive" && spin && (!alone || spinUntil >= 0)) {
      // Its budget (or what is left of it) is spent in the thread's loop, beside the others.
      entry.spinUntil = spinUntil >= 0 ? spinUntil : performance.now() + this.#spinBudget();
      addPending(entry);
      scheduleSlice();
    } else {
      entry.spinUntil = -1;
      addPending(entry);
      this.#sleep();
    }
    return promise;
  }

  /** Whether a wait() is pending. */
  get waiting(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * Rejects the pending and every later wait() with `error`, and stops the sleeper. A function is
   * called only when a wait is rejected (at most once): no error, with its stack, is made for an
   * end closed with no wait pending.
   */
  fail(error: Error | (() => Error)): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    removePending(this.#entry);
    this.#sleeper?.close();
    this.#sleeper = undefined;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(this.#failure());
  }

  /** The error given to fail(), made now if it was given as a function. */
  #failure(): Error {
    let error = this.#error as Error | (() => Error);
    if (typeof error === "function") this.#error = error = error();
    return error;
  }

  /**
   * Settles a pending wait() now, whether or not its condition holds (a spurious wake-up, which
   * callers re-check), and stops its spinning or sleeping: for a waiter that gave up (poll()
   * settled on something else). A sleeper is woken so its thread stops waiting; its call-back then
   * finds nothing pending.
   */
  cancel(): void {
    if (this.#pending === undefined) return;
    if (this.#armed && this.#words[this.#flag] !== AWAKE) wakeSleeper(this.#words, this.#flag);
    this.#settle();
  }

  /**
   * Stops the sleeper (its native thread) while nothing waits; a later sleep makes a new one. For
   * a side whose peer has ended: connections an application never closes must not each keep a
   * thread (a listener of 100 such connections held 127 threads).
   */
  releaseSleeper(): void {
    if (this.#pending !== undefined || this.#sleeper === undefined) return;
    this.#sleeper.close();
    this.#sleeper = undefined;
    this.#armed = false;
  }

  /** Settles a pending wait() if its condition holds now (after a local change). */
  poke(): void {
    if (this.#pending !== undefined && this.#condition.ready()) this.#settle();
  }

  /**
   * Adaptive: halve the budget when a spin ended in sleep, double it (up to the configured one)
   * when it ended in the condition. Spinning cannot succeed while the peer needs this CPU (both
   * ends on one CPU, which the scheduler's wake-affine placement makes common): there two full
   * budgets were spent per round trip, a 64 B ping-pong settled at ~450 us instead of ~50 us with
   * blocking waits. A floor keeps a short spin, and every PROBE_EVERY-th spin gets the whole
   * budget: ends on two CPUs that both sleep at the floor never see each other spin, and one
   * probe that catches the peer's answer sets the budget to twice what that took (costing, where
   * spinning cannot win, one budget per PROBE_EVERY waits).
   */
  #spun(success: boolean, tookMs = 0): void {
    this.#budgetMs = success
      ? Math.min(this.#maxBudgetMs, Math.max(this.#budgetMs * 2, tookMs * 2))
      : Math.max(Math.min(MIN_SPIN_BUDGET_MS, this.#maxBudgetMs), this.#budgetMs / 2);
  }

  #spinBudget(): number {
    return ++this.#spins % PROBE_EVERY === 0 ? this.#maxBudgetMs : this.#budgetMs;
  }

  /**
   * Polls for up to `ms`: SPUN_READY when the condition holds, SPUN_OTHER when a sleeping wait of
   * this thread became ready first (the caller goes on in the thread's loop), else SPUN_OUT.
   */
  #spin(ms: number): number {
    const condition = this.#condition;
    const others = pendingWaits.size > 0;
    const self = this.#entry;
    if (condition.poll === undefined) {
      const deadline = performance.now() + ms;
      for (;;) {
        for (let i = 0; i < 64; i++) if (condition.ready()) return SPUN_READY;
        if (others && anotherReady(self)) return SPUN_OTHER;
        if (performance.now() >= deadline) return SPUN_OUT;
      }
    }
    // The clock costs as much as several polls: read it only once the first polls found nothing.
    for (let i = 0; i < 64; i++) if (condition.poll()) return SPUN_READY;
    const deadline = performance.now() + ms;
    for (;;) {
      if (condition.ready()) return SPUN_READY;
      for (let i = 0; i < 64; i++) if (condition.poll()) return SPUN_READY;
      if (others && anotherReady(self)) return SPUN_OTHER;
      if (performance.now() >= deadline) return SPUN_OUT;
    }
  }

  #sleep(): void {
    const w = this.#words;
    const sleeper = (this.#sleeper ??= this.#makeSleeper(w, this.#flag, this.#pollMs, this.#woken));
    Atomics.store(w, this.#flag, sleeper.flagValue);
    if (this.#condition.ready()) {
      Atomics.store(w, this.#flag, AWAKE);
      this.#settle();
      return;
    }
    if (this.#armed) return; // still armed from an earlier sleep: its call-back comes
    this.#armed = true;
    sleeper.arm();
  }

  readonly #woken = (): void => {
    this.#armed = false;
    if (this.#pending === undefined || this.#error !== undefined) return;
    if (this.#condition.ready()) {
      Atomics.store(this.#words, this.#flag, AWAKE);
      this.#settle();
    } else {
      this.#sleep();
    }
  };

  #settle(): void {
    removePending(this.#entry);
    // Settled by the thread's loop while asleep: the peer need not wake us any more. The sleeper
    // thread stays armed; its call-back (at the peer's next wake or the poll timeout) finds
    // nothing pending, or the next sleep reuses it.
    if (this.#words[this.#flag] !== AWAKE) Atomics.store(this.#words, this.#flag, AWAKE);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.resolve();
  }
}
