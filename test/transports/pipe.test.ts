import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { constants, mkdtempSync, openSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEFAULT_MAX_RECORD_BYTES } from "../../src/transports/common.js";
import { pipeFromFds, pipeFromStreams, pipePair } from "../../src/transports/pipe.js";
import { PIPE_FD, startPeer, transportModule } from "../kit/peer.js";
import { type HostileConnection, hostileStreamCases, inProcessPair, runConformance } from "./conformance.js";

const dir = mkdtempSync(join(tmpdir(), "fable-pipe-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let fifos = 0;

/** Two FIFOs, opened: the end reads `toEnd` and writes `fromEnd`; the test holds the other sides. */
function fifoFds(): { endRead: number; endWrite: number; rawRead: number; rawWrite: number } {
  const toEnd = join(dir, `to-${++fifos}`);
  const fromEnd = join(dir, `from-${fifos}`);
  execFileSync("mkfifo", ["-m", "600", toEnd, fromEnd]);
  const r = constants.O_RDONLY | constants.O_NONBLOCK;
  const w = constants.O_WRONLY | constants.O_NONBLOCK;
  const endRead = openSync(toEnd, r);
  const rawRead = openSync(fromEnd, r);
  const fds = { endRead, rawRead, endWrite: openSync(fromEnd, w), rawWrite: openSync(toEnd, w) };
  rmSync(toEnd);
  rmSync(fromEnd);
  return fds;
}

runConformance("pipe", async ({ trust }) => inProcessPair(...(await pipePair({ trust }))), {
  // Across processes: the child's extra stdio, as a Node parent and child really share a pipe.
  async remote({ trust }) {
    const peer = await startPeer(
      { module: transportModule("pipe"), export: "pipeFromFds", args: [PIPE_FD, PIPE_FD, { trust }] },
      { pipe: true },
    );
    const socket = peer.pipe as net.Socket;
    const end = pipeFromStreams(socket, socket, { trust });
    return {
      end,
      peer,
      async cleanup() {
        await peer.kill();
        end.destroy();
      },
    };
  },
  hostile: {
    async open(): Promise<HostileConnection> {
      const fds = fifoFds();
      const end = pipeFromFds(fds.endRead, fds.endWrite, { trust: "untrusted" });
      const rawOut = new net.Socket({ fd: fds.rawWrite, readable: false, writable: true });
      const rawIn = new net.Socket({ fd: fds.rawRead, readable: true, writable: false });
      rawOut.on("error", () => {});
      rawIn.on("error", () => {});
      rawIn.resume();
      const cut = new Promise<void>((resolve) => {
        rawIn.once("end", resolve);
        rawIn.once("close", resolve);
      });
      return Promise.resolve({
        end,
        write: (bytes: Uint8Array) => void rawOut.write(bytes),
        finish: () => void rawOut.end(),
        cut,
        cleanup() {
          rawOut.destroy();
          rawIn.destroy();
          end.destroy();
          return Promise.resolve();
        },
      });
    },
    cases: hostileStreamCases(DEFAULT_MAX_RECORD_BYTES),
  },
});

describe("pipe transport", () => {
  it("one duplex fd or two one-way fds", async () => {
    const fds = fifoFds();
    const end = pipeFromFds(fds.endRead, fds.endWrite);
    const other = pipeFromFds(fds.rawRead, fds.rawWrite);
    assert.equal(end.kind, "pipe");
    const view = end.reserve(2);
    assert.ok(view !== null);
    view.set([4, 2]);
    end.publish(2, 3, 4);
    await other.readable();
    const r = other.next();
    assert.deepEqual([r?.flags, r?.seq, ...(r?.bytes ?? [])], [3, 4, 4, 2]);
    other.free();
    end.close();
    await other.readable();
    assert.equal(other.ended, true);
    other.close();
  });
});
