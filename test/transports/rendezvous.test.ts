/**
 * The rendezvous connection's own handling of its fd (the shm transport's setup channel): a
 * receive() watches the socket's fd with a libuv poll handle; destroying the connection meanwhile
 * must close that watcher before the fd, or the watcher later takes the fd number's epoll entry
 * away from whatever socket the process opens next on it (seen in the reconfiguration chaos test:
 * a new unix path that never read or wrote again, both processes stuck).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { fileURLToPath } from "node:url";

const dir = mkdtempSync(join(tmpdir(), "fable-rendezvous-"));
after(() => rmSync(dir, { recursive: true, force: true }));

it("a receive() cut short by destroy() leaves nothing watching the fd: the next socket on that fd still works", async () => {
  // In a process of its own: without the fix libuv can spin there for good, timers and all.
  const script = fileURLToPath(new URL("../kit/rendezvous-fd-reuse.js", import.meta.url));
  const out = await new Promise<string>((resolve) => {
    execFile(process.execPath, [script, dir], { timeout: 30_000, killSignal: "SIGKILL" }, (err, stdout) =>
      resolve(err !== null && stdout === "" ? `the process failed or hung: ${err.message}` : stdout.trim()),
    );
  });
  assert.equal(out, "ok");
});
