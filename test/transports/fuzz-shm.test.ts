/**
 * A hostile writer in another process (test/kit/hostile-writer.ts) against the untrusted ring
 * reader: random headers, sizes, positions, flags, record numbers and seq values, garbage in the
 * control block, valid records with one field broken, and values changing while they are read.
 * The reader must return valid records, or fail with EPROTOCOL; never crash, hang, read out of
 * bounds or hand out shared memory; and a connection next to it must not notice.
 *
 * FUZZ_BATCHES (environment) raises the case count (64 cases per batch); the default runs
 * just over 100,000 cases.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { loadNative } from "../../src/native/load.js";
import { RingError } from "../../src/ring/errors.js";
import { attachRing, initRing, RingMemory } from "../../src/ring/layout.js";
import { RingReader } from "../../src/ring/reader.js";
import { RingWriter } from "../../src/ring/writer.js";
import { connectShm, ShmListener } from "../../src/transports/shm.js";
import { TransportError } from "../../src/transports/transport.js";
import {
  C_BATCH,
  C_CASES,
  C_DONE,
  CASE_WORDS,
  C_MODE,
  C_STOP,
  CONTROL_PAGE,
  FUZZ_CAPACITY,
  FUZZ_REGION_BYTES,
  prng,
  RINGS,
  ringOffset,
} from "../kit/hostile-writer.js";

const HOSTILE = fileURLToPath(new URL("../kit/hostile-writer.js", import.meta.url));
const BATCHES = Number(process.env.FUZZ_BATCHES ?? 1570);
const native = loadNative();
const dir = mkdtempSync(join(tmpdir(), "fable-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A healthy shm connection in this process, carrying verified traffic while the fuzz runs. */
async function healthyTraffic(path: string): Promise<{ done: Promise<number>; stop: () => void }> {
  const listener = await ShmListener.listen(path, { trust: "untrusted", wait: "adaptive" });
  const [a, b] = await Promise.all([listener.accept(), connectShm(path, { trust: "untrusted", wait: "adaptive" })]);
  await listener.close();
  let stopping = false;
  const sending = (async () => {
    for (let n = 0; !stopping; n++) {
      const size = (n * 31) % 3000;
      let view = a.reserve(size);
      while (view === null) {
        await a.writable();
        view = a.reserve(size);
      }
      view.fill(n & 0xff);
      a.publish(size, 0, n);
      if ((n & 63) === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    a.close();
  })();
  const done = (async () => {
    let n = 0;
    for (;;) {
      const r = b.next();
      if (r === null) {
        if (b.ended) break;
        await b.readable();
        continue;
      }
      assert.equal(r.seq, n);
      assert.equal(r.bytes.length, (n * 31) % 3000);
      assert.ok(
        r.bytes.every((x) => x === (n & 0xff)),
        `healthy record ${n} corrupted`,
      );
      b.free();
      n++;
    }
    await sending;
    assert.equal(a.failure, undefined);
    assert.equal(b.failure, undefined);
    b.close();
    return n;
  })();
  return { done, stop: () => (stopping = true) };
}

describe("untrusted shm reader against a hostile writer process", () => {
  it(`${BATCHES * RINGS} random cases: valid records or EPROTOCOL, nothing else; a healthy connection unaffected`, async () => {
    const fd = native.shmCreate("fable-fuzz", FUZZ_REGION_BYTES);
    const region = native.shmMap(fd, FUZZ_REGION_BYTES);
    const control = new Int32Array(region, 0, CONTROL_PAGE / 4);
    const child = spawn(process.execPath, [HOSTILE, "cases"], { stdio: ["ignore", "inherit", "inherit", fd] });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const healthy = await healthyTraffic(join(dir, "healthy.sock"));
    const outcomes = new Map<string, number>();
    const count = (what: string): void => void outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    try {
      for (let batch = 1; batch <= BATCHES; batch++) {
        for (let k = 0; k < RINGS; k++) initRing(region, ringOffset(k), FUZZ_CAPACITY);
        Atomics.store(control, C_BATCH, batch);
        native.futexWake(region, C_BATCH * 4, 1);
        const deadline = Date.now() + 10_000;
        for (let spins = 0; Atomics.load(control, C_DONE) !== batch; spins++) {
          if (Date.now() > deadline) assert.fail(`the hostile writer did not finish batch ${batch}`);
          if (spins > 1000) await new Promise((resolve) => setImmediate(resolve));
        }
        for (let k = 0; k < RINGS; k++) runCase(region, k, control, count);
        if ((batch & 7) === 0) await new Promise((resolve) => setImmediate(resolve)); // the healthy connection runs
      }
      // Values changing between the reader's reads: the child scribbles over ring 0 meanwhile.
      initRing(region, ringOffset(0), FUZZ_CAPACITY);
      Atomics.store(control, C_MODE, 1);
      native.futexWake(region, C_BATCH * 4, 1);
      const until = Date.now() + 1500;
      let scribbled = 0;
      const memory = new RingMemory(region, ringOffset(0), FUZZ_CAPACITY);
      while (Date.now() < until) {
        const reader = new RingReader(memory, { copy: true });
        readAll(reader, (what) => count(`scribble: ${what}`), `scribbled ring, attempt ${scribbled}`);
        const writer = new RingWriter(memory);
        writeAll(writer, prng(scribbled), (what) => count(`scribble writer: ${what}`), `scribbled ring ${scribbled}`);
        scribbled++;
      }
      assert.ok(scribbled > 100);
      healthy.stop();
      const records = await healthy.done;
      assert.ok(records > 0);
    } finally {
      healthy.stop();
      healthy.done.catch(() => {});
      Atomics.store(control, C_STOP, 1);
      native.futexWake(region, C_BATCH * 4, 1);
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 5000))]);
      child.kill();
      native.shmUnmap(region);
      closeSync(fd);
      if (code !== 0) assert.fail(`the hostile writer exited with ${String(code)}`);
    }
    const total = [...outcomes.entries()]
      .filter(([k]) => !k.startsWith("scribble") && k !== "attach refused")
      .reduce((s, [, n]) => s + n, 0);
    assert.equal(total, BATCHES * RINGS);
    assert.ok((outcomes.get("EPROTOCOL") ?? 0) > BATCHES * RINGS * 0.3, JSON.stringify(Object.fromEntries(outcomes)));
    assert.ok((outcomes.get("valid") ?? 0) > BATCHES, JSON.stringify(Object.fromEntries(outcomes)));
    console.log(`fuzz outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  });

  it("a hostile peer process on a real connection: that end fails with EPROTOCOL, the others go on", async () => {
    const healthy = await healthyTraffic(join(dir, "healthy2.sock"));
    const path = join(dir, "hostile.sock");
    const listener = await ShmListener.listen(path, { trust: "untrusted", wait: "block" });
    const accepting = listener.accept();
    const child = spawn(process.execPath, [HOSTILE, "connect", path], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const end = await accepting;
      await new Promise((resolve) => child.stdout.once("data", resolve));
      const error = await (async () => {
        try {
          for (;;) {
            for (let r = end.next(); r !== null; r = end.next()) end.free();
            await end.readable();
          }
        } catch (e) {
          return e as TransportError;
        }
      })();
      assert.ok(error instanceof TransportError);
      assert.equal(error.code, "EPROTOCOL", error.message);
      assert.equal(end.failure, error);
      assert.throws(
        () => end.reserve(1),
        (e) => e === error,
      );
      healthy.stop();
      assert.ok((await healthy.done) > 0);
    } finally {
      healthy.stop();
      healthy.done.catch(() => {});
      child.kill("SIGKILL");
      await listener.close();
    }
  });
});

/** Runs the parent's side of fuzz case `k` as the child described it in the control page. */
function runCase(region: ArrayBuffer, k: number, control: Int32Array, count: (what: string) => void): void {
  const [kind, expected, role, seed, start] = control.subarray(
    C_CASES + CASE_WORDS * k,
    C_CASES + CASE_WORDS * (k + 1),
  );
  const where = `case seed ${seed} (kind ${kind})`;
  try {
    attachRing(region, ringOffset(k), FUZZ_CAPACITY);
  } catch (e) {
    if (!(e instanceof RingError && e.code === "EPROTOCOL")) throw e;
    count("attach refused");
  }
  const memory = new RingMemory(region, ringOffset(k), FUZZ_CAPACITY);
  if (role === 1) {
    count(writeAll(new RingWriter(memory), prng(seed!), () => {}, where));
    return;
  }
  const reader = new RingReader(memory, { copy: true, position: start! });
  const { records, outcome } = readAll(reader, () => {}, where);
  count(outcome);
  if (expected! >= 0) {
    assert.equal(outcome, "EPROTOCOL", `${where}: the corruption after ${expected} records went unnoticed`);
    assert.equal(records, expected, `${where}: EPROTOCOL after ${records} records, expected after ${expected}`);
  } else if (expected! <= -2) {
    assert.equal(outcome, "valid", `${where}: valid records refused`);
    assert.equal(records, -(expected! + 2), `${where}: valid records lost`);
  }
}

/** Reads until null or EPROTOCOL, checking every record handed out. */
function readAll(
  reader: RingReader,
  count: (what: string) => void,
  where: string,
): { records: number; outcome: "valid" | "EPROTOCOL" } {
  let records = 0;
  try {
    for (let i = 0; i < 2000; i++) {
      reader.ready();
      reader.abortedAndEmpty();
      const r = reader.next();
      if (r === null) break;
      assert.ok(r.bytes.length <= reader.maxRecordBytes, `${where}: a record of ${r.bytes.length} bytes`);
      assert.ok(!(r.bytes.buffer instanceof SharedArrayBuffer) && r.bytes.buffer !== reader.memory.buffer, where);
      assert.ok(r.flags >= 0 && r.flags <= 0xff && r.seq >= 0 && r.seq <= 0xffffffff, where);
      void r.bytes[r.bytes.length - 1];
      records++;
      if (i % 3 !== 2) reader.free(); // hold some, free later
    }
    while (reader.held > 0) reader.free();
    count("valid");
    return { records, outcome: "valid" };
  } catch (e) {
    if (!(e instanceof RingError) || e.code !== "EPROTOCOL") {
      throw new Error(`${where}: the reader threw something else than EPROTOCOL: ${String(e)}`, { cause: e });
    }
    count("EPROTOCOL");
    return { records, outcome: "EPROTOCOL" };
  }
}

/** Writes until the ring is full or the writer sees a corrupt consumer position (EPROTOCOL). */
function writeAll(writer: RingWriter, rand: () => number, count: (what: string) => void, where: string): string {
  try {
    for (let i = 0; i < 2000; i++) {
      const view = writer.reserve(rand() % 300);
      if (view === null) break;
      view.fill(1);
      writer.publish(view.length, rand() & 0xff, rand() >>> 0);
    }
    count("writer full");
    return "writer full";
  } catch (e) {
    if (!(e instanceof RingError) || e.code !== "EPROTOCOL") {
      throw new Error(`${where}: the writer threw something else than EPROTOCOL: ${String(e)}`, { cause: e });
    }
    count("EPROTOCOL");
    return "EPROTOCOL";
  }
}
