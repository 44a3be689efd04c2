/**
 * The transport conformance suite: the rules of src/transports/transport.ts as tests, written once
 * and run against every transport by its own test file:
 *
 *     runConformance("unix", async ({ trust }) => { ...; return { a, b, cleanup, killPeer } }, options);
 *
 * The factory returns two connected ends (both driven by this process) and a cleanup, called in
 * after(); `killPeer` makes `b` die abruptly (SIGKILL of its process, or its socket destroyed).
 * Options add what not every transport has: a peer in another process that echoes
 * (`remote`, see test/kit/peer.ts) and a raw byte writer facing an end (`hostile`, for the
 * byte-stream framing; see hostileStreamCases()).
 *
 * Every record is checked byte for byte: payloads are slices of one seeded pseudo-random
 * pattern at an offset derived from the record's index, so a lost, repeated, reordered or
 * corrupted record shows as the first index and byte that differ.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { DEFAULT_MAX_RECORD_BYTES } from "../../src/transports/common.js";
import {
  endFrame,
  FRAMING_VERSION,
  frameHeader,
  HELLO_LENGTH,
  HELLO_MAGIC,
  helloFrame,
} from "../../src/transports/stream-framing.js";
import {
  type InRecord,
  RECORD_FIRST,
  RECORD_LAST,
  type Trust,
  TransportError,
  type TransportEnd,
} from "../../src/transports/transport.js";
import type { PeerProcess } from "../kit/peer.js";

export interface PairConfig {
  readonly trust: Trust;
}

export interface EndPair {
  readonly a: TransportEnd;
  readonly b: TransportEnd;
  cleanup(): Promise<void>;
  /** `b` dies abruptly: its process is SIGKILLed, or its socket destroyed without an end marker. */
  killPeer?(): Promise<void>;
}

/** A local end whose peer is an echoing child process (test/kit/peer.ts). */
export interface RemotePair {
  readonly end: TransportEnd;
  readonly peer: PeerProcess;
  cleanup(): Promise<void>;
}

/** A transport end facing raw bytes written by the test. */
export interface HostileConnection {
  readonly end: TransportEnd;
  write(bytes: Uint8Array): void;
  /** Ends the raw output (end-of-file for the end). */
  finish(): void;
  /** Resolves once the end has cut the raw side off (its input ended or closed). */
  readonly cut: Promise<void>;
  cleanup(): Promise<void>;
}

export interface HostileCase {
  readonly name: string;
  /** What the raw side writes, then (when `finish`) ends its output. */
  readonly bytes: readonly Uint8Array[];
  readonly finish?: boolean;
  readonly code: "EPROTOCOL" | "EPEER";
}

export interface ConformanceOptions {
  /** maxRecordBytes the factory's ends are made with (default: the transports' default, 16 MiB). */
  readonly maxRecordBytes?: number;
  readonly trusts?: readonly Trust[];
  readonly remote?: (config: PairConfig) => Promise<RemotePair>;
  readonly hostile?: {
    readonly open: () => Promise<HostileConnection>;
    readonly cases: readonly HostileCase[];
  };
  /** Per test; default 60 s. */
  readonly timeoutMs?: number;
}

/**
 * A pair of ends both in this process: cleanup destroys both (then runs `more`), killPeer destroys
 * `b` abruptly (no end marker, nothing flushed), which is how a death looks from `a`.
 */
export function inProcessPair(a: TransportEnd, b: TransportEnd, more?: () => Promise<void>): EndPair {
  return {
    a,
    b,
    async cleanup() {
      a.destroy();
      b.destroy();
      await more?.();
    },
    killPeer() {
      b.destroy();
      return Promise.resolve();
    },
  };
}

/** Byte-stream framing violations (stream-framing.ts) a hostile peer may send. */
export function hostileStreamCases(maxRecordBytes: number): HostileCase[] {
  const hello = helloFrame();
  const record = [frameHeader(3, RECORD_FIRST | RECORD_LAST, 7), new Uint8Array([1, 2, 3])];
  return [
    { name: "a record length of 2^31", bytes: [hello, frameHeader(2 ** 31, 0, 1)], code: "EPROTOCOL" },
    {
      name: "a record length of maxRecordBytes + 1",
      bytes: [hello, frameHeader(maxRecordBytes + 1, 0, 1)],
      code: "EPROTOCOL",
    },
    {
      name: "a valid record, then a length of 2^32 - 2",
      bytes: [hello, ...record, frameHeader(HELLO_LENGTH, 1, HELLO_MAGIC)],
      code: "EPROTOCOL",
    },
    {
      name: "no hello (bytes of another protocol)",
      bytes: [new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")],
      code: "EPROTOCOL",
    },
    {
      name: "a hello with bad flags (another version)",
      bytes: [frameHeader(HELLO_LENGTH, FRAMING_VERSION + 1, HELLO_MAGIC)],
      code: "EPROTOCOL",
    },
    {
      name: "a hello with a bad magic",
      bytes: [frameHeader(HELLO_LENGTH, FRAMING_VERSION, 0x12345678)],
      code: "EPROTOCOL",
    },
    { name: "an end marker with bad flags", bytes: [hello, frameHeader(0xffffffff, 0x80, 0)], code: "EPROTOCOL" },
    { name: "bytes after the end marker", bytes: [hello, endFrame(), ...record], code: "EPROTOCOL" },
    {
      name: "end-of-file in the middle of a record",
      bytes: [hello, frameHeader(100, 0, 1), new Uint8Array(10)],
      finish: true,
      code: "EPEER",
    },
    { name: "end-of-file without an end marker", bytes: [hello, ...record], finish: true, code: "EPEER" },
  ];
}

export function runConformance(
  name: string,
  factory: (config: PairConfig) => Promise<EndPair>,
  options: ConformanceOptions = {},
): void {
  const max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const timeout = options.timeoutMs ?? 60_000;
  const sizes = [0, 1, 7, 8, 63, 64, 65, 4096, 65_536 + 3, max];
  const open = async (t: TestContext, config: PairConfig): Promise<EndPair> => {
    const pair = await factory(config);
    t.after(() => pair.cleanup());
    return pair;
  };

  describe(`${name} transport: conformance`, () => {
    for (const trust of options.trusts ?? (["trusted", "untrusted"] as const)) {
      describe(trust, () => {
        const config = { trust };

        it("describes itself", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          for (const end of [a, b]) {
            assert.equal(end.trust, trust);
            assert.equal(end.maxRecordBytes, max);
            assert.equal(typeof end.sharedMemory, "boolean");
            assert.equal(end.ended, false);
            assert.equal(end.failure, undefined);
          }
          assert.equal(a.kind, b.kind);
        });

        for (const [from, to] of [
          ["a", "b"],
          ["b", "a"],
        ] as const) {
          it(
            `${from} → ${to}: every size from 0 B to maxRecordBytes, in order, byte for byte`,
            { timeout },
            async (t) => {
              const pair = await open(t, config);
              const records = sizes.map((size, i) => spec(i, size, i % 4, i * 0x1001));
              await Promise.all([send(pair[from], records), receive(pair[to], records)]);
            },
          );
        }

        it("both directions at once: a stream of mixed sizes", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          const ab = mixedRecords(3000, max, 1);
          const ba = mixedRecords(3000, max, 2);
          await Promise.all([send(a, ab), receive(b, ab), send(b, ba), receive(a, ba)]);
        });

        it("carries every flags value and seq edge unchanged", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          const seqs = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
          const records = Array.from({ length: 256 }, (_, i) => spec(i, i % 9, i, seqs[i % seqs.length] as number));
          await Promise.all([send(a, records), receive(b, records)]);
        });

        it("publishes several outstanding reservations in order, each at its own length", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          const plan = [
            { reserve: 100, spec: spec(0, 10, 1, 100) },
            { reserve: 50, spec: spec(1, 50, 2, 101) },
            { reserve: 4096, spec: spec(2, 0, 3, 102) },
            { reserve: 20_000, spec: spec(3, 19_999, 0, 103) },
          ];
          const views = plan.map((p) => {
            const view = a.reserve(p.reserve);
            assert.ok(view !== null, "reserve() gave no room on an idle end");
            assert.equal(view.length, p.reserve);
            return view;
          });
          // Filled in reverse order: the order of publish() is what counts.
          for (let i = plan.length - 1; i >= 0; i--) (views[i] as Uint8Array).set(payload(plan[i]!.spec));
          for (const p of plan) a.publish(p.spec.size, p.spec.flags, p.spec.seq);
          await receive(
            b,
            plan.map((p) => p.spec),
          );
        });

        it("refuses misuse with typed errors and stays usable", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          assertCode(() => a.publish(0, 0, 0), "EORDER");
          assertCode(() => b.free(), "EORDER");
          assertCode(() => a.reserve(max + 1), "ETOOBIG");
          assert.throws(() => a.reserve(-1));
          assert.throws(() => a.reserve(1.5));
          assert.ok(a.reserve(8) !== null);
          assertCode(() => a.publish(9, 0, 0), "ETOOBIG");
          assert.throws(() => a.publish(8, 0x100, 0), /flags/);
          assert.throws(() => a.publish(8, -1, 0), /flags/);
          assert.throws(() => a.publish(8, 0, 2 ** 32), /seq/);
          assert.throws(() => a.publish(8, 0, -1), /seq/);
          // The first reservation (8 bytes) is still the oldest; a second one, then both in order.
          assert.ok(a.reserve(8) !== null);
          a.publish(8, 1, 1);
          a.publish(3, 2, 2);
          // Payloads were not written: only lengths, flags and seq are checked here.
          const records = [spec(0, 8, 1, 1), spec(1, 3, 2, 2)];
          const got = await collect(b, 2);
          assert.deepEqual(
            got.map((r) => [r.length, r.flags, r.seq]),
            records.map((r) => [r.size, r.flags, r.seq]),
          );
          assert.equal(a.failure, undefined);
          assert.equal(b.failure, undefined);
        });

        it("keeps held records unchanged until free(), while more records flow", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          const first = Array.from({ length: 20 }, (_, i) => spec(i, 100 + i * 37, 0, i));
          await send(a, first);
          const held: InRecord[] = [];
          while (held.length < first.length) {
            const r = b.next();
            if (r === null) await b.readable();
            else held.push(r);
          }
          const more = Array.from({ length: 200 }, (_, i) => spec(1000 + i, 100 + i * 37, 0, 1000 + i));
          await send(a, more);
          await b.readable();
          held.forEach((r, i) => verify(r, first[i] as RecordSpec, "a held record"));
          for (let i = 0; i < held.length; i++) b.free();
          await receive(b, more);
        });

        if (trust === "untrusted") {
          it(
            "hands out private copies: the writer changing its memory after publish changes nothing read",
            { timeout },
            async (t) => {
              const { a, b } = await open(t, config);
              const s = spec(0, 256, 0, 0);
              const view = a.reserve(s.size);
              assert.ok(view !== null);
              view.set(payload(s));
              a.publish(s.size, s.flags, s.seq);
              let r = b.next();
              while (r === null) {
                await b.readable();
                r = b.next();
              }
              view.fill(0xee);
              verify(r, s, "a record read before the writer overwrote its reservation");
              b.free();
            },
          );
        }

        it("back-pressure: the writer meets reserve() → null, waits, and loses nothing", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          const size = 4096;
          const limit = 512 * 1024 * 1024;
          const sent: RecordSpec[] = [];
          const fill = (): void => {
            for (;;) {
              const s = spec(sent.length, size, 0, sent.length);
              const view = a.reserve(size);
              if (view === null) return;
              view.set(payload(s));
              a.publish(size, s.flags, s.seq);
              sent.push(s);
              assert.ok(sent.length * size < limit, `the writer got no back-pressure after ${limit} bytes`);
            }
          };
          fill();
          assert.ok(sent.length > 0);
          // Keep writing while writable() resolves; with the reader not reading, it must stop resolving.
          let pending: Promise<void>;
          for (;;) {
            pending = a.writable();
            if (await settlesWithin(pending, 250)) fill();
            else break;
          }
          // The reader frees: the writer may go on, and every record arrives in order.
          const reading = receive(b, sent);
          await Promise.race([pending, reading]);
          await withTimeout(pending, 10_000, "writable() did not resolve after the reader freed records");
          await reading;
          const more = Array.from({ length: 300 }, (_, i) => spec(sent.length + i, size, 0, sent.length + i));
          await Promise.all([send(a, more), receive(b, more)]);
        });

        it("wakes a waiting reader and resolves readable() at once when a record is there", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          assert.equal(b.next(), null);
          const waiting = b.readable();
          await send(a, [spec(0, 5, 0, 0)]);
          await withTimeout(waiting, 5000, "readable() did not resolve after a publish");
          await withTimeout(b.readable(), 5000, "readable() with a record queued did not resolve");
          await receive(b, [spec(0, 5, 0, 0)]);
        });

        it(
          "close during traffic: everything published before close() arrives, then the end",
          { timeout },
          async (t) => {
            const { a, b } = await open(t, config);
            const records = mixedRecords(2000, Math.min(max, 256 * 1024), 3);
            const reading = receive(b, records);
            await send(a, records);
            // A reservation not yet published when close() comes is dropped, never delivered.
            a.reserve(10);
            a.close();
            await reading;
            await withTimeout(b.readable(), 10_000, "readable() did not resolve at the peer's close");
            assert.equal(b.next(), null);
            assert.equal(b.ended, true);
            assert.equal(b.failure, undefined);
            await b.readable();
            // Nothing written now would be read.
            assertCode(() => b.reserve(1), "ECLOSED");
            await assert.rejects(b.writable(), { code: "ECLOSED" });
            b.close();
          },
        );

        it("close() wakes a peer waiting in readable(), which then finds the end", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          const waiting = b.readable();
          a.close();
          await withTimeout(waiting, 10_000, "a waiting readable() did not resolve at the peer's close");
          assert.equal(b.next(), null);
          assert.equal(b.ended, true);
        });

        it("after close(): every operation fails with ECLOSED; pending waits reject", { timeout }, async (t) => {
          const { a } = await open(t, config);
          const reading = a.readable();
          a.close();
          await assert.rejects(reading, { code: "ECLOSED" });
          assertCode(() => a.reserve(1), "ECLOSED");
          assertCode(() => a.publish(0, 0, 0), "ECLOSED");
          assertCode(() => a.next(), "ECLOSED");
          assertCode(() => a.free(), "ECLOSED");
          await assert.rejects(a.readable(), { code: "ECLOSED" });
          await assert.rejects(a.writable(), { code: "ECLOSED" });
        });

        it("close() and destroy() are idempotent, in any order", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          a.close();
          a.close();
          a.destroy();
          a.destroy();
          b.destroy();
          b.destroy(new Error("again"));
          b.close();
          assertCode(() => b.reserve(1), "ECLOSED");
        });

        it("destroy(): the end drops everything; the peer fails with EPEER, never hangs", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          await send(a, mixedRecords(50, 10_000, 4));
          a.destroy();
          assertCode(() => a.next(), "ECLOSED");
          const error = await drainUntilFailure(b);
          assert.equal(error.code, "EPEER");
          assert.equal(b.failure, error);
          assert.throws(
            () => b.next(),
            (e) => e === error,
          );
          assert.throws(
            () => b.reserve(1),
            (e) => e === error,
          );
          await assert.rejects(b.writable(), (e) => e === error);
        });

        it("destroy(error): the error becomes the end's failure", { timeout }, async (t) => {
          const { a } = await open(t, config);
          const waiting = a.readable();
          const cause = new Error("the application gave up");
          a.destroy(cause);
          assert.ok(a.failure instanceof TransportError);
          assert.equal(a.failure.cause, cause);
          await assert.rejects(waiting, (e) => e === a.failure);
        });

        it("a peer that closes wakes a blocked writer, whose writes then fail with ECLOSED", { timeout }, async (t) => {
          const { a, b } = await open(t, config);
          const { blocked } = await fillUntilBlocked(a);
          b.close();
          // Woken either way: rejected with ECLOSED, or resolved when the closing peer drains its input.
          const outcome = await withTimeout(failureOf(blocked), 10_000, "writable() hung after the peer closed");
          if (outcome !== undefined) assert.equal((outcome as TransportError).code, "ECLOSED");
          while (!a.ended) {
            for (let r = a.next(); r !== null; r = a.next()) a.free();
            await withTimeout(a.readable(), 10_000, "the peer's close did not arrive");
          }
          assertCode(() => a.reserve(1), "ECLOSED");
          assert.equal(a.failure, undefined);
        });

        it("a peer that dies: pending readable() rejects with EPEER", { timeout }, async (t) => {
          const pair = await open(t, config);
          if (pair.killPeer === undefined) return t.skip("the factory gives no killPeer");
          const waiting = failureOf(pair.a.readable());
          await pair.killPeer();
          const error = await withTimeout(waiting, 10_000, "readable() hung after the peer died");
          assert.ok(error instanceof TransportError, `readable() gave ${String(error)} after the peer died`);
          assert.equal(error.code, "EPEER");
          assert.equal(pair.a.failure, error);
          assert.equal(pair.a.ended, false);
        });

        it("a peer that dies: a writer blocked in writable() fails with EPEER", { timeout }, async (t) => {
          const pair = await open(t, config);
          if (pair.killPeer === undefined) return t.skip("the factory gives no killPeer");
          const { blocked } = await fillUntilBlocked(pair.a);
          await pair.killPeer();
          await assert.rejects(withTimeout(blocked, 10_000, "writable() hung after the peer died"), { code: "EPEER" });
          assert.throws(() => pair.a.reserve(1), { code: "EPEER" });
        });
      });
    }

    const remote = options.remote;
    if (remote !== undefined) {
      describe("with the peer in another process", () => {
        const config = { trust: "untrusted" as const };
        const openRemote = async (t: TestContext): Promise<RemotePair> => {
          const pair = await remote(config);
          t.after(() => pair.cleanup());
          return pair;
        };

        it("echoes every size from 0 B to maxRecordBytes through the child, byte for byte", { timeout }, async (t) => {
          const { end } = await openRemote(t);
          const records = sizes.map((size, i) => spec(i, size, i, 0xfffffff0 + i));
          await Promise.all([send(end, records), receive(end, records)]);
        });

        it("a pipelined stream of mixed sizes makes the round trip in order", { timeout }, async (t) => {
          const { end } = await openRemote(t);
          const records = mixedRecords(5000, max, 5);
          await Promise.all([send(end, records), receive(end, records)]);
        });

        it("the child closes during traffic: an in-order prefix arrives, then the end", { timeout }, async (t) => {
          const { end, peer } = await openRemote(t);
          const records = mixedRecords(100_000, 8192, 6);
          const got: InRecord[] = [];
          const sending = failureOf(send(end, records));
          let closed: Promise<{ echoed: number }> | undefined;
          for (;;) {
            const r = end.next();
            if (r === null) {
              if (end.ended) break;
              await end.readable();
              continue;
            }
            verify(r, records[got.length] as RecordSpec, `echoed record ${got.length}`);
            got.push(r);
            end.free();
            if (got.length === 500) {
              peer.send({ cmd: "close" });
              closed = peer.waitFor("closed");
            }
          }
          assert.ok(closed !== undefined, "the child closed before the test asked it to");
          const { echoed } = await closed;
          assert.equal(got.length, echoed, "records echoed before the child's close() did not all arrive");
          assert.equal(end.failure, undefined);
          const error = await sending;
          assert.ok(error === undefined || (error as TransportError).code === "ECLOSED", String(error));
          end.close();
        });

        it("the child is SIGKILLed: pending readable() rejects with EPEER, no hang", { timeout }, async (t) => {
          const { end, peer } = await openRemote(t);
          await Promise.all([send(end, [spec(0, 100, 0, 0)]), receive(end, [spec(0, 100, 0, 0)])]);
          const waiting = failureOf(end.readable());
          await peer.kill();
          const error = await withTimeout(waiting, 10_000, "readable() hung after SIGKILL");
          assert.equal((error as TransportError | undefined)?.code, "EPEER", String(error));
          assert.equal(end.failure?.code, "EPEER");
        });

        it(
          "the child is SIGKILLed while the writer is blocked: writable() rejects with EPEER",
          { timeout },
          async (t) => {
            const { end, peer } = await openRemote(t);
            // The child echoes, this side does not read the echoes: both end up blocked.
            const { blocked } = await fillUntilBlocked(end);
            await peer.kill();
            await assert.rejects(withTimeout(blocked, 10_000, "writable() hung after SIGKILL"), { code: "EPEER" });
          },
        );
      });
    }

    const hostile = options.hostile;
    if (hostile !== undefined) {
      describe("facing a hostile peer", () => {
        for (const c of hostile.cases) {
          it(`${c.name} → ${c.code}, and the stream is cut`, { timeout }, async (t) => {
            const h = await hostile.open();
            t.after(() => h.cleanup());
            for (const bytes of c.bytes) h.write(bytes);
            if (c.finish === true) h.finish();
            const error = await drainUntilFailure(h.end);
            assert.equal(error.code, c.code, error.message);
            assert.equal(h.end.failure, error);
            await withTimeout(h.cut, 10_000, "the end did not cut off the hostile peer");
          });
        }

        it("other connections are unaffected", { timeout }, async (t) => {
          const pair = await open(t, { trust: "untrusted" });
          const h = await hostile.open();
          t.after(() => h.cleanup());
          const records = mixedRecords(1000, 70_000, 7);
          const traffic = Promise.all([send(pair.a, records), receive(pair.b, records)]);
          h.write(helloFrame());
          h.write(frameHeader(2 ** 31, 0, 0));
          assert.equal((await drainUntilFailure(h.end)).code, "EPROTOCOL");
          await traffic;
          assert.equal(pair.a.failure, undefined);
          assert.equal(pair.b.failure, undefined);
        });
      });
    }
  });
}

// ---- records --------------------------------------------------------------------------------

export interface RecordSpec {
  /** Index of the record: its place in the pattern. */
  readonly index: number;
  readonly size: number;
  readonly flags: number;
  readonly seq: number;
}

function spec(index: number, size: number, flags: number, seq: number): RecordSpec {
  return { index, size, flags: flags & 0xff, seq: seq >>> 0 };
}

const PATTERN_SPREAD = 65_536;
let pattern = new Uint8Array(0);

/** The payload of a record: the seeded pattern from an offset that depends on its index. */
export function payload(s: RecordSpec): Uint8Array {
  if (pattern.length < s.size + PATTERN_SPREAD) {
    pattern = new Uint8Array(Math.max(s.size + PATTERN_SPREAD, 1 << 20));
    let x = 0x9e3779b9;
    for (let i = 0; i < pattern.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      pattern[i] = x & 0xff;
    }
  }
  const offset = (s.index * 7919) % PATTERN_SPREAD;
  return pattern.subarray(offset, offset + s.size);
}

/** Mostly small records, some KiB, a few up to `max`; the same for a given seed. */
export function mixedRecords(count: number, max: number, seed: number): RecordSpec[] {
  let x = seed * 0x2545f491 || 1;
  const rand = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  return Array.from({ length: count }, (_, i) => {
    const r = rand();
    const cap = r < 0.7 ? 128 : r < 0.95 ? 8192 : r < 0.995 ? 262_144 : max;
    const size = Math.min(max, Math.floor(rand() * (cap + 1)));
    return spec(i, size, i, i + seed * 1_000_000);
  });
}

function verify(r: InRecord, s: RecordSpec, what: string): void {
  const where = `${what} (index ${s.index}, seq ${s.seq})`;
  assert.equal(r.seq, s.seq, `${where}: seq`);
  assert.equal(r.flags, s.flags, `${where}: flags`);
  assert.equal(r.bytes.length, s.size, `${where}: length`);
  const expected = payload(s);
  if (!Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length).equals(expected)) {
    let i = 0;
    while (r.bytes[i] === expected[i]) i++;
    assert.fail(`${where}: byte ${i} of ${s.size} is ${r.bytes[i]}, expected ${expected[i]}`);
  }
}

async function send(end: TransportEnd, records: readonly RecordSpec[]): Promise<void> {
  for (const s of records) {
    let view = end.reserve(s.size);
    while (view === null) {
      await end.writable();
      view = end.reserve(s.size);
    }
    view.set(payload(s));
    end.publish(s.size, s.flags, s.seq);
  }
}

/** Reads and frees exactly `records`, checking each; fails on anything else. */
async function receive(end: TransportEnd, records: readonly RecordSpec[]): Promise<void> {
  let i = 0;
  while (i < records.length) {
    const r = end.next();
    if (r === null) {
      assert.equal(end.ended, false, `the stream ended after ${i} of ${records.length} records`);
      await end.readable();
      continue;
    }
    verify(r, records[i] as RecordSpec, `record ${i}`);
    end.free();
    i++;
  }
}

async function collect(end: TransportEnd, count: number): Promise<{ length: number; flags: number; seq: number }[]> {
  const got: { length: number; flags: number; seq: number }[] = [];
  while (got.length < count) {
    const r = end.next();
    if (r === null) {
      await end.readable();
      continue;
    }
    got.push({ length: r.bytes.length, flags: r.flags, seq: r.seq });
    end.free();
  }
  return got;
}

/** Reads (and frees) until the end fails; returns the failure. */
async function drainUntilFailure(end: TransportEnd): Promise<TransportError> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      for (let r = end.next(); r !== null; r = end.next()) end.free();
      assert.equal(end.ended, false, "the end ended in order instead of failing");
      await withTimeout(end.readable(), Math.max(1, deadline - Date.now()), "the end neither failed nor ended");
    } catch (error) {
      if (error instanceof TransportError) return error;
      throw error;
    }
  }
}

/** Writes 4 KiB records until writable() stays pending (the peer does not read); returns that promise, boxed. */
async function fillUntilBlocked(end: TransportEnd): Promise<{ blocked: Promise<void> }> {
  const limit = 512 * 1024 * 1024;
  let written = 0;
  for (;;) {
    for (let view = end.reserve(4096); view !== null; view = end.reserve(4096)) {
      end.publish(4096, 0, 0);
      written += 4096;
      assert.ok(written < limit, `the writer got no back-pressure after ${limit} bytes`);
    }
    const pending = end.writable();
    if (!(await settlesWithin(pending, 250))) {
      pending.catch(() => {}); // the caller awaits it; no unhandled rejection meanwhile
      return { blocked: pending };
    }
  }
}

// ---- helpers --------------------------------------------------------------------------------

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TransportError, `expected a TransportError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

/** What a promise rejects with, or undefined when it resolves; handled at once (no unhandled rejection). */
function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** True when the promise settles within `ms` (a rejection counts, and is left for the caller). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = p.then(
    () => true,
    () => true,
  );
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([settled, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} (${ms} ms)`)), ms)),
  );
  try {
    return await Promise.race([p, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
