/**
 * The transport contract: one end of a duplex, ordered, reliable path of *records* between two
 * peers. Every transport (memory, sab, shm, unix, tcp, tls, pipe) implements it in one file of this
 * folder and passes one conformance suite (test/transports/conformance.ts).
 *
 * What a transport promises
 * - Records arrive in the order they were published, each exactly once, with the `flags` and `seq`
 *   the writer gave (the transport never invents or renumbers; sequence numbers belong to the
 *   channel above). A record's payload is 0 to `maxRecordBytes` bytes; the channel fragments
 *   larger messages (flags RECORD_FIRST/RECORD_LAST) and reassembles them.
 * - Writing is two steps so memory can be shared: `reserve(n)` hands out space for one record's
 *   payload (in shared memory for shm/sab/memory: the peer reads those very bytes; a staging
 *   buffer for sockets), then `publish(length, flags, seq)` makes the OLDEST unpublished
 *   reservation visible with `length <= n` bytes. Reservations are published in the order made.
 *   `reserve` returns null when there is no room (back-pressure); `writable()` resolves when
 *   there may be.
 * - Reading is two steps too: `next()` returns the next record not yet returned, or null; its
 *   `bytes` stay valid and unchanged until `free()` releases it. `free()` releases the OLDEST
 *   returned record. `readable()` resolves when `next()` may return a record or the end.
 * - Trust: in "trusted" mode a shared-memory reader may hand out views of shared memory. In
 *   "untrusted" mode the reader checks every value it reads from shared memory against its
 *   bounds, reads each once, and copies the payload to private memory before returning it; a
 *   hostile peer can only make this end fail with a TransportError (never crash, hang, read out
 *   of bounds, or disturb another transport).
 * - Ends: `close()` flushes what was published, then tells the peer (its `next()` then returns
 *   null and `ended` becomes true after the last record). `destroy(err?)` drops everything at
 *   once. Both are idempotent. A peer that dies (process exit, socket reset, dead futex owner)
 *   makes this end fail with TransportError code EPEER; `failure` holds the error and every
 *   pending `readable()`/`writable()` rejects with it.
 * - After the peer closed, reserve()/publish() throw ECLOSED and a pending writable() settles.
 *   After this end failed, every operation throws `failure` (records that had arrived are not
 *   delivered: the channel re-sends what was not acknowledged). After this end's own close,
 *   every operation, free() included, throws ECLOSED.
 * - Wrong arguments (size, flags outside RECORD_FLAGS_MASK, seq outside 0..2^32-1) throw a
 *   UsageError; publishing more than was reserved is ETOOBIG. The channel passes seq mod 2^32.
 * - `reserve` returns null only while something of this end is in flight; `writable()` resolves
 *   when some of it has gone (not on a fixed high-water mark of the runtime's).
 * - Both ends of a stream transport use the same maxRecordBytes; a mismatch is EPROTOCOL.
 * - Waiting never blocks the event loop beyond a bounded spin, and never occupies a libuv
 *   thread-pool thread. `{ spin: false }` asks for no spin before sleeping: a caller waiting on
 *   many ends at once (poll) would otherwise pay each end's spin in turn. Transports that never
 *   spin ignore it.
 */
import { FableError } from "../errors.js";

/** The record is the first (or only) fragment of a message. */
export const RECORD_FIRST = 1;
/** The record is the last (or only) fragment of a message. */
export const RECORD_LAST = 2;
/** A control record of the channel (epoch end, acknowledgement); never delivered as data. */
export const RECORD_CONTROL = 4;
/** Flags the channel may set; a transport carries them unchanged and rejects others. */
export const RECORD_FLAGS_MASK = 0xff;

export type TransportKind = "memory" | "sab" | "shm" | "unix" | "tcp" | "tls" | "pipe";
export type Trust = "trusted" | "untrusted";

export interface InRecord {
  /** Payload; valid until this record is freed. Private memory in untrusted mode. */
  readonly bytes: Uint8Array;
  readonly flags: number;
  /** Low 32 bits of the channel's sequence number (the channel keeps the high bits). */
  readonly seq: number;
}

export type TransportErrorCode =
  | "EPEER" // the peer died or reset the connection
  | "EPROTOCOL" // the peer broke the protocol (bad header, size, position, magic): hostile or corrupt
  | "ECLOSED" // used after close()/destroy()
  | "ETOOBIG" // a record larger than maxRecordBytes
  | "EORDER"; // publish/free with nothing outstanding

export class TransportError extends FableError {
  constructor(code: TransportErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** How a caller wants readable()/writable() to wait. */
export interface WaitHint {
  /** false: sleep at once instead of spinning first (a spin-only end polls from the event loop). Default true. */
  readonly spin?: boolean;
}

export interface TransportEnd {
  readonly kind: TransportKind;
  readonly trust: Trust;
  /** True when reserve() hands out memory the peer reads in place. */
  readonly sharedMemory: boolean;
  /** Largest payload of one record. */
  readonly maxRecordBytes: number;

  reserve(bytes: number): Uint8Array | null;
  publish(length: number, flags: number, seq: number): void;
  /**
   * Optional, for a reader in this very thread (memory): publishes `bytes` the caller owns as one
   * record, by reference, with no reservation. The bytes must stay unchanged until `onFree` runs,
   * which happens exactly once: when the reader frees the record, or when either end goes away
   * without it being freed. False (nothing published) when there is no room, a reservation is
   * outstanding (it would be overtaken), or the record is too large; then reserve() and copy.
   */
  publishExternal?(bytes: Uint8Array, flags: number, seq: number, onFree: () => void): boolean;
  writable(hint?: WaitHint): Promise<void>;

  next(): InRecord | null;
  free(): void;
  readable(hint?: WaitHint): Promise<void>;
  /**
   * Optional, for ends whose waits spin or sleep (shm, sab): settles a pending readable() ("read")
   * or writable() ("write") at once, as a spurious wake-up, and stops its spinning or sleeping.
   * For a caller that stopped waiting, so that nothing keeps polling or stays armed for it.
   */
  cancelWait?(direction: "read" | "write"): void;
  /** Optional, beside cancelWait: whether a readable() ("read") or writable() ("write") is pending. */
  waiting?(direction: "read" | "write"): boolean;
  /**
   * Optional: whether this end's own handles (sockets) keep the event loop alive; default yes,
   * like a net.Socket's ref()/unref(). A wait in progress may still hold the loop on its own (a
   * sleeping shm waiter thread) unless `unrefWaits`: a caller that must let the process exit
   * cancels its waits.
   */
  setRef?(ref: boolean): void;
  /** Optional: true when, after setRef(false), a pending wait does not hold the event loop either. */
  readonly unrefWaits?: boolean;
  /**
   * Optional (ring ends: shm, sab): `hook` runs once, just before this end lets go of its memory
   * (close, destroy or failure). Until then a record it published stays in the view reserve() gave,
   * unchanged, until the peer frees it, which a peer does only once it has read it: a caller may
   * keep that view instead of a copy, and copy it in `hook`. One hook per end (the last one given).
   */
  beforeRelease?(hook: () => void): void;
  /** Optional: true once beforeRelease() has a hook to run. */
  readonly keepsPublished?: boolean;

  /** The peer closed and every record before its close has been returned by next(). */
  readonly ended: boolean;
  /** Set once the end has failed; never cleared. */
  readonly failure: TransportError | undefined;
  close(): void;
  destroy(error?: Error): void;
}
