// The byte-stream framing on its own: frames cut at every possible chunk boundary, views without
// copies where a frame lies within a chunk, and the writer's coalescing into few writes.
import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { describe, it } from "node:test";
import { StreamEnd } from "../../src/transports/stream-end.js";
import {
  endFrame,
  FRAME_HEADER_BYTES,
  frameHeader,
  FrameParser,
  helloFrame,
} from "../../src/transports/stream-framing.js";

interface Got {
  bytes: Uint8Array;
  flags: number;
  seq: number;
}

function parserInto(got: Got[], max = 1 << 20): { parser: FrameParser; ended: () => boolean } {
  let ended = false;
  const parser = new FrameParser("test", max, {
    onRecord: (bytes, flags, seq) => got.push({ bytes, flags, seq }),
    onEnd: () => (ended = true),
  });
  return { parser, ended: () => ended };
}

function stream(records: readonly { size: number; flags: number; seq: number }[]): Uint8Array {
  const parts: Uint8Array[] = [helloFrame()];
  for (const r of records) {
    parts.push(frameHeader(r.size, r.flags, r.seq));
    parts.push(Uint8Array.from({ length: r.size }, (_, i) => (i * 31 + r.seq) & 0xff));
  }
  parts.push(endFrame());
  return Buffer.concat(parts);
}

const RECORDS = [
  { size: 0, flags: 1, seq: 0 },
  { size: 1, flags: 2, seq: 1 },
  { size: 9, flags: 3, seq: 0xffffffff },
  { size: 100, flags: 255, seq: 0x80000000 },
  { size: 0, flags: 0, seq: 4 },
  { size: 3000, flags: 7, seq: 5 },
];

function check(got: Got[]): void {
  assert.equal(got.length, RECORDS.length);
  got.forEach((g, k) => {
    const r = RECORDS[k]!;
    assert.deepEqual([g.bytes.length, g.flags, g.seq], [r.size, r.flags, r.seq], `record ${k}`);
    g.bytes.forEach((b, i) => assert.equal(b, (i * 31 + r.seq) & 0xff, `record ${k} byte ${i}`));
  });
}

describe("stream framing", () => {
  it("cuts frames at every split point of the stream into two chunks", () => {
    const all = stream(RECORDS);
    for (let split = 0; split <= all.length; split++) {
      const got: Got[] = [];
      const p = parserInto(got);
      p.parser.push(all.subarray(0, split));
      p.parser.push(all.subarray(split));
      check(got);
      assert.ok(p.ended(), `split at ${split}`);
      assert.equal(p.parser.partialBytes, 0);
    }
  });

  it("cuts frames fed one byte at a time, and in random chunks", () => {
    const all = stream(RECORDS);
    const got: Got[] = [];
    const p = parserInto(got);
    for (let i = 0; i < all.length; i++) p.parser.push(all.subarray(i, i + 1));
    check(got);
    let x = 12345;
    for (let round = 0; round < 200; round++) {
      const some: Got[] = [];
      const q = parserInto(some);
      for (let at = 0; at < all.length;) {
        x = (x * 1103515245 + 12345) >>> 0;
        const n = 1 + (x % 700);
        q.parser.push(all.subarray(at, at + n));
        at += n;
      }
      check(some);
      assert.ok(q.ended());
    }
  });

  it("hands out views of the chunk for frames within it, and copies only a straddling one", () => {
    const all = stream(RECORDS);
    const got: Got[] = [];
    const p = parserInto(got);
    // Cut inside the payload of the 3000-byte record (the last one).
    const cut = all.length - FRAME_HEADER_BYTES - 1000;
    const first = all.subarray(0, cut);
    p.parser.push(first);
    assert.equal(p.parser.partialBytes, 2000);
    p.parser.push(all.subarray(cut));
    got.slice(0, -1).forEach((g) => assert.equal(g.bytes.buffer, first.buffer, "a frame within a chunk is a view"));
    assert.notEqual(got.at(-1)?.bytes.buffer, first.buffer);
    check(got);
  });

  it("holds no more than what arrived of a large announced record", () => {
    const got: Got[] = [];
    const p = parserInto(got, 16 << 20);
    p.parser.push(helloFrame());
    p.parser.push(frameHeader(16 << 20, 0, 0));
    p.parser.push(new Uint8Array(10));
    assert.equal(p.parser.partialBytes, 10);
    assert.equal(got.length, 0);
  });

  it("rejects a length above maxRecordBytes before reading any payload", () => {
    const p = parserInto([], 1000);
    p.parser.push(helloFrame());
    assert.throws(() => p.parser.push(frameHeader(1001, 0, 0)), { code: "EPROTOCOL", message: /1001 bytes/ });
  });
});

/** A writable that records each write call (a writev counts once) and the bytes. */
class Recorder extends Writable {
  calls = 0;
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    this.calls++;
    this.chunks.push(chunk);
    cb();
  }
  override _writev(chunks: { chunk: Buffer }[], cb: (error?: Error | null) => void): void {
    this.calls++;
    for (const c of chunks) this.chunks.push(c.chunk);
    cb();
  }
}

describe("stream end writing", () => {
  const open = (): { end: StreamEnd; out: Recorder } => {
    const out = new Recorder();
    const input = new Readable({ read() {} });
    return { end: new StreamEnd({ kind: "pipe", label: "test", input, output: out, options: {} }), out };
  };

  it("coalesces a burst of small records into one write", async () => {
    const { end, out } = open();
    for (let i = 0; i < 1000; i++) {
      const view = end.reserve(16);
      assert.ok(view !== null);
      view.fill(i & 0xff);
      end.publish(16, 0, i);
    }
    await new Promise((resolve) => setImmediate(resolve));
    // The hello and 1000 frames span several staging chunks: one writev.
    assert.equal(out.calls, 1);
    const got: Got[] = [];
    parserInto(got).parser.push(Buffer.concat(out.chunks));
    assert.equal(got.length, 1000);
    got.forEach((g, i) => assert.deepEqual([g.seq, g.bytes.length, g.bytes[15]], [i, 16, i & 0xff]));
    end.destroy();
  });

  it("leaves no gap on the wire when outstanding reservations are published shorter", async () => {
    const { end, out } = open();
    const views = [end.reserve(100), end.reserve(100), end.reserve(100)];
    views.forEach((v, k) => v?.fill(k + 1));
    end.publish(10, 0, 0);
    end.publish(0, 0, 1);
    end.publish(100, 0, 2);
    await new Promise((resolve) => setImmediate(resolve));
    const got: Got[] = [];
    parserInto(got).parser.push(Buffer.concat(out.chunks));
    assert.deepEqual(
      got.map((g) => [g.bytes.length, g.bytes[0]]),
      [
        [10, 1],
        [0, undefined],
        [100, 3],
      ],
    );
    end.destroy();
  });
});
