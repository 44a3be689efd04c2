import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { memoryPair } from "../../src/transports/memory.js";
import { inProcessPair, runConformance } from "./conformance.js";

runConformance("memory", ({ trust }) => Promise.resolve(inProcessPair(...memoryPair({ trust }))));

describe("memory transport", () => {
  it("publishExternal: by reference, in order, onFree exactly once (freed, or dropped by close/destroy)", async () => {
    const [a, b] = memoryPair({ capacityBytes: 500, maxRecordBytes: 500 });
    const freed: string[] = [];
    const mine = Uint8Array.of(1, 2, 3);
    assert.ok(a.publishExternal?.(mine, 3, 7, () => freed.push("first")));
    const view = a.reserve(4);
    assert.ok(view !== null);
    assert.equal(
      a.publishExternal?.(mine, 3, 8, () => freed.push("never")),
      false,
      "a reservation is outstanding",
    );
    a.publish(4, 3, 8);
    assert.equal(
      a.publishExternal?.(new Uint8Array(501), 3, 9, () => freed.push("never")),
      false,
      "over maxRecordBytes",
    );
    assert.equal(
      a.publishExternal?.(new Uint8Array(470), 3, 9, () => freed.push("never")),
      false,
      "no room",
    );
    assert.throws(() => a.publishExternal?.(mine, 0x1ff, 9, () => undefined), { code: "EUSAGE" });
    await b.readable();
    const r = b.next();
    assert.ok(r !== null);
    assert.equal(r.bytes, mine, "the very array");
    assert.deepEqual([r.flags, r.seq], [3, 7]);
    assert.equal(b.next()?.seq, 8);
    assert.equal(freed.length, 0);
    b.free();
    assert.deepEqual(freed, ["first"]);
    b.free();
    assert.deepEqual(freed, ["first"]);

    assert.ok(a.publishExternal?.(mine, 3, 10, () => freed.push("held")));
    assert.ok(a.publishExternal?.(mine, 3, 11, () => freed.push("queued")));
    assert.equal(b.next()?.seq, 10);
    b.close(); // the reader goes away holding one and leaving one: both are dropped
    assert.deepEqual(freed, ["first", "held", "queued"]);

    const [c, d] = memoryPair();
    assert.ok(c.publishExternal?.(mine, 3, 1, () => freed.push("writer destroyed")));
    c.destroy();
    assert.deepEqual(freed.at(-1), "writer destroyed");
    assert.throws(() => d.next(), { code: "EPEER" });
  });

  it("trusted: the reader gets the very bytes the writer reserved (zero copy)", async () => {
    const [a, b] = memoryPair();
    assert.equal(a.sharedMemory, true);
    const view = a.reserve(100);
    assert.ok(view !== null);
    view.fill(7);
    a.publish(40, 0, 1);
    await b.readable();
    const r = b.next();
    assert.ok(r !== null);
    assert.equal(r.bytes.buffer, view.buffer);
    assert.equal(r.bytes.byteOffset, view.byteOffset);
    assert.equal(r.bytes.length, 40);
    b.free();
  });

  it("untrusted: the reader gets a private copy", async () => {
    const [a, b] = memoryPair({ trust: "untrusted" });
    const view = a.reserve(10);
    assert.ok(view !== null);
    a.publish(10, 0, 1);
    await b.readable();
    const r = b.next();
    assert.ok(r !== null);
    assert.notEqual(r.bytes.buffer, view.buffer);
  });

  it("capacityBytes bounds one direction; one record larger than it still passes alone", () => {
    const [a, b] = memoryPair({ capacityBytes: 1000, maxRecordBytes: 5000 });
    assert.ok(a.reserve(5000) !== null, "an empty lane accepts a record larger than its capacity");
    a.publish(5000, 0, 0);
    assert.equal(a.reserve(1), null);
    assert.ok(b.next() !== null);
    b.free();
    let n = 0;
    while (a.reserve(100) !== null) {
      a.publish(100, 0, n++);
    }
    // 100-byte records plus a 16-byte charge each; the first one is always accepted.
    assert.equal(n, Math.floor(1000 / 116));
    // The other direction is independent.
    assert.ok(b.reserve(100) !== null);
  });

  it("empty records meet back-pressure too", () => {
    const [a] = memoryPair({ capacityBytes: 160 });
    let n = 0;
    while (a.reserve(0) !== null) a.publish(0, 0, n++);
    assert.equal(n, 10);
  });

  it("rejects bad options", () => {
    assert.throws(() => memoryPair({ capacityBytes: 0 }), { code: "EUSAGE" });
    assert.throws(() => memoryPair({ maxRecordBytes: 2 ** 31 }), { code: "EUSAGE" });
    // @ts-expect-error: a wrong trust mode is a runtime error too
    assert.throws(() => memoryPair({ trust: "maybe" }), { code: "EUSAGE" });
  });
});
