/**
 * The addon's fd readiness: fdWatch (a libuv poll handle on the event loop) and fdPoll (poll(2)
 * now), over real FIFOs. Whether the event loop stays alive is judged from child processes that
 * must print a line only a live loop could print.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { loadNative } from "../../src/native/load.js";
import type { FdWatchCallback } from "../../src/native/native.js";

const native = loadNative();
const { readable: R, writable: W, disconnect: D, error: E } = native.fdEvents;
const loadUrl = JSON.stringify(new URL("../../src/native/load.js", import.meta.url).href);

const dir = mkdtempSync(join(tmpdir(), "fable-fd-poll-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let fifos = 0;

/** A FIFO opened at both ends, non-blocking: [read fd, write fd]. */
function fifo(): [number, number] {
  const path = join(dir, `f${fifos++}`);
  execFileSync("mkfifo", ["-m", "600", path]);
  const r = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const w = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  return [r, w];
}

/** A watcher whose calls are queued; next() resolves with the next one. */
function recorder(): { callback: FdWatchCallback; next: () => Promise<[Error | null, number]> } {
  const calls: [Error | null, number][] = [];
  let wake: (() => void) | undefined;
  return {
    callback: (error, events) => {
      calls.push([error, events]);
      wake?.();
    },
    async next() {
      while (calls.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return calls.shift() as [Error | null, number];
    },
  };
}

/** Runs a script in a child that gets `fds` as its fds 3, 4, ... */
function run(
  script: string,
  fds: number[] = [],
  flags: string[] = [],
): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [...flags, "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 20_000,
    stdio: ["ignore", "pipe", "pipe", ...fds],
  });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr };
}

describe("fd readiness (native)", () => {
  it("reports readable, writable and a hang-up, and fdPoll agrees", async () => {
    const [r, w] = fifo();
    const rec = recorder();
    const reader = native.fdWatch(r, R, rec.callback);
    try {
      assert.equal(native.fdPoll(r, R), 0);
      assert.equal(native.fdPoll(w, W), W);
      writeSync(w, "ab");
      assert.deepEqual(await rec.next(), [null, R]);
      assert.equal(native.fdPoll(r, R), R);
      // Level-triggered: unread data is reported again on the next turn.
      assert.deepEqual(await rec.next(), [null, R]);
      reader.update(0);
      assert.equal(reader.active, false);
      closeSync(w);
      // A pipe's hang-up counts once its data has been read.
      assert.equal(native.fdPoll(r, R), R);
      assert.equal(readSync(r, Buffer.alloc(8)), 2);
      assert.equal(native.fdPoll(r, R), D);
      reader.update(R);
      assert.equal(reader.active, true);
      assert.deepEqual(await rec.next(), [null, R | D]);
    } finally {
      reader.close();
      closeSync(r);
    }
  });

  it("reports an error naming the fd (POLLERR) and stops; fdPoll reports the error bit", async () => {
    const [r, w] = fifo();
    closeSync(r); // a pipe with no reader: POLLERR for its writer
    assert.equal(native.fdPoll(w, W) & E, E);
    const rec = recorder();
    const writer = native.fdWatch(w, W, rec.callback);
    try {
      const [error, events] = await rec.next();
      assert.equal(events, 0);
      assert.ok(error instanceof Error);
      assert.equal((error as Error & { code: string }).code, "EBADF");
      assert.match(error.message, new RegExp(`fd ${w}: polling failed: .*POLLERR`));
      assert.equal(writer.active, false);
    } finally {
      writer.close();
      closeSync(w);
    }
  });

  it("a closed watcher never calls back; close is idempotent; update after close throws", async () => {
    const [r1, w1] = fifo();
    const [r2, w2] = fifo();
    writeSync(w1, "x");
    writeSync(w2, "x");
    let closedCalls = 0;
    const closed = native.fdWatch(r1, R, () => closedCalls++);
    closed.close();
    closed.close();
    assert.equal(closed.active, false);
    assert.throws(() => closed.update(R), { code: "EARG", message: /closed/ });
    // The control watcher is just as ready: once it has fired twice, the loop has polled twice.
    const rec = recorder();
    const control = native.fdWatch(r2, R, rec.callback);
    try {
      await rec.next();
      await rec.next();
      assert.equal(closedCalls, 0);
    } finally {
      control.close();
      for (const fd of [r1, w1, r2, w2]) closeSync(fd);
    }
  });

  it("rejects bad fds and events with a clear error", () => {
    const [r, w] = fifo();
    const file = openSync(join(dir, "plain"), "w");
    const watcher = native.fdWatch(r, R, () => {});
    try {
      assert.throws(() => native.fdWatch(-1, R, () => {}), { code: "EARG", message: /-1 is not a file descriptor/ });
      // @ts-expect-error: a wrong type is a runtime error too
      assert.throws(() => native.fdWatch("3", R, () => {}), { code: "EARG", message: /must be a number/ });
      assert.throws(() => native.fdWatch(1.5, R, () => {}), { code: "EARG", message: /integer/ });
      assert.throws(() => native.fdWatch(1_000_000, R, () => {}), { code: "EARG", message: /EBADF.*not open/ });
      assert.throws(() => native.fdWatch(file, R, () => {}), { code: "EARG", message: /EPERM.*regular files/ });
      assert.throws(() => native.fdWatch(r, R, () => {}), { code: "EARG", message: /EEXIST.*one watcher per fd/ });
      assert.throws(() => native.fdWatch(w, 8, () => {}), { code: "EARG", message: /got 8/ });
      // @ts-expect-error: the callback is required
      assert.throws(() => native.fdWatch(w, W), { code: "EARG", message: /callback/ });
      assert.throws(() => watcher.update(-1), { code: "EARG" });
      assert.throws(() => native.fdPoll(1_000_000, R), { code: "EARG", message: /not open/ });
      assert.throws(() => native.fdPoll(r, 4), { code: "EARG" });
      assert.equal(native.capabilities.fdWatch, true);
    } finally {
      watcher.close();
      for (const fd of [r, w, file]) closeSync(fd);
    }
  });

  it("keeps the event loop alive while started, and not once stopped or closed", async () => {
    // Started on an idle FIFO: the process must still be there to read what the parent writes later.
    const path = join(dir, `alive-${fifos++}`);
    execFileSync("mkfifo", ["-m", "600", path]);
    const child = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import fs from "node:fs"; const n = (await import(${loadUrl})).loadNative();
         const fd = fs.openSync(${JSON.stringify(path)}, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
         const x = n.fdWatch(fd, n.fdEvents.readable, (e, ev) => { console.log("readable", ev); x.close(); fs.closeSync(fd); });
         console.log("waiting");`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.setEncoding("utf8");
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await new Promise<void>((resolve) =>
      child.stdout.on("data", (chunk: string) => {
        out += chunk;
        if (out.includes("waiting")) resolve();
      }),
    );
    // Opening for writing fails (ENXIO) if the child, and so its read end, were gone.
    const w = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(w, "!");
    closeSync(w);
    assert.equal(await exited, 0);
    assert.equal(out.trim(), `waiting\nreadable ${R}`);

    // Stopped and closed watchers hold nothing: these exit by themselves (spawnSync would time out).
    const [r, w2] = fifo();
    try {
      for (const last of ["x.update(0)", "x.close()", "x.close(); x.close()"]) {
        const idle = run(
          `import fs from "node:fs"; const n = (await import(${loadUrl})).loadNative();
           const x = n.fdWatch(3, n.fdEvents.readable, () => console.log("never")); ${last}; console.log("done");`,
          [r],
        );
        assert.equal(idle.status, 0, idle.err);
        assert.equal(idle.out, "done");
      }
    } finally {
      closeSync(r);
      closeSync(w2);
    }
  });

  it("is closed at worker teardown while started, and collected by the GC once stopped and unreachable", async () => {
    const worker = new Worker(
      `const { parentPort } = require("node:worker_threads"); const fs = require("node:fs");
       import(${loadUrl}).then(({ loadNative }) => {
         const n = loadNative(); const path = ${JSON.stringify(join(dir, "worker"))};
         require("node:child_process").execFileSync("mkfifo", [path]);
         const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
         n.fdWatch(fd, n.fdEvents.readable, () => {}); parentPort.postMessage("armed");
       });`,
      { eval: true },
    );
    await new Promise((resolve) => worker.once("message", resolve));
    // Node aborts the whole process if a worker's loop still holds a handle when it is closed.
    assert.equal(await worker.terminate(), 1);

    const [r, w] = fifo();
    try {
      const gc = run(
        `const n = (await import(${loadUrl})).loadNative(); const collected = []; let fired = 0;
         const registry = new FinalizationRegistry((name) => collected.push(name));
         // Neither is reachable from here; the stopped one's callback even refers to it. (Two
         // functions: closures made in one would share a context, the started one's holding both.)
         (() => {
           const stopped = n.fdWatch(3, 0, () => stopped); registry.register(stopped, "stopped");
         })();
         (() => registry.register(n.fdWatch(4, n.fdEvents.writable, () => fired++), "started"))();
         for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
         console.log(collected.join(), fired > 0); process.exit(0);`,
        [r, w],
        ["--expose-gc"],
      );
      assert.equal(gc.status, 0, gc.err);
      assert.equal(gc.out, "stopped true");
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });
});
