/**
 * The shared-memory ring of DESIGN.md "Ring protocol": where every field sits, and how a ring is
 * initialised in and attached to a piece of memory (an external ArrayBuffer over a memfd mapping,
 * a SharedArrayBuffer, or a plain ArrayBuffer in tests).
 *
 * A ring is a control block followed by `capacity` bytes of records (capacity a power of two).
 *
 * Control block (byte offsets; all fields little-endian u32; every field the two sides write
 * sits on a 128-byte stretch of its own, so neither it nor its adjacent-line prefetch partner
 * is shared with a field the other side writes):
 *     0 magic "FBRG"          4 version          8 capacity         12 flags (0; reserved)
 *    16 epoch                20 writer closed   24 reader closed   28 header bytes (16)
 *       (closed flags: 0 open, 1 closed in order, 2 aborted: the side is gone without an end)
 *   128 producer position: end of the last published record (free-running u32 byte counter)
 *   256 consumer position: end of the last freed record
 *   384 reader sleeping: 0 awake, 1 asleep on a futex, 2 asleep on Atomics.waitAsync, 3 asleep
 *       on its wake socket
 *   512 writer sleeping: same values, the writer waiting for space
 *  1024 records (CONTROL_BYTES)
 *
 * Record (16-byte header, payload, padded to a multiple of 16 bytes so a header always fits
 * before the end of the ring, or a pad record fills the tail):
 *   +0 size: the record's bytes including header and padding; 0 until published
 *   +4 flags: bits 0-7 the channel's flags, bit 8 PAD (fills the tail of the ring; no payload),
 *      bits 16-31 the record's number modulo 2^16 (pads count): a stale or replayed header is
 *      caught because its number is wrong
 *   +8 payload length in bytes
 *  +12 seq: low 32 bits of the channel's sequence number (carried, never checked: it is the
 *      channel's)
 */
import { RingError } from "./errors.js";

export const RING_MAGIC = 0x47524246; // "FBRG" little-endian
export const RING_VERSION = 1;
export const CONTROL_BYTES = 1024;
export const HEADER_BYTES = 16;
export const RECORD_ALIGN = 16;
/** Smallest capacity: a few records of a useful size. */
export const MIN_CAPACITY = 256;
/** Largest capacity: positions are u32 counters, so a ring must be well below 2^31 bytes. */
export const MAX_CAPACITY = 1 << 30;

/** 32-bit word indices into the control block (byte offset / 4). */
export const W_MAGIC = 0;
export const W_VERSION = 1;
export const W_CAPACITY = 2;
export const W_FLAGS = 3;
export const W_EPOCH = 4;
export const W_WRITER_CLOSED = 5;
export const W_READER_CLOSED = 6;
export const W_HEADER_BYTES = 7;
export const W_HEAD = 128 / 4;
export const W_TAIL = 256 / 4;
export const W_READER_SLEEPING = 384 / 4;
export const W_WRITER_SLEEPING = 512 / 4;
/** Word index of the first record. */
export const W_DATA = CONTROL_BYTES / 4;

/** Header word offsets within a record. */
export const H_SIZE = 0;
export const H_FLAGS = 1;
export const H_LENGTH = 2;
export const H_SEQ = 3;

export const FLAG_PAD = 0x100;
/** Flag bits a data record may carry (the channel's). */
export const DATA_FLAGS_MASK = 0xff;
export const NUMBER_SHIFT = 16;

/**
 * Whether Atomics.store is a full fence here, so a plain load after it cannot be reordered before
 * it. On x86 V8 emits `xchg` for a sequentially consistent store (a locked instruction: a full
 * barrier); elsewhere (arm64 `stlr`) only an Atomics.load after it is ordered. The sleep
 * handshake's "store, then load the peer's flag" uses a plain load where this holds, because
 * Atomics.load is a builtin call in V8 (about 9 ns) and it sits on every publish and free.
 */
export const STORE_IS_FULL_FENCE = process.arch === "x64" || process.arch === "ia32";

/** Values of the closed flags: 0 open, 1 closed in order (after the last record), 2 aborted. */
export const OPEN = 0;
export const CLOSED = 1;
export const ABORTED = 2;

/** Values of a sleeping flag: which wake call the sleeper needs. */
export const AWAKE = 0;
export const SLEEPING_FUTEX = 1;
export const SLEEPING_ATOMICS = 2;
/** The sleeper watches its end's wake socket: the waker sends it a byte (src/ring/wake-socket.ts). */
export const SLEEPING_SOCKET = 3;

/** Bytes a ring of `capacity` occupies (control block + records). */
export function ringBytes(capacity: number): number {
  checkCapacity(capacity);
  return CONTROL_BYTES + capacity;
}

/** Largest payload of one record: under half the ring, so any record fits once the ring drains. */
export function maxRecordBytes(capacity: number): number {
  return capacity / 2 - 2 * HEADER_BYTES;
}

/** Bytes a record with `length` payload bytes takes in the ring. */
export function recordSize(length: number): number {
  return (length + HEADER_BYTES + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1);
}

export function checkCapacity(capacity: number): void {
  if (
    !Number.isInteger(capacity) ||
    capacity < MIN_CAPACITY ||
    capacity > MAX_CAPACITY ||
    (capacity & (capacity - 1)) !== 0
  ) {
    throw new RingError(
      "EUSAGE",
      `ring capacity ${capacity} must be a power of two from ${MIN_CAPACITY} to ${MAX_CAPACITY} bytes`,
    );
  }
}

/** Smallest power-of-two capacity >= `bytes` (and >= MIN_CAPACITY). */
export function capacityFor(bytes: number): number {
  let c = MIN_CAPACITY;
  while (c < bytes && c < MAX_CAPACITY) c *= 2;
  return c;
}

/** The memory of one ring: its words and its records, as typed views made once. */
export class RingMemory {
  /** The ring's words, control block first (Atomics need an Int32Array). */
  readonly words: Int32Array;
  /** The record area. */
  readonly data: Uint8Array;
  readonly buffer: ArrayBufferLike;
  /** Byte offset of the ring within `buffer`. */
  readonly byteOffset: number;
  readonly capacity: number;

  constructor(buffer: ArrayBufferLike, byteOffset: number, capacity: number) {
    checkCapacity(capacity);
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 64 !== 0) {
      throw new RingError("EUSAGE", `ring byteOffset ${byteOffset} must be a non-negative multiple of 64`);
    }
    if (byteOffset + CONTROL_BYTES + capacity > buffer.byteLength) {
      throw new RingError(
        "EUSAGE",
        `a ring of ${capacity} bytes at offset ${byteOffset} needs ${byteOffset + CONTROL_BYTES + capacity} bytes; ` +
          `the buffer has ${buffer.byteLength}`,
      );
    }
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.capacity = capacity;
    this.words = new Int32Array(buffer, byteOffset, (CONTROL_BYTES + capacity) / 4);
    this.data = new Uint8Array(buffer, byteOffset + CONTROL_BYTES, capacity);
  }
}

/**
 * Writes a fresh control block (and clears the records) for a ring of `capacity` bytes at
 * `byteOffset`. Only the side that creates the memory does this, before the peer attaches.
 * `dataZeroed`: the memory is fresh from the kernel (a new memfd, a new SharedArrayBuffer), so
 * only the control block is written; clearing a 1 MiB ring would fault in every page (10-40 ms
 * on a small VM) during connection setup instead of as the ring is first used.
 */
export function initRing(
  buffer: ArrayBufferLike,
  byteOffset: number,
  capacity: number,
  epoch = 0,
  dataZeroed = false,
): RingMemory {
  const mem = new RingMemory(buffer, byteOffset, capacity);
  const w = mem.words;
  if (dataZeroed) w.fill(0, 0, CONTROL_BYTES / 4);
  else w.fill(0);
  w[W_VERSION] = RING_VERSION;
  w[W_CAPACITY] = capacity;
  w[W_FLAGS] = 0;
  w[W_EPOCH] = epoch | 0;
  w[W_HEADER_BYTES] = HEADER_BYTES;
  // Magic last: a peer that sees it sees the rest.
  Atomics.store(w, W_MAGIC, RING_MAGIC);
  return mem;
}

/**
 * Attaches to a ring another side initialised, checking the control block against what this
 * side expects (the capacity it was told out of band, never the one in shared memory alone).
 * Throws RingError EPROTOCOL naming the wrong field.
 */
export function attachRing(buffer: ArrayBufferLike, byteOffset: number, capacity: number): RingMemory {
  const mem = new RingMemory(buffer, byteOffset, capacity);
  const w = mem.words;
  const magic = Atomics.load(w, W_MAGIC) >>> 0;
  const version = w[W_VERSION];
  const cap = w[W_CAPACITY];
  const headerBytes = w[W_HEADER_BYTES];
  if (magic !== RING_MAGIC) {
    throw new RingError("EPROTOCOL", `ring at offset ${byteOffset}: magic 0x${magic.toString(16)} is not "FBRG"`);
  }
  if (version !== RING_VERSION) {
    throw new RingError(
      "EPROTOCOL",
      `ring at offset ${byteOffset}: version ${version}, this side speaks ${RING_VERSION}`,
    );
  }
  if (cap !== capacity || headerBytes !== HEADER_BYTES) {
    throw new RingError(
      "EPROTOCOL",
      `ring at offset ${byteOffset}: capacity ${cap} / header ${headerBytes} bytes, expected ${capacity} / ${HEADER_BYTES}`,
    );
  }
  return mem;
}
