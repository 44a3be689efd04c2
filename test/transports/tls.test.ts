import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { after, describe, it } from "node:test";
import { issueLeaf } from "../../src/daemon/tls-ca.js";
import { DEFAULT_MAX_RECORD_BYTES } from "../../src/transports/common.js";
import { connectTls, listenTls } from "../../src/transports/tls.js";
import { RECORD_FIRST, RECORD_LAST } from "../../src/transports/transport.js";
import { socketPairs } from "../kit/socket-pairs.js";
import { hostileStreamCases, runConformance } from "./conformance.js";

const dir = mkdtempSync(join(tmpdir(), "fable-tls-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const server = issueLeaf(join(dir, "ca"), "server");
const client = issueLeaf(join(dir, "ca"), "client");

const fixtures = socketPairs({
  listen: (options) => listenTls({ host: "127.0.0.1", port: 0 }, { ...options, credentials: server }),
  connect: (address, options) => connectTls(address, { ...options, credentials: client }),
  raw: (address) => tls.connect({ host: address.host, port: address.port, ...client }),
  peer: {
    file: "tls",
    export: "connectTls",
    args: (address, options) => [address, { ...options, credentials: client }],
  },
});

runConformance("tls", fixtures.pair, {
  remote: fixtures.remote,
  hostile: { open: fixtures.hostile, cases: hostileStreamCases(DEFAULT_MAX_RECORD_BYTES) },
});

describe("tls transport", () => {
  it("refuses a client whose certificate is not from the CA, and a server whose certificate is not", async () => {
    const other = issueLeaf(join(dir, "other-ca"), "stranger");
    const listener = await listenTls({}, { credentials: server });
    try {
      // TLS 1.3: the client's handshake is done before the server checks its certificate, so
      // the refusal shows as the end failing, and the listener never hands the stranger out.
      const stranger = await connectTls(listener.address, { credentials: { ...other, ca: client.ca } }).catch(
        (e: unknown) => e,
      );
      if (!(stranger instanceof Error)) {
        await assert.rejects((stranger as Awaited<ReturnType<typeof connectTls>>).readable(), { code: "EPEER" });
      }
      const accepted = await Promise.race([
        listener.accept().then(() => "accepted"),
        new Promise((resolve) => setTimeout(resolve, 200, "none")),
      ]);
      assert.equal(accepted, "none");
      await assert.rejects(connectTls(listener.address, { credentials: { ...client, ca: other.ca } }), {
        code: "EPEER",
      });
    } finally {
      await listener.close();
    }
  });

  it("a client resumes its last session with a server (no signatures), still verified; a new server gets a full handshake", async () => {
    const socket = (end: unknown): tls.TLSSocket => (end as { input: tls.TLSSocket }).input;
    for (let round = 0; round < 2; round++) {
      // A server of its own each round: its ticket keys are its own, so the first dial is a full handshake.
      const listener = await listenTls({}, { credentials: server });
      try {
        const reused: boolean[] = [];
        for (let i = 0; i < 3; i++) {
          const [end, accepted] = await Promise.all([
            connectTls(listener.address, { credentials: client }),
            listener.accept(),
          ]);
          // The ticket comes after the handshake: a record each way makes sure it arrived.
          const view = accepted.reserve(1)!;
          view[0] = 1;
          accepted.publish(1, RECORD_FIRST | RECORD_LAST, 0);
          await end.readable();
          reused.push(socket(end).isSessionReused());
          assert.equal(socket(accepted).authorized, true);
          assert.equal(socket(accepted).getPeerCertificate().subject.CN, "fable client");
          end.destroy();
          accepted.destroy();
        }
        assert.deepEqual(reused, [false, true, true]);
      } finally {
        await listener.close();
      }
    }
  });

  it("says which credential is not PEM", () => {
    assert.throws(() => connectTls({ host: "127.0.0.1", port: 1 }, { credentials: { ...client, cert: "x" } }), {
      code: "EUSAGE",
      message: /credentials\.cert/,
    });
  });
});
