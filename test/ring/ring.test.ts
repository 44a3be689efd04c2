import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RingError } from "../../src/ring/errors.js";
import {
  ABORTED,
  attachRing,
  CLOSED,
  CONTROL_BYTES,
  FLAG_PAD,
  H_FLAGS,
  H_LENGTH,
  H_SEQ,
  HEADER_BYTES,
  initRing,
  maxRecordBytes,
  recordSize,
  RING_MAGIC,
  ringBytes,
  type RingMemory,
  W_DATA,
  W_EPOCH,
  W_HEAD,
  W_HEADER_BYTES,
  W_MAGIC,
  W_READER_CLOSED,
  W_TAIL,
  W_VERSION,
  W_WRITER_CLOSED,
} from "../../src/ring/layout.js";
import { RingReader, type RingRecord } from "../../src/ring/reader.js";
import { READY, RingWait, type WaitOptions } from "../../src/ring/wait.js";
import { RingWriter } from "../../src/ring/writer.js";

interface Pair {
  memory: RingMemory;
  writer: RingWriter;
  reader: RingReader;
}

function ring(capacity: number, options: { copy?: boolean; position?: number; shared?: boolean } = {}): Pair {
  const buffer =
    options.shared === true ? new SharedArrayBuffer(ringBytes(capacity)) : new ArrayBuffer(ringBytes(capacity));
  const memory = initRing(buffer, 0, capacity, 7);
  const position = options.position ?? 0;
  memory.words[W_TAIL] = position;
  return {
    memory,
    writer: new RingWriter(memory, { position }),
    reader: new RingReader(attachRing(buffer, 0, capacity), { copy: options.copy ?? false, position }),
  };
}

/** Deterministic payload bytes of record `n`. */
function fill(view: Uint8Array, n: number): void {
  for (let i = 0; i < view.length; i++) view[i] = (n * 31 + i * 7) & 0xff;
}

function check(r: RingRecord | null, n: number, length: number, flags = n & 0xff): RingRecord {
  assert.ok(r !== null, `record ${n} missing`);
  assert.equal(r.seq, n >>> 0, `record ${n}: seq`);
  assert.equal(r.flags, flags, `record ${n}: flags`);
  assert.equal(r.bytes.length, length, `record ${n}: length`);
  for (let i = 0; i < length; i++) {
    if (r.bytes[i] !== ((n * 31 + i * 7) & 0xff)) assert.fail(`record ${n}: byte ${i} is ${r.bytes[i]}`);
  }
  return r;
}

function send(w: RingWriter, n: number, length: number): boolean {
  const view = w.reserve(length);
  if (view === null) return false;
  fill(view, n);
  w.publish(length, n & 0xff, n >>> 0);
  return true;
}

function code(fn: () => unknown, expected: string): void {
  assert.throws(fn, (e: unknown) => e instanceof RingError && e.code === expected);
}

describe("ring layout", () => {
  it("puts the shared fields where the layout says, each written field on a line of its own", () => {
    const { memory } = ring(4096);
    const w = memory.words;
    assert.equal(w[W_MAGIC], RING_MAGIC);
    assert.equal(w[W_VERSION], 1);
    assert.equal(w[W_EPOCH], 7);
    assert.equal(W_DATA * 4, CONTROL_BYTES);
    const written = [W_HEAD, W_TAIL, 384 / 4, 512 / 4].map((i) => Math.floor((i * 4) / 64));
    assert.equal(new Set(written).size, written.length);
    assert.equal(ringBytes(4096), CONTROL_BYTES + 4096);
  });

  it("refuses a capacity that is not a power of two in range, and memory too small", () => {
    for (const bad of [0, 100, 255, 3000, 2 ** 31]) assert.throws(() => ringBytes(bad), RingError);
    assert.throws(() => initRing(new ArrayBuffer(4096), 0, 4096), /needs/);
    assert.throws(() => initRing(new ArrayBuffer(8192), 8, 4096), /multiple of 64/);
  });

  it("initRing clears the records unless the memory is fresh, and always the control block", () => {
    const dirty = (): ArrayBuffer => new Uint8Array(ringBytes(4096)).fill(0xa5).buffer;
    const cleared = initRing(dirty(), 0, 4096);
    assert.ok(cleared.data.every((b) => b === 0));
    const fresh = initRing(dirty(), 0, 4096, 3, true);
    assert.ok(
      fresh.data.every((b) => b === 0xa5),
      "dataZeroed: the records are left as the kernel gave them",
    );
    assert.equal(fresh.words[W_VERSION], 1);
    assert.equal(fresh.words[W_EPOCH], 3);
    // Past the header words, the whole control block reads zero: positions, closed and sleeping flags.
    assert.ok(fresh.words.subarray(W_HEADER_BYTES + 1, CONTROL_BYTES / 4).every((w) => w === 0));
    assert.equal(attachRing(fresh.buffer, 0, 4096).capacity, 4096);
  });

  it("attach checks magic, version and the capacity this side was told", () => {
    const buffer = new ArrayBuffer(ringBytes(4096));
    assert.throws(() => attachRing(buffer, 0, 4096), /magic/);
    const memory = initRing(buffer, 0, 4096);
    assert.throws(() => attachRing(buffer, 0, 8192), /needs/);
    memory.words[W_VERSION] = 2;
    assert.throws(() => attachRing(buffer, 0, 4096), /version 2/);
    memory.words[W_VERSION] = 1;
    memory.words[2] = 2048;
    assert.throws(() => attachRing(buffer, 0, 4096), /capacity 2048/);
  });

  it("maxRecordBytes is under half the ring: the largest record fits whatever the writer's position", () => {
    for (const capacity of [256, 4096, 65536]) {
      const max = maxRecordBytes(capacity);
      assert.ok(recordSize(max) + HEADER_BYTES <= capacity / 2);
      for (let start = 0; start < capacity; start += HEADER_BYTES) {
        const { writer, reader } = ring(capacity, { position: start });
        assert.ok(send(writer, 1, max), `capacity ${capacity}, start ${start}: no room for ${max} bytes`);
        check(reader.next(), 1, max);
        reader.free();
        code(() => writer.reserve(max + 1), "ETOOBIG");
      }
    }
  });
});

describe("ring records", () => {
  it("wraps at every alignment: every size around the end of the ring, both trust modes", () => {
    const capacity = 2048;
    for (const copy of [false, true]) {
      for (let start = capacity - 256; start <= capacity; start += 16) {
        for (let length = 0; length <= 200; length += 13) {
          const { writer, reader } = ring(capacity, { copy, position: start });
          for (let n = 0; n < 4; n++) assert.ok(send(writer, n, length));
          for (let n = 0; n < 4; n++) {
            check(reader.next(), n, length);
            reader.free();
          }
          assert.equal(reader.next(), null);
        }
      }
    }
  });

  it("wraps the u32 position counters", () => {
    const { writer, reader } = ring(1024, { position: 2 ** 32 - 512 });
    for (let n = 0; n < 200; n++) {
      assert.ok(send(writer, n, n % 97));
      check(reader.next(), n, n % 97);
      reader.free();
    }
  });

  it("carries zero-length records, every flags value and seq edge", () => {
    const { writer, reader } = ring(4096);
    const seqs = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff];
    for (let f = 0; f < 256; f++) {
      const seq = seqs[f % seqs.length]!;
      assert.ok(writer.reserve(0) !== null);
      writer.publish(0, f, seq);
      const r = reader.next();
      assert.ok(r !== null);
      assert.deepEqual([r.bytes.length, r.flags, r.seq], [0, f, seq]);
      reader.free();
    }
  });

  it("back-pressure: reserve() returns null when full, room comes back as the reader frees", () => {
    const { writer, reader } = ring(4096);
    let sent = 0;
    while (send(writer, sent, 100)) sent++;
    assert.ok(sent > 30 && sent * recordSize(100) <= 4096);
    assert.equal(writer.hasRoom(100), false);
    assert.equal(writer.reserve(100), null);
    check(reader.next(), 0, 100);
    assert.equal(writer.hasRoom(100), false, "a record only held, not freed, gives no room");
    reader.free();
    assert.equal(writer.hasRoom(100), true);
    assert.ok(send(writer, sent++, 100));
    for (let n = 1; n < sent; n++) {
      check(reader.next(), n, 100);
      reader.free();
    }
    assert.equal(reader.next(), null);
  });

  it("publishes several outstanding reservations in order, across a wrap, each at its own length", () => {
    const { writer, reader } = ring(1024, { position: 1024 - 96 });
    const views = [writer.reserve(40), writer.reserve(100), writer.reserve(10)];
    assert.ok(views.every((v) => v !== null));
    assert.equal(writer.outstanding, 3);
    views.forEach((v, i) => fill(v!, i));
    writer.publish(40, 0, 0);
    check(reader.next(), 0, 40);
    assert.equal(reader.next(), null, "the second reservation is not published yet");
    writer.publish(99, 1, 1); // shorter than reserved
    writer.publish(10, 2, 2);
    check(reader.next(), 1, 99);
    check(reader.next(), 2, 10);
    assert.equal(reader.held, 3);
    reader.free();
    reader.free();
    reader.free();
    code(() => reader.free(), "EORDER");
    code(() => writer.publish(0, 0, 0), "EORDER");
  });

  it("refuses bad publish arguments and keeps the reservation", () => {
    const { writer, reader } = ring(4096);
    assert.ok(writer.reserve(8) !== null);
    code(() => writer.publish(9, 0, 0), "ETOOBIG");
    code(() => writer.publish(8, 0x100, 0), "EUSAGE");
    code(() => writer.publish(8, -1, 0), "EUSAGE");
    code(() => writer.publish(8, 0, 2 ** 32), "EUSAGE");
    code(() => writer.publish(8, 0, -1), "EUSAGE");
    code(() => writer.publish(1.5, 0, 0), "EUSAGE");
    code(() => writer.reserve(-1), "EUSAGE");
    code(() => writer.reserve(0.5), "EUSAGE");
    assert.equal(writer.oldestReservation, 8);
    writer.publish(8, 3, 4);
    const r = reader.next();
    assert.deepEqual([r?.bytes.length, r?.flags, r?.seq], [8, 3, 4]);
  });

  it("keeps held records unchanged until freed; trusted views are the ring, untrusted ones private", () => {
    for (const copy of [false, true]) {
      const { memory, writer, reader } = ring(4096, { copy });
      for (let n = 0; n < 10; n++) send(writer, n, 50);
      const held = Array.from({ length: 10 }, () => reader.next()!);
      assert.equal(held[0]!.bytes.buffer === memory.buffer, !copy);
      while (send(writer, 99, 50));
      held.forEach((r, n) => check(r, n, 50));
      // The writer scribbling over its published records changes nothing a copying reader handed out.
      new Uint8Array(memory.buffer, CONTROL_BYTES, 4096).fill(0xee);
      if (copy) held.forEach((r, n) => check(r, n, 50));
    }
  });

  it("hands out one view per slot and lap: no garbage per small record", () => {
    const { writer, reader } = ring(1024);
    const first = writer.reserve(64);
    writer.publish(64, 0, 0);
    const seen = reader.next()!.bytes;
    reader.free();
    for (let n = 1; n < 1024 / recordSize(64); n++) {
      send(writer, n, 64);
      reader.next();
      reader.free();
    }
    // Back at offset 0 after a lap (plus a pad): the same view objects.
    let again: Uint8Array | null = null;
    for (let n = 0; n < 20 && again !== first; n++) {
      again = writer.reserve(64);
      writer.publish(64, 0, n);
      const r = reader.next()!;
      reader.free();
      if (again === first) assert.equal(r.bytes, seen);
    }
    assert.equal(again, first);
  });

  it("closes in order (the end after the last record), aborts (no end), and tells the writer the reader left", () => {
    const a = ring(4096);
    send(a.writer, 0, 10);
    a.writer.close();
    code(() => a.writer.reserve(1), "ECLOSED");
    assert.equal(a.memory.words[W_WRITER_CLOSED], CLOSED);
    assert.equal(a.reader.ready(), true);
    check(a.reader.next(), 0, 10);
    assert.equal(a.reader.ended, false);
    assert.equal(a.reader.next(), null);
    assert.equal(a.reader.ended, true);
    assert.equal(a.reader.aborted, false);

    const b = ring(4096);
    send(b.writer, 0, 10);
    b.writer.close(true);
    assert.equal(b.reader.abortedAndEmpty(), false, "a record is still there");
    check(b.reader.next(), 0, 10);
    assert.equal(b.reader.next(), null);
    assert.equal(b.reader.ended, false);
    assert.equal(b.reader.aborted, true);

    const c = ring(4096);
    assert.equal(c.writer.readerClosed, false);
    c.reader.close();
    assert.equal(c.writer.readerClosed, true);
    assert.equal(c.memory.words[W_READER_CLOSED], CLOSED);
    const d = ring(4096);
    d.reader.close(true);
    assert.equal(d.writer.readerState, ABORTED);
  });
});

describe("untrusted reader", () => {
  /** A ring with one published record of 24 bytes at offset 0, then `corrupt` applied to its header. */
  function corrupted(corrupt: (words: Int32Array, at: number) => void, capacity = 1024): RingReader {
    const { memory, writer } = ring(capacity);
    send(writer, 0, 24);
    corrupt(memory.words, W_DATA);
    return new RingReader(memory, { copy: true });
  }

  const cases: [string, (w: Int32Array, at: number) => void][] = [
    ["a size that is not a multiple of 16", (w, at) => (w[at] = 40 + 4)],
    ["a size smaller than a header", (w, at) => (w[at] = 0 - 16)],
    ["a size past the end of the ring", (w, at) => (w[at] = 2048)],
    ["a negative size", (w, at) => (w[at] = -48)],
    ["a length longer than the record", (w, at) => (w[at + H_LENGTH] = 33)],
    ["a negative length", (w, at) => (w[at + H_LENGTH] = -1)],
    ["a huge length", (w, at) => (w[at + H_LENGTH] = 0x7fffffff)],
    ["flags outside the mask", (w, at) => (w[at + H_FLAGS] = w[at + H_FLAGS]! | 0x200)],
    ["a wrong record number (a stale or replayed header)", (w, at) => (w[at + H_FLAGS] = 5 << 16)],
    ["a pad that does not reach the end", (w, at) => (w[at + H_FLAGS] = FLAG_PAD)],
  ];
  for (const [what, corrupt] of cases) {
    it(`fails with EPROTOCOL on ${what}, and stays failed`, () => {
      const reader = corrupted(corrupt);
      code(() => reader.next(), "EPROTOCOL");
      code(() => reader.next(), "EPROTOCOL");
      assert.ok(reader.failure instanceof RingError);
      assert.equal(reader.ready(), true, "a failed reader is ready: its waiter must wake to see the failure");
    });
  }

  it("a pad at offset 0, or covering the whole ring, is a violation too", () => {
    const { memory } = ring(1024);
    const w = memory.words;
    w[W_DATA] = 1024;
    w[W_DATA + H_FLAGS] = FLAG_PAD;
    code(() => new RingReader(memory, { copy: true }).next(), "EPROTOCOL");
  });

  it("ignores the seq value (it is the channel's) and a header changed after it was read", () => {
    const { memory, writer } = ring(1024);
    send(writer, 0, 24);
    memory.words[W_DATA + H_SEQ] = -5;
    const reader = new RingReader(memory, { copy: true });
    const r = reader.next()!;
    assert.equal(r.seq, 0xfffffffb);
    memory.words[W_DATA + H_LENGTH] = 1000; // after the read: nothing changes
    assert.equal(r.bytes.length, 24);
  });

  it("the writer checks the consumer position it reads: backwards, past what was published, unaligned", () => {
    for (const tail of [-16, 4096, 8]) {
      const { memory, writer } = ring(1024);
      while (send(writer, 0, 100));
      memory.words[W_TAIL] = tail;
      code(() => writer.reserve(100), "EPROTOCOL");
    }
  });
});

describe("ring waits", () => {
  it("block: a reader sleeping on the native waiter is woken by publish, and sleeps again", async () => {
    const { writer, reader, memory } = ring(4096);
    const wait = new RingWait(memory.words, 384 / 4, reader, { strategy: "block" });
    try {
      for (let n = 0; n < 20; n++) {
        const woken = wait.wait();
        assert.equal(wait.waiting, true);
        setTimeout(() => send(writer, n, 8), 2);
        await woken;
        check(reader.next(), n, 8);
        reader.free();
      }
    } finally {
      wait.fail(new Error("done"));
    }
  });

  it("fail() with a function makes the error only when a wait is rejected, and only once", async () => {
    const { reader, memory } = ring(4096);
    let made = 0;
    const reason = (): Error => {
      made++;
      return new Error("closed while waiting");
    };
    // No wait pending (an orderly close): no error is made.
    const idle = new RingWait(memory.words, 384 / 4, reader, { strategy: "block" });
    idle.fail(reason);
    assert.equal(made, 0);
    // A later wait gets it, made now; every later one the same error.
    const first = await idle.wait().catch((e: unknown) => e);
    assert.match((first as Error).message, /closed while waiting/);
    assert.equal(await idle.wait().catch((e: unknown) => e), first);
    assert.equal(made, 1);
    // A pending wait is rejected with it at once.
    const busy = new RingWait(memory.words, 384 / 4, reader, { strategy: "block" });
    const pending = busy.wait();
    busy.fail(reason);
    assert.equal(made, 2);
    await assert.rejects(pending, /closed while waiting/);
  });

  it("atomics sleeper (SharedArrayBuffer) and spin: woken by publish; fail() rejects a pending wait", async () => {
    for (const strategy of ["block", "spin", "adaptive"] as const) {
      const { writer, reader, memory } = ring(4096, { shared: true });
      const wait = new RingWait(memory.words, 384 / 4, reader, { strategy, sleeper: "atomics", spinBudgetUs: 10 });
      const woken = wait.wait();
      setTimeout(() => send(writer, 0, 8), 5);
      await woken;
      check(reader.next(), 0, 8);
      const pending = wait.wait();
      wait.fail(new Error("gone"));
      await assert.rejects(pending, /gone/);
      await assert.rejects(wait.wait(), /gone/);
    }
  });

  it("wait(false): adaptive sleeps without spinning first, spin polls only from the event loop", async () => {
    for (const strategy of ["adaptive", "spin"] as const) {
      const { writer, reader, memory } = ring(4096, { shared: true });
      let polls = 0;
      const counted = { ready: () => (polls++, reader.ready()), poll: () => (polls++, reader.poll()) };
      // A 10 s budget: spinning at all before sleeping would be seen in the count (and the time).
      const wait = new RingWait(memory.words, 384 / 4, counted, { strategy, sleeper: "atomics", spinBudgetUs: 1e7 });
      const woken = wait.wait(false);
      assert.ok(polls <= 2, `${strategy}: ${polls} polls before wait(false) returned`);
      assert.equal(memory.words[384 / 4] !== 0, strategy === "adaptive", `${strategy}: asleep at once`);
      setTimeout(() => send(writer, 0, 8), 5);
      await woken;
      check(reader.next(), 0, 8);
      wait.fail(new Error("done"));
    }
  });

  it("cancel(): settles a pending wait at once, wakes its own sleeper, stops spin slices; later waits work", async () => {
    for (const strategy of ["adaptive", "spin", "block"] as const) {
      const { writer, reader, memory } = ring(4096, { shared: true });
      const wait = new RingWait(memory.words, 384 / 4, reader, { strategy, sleeper: "atomics" });
      const pending = wait.wait(false);
      assert.equal(wait.waiting, true);
      if (strategy !== "spin") assert.notEqual(memory.words[384 / 4], 0, `${strategy}: asleep`);
      wait.cancel();
      assert.equal(wait.waiting, false, `${strategy}: settled`);
      assert.equal(memory.words[384 / 4], 0, `${strategy}: its sleeping flag cleared`);
      await pending;
      const again = wait.wait(false);
      setTimeout(() => send(writer, 0, 8), 5);
      await again;
      check(reader.next(), 0, 8);
      wait.fail(new Error("done"));
    }
  });

  it("spin: the pending waits of a thread share one slice, which ends as soon as one is settled", async () => {
    // 40 idle connections and one with a record: the record's wait must not sit behind 40 slices of
    // 500 us, one per idle wait (counted as polls of the idle conditions, not timed).
    let idlePolls = 0;
    const idle = { ready: () => (idlePolls++, false), poll: () => (idlePolls++, false) };
    const idleWaits = Array.from({ length: 40 }, () => {
      const w = new RingWait(new Int32Array(256), 96, idle, { strategy: "spin", spinSliceUs: 500 });
      void w.wait(false);
      return w;
    });
    let ready = false;
    const busy = new RingWait(new Int32Array(256), 96, { ready: () => ready }, { strategy: "spin" });
    const settled = busy.wait(false);
    ready = true;
    const before = idlePolls;
    await settled;
    const polls = idlePolls - before;
    assert.ok(polls <= 2 * idleWaits.length, `the idle waits were polled ${polls} times before the ready one settled`);
    assert.equal(busy.waiting, false);
    assert.ok(idleWaits.every((w) => w.waiting));
    for (const w of idleWaits) w.fail(new Error("done"));
    // Failed waits leave the loop: nothing polls them any more.
    await new Promise((r) => setImmediate(r));
    const after = idlePolls;
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(idlePolls, after);
  });

  it("beside a pending wait, adaptive spends its budget in the thread's loop; the loop settles a sleeping wait", async () => {
    let spinReady = false;
    const spinner = new RingWait(new Int32Array(256), 96, { ready: () => spinReady }, { strategy: "spin" });
    const spinning = spinner.wait();
    // Adaptive with a 10 s budget, beside the spinning wait: wait() itself must not spin.
    let polls = 0;
    let adaptiveReady = false;
    const adaptive = new RingWait(
      new Int32Array(new SharedArrayBuffer(1024)),
      96,
      { ready: () => (polls++, adaptiveReady) },
      { strategy: "adaptive", sleeper: "atomics", spinBudgetUs: 1e7 },
    );
    const a = adaptive.wait();
    assert.ok(polls <= 1, `adaptive polled ${polls} times inside wait()`);
    // A blocking wait asleep with a one-minute poll and nobody to wake it: only the loop can settle it.
    let blockReady = false;
    const words = new Int32Array(new SharedArrayBuffer(1024));
    const block = new RingWait(
      words,
      96,
      { ready: () => blockReady },
      { strategy: "block", sleeper: "atomics", pollMs: 60_000 },
    );
    const b = block.wait();
    assert.notEqual(words[96], 0, "asleep");
    blockReady = true;
    await b;
    assert.equal(words[96], 0, "its sleeping flag cleared: the peer need not wake it");
    adaptiveReady = true;
    await a;
    spinReady = true;
    await spinning;
    for (const w of [spinner, adaptive, block]) w.fail(new Error("done"));
  });

  it("beside sleeping waits only, adaptive still spins inside wait(), polling them; one ready ends the spin", async () => {
    const waits: RingWait[] = [];
    const make = (condition: { ready(): boolean }, options: WaitOptions): RingWait => {
      const w = new RingWait(new Int32Array(new SharedArrayBuffer(1024)), 96, condition, options);
      waits.push(w);
      return w;
    };
    const blockOptions: WaitOptions = { strategy: "block", sleeper: "atomics", pollMs: 60_000 };
    const adaptiveOptions: WaitOptions = { strategy: "adaptive", sleeper: "atomics", spinBudgetUs: 1e7 };
    try {
      // A wait asleep (nobody wakes it within the test: a one-minute poll).
      let sleeperReady = false;
      let sleeperPolls = 0;
      const asleep = make({ ready: () => (sleeperPolls++, sleeperReady) }, blockOptions);
      const sleeping = asleep.wait();
      // An adaptive wait whose condition holds at its 500th poll: found inside wait(), which then
      // returns READY (no promise to wait for); before, a sleeping wait beside it sent every wait
      // through the event loop.
      let polls = 0;
      const busy = make({ ready: () => ++polls >= 500 }, adaptiveOptions);
      assert.equal(busy.wait(), READY);
      assert.ok(sleeperPolls > 0, "the sleeping wait was polled during the spin");
      // Now an adaptive wait whose condition does not hold, with a 10 s budget, and a sleeping one
      // that turns ready at its 1,000th poll: the spin ends there (counted in polls, not timed),
      // and the loop settles them in turn.
      let busyReady = false;
      const busy2 = make({ ready: () => busyReady }, adaptiveOptions);
      let flipPolls = 0;
      const asleep2 = make({ ready: () => ++flipPolls >= 1000 }, blockOptions);
      const sleeping2 = asleep2.wait();
      const pending = busy2.wait();
      assert.notEqual(pending, READY);
      assert.ok(flipPolls <= 1001, `the spin went on past the sleeping wait's readiness (${flipPolls} polls)`);
      await sleeping2;
      // The first sleeping wait too is settled by the loop while busy2 still spins there.
      sleeperReady = true;
      await sleeping;
      busyReady = true;
      await pending;
    } finally {
      for (const w of waits) w.fail(new Error("done"));
    }
  });

  it("adaptive learns: spins that end in sleep shrink the budget, a probe that succeeds restores it", async () => {
    // Spins are bounded by the clock and counted in polls: a preemption (this machine is shared)
    // takes polls away from a spin. The whole scenario is tried up to three times; the first
    // attempt that nothing disturbed shows it.
    const scenario = async (): Promise<{ first: number; last: number; after: number }> => {
      let polls = 0;
      let readyAt = Infinity; // the condition holds from this poll on
      const words = new Int32Array(new SharedArrayBuffer(1024));
      const condition = { ready: () => ++polls >= readyAt };
      // A 20 ms budget, so what one spin costs is seen in polls, not in a clock.
      const wait = new RingWait(words, 96, condition, {
        strategy: "adaptive",
        sleeper: "atomics",
        spinBudgetUs: 20_000,
      });
      const failingSpin = async (): Promise<number> => {
        const before = polls;
        const w = wait.wait();
        const spent = polls - before;
        readyAt = 0;
        wait.poke();
        await w;
        readyAt = Infinity;
        return spent;
      };
      try {
        const first = await failingSpin();
        let last = first;
        for (let i = 2; i <= 16; i++) last = await failingSpin();
        // Spins 17..31 stay short; the 32nd is a probe with the whole budget: it succeeds halfway.
        for (let i = 17; i < 32; i++) await failingSpin();
        readyAt = polls + Math.floor(first / 2);
        await wait.wait();
        readyAt = Infinity;
        const after = await failingSpin();
        return { first, last, after };
      } finally {
        wait.fail(new Error("done"));
      }
    };
    const attempts: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const { first, last, after } = await scenario();
      // After 15 spins that failed, one spin polls a fraction of the first; after a probe that
      // succeeded, a spin polls about as long as the probe took (half the first).
      if (last * 50 < first && after > first / 4) return;
      attempts.push(`first ${first}, after 15 failed spins ${last}, after a successful probe ${after} polls`);
    }
    assert.fail(`adaptive did not learn in 3 attempts: ${attempts.join("; ")}`);
  });

  it("refuses an unknown strategy and the atomics sleeper on memory that is not shared", () => {
    const { reader, memory } = ring(4096);
    // @ts-expect-error: a wrong strategy is a runtime error too
    assert.throws(() => new RingWait(memory.words, 96, reader, { strategy: "nap" }), /nap/);
    const wait = new RingWait(memory.words, 96, reader, { strategy: "block", sleeper: "atomics" });
    assert.throws(() => wait.wait(), /SharedArrayBuffer/);
  });
});
