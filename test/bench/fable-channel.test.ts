import assert from "node:assert/strict";
import { test } from "node:test";
import { checkMessage } from "../../src/bench/node-probe/fable-channel.js";
import { messageTemplate, writeSeq } from "../../src/bench/node-probe/message.js";

test("fable readers check every byte: a changed payload byte or size is EPAYLOAD, the sequence number is read", () => {
  for (const size of [8, 9, 64, 65536]) {
    const pattern = messageTemplate(size);
    const message = new Uint8Array(pattern);
    writeSeq(message, 0, 2 ** 40 + 5);
    assert.equal(checkMessage(message, pattern, "side B"), 2 ** 40 + 5);
    if (size > 8) {
      for (const at of [8, 8 + ((size - 8) >> 1), size - 1]) {
        const spoilt = new Uint8Array(message);
        spoilt[at] = (spoilt[at] ?? 0) ^ 1;
        assert.throws(() => checkMessage(spoilt, pattern, "side B"), {
          code: "EPAYLOAD",
          message: /side B: the payload of message 1099511627781 differs/,
        });
      }
    }
    assert.throws(() => checkMessage(message.subarray(0, size - 1), pattern, "side A"), {
      code: "EPAYLOAD",
      message: new RegExp(`side A received a ${size - 1}-byte message, expected ${size} bytes`),
    });
  }
});
