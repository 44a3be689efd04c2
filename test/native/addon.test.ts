import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync } from "node:fs";
import { describe, it } from "node:test";
import { loadNative } from "../../src/native/load.js";

const native = loadNative();

describe("native addon", () => {
  it("reports its capabilities", () => {
    assert.deepEqual(native.capabilities, { memfd: true, futex: true, affinity: true });
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
});
