/**
 * Single-use I/O buffers handed out by a connection. A write buffer lives from getWriteBuffers()
 * to commit(); a read buffer from getReadBuffers() to release(). After that its `bytes` throw
 * BufferStateError: the memory behind it belongs to the transport again (a shared ring slot may
 * already hold the peer's next message), so no stale view is handed out through the buffer.
 */
import { FableError } from "../errors.js";

/** A buffer was used after commit/release, or given to a connection that does not own it. */
export class BufferStateError extends FableError {
  constructor(message: string) {
    super("EBUFFERSTATE", message);
  }
}

/** The reader holds more read buffers than its limit: release some before reading more. */
export class NoSpaceError extends FableError {
  constructor(message: string) {
    super("ENOSPACE", message);
  }
}

/** "lost": a read buffer whose path failed while it was held (its memory went with the path). */
export type BufferState = "open" | "committed" | "released" | "lost";

/** What a buffer needs to know of its connection, kept minimal so buffers stay cheap. */
export interface BufferOwner {
  readonly id: number;
}

export class IoBuffer {
  #bytes: Uint8Array | undefined;
  #state: BufferState = "open";
  /** The connection this buffer belongs to. */
  readonly connection: BufferOwner;
  /** Epoch of the transport the bytes came from (changes when a connection is reconfigured). */
  readonly epoch: number;
  /** Connection sequence number of the message's first record (exact up to 2^53 records). */
  readonly seq: number;
  readonly kind: "write" | "read";
  /**
   * @internal: the connection's bookkeeping. A write buffer: -1 until committed, then the length
   * to publish. A read buffer: the number of the record it views, or -1 when it owns its bytes
   * (a message reassembled from fragments).
   */
  mark = -1;

  constructor(kind: "write" | "read", connection: BufferOwner, bytes: Uint8Array, epoch: number, seq: number) {
    this.kind = kind;
    this.connection = connection;
    this.#bytes = bytes;
    this.epoch = epoch;
    this.seq = seq;
  }

  get state(): BufferState {
    return this.#state;
  }

  get bytes(): Uint8Array {
    const bytes = this.#bytes;
    if (bytes === undefined) {
      throw new BufferStateError(
        this.#state === "lost"
          ? `read buffer seq ${this.seq} is lost: its path failed while it was held (the message had been delivered)`
          : `${this.kind} buffer seq ${this.seq} was already ${this.#state}: it is single-use; ask the connection for a new one`,
      );
    }
    return bytes;
  }

  /**
   * @internal: the connection moves a held read buffer's bytes to private memory (its path is
   * being retired); the buffer stays open and now owns `bytes`.
   */
  rebind(bytes: Uint8Array): void {
    if (this.#bytes === undefined) throw new BufferStateError(`${this.kind} buffer seq ${this.seq} is not open`);
    this.#bytes = bytes;
    this.mark = -1;
  }

  /** @internal: the connection ends the buffer's life; returns its bytes one last time. */
  retire(state: "committed" | "released" | "lost"): Uint8Array {
    const bytes = this.bytes;
    this.#bytes = undefined;
    this.#state = state;
    return bytes;
  }
}

export type WriteBuffer = IoBuffer;
export type ReadBuffer = IoBuffer;
