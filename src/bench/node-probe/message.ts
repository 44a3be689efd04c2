/**
 * What a probe message is and how a reader checks it. A byte message is exactly `size` bytes: a
 * 64-bit little-endian sequence number in its first 8 bytes, then a fixed payload pattern. Stream
 * transports deliver arbitrary chunks; FixedSizeFramer cuts them back into whole messages without
 * allocating per message.
 */
import { sequenceError } from "./errors.js";

export const SEQ_BYTES = 8;

/** What `--corrupt-at` adds to the sequence number it spoils: flips the high 32-bit word. */
export const CORRUPTION = 2 ** 32;

const TWO_32 = 2 ** 32;

/** Writes `seq` (an integer below 2^53) as 64-bit little-endian at `offset`. */
export function writeSeq(bytes: Uint8Array, offset: number, seq: number): void {
  const lo = seq >>> 0;
  const hi = (seq - lo) / TWO_32;
  bytes[offset] = lo;
  bytes[offset + 1] = lo >>> 8;
  bytes[offset + 2] = lo >>> 16;
  bytes[offset + 3] = lo >>> 24;
  bytes[offset + 4] = hi;
  bytes[offset + 5] = hi >>> 8;
  bytes[offset + 6] = hi >>> 16;
  bytes[offset + 7] = hi >>> 24;
}

/** Reads the 64-bit little-endian sequence number at `offset` (exact below 2^53). */
export function readSeq(bytes: Uint8Array, offset: number): number {
  const lo =
    (bytes[offset] as number) |
    ((bytes[offset + 1] as number) << 8) |
    ((bytes[offset + 2] as number) << 16) |
    ((bytes[offset + 3] as number) << 24);
  const hi =
    (bytes[offset + 4] as number) |
    ((bytes[offset + 5] as number) << 8) |
    ((bytes[offset + 6] as number) << 16) |
    ((bytes[offset + 7] as number) << 24);
  return (hi >>> 0) * TWO_32 + (lo >>> 0);
}

/** A `size`-byte message with a zero sequence number and a non-trivial payload pattern. */
export function messageTemplate(size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  bytes.fill(0, 0, SEQ_BYTES);
  for (let i = SEQ_BYTES; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

/** The payload of a JSON message: `size - 8` ASCII characters (the other 8 bytes are the sequence number). */
export function textPayload(size: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const n = size - SEQ_BYTES;
  return alphabet.repeat(Math.ceil(n / alphabet.length)).slice(0, n);
}

/** Messages per throughput sample. */
export function batchMessagesFor(size: number): number {
  return Math.max(1, Math.floor(65536 / size));
}
export const BATCH_RULE = "max(1, floor(65536 / size))";

/** Checks that sequence numbers arrive as 0, 1, 2, ... */
export class SequenceCheck {
  expected = 0;

  constructor(private readonly reader: string) {}

  accept(seq: number): void {
    if (seq !== this.expected) throw sequenceError(this.expected, seq, this.reader);
    this.expected = seq + 1;
  }
}

/**
 * Reassembles fixed-size messages from stream chunks. A message lying wholly inside a chunk is handed
 * over in place (chunk, offset); one split across chunks is copied into one preallocated buffer
 * first. The handler must be done with the bytes when it returns.
 */
export class FixedSizeFramer {
  private readonly assembly: Buffer;
  private filled = 0;

  constructor(
    private readonly size: number,
    private readonly onMessage: (bytes: Buffer, offset: number) => void,
  ) {
    this.assembly = Buffer.allocUnsafe(size);
  }

  push(chunk: Buffer): void {
    const size = this.size;
    const n = chunk.length;
    let off = 0;
    if (this.filled > 0) {
      const take = Math.min(size - this.filled, n);
      chunk.copy(this.assembly, this.filled, 0, take);
      this.filled += take;
      if (this.filled < size) return;
      this.filled = 0;
      off = take;
      this.onMessage(this.assembly, 0);
    }
    while (n - off >= size) {
      this.onMessage(chunk, off);
      off += size;
    }
    if (off < n) {
      chunk.copy(this.assembly, 0, off, n);
      this.filled = n - off;
    }
  }
}

/**
 * Flow control of the message mechanisms (worker postMessage, child IPC), which have none of their
 * own: side A keeps at most `window` messages unacknowledged; side B acknowledges every `ackEvery`.
 */
export function creditWindowFor(size: number): { readonly window: number; readonly ackEvery: number } {
  const window = Math.max(4, Math.floor((2 * 1024 * 1024) / size));
  return { window, ackEvery: Math.max(1, Math.floor(window / 4)) };
}
export const CREDIT_RULE = "window max(4, floor(2 MiB / size)) messages, acknowledged every floor(window / 4)";
