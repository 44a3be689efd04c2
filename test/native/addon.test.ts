import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { loadNative } from "../../src/native/load.js";
import type { WaiterResult } from "../../src/native/native.js";

const native = loadNative();

describe("native addon", () => {
  it("reports its capabilities", () => {
    assert.deepEqual(native.capabilities, { memfd: true, futex: true, affinity: true, fdWatch: true });
    assert.ok(Object.isFrozen(native.capabilities));
  });

  it("pins the calling thread and the whole process", async () => {
    const before = native.getAffinity();
    try {
      native.setAffinity([0]);
      assert.deepEqual(native.getAffinity(), [0]);
      assert.equal(native.getCpu(), 0);
      native.setAffinity([native.cpuCount() - 1], "process");
      assert.equal(native.getCpu(), native.cpuCount() - 1);
    } finally {
      native.setAffinity(before, "process");
    }
    assert.deepEqual(native.getAffinity(), before);
  });

  it("names the CPU when pinning fails, and rejects bad arguments", () => {
    assert.throws(() => native.setAffinity([4095]), { code: "ESYSCALL", message: /\[4095\]/ });
    assert.throws(() => native.setAffinity([]), { code: "EARG" });
    assert.throws(() => native.setAffinity([-1]), { code: "EARG", message: /-1/ });
    assert.throws(() => native.setAffinity([0.5]), { code: "EARG" });
    // @ts-expect-error: a wrong scope is a runtime error too
    assert.throws(() => native.setAffinity([0], "everything"), { code: "EARG", message: /everything/ });
  });

  it("maps one memfd region twice and sees the same bytes", () => {
    const fd = native.shmCreate("fable-test", 8192);
    try {
      assert.equal(native.shmSize(fd), 8192);
      const a = native.shmMap(fd, 8192);
      const b = native.shmMap(fd, 4096);
      new Uint8Array(a).set([1, 2, 3], 100);
      assert.deepEqual([...new Uint8Array(b, 100, 3)], [1, 2, 3]);
      native.shmUnmap(a);
      native.shmUnmap(a); // idempotent
      assert.equal(a.byteLength, 0);
      assert.equal(b.byteLength, 4096);
      native.shmUnmap(b);
    } finally {
      closeSync(fd);
    }
  });

  it("refuses to map past the region's end and a size that is not positive", () => {
    const fd = native.shmCreate("fable-test", 4096);
    try {
      assert.throws(() => native.shmMap(fd, 8192), { code: "EARG", message: /8192/ });
      assert.throws(() => native.shmMap(fd, 0), { code: "EARG" });
      assert.throws(() => native.shmCreate("x", 0), { code: "EARG" });
      assert.throws(() => native.shmUnmap(new ArrayBuffer(8)), { code: "EARG" });
    } finally {
      closeSync(fd);
    }
  });

  it("futexWait checks the value, times out, and rejects unaligned offsets", () => {
    const fd = native.shmCreate("fable-test", 4096);
    const buf = native.shmMap(fd, 4096);
    try {
      new Uint32Array(buf)[1] = 5;
      assert.equal(native.futexWait(buf, 4, 6, 10), "not-equal");
      assert.equal(native.futexWait(buf, 4, 5, 20), "timed-out");
      assert.equal(native.futexWake(buf, 4, 1), 0);
      assert.throws(() => native.futexWait(buf, 2, 0, 0), { code: "EARG", message: /aligned/ });
      assert.throws(() => native.futexWake(buf, 4096, 1), { code: "EARG" });
    } finally {
      native.shmUnmap(buf);
      closeSync(fd);
    }
  });

  it("wakes a waiter in another process through the shared region", async () => {
    const fd = native.shmCreate("fable-test", 4096);
    const buf = native.shmMap(fd, 4096);
    const words = new Int32Array(buf);
    // The child maps the fd it inherits as fd 3, announces it is about to sleep, and sleeps on word 0.
    const child = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { loadNative } = await import(${JSON.stringify(new URL("../../src/native/load.js", import.meta.url).href)});
         const n = loadNative(); const b = n.shmMap(3, 4096); const w = new Int32Array(b);
         Atomics.store(w, 1, 1);
         let r; do { r = n.futexWait(b, 0, 0, 5000); } while (r === "interrupted" || (r === "woken" && Atomics.load(w, 0) === 0));
         process.stdout.write(r + ":" + Atomics.load(w, 0));`,
      ],
      { stdio: ["ignore", "pipe", "inherit", fd] },
    );
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const deadline = Date.now() + 5000;
      while (Atomics.load(words, 1) !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.equal(Atomics.load(words, 1), 1, "child never mapped the region");
      await new Promise((r) => setTimeout(r, 50)); // let it reach FUTEX_WAIT
      Atomics.store(words, 0, 42);
      native.futexWake(buf, 0, 1);
      assert.equal(await exited, 0);
      assert.match(out, /^(woken|not-equal):42$/);
    } finally {
      child.kill();
      native.shmUnmap(buf);
      closeSync(fd);
    }
  });

  describe("waiter", () => {
    const loadUrl = JSON.stringify(new URL("../../src/native/load.js", import.meta.url).href);

    it("calls back when its word is woken, times out, and sees a word that already changed", async () => {
      const words = new Int32Array(new SharedArrayBuffer(64));
      const results: WaiterResult[] = [];
      let done: () => void = () => {};
      const waiter = native.waiterCreate(words, 4, (r) => {
        results.push(r);
        done();
      });
      const fired = (): Promise<void> => new Promise((resolve) => (done = resolve));
      try {
        assert.equal(waiter.armed, false);
        words[1] = 1;
        let next = fired();
        waiter.arm(1, 20);
        assert.equal(waiter.armed, true);
        await next;
        assert.equal(waiter.armed, false);
        next = fired();
        waiter.arm(1, -1);
        setTimeout(() => {
          Atomics.store(words, 1, 0);
          native.futexWake(words, 4, 1);
        }, 20);
        await next;
        next = fired();
        waiter.arm(1, -1); // the word is 0 now: the wait ends at once
        await next;
        assert.deepEqual(results, ["timed-out", "woken", "not-equal"]);
      } finally {
        waiter.close();
      }
    });

    it("refuses to arm twice or after close; close is idempotent and drops a pending call-back", async () => {
      const words = new Int32Array(new SharedArrayBuffer(64));
      words[0] = 7;
      let calls = 0;
      const waiter = native.waiterCreate(words, 0, () => calls++);
      waiter.arm(7, -1);
      assert.throws(() => waiter.arm(7, -1), { code: "EARG", message: /already armed/ });
      waiter.close();
      waiter.close();
      assert.equal(waiter.armed, false);
      assert.throws(() => waiter.arm(7, 10), { code: "EARG", message: /closed/ });
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(calls, 0);
      assert.throws(() => native.waiterCreate(words, 2, () => {}), { code: "EARG", message: /aligned/ });
      assert.throws(() => native.waiterCreate(words, 64, () => {}), { code: "EARG" });
      // @ts-expect-error: the callback is required
      assert.throws(() => native.waiterCreate(words, 0), { code: "EARG", message: /callback/ });
    });

    it("is woken from another process through a shared region", async () => {
      const fd = native.shmCreate("fable-test", 4096);
      const buf = native.shmMap(fd, 4096);
      const words = new Int32Array(buf);
      words[0] = 1;
      const woken = new Promise<WaiterResult>((resolve) => {
        const waiter = native.waiterCreate(buf, 0, (r) => {
          waiter.close();
          resolve(r);
        });
        waiter.arm(1, 10_000);
      });
      const child = spawn(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `const n = (await import(${loadUrl})).loadNative(); const b = n.shmMap(3, 4096);
           const w = new Int32Array(b); await new Promise((r) => setTimeout(r, 50));
           Atomics.store(w, 0, 0); n.futexWake(b, 0, 1);`,
        ],
        { stdio: ["ignore", "inherit", "inherit", fd] },
      );
      try {
        assert.match(await woken, /^(woken|not-equal)$/);
      } finally {
        child.kill();
        native.shmUnmap(buf);
        closeSync(fd);
      }
    });

    it("keeps the event loop alive while armed, and not while idle", () => {
      const run = (script: string): { status: number | null; out: string } => {
        const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
          encoding: "utf8",
          timeout: 10_000,
        });
        return { status: r.status, out: r.stdout };
      };
      // Armed with a 200 ms timeout: the process stays until the call-back, which prints.
      const armed = run(
        `const n = (await import(${loadUrl})).loadNative(); const w = new Int32Array(new SharedArrayBuffer(8));
         w[0] = 1; const t = Date.now(); const x = n.waiterCreate(w, 0, (r) => { console.log(r, Date.now() - t >= 150); x.close(); });
         x.arm(1, 200);`,
      );
      assert.equal(armed.status, 0);
      assert.equal(armed.out.trim(), "timed-out true");
      // Never armed (and never closed): the process exits at once; teardown stops the thread.
      const t0 = Date.now();
      const idle = run(
        `const n = (await import(${loadUrl})).loadNative(); const w = new Int32Array(new SharedArrayBuffer(8));
         n.waiterCreate(w, 0, () => console.log("never")); console.log("idle");`,
      );
      assert.equal(idle.status, 0);
      assert.equal(idle.out.trim(), "idle");
      assert.ok(Date.now() - t0 < 5000);
    });

    it("is stopped when a worker ends with it armed, and when the garbage collector takes it", async () => {
      const worker = new Worker(
        `const { parentPort } = require("node:worker_threads");
         import(${loadUrl}).then(({ loadNative }) => {
           const n = loadNative(); const w = new Int32Array(new SharedArrayBuffer(8)); w[0] = 1;
           const x = n.waiterCreate(w, 0, () => {}); x.arm(1, -1); parentPort.postMessage("armed");
         });`,
        { eval: true },
      );
      await new Promise((resolve) => worker.once("message", resolve));
      assert.equal(await worker.terminate(), 1);
      const gc = spawnSync(
        process.execPath,
        [
          "--expose-gc",
          "--input-type=module",
          "-e",
          `const n = (await import(${loadUrl})).loadNative();
           for (let i = 0; i < 50; i++) n.waiterCreate(new Int32Array(new SharedArrayBuffer(8)), 0, () => {});
           globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); globalThis.gc();
           const threads = (await import("node:fs")).readdirSync("/proc/self/task").length;
           console.log(threads < 40 ? "collected" : "leaked " + threads);`,
        ],
        { encoding: "utf8", timeout: 10_000 },
      );
      assert.equal(gc.stdout.trim(), "collected", gc.stderr);
    });

    it("ends within its slice when the memory is unmapped under it", async () => {
      const fd = native.shmCreate("fable-test", 4096);
      const buf = native.shmMap(fd, 4096);
      closeSync(fd);
      new Int32Array(buf)[0] = 1;
      const waiter = native.waiterCreate(buf, 0, () => {});
      waiter.arm(1, -1);
      native.shmUnmap(buf);
      const t0 = Date.now();
      waiter.close();
      assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
    });
  });

  describe("unix sockets", () => {
    const dir = mkdtempSync(join(tmpdir(), "fable-addon-test-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    let n = 0;

    /** A connected pair of unix stream sockets, both paused (libuv reads nothing). */
    async function socketPair(): Promise<{ a: Socket; b: Socket; close: () => void }> {
      const path = join(dir, `s${n++}.sock`);
      const server = createServer({ pauseOnConnect: true });
      await new Promise<void>((resolve) => server.listen(path, resolve));
      const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
      const b = connect(path);
      b.pause();
      await new Promise((resolve) => b.once("connect", resolve));
      const a = await accepted;
      server.close();
      return { a, b, close: () => (a.destroy(), b.destroy()) };
    }
    const fdOf = (s: Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;

    it("passes a memfd with a message (SCM_RIGHTS); the receiver maps the same bytes", async () => {
      const { a, b, close } = await socketPair();
      const region = native.shmCreate("fable-test", 4096);
      try {
        const mine = native.shmMap(region, 4096);
        new Uint8Array(mine)[10] = 42;
        assert.equal(native.recvFds(fdOf(b), 4, 64), null, "nothing sent yet");
        assert.equal(native.sendFds(fdOf(a), [region], new Uint8Array([1, 2, 3])), 3);
        let got = native.recvFds(fdOf(b), 4, 64);
        for (let i = 0; got === null && i < 100; i++) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          got = native.recvFds(fdOf(b), 4, 64);
        }
        assert.ok(got !== null);
        assert.deepEqual([...got.data], [1, 2, 3]);
        assert.equal(got.fds.length, 1);
        const theirs = native.shmMap(got.fds[0]!, 4096);
        assert.equal(new Uint8Array(theirs)[10], 42);
        native.shmUnmap(theirs);
        native.shmUnmap(mine);
        closeSync(got.fds[0]!);
      } finally {
        closeSync(region);
        close();
      }
    });

    it("closes every received fd and throws when the peer sends more than asked for", async () => {
      const { a, b, close } = await socketPair();
      const region = native.shmCreate("fable-test", 4096);
      try {
        native.sendFds(fdOf(a), [region, region, region], new Uint8Array([9]));
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.throws(() => native.recvFds(fdOf(b), 1, 64), { code: "ESYSCALL", message: /more than 1 fds/ });
      } finally {
        closeSync(region);
        close();
      }
    });

    it("reports end of stream as an empty message, and the peer's credentials", async () => {
      const { a, b, close } = await socketPair();
      try {
        const creds = native.peerCredentials(fdOf(a));
        assert.deepEqual(creds, { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
        a.destroy();
        await new Promise((resolve) => setTimeout(resolve, 20));
        const eof = native.recvFds(fdOf(b), 4, 64);
        assert.ok(eof !== null);
        assert.equal(eof.data.length, 0);
        assert.deepEqual(eof.fds, []);
      } finally {
        close();
      }
    });

    it("rejects bad arguments", () => {
      assert.throws(() => native.sendFds(-1, [], new Uint8Array(1)), { code: "EARG" });
      assert.throws(() => native.sendFds(0, [], new Uint8Array(0)), { code: "EARG", message: /non-empty/ });
      assert.throws(() => native.sendFds(0, new Array<number>(17).fill(0), new Uint8Array(1)), { code: "EARG" });
      assert.throws(() => native.recvFds(0, 99, 64), { code: "EARG" });
      assert.throws(() => native.peerCredentials(123456), { code: "ESYSCALL", message: /SO_PEERCRED/ });
    });
  });
});
