/**
 * One TransportEnd over two shared-memory rings (src/ring/): records this end writes go to the
 * outbound ring, records it reads come from the inbound ring. The sab and shm transports are
 * this class plus how the memory is shared and how a peer's death is noticed (`peerGone()`).
 *
 * Ends, in ring terms
 * - close(): the outbound ring is marked closed after everything published (the peer's next()
 *   returns null and `ended` turns true after the last record) and the inbound ring's reader
 *   closed (the peer's writer learns nobody reads: its reserve() and writable() fail with
 *   ECLOSED); the peer is woken; then the memory is released.
 * - destroy(): both marked aborted: the peer reads what was published, then fails with EPEER.
 * - peerGone(): the liveness channel closed. After an orderly close by the peer that is the
 *   expected end; otherwise the peer died, and this end fails with EPEER at once.
 * - A protocol violation by the peer (EPROTOCOL) fails this end only.
 */
import { RingError } from "../ring/errors.js";
import { ABORTED, W_READER_SLEEPING, W_WRITER_SLEEPING, type RingMemory } from "../ring/layout.js";
import { RingReader } from "../ring/reader.js";
import { RingWait, type WaitOptions, type WaitStrategy } from "../ring/wait.js";
import { RingWriter } from "../ring/writer.js";
import { checkPublish, checkReserve, nothingOutstanding } from "./common.js";
import {
  type InRecord,
  TransportError,
  type TransportEnd,
  type TransportKind,
  type Trust,
  type WaitHint,
} from "./transport.js";

/**
 * Wait promises are marked handled: a wait nobody awaits any more (its caller gave up) must not
 * crash the process when the end fails; the failure is still reported to whoever awaits it, and
 * by `failure` and every later call.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

export interface RingEndOptions {
  readonly trust: Trust;
  readonly wait: WaitOptions;
  /** Names this end in error messages, e.g. "shm (listener)". */
  readonly label: string;
  /** The wake socket this end rings its peer through (shm: its own end of the pair), where the peer sleeps on one. */
  readonly peerWakeFd?: number;
}

export abstract class RingTransportEnd implements TransportEnd {
  abstract readonly kind: TransportKind;
  readonly trust: Trust;
  readonly sharedMemory = true;
  readonly maxRecordBytes: number;
  readonly waitStrategy: WaitStrategy;
  readonly label: string;
  readonly #reader: RingReader;
  readonly #writer: RingWriter;
  readonly #readWait: RingWait;
  readonly #writeWait: RingWait;
  /** Payload bytes the last failed reserve() asked for: writable() waits until they fit. */
  #wanted = 0;
  #failure: TransportError | undefined;
  #done = false;
  #beforeRelease: (() => void) | undefined;

  protected constructor(inbound: RingMemory, outbound: RingMemory, options: RingEndOptions) {
    this.trust = options.trust;
    this.label = options.label;
    this.waitStrategy = options.wait.strategy;
    const wakeFd = options.peerWakeFd ?? -1;
    const reader = new RingReader(inbound, { copy: options.trust === "untrusted", wakeFd });
    const writer = new RingWriter(outbound, { wakeFd });
    this.#reader = reader;
    this.#writer = writer;
    this.maxRecordBytes = writer.maxRecordBytes;
    this.#readWait = new RingWait(inbound.words, W_READER_SLEEPING, reader, options.wait);
    this.#writeWait = new RingWait(
      outbound.words,
      W_WRITER_SLEEPING,
      {
        ready: () => {
          try {
            return writer.readerClosed || writer.hasRoom(this.#wanted);
          } catch (err) {
            this.#translate(err); // a corrupt consumer position: this end fails, the wait rejects
            return true;
          }
        },
      },
      options.wait,
    );
  }

  reserve(bytes: number): Uint8Array | null {
    const writer = this.#writer;
    if (this.#done || writer.readerClosed) this.#unwritable("reserve");
    let view;
    try {
      view = writer.reserve(bytes);
    } catch (err) {
      if (err instanceof RingError && (err.code === "ETOOBIG" || err.code === "EUSAGE")) {
        checkReserve(this.label, bytes, this.maxRecordBytes);
      }
      throw this.#translate(err);
    }
    if (view === null) this.#wanted = bytes;
    return view;
  }

  publish(length: number, flags: number, seq: number): void {
    if (this.#done) this.#unwritable("publish");
    const writer = this.#writer;
    try {
      writer.publish(length, flags, seq);
    } catch (err) {
      if (err instanceof RingError && err.code === "EORDER") throw nothingOutstanding(this.label, "publish");
      if (err instanceof RingError && (err.code === "ETOOBIG" || err.code === "EUSAGE")) {
        checkPublish(this.label, length, writer.oldestReservation, flags, seq);
      }
      throw this.#translate(err);
    }
  }

  writable(hint?: WaitHint): Promise<void> {
    if (this.#done || this.#writer.readerClosed) return this.#rejectUnwritable("writable");
    const waiting = this.#writeWait.wait(hint?.spin !== false);
    // Woken because the peer's reader closed: that is no room, but the end of writing.
    return this.#writeWait.waiting ? handled(waiting.then(this.#afterWritable)) : waiting;
  }

  next(): InRecord | null {
    if (this.#done) this.#unusable("next");
    let record;
    try {
      record = this.#reader.next();
    } catch (err) {
      throw this.#translate(err);
    }
    if (record === null) {
      if (this.#reader.aborted) this.#peerAborted();
      else if (this.#reader.ended) this.#readWait.releaseSleeper(); // nothing more will come
    }
    return record;
  }

  free(): void {
    if (this.#done) this.#unusable("free");
    if (this.#reader.held === 0) throw nothingOutstanding(this.label, "free");
    try {
      this.#reader.free();
    } catch (err) {
      throw this.#translate(err);
    }
  }

  readable(hint?: WaitHint): Promise<void> {
    if (this.#done) return Promise.reject(this.#unusableError("readable"));
    const wait = this.#readWait;
    const waiting = wait.wait(hint?.spin !== false);
    // Woken by an aborted peer (its ring says so before its liveness channel does): with
    // nothing left to read that is the peer's death.
    if (wait.waiting) return handled(waiting.then(this.#afterReadable));
    return this.#reader.abortedAndEmpty() ? handled(Promise.reject(this.#peerAbortedError())) : waiting;
  }

  cancelWait(direction: "read" | "write"): void {
    (direction === "read" ? this.#readWait : this.#writeWait).cancel();
  }

  waiting(direction: "read" | "write"): boolean {
    return (direction === "read" ? this.#readWait : this.#writeWait).waiting;
  }

  get ended(): boolean {
    return this.#reader.ended;
  }

  get failure(): TransportError | undefined {
    return this.#failure;
  }

  /** See TransportEnd.beforeRelease: a published record stays in the ring until the peer frees it. */
  beforeRelease(hook: () => void): void {
    if (this.#done) throw new TransportError("ECLOSED", `${this.label}: beforeRelease() after close() or destroy()`);
    this.#beforeRelease = hook;
  }

  get keepsPublished(): boolean {
    return this.#beforeRelease !== undefined;
  }

  close(): void {
    if (this.#done) return;
    this.#finish(false, () => new TransportError("ECLOSED", `${this.label}: closed while waiting`));
  }

  destroy(error?: Error): void {
    if (this.#done) return;
    if (error !== undefined && this.#failure === undefined) {
      this.#failure =
        error instanceof TransportError
          ? error
          : new TransportError("ECLOSED", `${this.label}: destroyed: ${error.message}`, { cause: error });
    }
    this.#finish(
      true,
      this.#failure ?? (() => new TransportError("ECLOSED", `${this.label}: destroyed while waiting`)),
    );
  }

  /**
   * The subclass noticed the peer's liveness channel close (`how` says how). After the peer's
   * orderly close this is expected; otherwise the peer died: EPEER.
   */
  protected peerGone(how: string): void {
    if (this.#done) return;
    if (this.#reader.writerClosed) {
      // Orderly: what it published can still be read, and the rings already say closed.
      this.#readWait.poke();
      this.#writeWait.poke();
      return;
    }
    this.#fail(new TransportError("EPEER", `${this.label}: the peer is gone (${how}) without closing its end`));
  }

  /**
   * Called once, after both rings are marked closed (or aborted) and the waiters stopped: release
   * the memory and the liveness channel.
   */
  protected abstract release(aborted: boolean): void;

  readonly #afterReadable = (): void => {
    if (this.#done) throw this.#unusableError("readable");
    if (this.#reader.abortedAndEmpty()) throw this.#peerAbortedError();
  };

  readonly #afterWritable = (): void => {
    if (this.#done || this.#writer.readerClosed) throw this.#unwritableError("writable");
  };

  #peerAbortedError(): TransportError {
    return this.#fail(
      new TransportError("EPEER", `${this.label}: the peer destroyed its end (aborted, no orderly close)`),
    );
  }

  #peerAborted(): never {
    throw this.#peerAbortedError();
  }

  #unusableError(op: string): TransportError {
    return this.#failure ?? new TransportError("ECLOSED", `${this.label}: ${op}() after close() or destroy()`);
  }

  #unusable(op: string): never {
    throw this.#unusableError(op);
  }

  #unwritableError(op: string): TransportError {
    if (this.#done) return this.#unusableError(op);
    if (this.#writer.readerState === ABORTED) {
      return this.#fail(
        new TransportError("EPEER", `${this.label}: the peer destroyed its end (aborted, no orderly close)`),
      );
    }
    return new TransportError(
      "ECLOSED",
      `${this.label}: ${op}(): the peer closed this path; nothing written would be read`,
    );
  }

  #unwritable(op: string): never {
    throw this.#unwritableError(op);
  }

  #rejectUnwritable(op: string): Promise<never> {
    return Promise.reject(this.#unwritableError(op));
  }

  /** Fails the end (first failure wins); returns the end's failure. */
  #fail(error: TransportError): TransportError {
    if (this.#done) return this.#unusableError("use");
    this.#failure = error;
    this.#finish(true, error);
    return error;
  }

  /** `reason` rejects pending waits; as a function it is made only if one is pending (see RingWait.fail). */
  #finish(abort: boolean, reason: TransportError | (() => TransportError)): void {
    if (this.#done) return;
    this.#done = true;
    // Tell the peer first (it may be asleep), then stop our own waiters, then let go of the memory.
    this.#writer.close(abort);
    this.#reader.close(abort);
    this.#readWait.fail(reason);
    this.#writeWait.fail(reason);
    const hook = this.#beforeRelease;
    this.#beforeRelease = undefined;
    try {
      hook?.();
    } finally {
      this.release(abort);
    }
  }

  /** Ring errors become transport errors; a protocol violation fails the end. */
  #translate(err: unknown): Error {
    if (!(err instanceof RingError)) return err instanceof Error ? err : new Error(String(err));
    if (err.code === "EPROTOCOL") {
      return this.#fail(new TransportError("EPROTOCOL", `${this.label}: ${err.message}`, { cause: err }));
    }
    if (err.code === "EUSAGE") return err;
    return new TransportError(err.code, `${this.label}: ${err.message}`, { cause: err });
  }
}
