import assert from "node:assert/strict";
import { test } from "node:test";
import { Deque } from "../../src/transports/common.js";

test("deque: keeps order across wrap-around and growth", () => {
  const q = new Deque<number>();
  let pushed = 0;
  let shifted = 0;
  // Interleaved pushes and shifts move the head around the ring; bursts make it grow.
  for (let round = 0; round < 50; round++) {
    const burst = (round * 7) % 23;
    for (let i = 0; i < burst; i++) q.push(pushed++);
    const take = (round * 5) % 17;
    for (let i = 0; i < take && q.length > 0; i++) assert.equal(q.shift(), shifted++);
    assert.equal(q.length, pushed - shifted);
    for (let i = 0; i < q.length; i++) assert.equal(q.at(i), shifted + i);
  }
  const rest: number[] = [];
  q.drain((n) => rest.push(n));
  assert.deepEqual(
    rest,
    Array.from({ length: pushed - shifted }, (_, i) => shifted + i),
  );
  assert.equal(q.length, 0);
  assert.equal(q.shift(), undefined);
});

test("deque: at() and set() stay within the items", () => {
  const q = new Deque<string>();
  q.push("a");
  q.push("b");
  q.push("c");
  for (let i = 0; i < 20; i++) q.push("x"); // past the first growth
  assert.equal(q.length, 23);
  q.set(1, "B");
  assert.deepEqual(
    [q.at(0), q.at(1), q.at(2), q.at(22), q.at(23), q.at(-1)],
    ["a", "B", "c", "x", undefined, undefined],
  );
  assert.throws(() => q.set(23, "x"), RangeError);
});
