import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkPush,
  checkReply,
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

test("protocol: reconfiguration messages (issue 10) are schema-checked like the others, pushes too", () => {
  const choice = { transport: "shm", wait: "block" };
  assert.equal(checkRequest({ id: 1, type: "reconfigure", flowId: "f-1", to: choice }).ok, true);
  assert.equal(
    checkRequest({ id: 1, type: "reconfigure", flowId: "f-1", to: { transport: "pipe", wait: null } }).ok,
    false,
  );
  assert.equal(checkRequest({ id: 1, type: "reconfigure", flowId: "../x", to: choice }).ok, false);
  assert.equal(checkRequest({ id: 1, type: "flow-location", flowId: "f-1", apart: "yes" }).ok, false);
  assert.equal(checkRequest({ id: 1, type: "flow-trust", flowId: "f-1", trusted: false }).ok, true);
  const event = {
    from: choice,
    to: { transport: "tls", wait: null },
    epoch: 2,
    reason: "trust",
    pauseMs: 1,
    resent: 0,
    at: 5,
  };
  assert.equal(checkRequest({ id: 1, type: "flow-event", flowId: "f-1", event }).ok, true);
  assert.equal(
    checkRequest({ id: 1, type: "flow-event", flowId: "f-1", event: { ...event, reason: "whim" } }).ok,
    false,
  );
  assert.equal(checkRequest({ id: 1, type: "flow-event", flowId: "f-1", event: { ...event, extra: 1 } }).ok, false);
  assert.equal(checkPush({ push: "reconfigure", flowId: "f-1", to: choice, reason: "contention" }), true);
  assert.equal(checkPush({ push: "reconfigure", flowId: "f-1", to: choice, reason: "contention", id: 3 }), false);
  assert.equal(checkPush({ push: "explode", flowId: "f-1", to: choice, reason: "manual" }), false);
  // A push is never taken for a reply (it has no id), so an older client ignores it.
  assert.equal(checkReply({ push: "reconfigure", flowId: "f-1", to: choice, reason: "manual" }), false);
});
