/**
 * A hostile ring writer in its own process, for test/transports/fuzz-shm.test.ts. It maps the
 * shared region it is given and writes what an attacker (or a corrupt peer) might: random
 * headers, sizes, positions, flags, record numbers and seq values, garbage control-block values,
 * and valid records with one field broken.
 *
 *   node hostile-writer.js cases         fd 3 is the fuzz region (layout below); runs batches
 *   node hostile-writer.js connect PATH  connects to an ShmListener at PATH by the rendezvous,
 *                                        maps the region it is sent and corrupts the ring the
 *                                        listener reads, then waits to be killed
 *
 * Fuzz region (cases): a 4096-byte control page, then RINGS rings of FUZZ_CAPACITY bytes.
 *   control word 0: batch the parent asks for (it resets the rings first); 1: batch done;
 *   2: mode (0 batches, 1 scribble over ring 0 until word 3 is set); 3: stop.
 *   control words 64 + 8k ..: ring k's case: [kind, expected, role, seed, start]. `expected` is the
 *   number of valid records in front of a corruption the reader must detect, -1 when anything but
 *   a crash goes, or -(n + 2): exactly n valid records; role 0: the parent reads the ring, 1: the
 *   parent writes (the child corrupted the consumer position and flags); start: the position both
 *   sides start at.
 * Every case draws from a PRNG seeded with (batch, ring), so a failure names a reproducible case.
 */
import { loadNative } from "../../src/native/load.js";
import {
  CONTROL_BYTES,
  FLAG_PAD,
  H_FLAGS,
  H_LENGTH,
  H_SEQ,
  HEADER_BYTES,
  maxRecordBytes,
  NUMBER_SHIFT,
  recordSize,
  ringBytes,
  W_CAPACITY,
  W_DATA,
  W_HEAD,
  W_MAGIC,
  W_READER_SLEEPING,
  W_TAIL,
  W_VERSION,
  W_WRITER_CLOSED,
  W_WRITER_SLEEPING,
} from "../../src/ring/layout.js";

export const FUZZ_CAPACITY = 4096;
export const RINGS = 64;
export const CONTROL_PAGE = 4096;
export const FUZZ_REGION_BYTES = CONTROL_PAGE + RINGS * ringBytes(FUZZ_CAPACITY);
export const C_BATCH = 0;
export const C_DONE = 1;
export const C_MODE = 2;
export const C_STOP = 3;
export const C_CASES = 64;
export const CASE_WORDS = 8;
export const ringOffset = (k: number): number => CONTROL_PAGE + k * ringBytes(FUZZ_CAPACITY);

export function prng(seed: number): () => number {
  let x = (seed * 0x9e3779b1) ^ 0x5bd1e995 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const KINDS = 10;

/** Writes case `seed` into the ring whose words are `w`; returns [kind, expected, role, start]. */
export function writeCase(w: Int32Array, seed: number): [number, number, number, number] {
  const rand = prng(seed);
  const pick = (n: number): number => rand() % n;
  const cap = FUZZ_CAPACITY;
  const max = maxRecordBytes(cap);
  const kind = pick(KINDS);
  let start = 0;
  let pos = 0;
  let number = 0;
  /** A valid record of `length` bytes at the current position (no wrap handling: callers keep it short). */
  const valid = (length: number): number => {
    const at = W_DATA + (pos >> 2);
    const size = recordSize(length);
    w[at + H_FLAGS] = pick(256) | (number << NUMBER_SHIFT);
    w[at + H_LENGTH] = length;
    w[at + H_SEQ] = rand() | 0;
    for (let i = 0; i < length; i += 4) w[at + 4 + (i >> 2)] = rand() | 0;
    w[at] = size;
    pos += size;
    number++;
    return at;
  };
  const randomWord = (): number => {
    switch (pick(6)) {
      case 0:
        return rand() | 0;
      case 1:
        return pick(cap * 2) & ~15;
      case 2:
        return -(pick(64) + 1);
      case 3:
        return pick(64);
      case 4:
        return 0x7fffffff - pick(16);
      default:
        return (pick(cap) & ~15) + pick(2) * 16;
    }
  };
  switch (kind) {
    case 0: {
      // Random header words at position 0.
      for (let i = 0; i < 4; i++) w[W_DATA + i] = randomWord();
      if (w[W_DATA] === 0) w[W_DATA] = 16;
      return [kind, -1, 0, start];
    }
    case 1: {
      // Valid records, then one with exactly one field broken: the reader must stop there.
      const before = pick(8);
      for (let i = 0; i < before; i++) valid(pick(200));
      const at = valid(pick(100));
      const size = w[at]!;
      switch (pick(8)) {
        case 0:
          w[at] = size + 1 + pick(15); // not a multiple of 16
          break;
        case 1:
          w[at] = -size;
          break;
        case 2:
          w[at] = cap - (pos - size) + 16 * (1 + pick(4)); // past the end of the ring
          break;
        case 3:
          w[at + H_LENGTH] = size - HEADER_BYTES + 1 + pick(64); // longer than the record
          break;
        case 4:
          w[at + H_LENGTH] = -1 - pick(1000);
          break;
        case 5:
          w[at + H_FLAGS] = (w[at + H_FLAGS]! & ~0xff00) | ((1 + pick(255)) << 8); // bits outside the mask
          break;
        case 6:
          w[at + H_FLAGS] = (w[at + H_FLAGS]! & 0xffff) | (((number - 1 + 1 + pick(1000)) & 0xffff) << NUMBER_SHIFT);
          break;
        default:
          w[at + H_FLAGS] = FLAG_PAD | ((number - 1) << NUMBER_SHIFT); // a pad in the middle of the ring
          break;
      }
      return [kind, before, 0, start];
    }
    case 2: {
      // Near the end of the ring (where both sides start), then a pad (possibly wrong) and a
      // record at offset 0.
      start = pos = cap - 1024 + 16 * pick(32);
      while (pos < cap - 600) valid(pick(300));
      const padAt = W_DATA + (pos >> 2);
      const pad = cap - pos;
      const good = pick(2) === 0;
      w[padAt + H_FLAGS] = FLAG_PAD | (number << NUMBER_SHIFT);
      w[padAt + H_LENGTH] = good ? 0 : 1 + pick(100);
      w[padAt + H_SEQ] = rand() | 0;
      const before = number;
      number++;
      pos = 0;
      valid(pick(100));
      w[padAt] = good ? pad : pad - 16 * (1 + pick(3));
      return [kind, good ? -(before + 1 + 2) : before, 0, start];
    }
    case 3: {
      // Garbage in the control block (only the writer's fields and what both read), some records.
      for (let i = 0; i < pick(5); i++) valid(pick(300));
      const fields = [
        W_WRITER_CLOSED,
        W_READER_SLEEPING,
        W_WRITER_SLEEPING,
        W_TAIL,
        W_HEAD,
        W_MAGIC,
        W_CAPACITY,
        W_VERSION,
      ];
      for (let i = 0; i < 1 + pick(4); i++) w[fields[pick(fields.length)]!] = randomWord();
      return [kind, -1, 0, start];
    }
    case 4: {
      // Random bytes over the whole record area.
      for (let i = W_DATA; i < w.length; i++) w[i] = pick(4) === 0 ? 0 : randomWord();
      return [kind, -1, 0, start];
    }
    case 5: {
      // Only valid records (the reader must return them all), with a valid wrap now and then.
      let count = 0;
      while (pos < cap - 400) {
        valid(pick(250));
        count++;
      }
      return [kind, -(count + 2), 0, start]; // encoded: all `count` must be read, then null
    }
    case 6: {
      // Sizes that reach exactly to the end of the ring or one slot beyond, or the whole ring.
      const at = W_DATA;
      w[at + H_FLAGS] = number << NUMBER_SHIFT;
      w[at + H_LENGTH] = pick(2) === 0 ? max : max + 1;
      w[at] = [cap, cap + 16, recordSize(max), recordSize(max) + 16][pick(4)]!;
      return [kind, -1, 0, start];
    }
    case 7: {
      // A replayed record: valid ones, then a copy of an earlier header (stale number).
      const first = valid(pick(50));
      for (let i = 0; i < pick(5); i++) valid(pick(50));
      const before = number;
      const at = W_DATA + (pos >> 2);
      for (let i = 0; i < 4; i++) w[at + i] = w[first + i]!;
      return [kind, before, 0, start];
    }
    case 8: {
      // A corrupt consumer: the parent writes while the consumer position is garbage.
      w[W_TAIL] = randomWord();
      w[W_READER_SLEEPING] = randomWord();
      if (pick(2) === 0) w[W_WRITER_SLEEPING] = randomWord();
      return [kind, -1, 1, start];
    }
    default: {
      // A huge length with a plausible size, and random seq and flags.
      w[W_DATA + H_FLAGS] = rand() | 0;
      w[W_DATA + H_LENGTH] = rand() | 0;
      w[W_DATA + H_SEQ] = rand() | 0;
      w[W_DATA] = 16 * (1 + pick(300));
      return [kind, -1, 0, start];
    }
  }
}

async function runCases(): Promise<void> {
  const native = loadNative();
  const region = native.shmMap(3, FUZZ_REGION_BYTES);
  const control = new Int32Array(region, 0, CONTROL_PAGE / 4);
  const rings = Array.from(
    { length: RINGS },
    (_, k) => new Int32Array(region, ringOffset(k), ringBytes(FUZZ_CAPACITY) / 4),
  );
  let last = 0;
  for (;;) {
    if (Atomics.load(control, C_STOP) !== 0) return;
    if (Atomics.load(control, C_MODE) === 1) {
      // Scribble over ring 0 while the parent reads it: values change between its reads.
      const rand = prng(12345);
      const w = rings[0]!;
      while (Atomics.load(control, C_STOP) === 0) {
        for (let i = 0; i < 256; i++) {
          const at = W_DATA + ((rand() % (FUZZ_CAPACITY / 4)) & ~3);
          w[at + (rand() % 4)] = rand() % 3 === 0 ? (rand() % 64) * 16 : rand() | 0;
          if (rand() % 8 === 0) w[W_TAIL] = rand() | 0;
        }
      }
      return;
    }
    const batch = Atomics.load(control, C_BATCH);
    if (batch === last) {
      native.futexWait(region, C_BATCH * 4, last, 1000);
      continue;
    }
    for (let k = 0; k < RINGS; k++) {
      const seed = batch * RINGS + k;
      const [kind, expected, role, start] = writeCase(rings[k]!, seed);
      control.set([kind, expected, role, seed, start], C_CASES + CASE_WORDS * k);
    }
    last = batch;
    Atomics.store(control, C_DONE, batch);
    native.futexWake(region, C_DONE * 4, 1);
  }
}

async function runConnect(path: string): Promise<void> {
  const { connectRendezvous } = await import("../../src/transports/rendezvous.js");
  const native = loadNative();
  const conn = await connectRendezvous(path);
  const { data, fds } = await conn.receive();
  const hello = new Uint32Array(data.slice().buffer);
  const capacity = hello[2]!;
  const toListener = hello[5]!;
  const region = native.shmMap(fds[0]!, hello[6]!);
  // The listener reads the ring at `toListener`: a record whose length runs past its size.
  const w = new Int32Array(region, toListener, (CONTROL_BYTES + capacity) / 4);
  w[W_DATA + H_FLAGS] = 0;
  w[W_DATA + H_LENGTH] = 1 << 20;
  w[W_DATA + H_SEQ] = 1;
  Atomics.store(w, W_DATA, 32);
  process.stdout.write("corrupted\n");
  await new Promise(() => {}); // stay alive: the listener must fail on the ring, not on our death
}

if (process.argv[2] === "cases") await runCases();
else if (process.argv[2] === "connect") await runConnect(process.argv[3] ?? "");
