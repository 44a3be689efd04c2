/**
 * Keeps side A from hanging and from leaking: the first failure wins and rejects `failed` (which every
 * wait races against), a watchdog turns `stallMs` without progress into ETIMEOUT, a lost peer becomes
 * EPEER after a short grace (its own error report, if one is on the way, says more), and cleanups
 * (kill the child, terminate the worker, remove the socket file) run once, on every path.
 */
import { ProbeError, toProbeError } from "./errors.js";

/** How long a lost peer's own error report may take to arrive before the loss itself is reported. */
export const PEER_REPORT_GRACE_MS = 300;

export class Supervisor {
  /** Bumped by the hot paths on every message; the watchdog only compares it. */
  progress = 0;
  /** What side A is doing, for the timeout message. */
  phase = "starting";
  readonly failed: Promise<never>;
  private rejectFailed: (err: ProbeError) => void = () => undefined;
  private failure: ProbeError | undefined;
  private closed = false;
  private readonly cleanups: Array<() => void> = [];
  private readonly losses: Array<() => string> = [];
  private readonly watchdog: NodeJS.Timeout;

  constructor(readonly stallMs: number) {
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    // Observed through race(); this only keeps an unobserved rejection from being reported as unhandled.
    this.failed.catch(() => undefined);
    let seen = -1;
    let seenAt = Date.now();
    this.watchdog = setInterval(
      () => {
        if (this.progress !== seen) {
          seen = this.progress;
          seenAt = Date.now();
        } else if (Date.now() - seenAt >= this.stallMs) {
          this.fail(new ProbeError("ETIMEOUT", `no progress for ${this.stallMs} ms while ${this.phase}`));
        }
      },
      Math.min(500, this.stallMs),
    );
  }

  /** A failure was recorded (the test's result is that failure). */
  get hasFailed(): boolean {
    return this.failure !== undefined;
  }

  fail(err: unknown): void {
    if (this.failure !== undefined || this.closed) return;
    this.failure = toProbeError(err);
    this.rejectFailed(this.failure);
  }

  /**
   * The peer is gone (exit, closed connection). Every sign of it seen within the grace goes into one
   * EPEER message; each `describe` is called when the grace has passed (the peer's output is in by then).
   */
  peerLost(describe: () => string): void {
    if (this.failure !== undefined || this.closed) return;
    this.losses.push(describe);
    if (this.losses.length > 1) return;
    setTimeout(() => this.fail(new ProbeError("EPEER", this.losses.map((d) => d()).join("; "))), PEER_REPORT_GRACE_MS);
  }

  /** Runs `fn` as an event handler: whatever it throws fails the run. */
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        this.fail(err);
      }
    };
  }

  race<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.failed]);
  }

  onCleanup(fn: () => void): void {
    this.cleanups.push(fn);
  }

  /** Stops everything; later failures are ignored. Cleanups run newest first. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    for (const fn of this.cleanups.reverse()) {
      try {
        fn();
      } catch {
        // Cleanup is best effort: the result is already decided.
      }
    }
    this.cleanups.length = 0;
  }
}
