/**
 * A wake socket: one end's doorbell, which its peer rings when it finds that end asleep.
 *
 * The futex sleeper needs two hand-offs per wake-up: the peer's FUTEX_WAKE wakes a native waiter
 * thread, which then wakes the event loop (uv_async). Here the sleeping end watches its own end
 * of a datagram socketpair in the event loop itself (a libuv poll handle: epoll), and the peer
 * sends one byte to the other end: one hand-off, no thread. Both waits of an end (records in,
 * space out) share its socket; a ring for one of them wakes both, and each re-checks.
 *
 * Sleeping flag value SLEEPING_SOCKET tells the waker to ring (src/ring/wake.ts). A ring that
 * comes before the sleeper watches stays queued in the socket, so the watch fires at once: no
 * wake-up is lost. One that comes after the wait was settled otherwise only costs a spurious
 * wake-up later.
 */
import { closeSync } from "node:fs";
import { loadNative } from "../native/load.js";
import type { FdWatcher } from "../native/native.js";
import { SLEEPING_SOCKET } from "./layout.js";
import type { Sleeper } from "./wait.js";

export class WakeSocket {
  /** This end's receiving socket (owned: closed by close()). */
  readonly fd: number;
  #watcher: FdWatcher | undefined;
  /** Call-backs of the armed sleepers, each called once when the doorbell rings. */
  #armed: Array<() => void> = [];
  #pollTimer: NodeJS.Timeout | undefined;
  /** The watcher failed (the fd broke): sleepers rely on the poll interval alone. */
  #broken = false;
  #closed = false;
  /** Whether armed sleepers keep the event loop alive (an unref'd connection's do not). */
  #ref = true;

  constructor(fd: number) {
    this.fd = fd;
  }

  /** A sleeper for one wait of this end (the factory RingWait takes as `wakeSocket`). */
  sleeper(pollMs: number, onWake: () => void): Sleeper {
    let armed = false;
    const fire = (): void => {
      armed = false;
      onWake();
    };
    return {
      flagValue: SLEEPING_SOCKET,
      arm: () => {
        if (armed || this.#closed) return;
        armed = true;
        this.#arm(fire, pollMs);
      },
      close: () => {
        if (!armed) return;
        armed = false;
        const i = this.#armed.indexOf(fire);
        if (i >= 0) this.#armed.splice(i, 1);
        if (this.#armed.length === 0) this.#watcher?.setRef(false);
      },
    };
  }

  #arm(fire: () => void, pollMs: number): void {
    this.#armed.push(fire);
    if (this.#watcher === undefined && !this.#broken) {
      const native = loadNative();
      this.#watcher = native.fdWatch(this.fd, native.fdEvents.readable, this.#rang);
    }
    // An armed sleeper keeps the process alive, as a waiter thread does; an idle socket does not.
    if (this.#armed.length === 1 && this.#ref) this.#watcher?.setRef(true);
    // A peer that never rings (a bug, or hostile) delays a wait by at most pollMs: every armed
    // sleeper re-checks then. One unref'd interval per socket, not a timer per sleep.
    if (this.#pollTimer === undefined) {
      this.#pollTimer = setInterval(this.#ring, pollMs);
      this.#pollTimer.unref();
    }
  }

  readonly #rang = (error: Error | null): void => {
    if (this.#closed) return;
    if (error !== null) {
      // The watcher stopped (the fd broke): armed sleepers re-check; later ones rely on the poll.
      this.#watcher?.close();
      this.#watcher = undefined;
      this.#broken = true;
    } else {
      loadNative().wakeDrain(this.fd);
    }
    this.#ring();
  };

  readonly #ring = (): void => {
    const armed = this.#armed;
    if (armed.length === 0) return;
    this.#armed = [];
    this.#watcher?.setRef(false);
    for (const fire of armed) fire();
  };

  /** Whether armed sleepers keep the event loop alive (default true), like a socket's ref()/unref(). */
  setRef(ref: boolean): void {
    this.#ref = ref;
    if (this.#armed.length > 0) this.#watcher?.setRef(ref);
  }

  /** Stops watching and closes the socket; armed sleepers are dropped (their waits fail first). */
  close(): void {
    if (this.#watcher !== undefined) this.#watcher.close();
    this.#watcher = undefined;
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#armed = [];
    if (this.#closed) return;
    this.#closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
