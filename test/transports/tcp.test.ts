import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { describe, it } from "node:test";
import { DEFAULT_MAX_RECORD_BYTES } from "../../src/transports/common.js";
import { helloFrame } from "../../src/transports/stream-framing.js";
import { connectTcp, listenTcp } from "../../src/transports/tcp.js";
import { socketPairs } from "../kit/socket-pairs.js";
import { hostileStreamCases, runConformance } from "./conformance.js";

const fixtures = socketPairs({
  listen: (options) => listenTcp({ host: "127.0.0.1", port: 0 }, options),
  connect: (address, options) => connectTcp(address, options),
  raw: (address) => net.connect(address.port, address.host),
  peer: { file: "tcp", export: "connectTcp", args: (address, options) => [address, options] },
});

runConformance("tcp", fixtures.pair, {
  remote: fixtures.remote,
  hostile: { open: fixtures.hostile, cases: hostileStreamCases(DEFAULT_MAX_RECORD_BYTES) },
});

describe("tcp transport", () => {
  it("listens on 127.0.0.1 and a port the kernel picks by default", async () => {
    const listener = await listenTcp();
    try {
      assert.equal(listener.address.host, "127.0.0.1");
      assert.ok(listener.address.port > 0);
    } finally {
      await listener.close();
    }
  });

  it("a reset connection (RST) fails the end with EPEER", async () => {
    const listener = await listenTcp();
    try {
      const raw = net.connect(listener.address.port, listener.address.host);
      raw.on("error", () => {});
      await once(raw, "connect");
      const end = await listener.accept();
      raw.write(helloFrame());
      const waiting = end.readable().then(
        () => undefined,
        (e: unknown) => e,
      );
      raw.resetAndDestroy();
      const error = (await waiting) as { code?: string; message?: string };
      assert.equal(error.code, "EPEER");
      assert.match(error.message ?? "", /ECONNRESET|ended|closed/);
    } finally {
      await listener.close();
    }
  });

  it("a connect with nobody listening fails with EPEER, naming the address", async () => {
    const listener = await listenTcp();
    const { port } = listener.address;
    await listener.close();
    await assert.rejects(connectTcp({ host: "127.0.0.1", port }), {
      code: "EPEER",
      message: new RegExp(`tcp://127.0.0.1:${port}`),
    });
  });
});
