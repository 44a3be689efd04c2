import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkRequest,
  encodeFrame,
  FrameDecoder,
  MAX_REQUEST_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
} from "../../src/naming/protocol.js";

test("protocol: frames split anywhere are reassembled in order", () => {
  const frames = Buffer.concat([encodeFrame({ id: 1, type: "status" }), encodeFrame({ id: 2, type: "names" })]);
  for (let cut = 0; cut <= frames.length; cut++) {
    const d = new FrameDecoder();
    const got = [...d.push(frames.subarray(0, cut)), ...d.push(frames.subarray(cut))];
    assert.deepEqual(got, [
      { id: 1, type: "status" },
      { id: 2, type: "names" },
    ]);
    assert.equal(d.buffered, 0);
  }
});

test("protocol: an oversized length is refused from its 4 bytes, before any payload is buffered", () => {
  const d = new FrameDecoder(MAX_REQUEST_BYTES);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(0xffffffff, 0);
  assert.throws(() => d.push(head), ProtocolError);
  assert.throws(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 0])), /a frame of 0 bytes/);
});

test("protocol: another version or bytes that are not JSON are ProtocolErrors", () => {
  const f = encodeFrame({ id: 1, type: "status" });
  f.writeUInt8(PROTOCOL_VERSION + 1, 4);
  assert.throws(() => new FrameDecoder().push(f), /version 2/);
  const junk = Buffer.from([4, 0, 0, 0, PROTOCOL_VERSION, 0x7b, 0x7b, 0x7d]);
  assert.throws(() => new FrameDecoder().push(junk), /not JSON/);
});

test("protocol: requests are checked against their schema, with the reason named", () => {
  assert.equal(checkRequest({ id: 1, type: "status" }).ok, true);
  const good = {
    id: 3,
    type: "register",
    name: "app/cache",
    allow: [],
    endpoints: { unix: "/tmp/x.sock", tcp: { host: "127.0.0.1", port: 5 } },
  };
  assert.equal(checkRequest(good).ok, true);
  const bad: [unknown, RegExp][] = [
    [null, /unknown request type/],
    [{ id: 1, type: "shutdown-everything" }, /unknown request type "shutdown-everything"/],
    [{ id: -1, type: "status" }, /bad status request/],
    [{ id: 1, type: "status", extra: 1 }, /bad status request/],
    [{ ...good, name: "../etc" }, /bad register request at \/name/],
    [{ ...good, allow: [1, 1] }, /bad register request at \/allow/],
    [{ ...good, endpoints: { unix: "relative" } }, /bad register request at \/endpoints\/unix/],
    [
      { id: 1, type: "resolve", name: "a", requirements: { latency: "fast", spin: true, trust: "trusted", sizes: [] } },
      /latency/,
    ],
  ];
  for (const [value, reason] of bad) {
    const r = checkRequest(value);
    assert.equal(r.ok, false, JSON.stringify(value));
    if (!r.ok) assert.match(r.reason, reason);
  }
});
