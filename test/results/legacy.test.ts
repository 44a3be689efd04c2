/**
 * Legacy import of the original ipc-bench's data: every archive imports or fails with a true reason (both
 * counted), every converted document validates and holds nothing the allow-list does not allow, importing
 * twice gives the same bytes, and converted figures match the raw files, checked here by hand-written
 * parsing of those files (not the importer's parsers).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import type { ResultFile, RunLegacy } from "../../src/bench/result.js";
import { canonicalJson, sha256 } from "../../src/results/canonical.js";
import { importArchive, importLegacy, importResolve, type LegacyImport } from "../../src/results/legacy/import.js";
import { checkResultText } from "../../src/results/validate.js";
import { runFable, scratchDir } from "../kit/cli.js";
import {
  cleanupLegacyArchives,
  extractLegacyArchive,
  LEGACY_DIR,
  LEGACY_FULL,
  legacyArchives,
  legacyMachinesDir,
  legacyResolveDir,
} from "../kit/legacy.js";

const archives = legacyArchives();
const RESOLVE = legacyResolveDir();
const MACHINES = legacyMachinesDir();

/**
 * The archives that import, and those that fail with their reasons, as counted on the data of 2012-2016
 * (the whole set), or on the shipped subset (test/fixtures/legacy/README.md).
 */
const EXPECTED_OK = LEGACY_FULL ? 48 : 10;
const EXPECTED_FAILED: Readonly<Record<string, RegExp>> = {};

function run(doc: ResultFile, f: (r: RunLegacy) => boolean): RunLegacy {
  const found = doc.legacy?.runs.filter(f) ?? [];
  assert.equal(found.length, 1, `expected one run, found ${found.length}`);
  return found[0] as RunLegacy;
}

function pearson(x: number[], y: number[]): number {
  const mx = x.reduce((a, b) => a + b, 0) / x.length;
  const my = y.reduce((a, b) => a + b, 0) / y.length;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += ((x[i] ?? 0) - mx) * ((y[i] ?? 0) - my);
    sxx += ((x[i] ?? 0) - mx) ** 2;
    syy += ((y[i] ?? 0) - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

function matrixOf(text: string): number[][] {
  return text
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number));
}

describe("legacy import", () => {
  const imported = new Map<string, LegacyImport>();
  const failed = new Map<string, string>();
  let resolve: LegacyImport;

  before(async () => {
    for (const archive of archives) {
      try {
        imported.set(archive.split("/").pop() ?? archive, await importArchive(archive));
      } catch (err) {
        failed.set(archive.split("/").pop() ?? archive, (err as Error).message);
      }
    }
    resolve = await importResolve(RESOLVE, { machinesFrom: MACHINES });
  });
  after(() => cleanupLegacyArchives());

  const doc = (name: string): ResultFile => {
    const d = imported.get(name)?.docs[0]?.doc;
    assert.ok(d !== undefined, `${name} did not import: ${failed.get(name)}`);
    return d;
  };

  it("every archive imports or fails with a clear reason; both are counted", () => {
    assert.equal(imported.size + failed.size, archives.length);
    assert.equal(imported.size, EXPECTED_OK, `failed: ${[...failed].map(([a, m]) => `${a}: ${m}`).join("\n")}`);
    assert.deepEqual([...failed.keys()].sort(), Object.keys(EXPECTED_FAILED).sort());
    for (const [name, message] of failed) assert.match(message, EXPECTED_FAILED[name] ?? /^$/);
    // The one archive without latency results says so rather than converting nothing silently.
    assert.ok(imported.get("tmpqFef_p.tar.gz")?.notes.some((n) => /no latency matrix.*throughput only/.test(n)));
    // The paper's directory: five results of three machines (native, Xen pinned, Xen unpinned).
    assert.equal(resolve.docs.length, 5);
    assert.equal(new Set(resolve.docs.map((d) => d.doc.machine.id)).size, 3);
  });

  it("every converted document validates, and holds only allow-listed facts", () => {
    const all = [...[...imported.values()].flatMap((i) => i.docs), ...resolve.docs];
    for (const { doc: d, source } of all) {
      const text = canonicalJson(d);
      assert.deepEqual(
        checkResultText(text, source).problems.map((p) => p.message),
        [],
      );
      assert.equal(d.suite.name, "ipc-bench");
      assert.deepEqual(d.runs, []);
      // Tar headers name the original users; dmesg and cpuinfo are never copied.
      for (const forbidden of ["ms705", "DMI:", "Booting", "bogomips", "MemFree", "/home/", "GNU/Linux"]) {
        assert.ok(!text.includes(forbidden), `${source} holds ${forbidden}`);
      }
    }
  });

  it("imports the same archive to the same bytes, with a machine id derived from its content", async () => {
    const name = "tmpfCBrYh.tar.gz";
    const path = join(LEGACY_DIR, "results", name);
    const again = (await importArchive(path)).docs[0]?.doc;
    assert.equal(canonicalJson(again), canonicalJson(doc(name)));
    const content = sha256(readFileSync(path));
    assert.equal(doc(name).legacy?.contentSha256, content);
    assert.equal(doc(name).machine.id, sha256(`fable legacy machine\n${content}\n`).slice(0, 32));
    assert.equal(doc(name).legacy?.archive, name);
  });

  it("latency from a matrix: the mean per iteration in whole microseconds, as in the raw CSV", async () => {
    const root = await extractLegacyArchive("tmpfCBrYh");
    const csv = matrixOf(readFileSync(join(root, "results/lat/pipe_lat.csv"), "utf8"));
    const raw = csv[0]?.[1] ?? NaN; // seconds, CPU 0 to CPU 1
    const r = run(
      doc("tmpfCBrYh.tar.gz"),
      (x) => x.mechanism === "pipe" && x.mode === "latency" && x.cpus.join() === "0,1",
    );
    assert.equal(r.stats.mean, Math.round(raw * 1e6) * 1000);
    assert.equal(r.stats.mean, 7000);
    assert.equal(r.source, "matrix");
    assert.equal(r.resolution, 1000);
    assert.equal(r.stats.n, 10000); // from lat/128/0-1-pipe_lat/01-pipe_lat-headline.log
    assert.equal(r.size, 128);
    assert.equal(r.placement, "shared-l3");
    // mempipe: two round trips per iteration, so a round trip is half; on one CPU it spins (a time slice).
    const spin = run(doc("tmpfCBrYh.tar.gz"), (x) => x.mechanism === "mempipe" && x.cpus.join() === "0,0");
    assert.equal(
      spin.stats.mean,
      (((csv.length && matrixOf(readFileSync(join(root, "results/lat/mempipe_lat.csv"), "utf8"))[0]?.[0]) ?? 0) * 1e9) /
        2,
    );
    assert.deepEqual(spin.flags, ["spin-on-shared-cpu"]);
  });

  it("latency from a per-pair TSC log: full-precision statistics, halved for mempipe", async () => {
    const root = await extractLegacyArchive("tmpS4y2va");
    const log = readFileSync(join(root, "results/lat/128/0-1-mempipe_lat/01-mempipe_lat-tsc.log"), "utf8");
    const all = log.slice(log.indexOf("Distribution of all values:"));
    const mean = Number(/Mean ([0-9.e+-]+)/.exec(all)?.[1]);
    const median = Number(/median ([0-9.e+-]+)/.exec(all)?.[1]);
    const r = run(doc("tmpS4y2va.tar.gz"), (x) => x.mechanism === "mempipe" && x.cpus.join() === "0,1");
    assert.equal(r.source, "tsc-log");
    assert.equal(r.resolution, null);
    assert.ok(Math.abs((r.stats.mean ?? 0) - (mean * 1e9) / 2) < 1e-6, `${r.stats.mean} vs ${(mean * 1e9) / 2}`);
    assert.ok(Math.abs((r.stats.p50 ?? 0) - (median * 1e9) / 2) < 1e-6);
    assert.equal(r.stats.mean, 224.87115); // 4.497423e-07 s per iteration of two round trips
    assert.equal(r.params["roundTripsPerIteration"], 2);
  });

  it("throughput from a headline log: Mbps to payload bytes per second, safe and unsafe told apart", async () => {
    const root = await extractLegacyArchive("tmpfCBrYh");
    const lines = readFileSync(join(root, "results/01-mempipe_thr-headline.log"), "utf8").trim().split("\n");
    const line = lines.find((l) => /^mempipe_thr 0 8 0 64 2 1 1 1 /.test(l)) ?? "";
    const mbps = Number(line.split(" ")[10]);
    assert.equal(mbps, 2562);
    const r = run(
      doc("tmpfCBrYh.tar.gz"),
      (x) => x.mechanism === "mempipe-unsafe" && x.cpus.join() === "0,8" && x.size === 64 && x.params["memNode"] === 0,
    );
    assert.equal(r.stats.mean, (mbps * 1e6) / 8);
    assert.equal(r.placement, "smt-sibling"); // E5620: CPU 8 is CPU 0's hyperthread
    assert.equal(r.params["readInPlace"], true);
    assert.equal(r.params["count"], 1000000);
  });

  it("tells a guest from a host by the kernel's own words, and keeps only the vendor", () => {
    const virt = (name: string) => doc(name).machine.environment.virtualization;
    assert.deepEqual(virt("tmp1Fpcu3.tar.gz"), { hypervisor: true, vendor: "VirtualBox" }); // DMI line, no cpuinfo flag
    assert.deepEqual(virt("tmp6KVaxS.tar.gz"), { hypervisor: false, vendor: null }); // a VirtualBox *host*
    assert.deepEqual(virt("tmpoLzhAz.tar.gz"), { hypervisor: false, vendor: null }); // a KVM host ("kvm: Nested ...")
    assert.deepEqual(virt("tmpEK9Ldo.tar.gz"), { hypervisor: true, vendor: "Parallels" });
    assert.deepEqual(virt("tmpS4y2va.tar.gz"), { hypervisor: true, vendor: "KVM" });
    assert.deepEqual(virt("tmpwoNtJN.tar.gz"), { hypervisor: true, vendor: "Xen" });
    assert.equal(doc("tmpwoNtJN.tar.gz").machine.environment.kernel.release, "3.0.0-14-virtual");
    assert.equal(doc("tmpfCBrYh.tar.gz").machine.environment.memoryGiB, 10); // MemTotal 10253840 kB
  });

  it("the paper's data: latency per environment and the tables of 10 repeated throughput runs", () => {
    const byVariant = (v: string) => resolve.docs.find((d) => d.doc.legacy?.variant === v)?.doc as ResultFile;
    const native = byVariant("48native");
    const csv = matrixOf(readFileSync(join(RESOLVE, "48native.pipe_lat.lat.csv"), "utf8"));
    assert.equal(csv.length, 48);
    const r = run(native, (x) => x.mechanism === "pipe" && x.mode === "latency" && x.cpus.join() === "0,1");
    assert.equal(r.stats.mean, Math.round((csv[0]?.[1] ?? 0) * 1e6) * 1000);
    assert.equal(r.params["sizeStated"], false);
    // Figure 4: pipe, cpus 0-1, 64 B, over the 10 single runs in results.thr.48native-repeated/<N>/.
    const values = Array.from({ length: 10 }, (_, i) => {
      const text = readFileSync(
        join(RESOLVE, "results.thr.48native-repeated", String(i + 1), "01-pipe_thr-headline.log"),
        "utf8",
      );
      const line = text.split("\n").find((l) => /^pipe_thr 0 1 1 64 /.test(l)) ?? "";
      return Number(line.split(" ")[10]);
    });
    const t = run(
      native,
      (x) => x.mechanism === "pipe" && x.mode === "throughput" && x.cpus.join() === "0,1" && x.size === 64,
    );
    assert.equal(t.source, "repeated-headlines");
    assert.equal(t.stats.n, 10);
    assert.ok(Math.abs((t.stats.mean ?? 0) - (values.reduce((a, b) => a + b, 0) / 10) * 125000) < 1e-3);
    assert.equal(t.stats.min, Math.min(...values) * 125000);
    assert.deepEqual(
      [native, byVariant("48xenpin"), byVariant("48xennopin")].map((d) => d.machine.environment.virtualization),
      [
        { hypervisor: false, vendor: null },
        { hypervisor: true, vendor: "Xen" },
        { hypervisor: true, vendor: "Xen" },
      ],
    );
    assert.equal(native.legacy?.dateFrom, "publication-month");
  });

  it("the paper's tables of repeated runs are exactly its single runs (mempipe_spin_thr appended to mempipe_thr)", () => {
    const dir = join(RESOLVE, "results.thr.48native-repeated");
    const table = (name: string) =>
      readFileSync(join(dir, name), "utf8")
        .trim()
        .split("\n")
        .map((l) => l.replaceAll('"', "").trim().split(/\s+/));
    const single = (test: string) =>
      Array.from({ length: 10 }, (_, i) =>
        readFileSync(join(dir, String(i + 1), `01-${test}-headline.log`), "utf8")
          .trim()
          .split("\n"),
      );
    for (const [tableName, logName, block] of [
      ["01-pipe_thr-headline.log", "pipe_thr", 0],
      ["01-mempipe_thr-headline.log", "mempipe_thr", 0],
      ["01-mempipe_spin_thr-headline.log", "mempipe_thr", 1],
    ] as const) {
      const runs = single(logName);
      for (const row of table(tableName)) {
        const key = row.slice(1, 10).join(" ");
        const values = runs.map((lines) => {
          const matches = lines.filter((l) => l.split(" ").slice(1, 10).join(" ") === key);
          return Number(matches[block]?.split(" ")[10]);
        });
        assert.deepEqual(values, row.slice(10, 20).map(Number), `${tableName}: ${key}`);
      }
    }
  });

  it("the paper's machine is described by the contributed archives of the same machine (their matrices agree)", async () => {
    const corr = async (archive: string, test: string) => {
      const root = await extractLegacyArchive(archive);
      const a = matrixOf(readFileSync(join(root, `results/lat/${test}_lat.csv`), "utf8")).flat();
      const b = matrixOf(readFileSync(join(RESOLVE, `48native.${test}_lat.lat.csv`), "utf8")).flat();
      return pearson(a, b);
    };
    assert.ok((await corr("tmpsbkFiM", "pipe")) > 0.8);
    assert.ok((await corr("tmpsbkFiM", "tcp")) > 0.9);
    // Another 48-core Opteron (6174) does not match: the agreement is the machine's, not any 48-core's.
    assert.ok((await corr("tmpjeqW0u", "pipe")) < 0.5);
    const native = resolve.docs[0]?.doc;
    assert.equal(native?.legacy?.machineFrom, "tmpsbkFiM.tar.gz");
    // The whole set has the archive itself to import; the fixtures hold only its logs, which resolve/ used.
    if (LEGACY_FULL) assert.equal(native?.machine.hardwareKey, doc("tmpsbkFiM.tar.gz").machine.hardwareKey);
  });

  it("refuses hostile or broken input with a clear reason, writing nothing outside its temporary directory", async () => {
    const { dir, cleanup } = scratchDir("legacy-hostile");
    try {
      const header = (name: string, size: number): Buffer => {
        const h = Buffer.alloc(512);
        h.write(name, 0, 100, "utf8");
        h.write("0000644\0", 100);
        h.write("0000000\0", 108);
        h.write("0000000\0", 116);
        h.write(size.toString(8).padStart(11, "0") + "\0", 124);
        h.write("14000000000\0", 136);
        h.write("        ", 148);
        h.write("0", 156);
        h.write("ustar\0" + "00", 257);
        let sum = 0;
        for (const b of h) sum += b;
        h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
        return h;
      };
      const member = (name: string, text: string) => {
        const data = Buffer.from(text);
        return Buffer.concat([header(name, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
      };
      const tar = (members: Buffer[]) => gzipSync(Buffer.concat([...members, Buffer.alloc(1024)]));
      const evil = join(dir, "tmpEvil01.tar.gz");
      writeFileSync(
        evil,
        tar([
          member("tmp/tmpEvil01/logs/uname", "Linux 3.2.0 x86_64 x86_64 x86_64 GNU/Linux\n"),
          member("tmp/tmpEvil01/logs/cpuinfo", "processor\t: 0\nmodel name\t: Evil CPU\n"),
          member("tmp/tmpEvil01/logs/sys-cpu/../../../../pwned", "x"),
        ]),
      );
      await assert.rejects(importArchive(evil), /is not a sysfs file name/);
      assert.ok(!existsSync(join(dir, "pwned")));
      const notGzip = join(dir, "tmpNotGz.tar.gz");
      writeFileSync(notGzip, "hello");
      await assert.rejects(importArchive(notGzip), /not a gzip file/);
      const empty = join(dir, "tmpEmpty.tar.gz");
      writeFileSync(empty, tar([member("tmp/tmpEmpty/README", "nothing")]));
      await assert.rejects(importArchive(empty), /no logs\/uname in the archive/);
      await assert.rejects(importLegacy(dir), /neither an extracted ipc-bench run/);
    } finally {
      cleanup();
    }
  });

  it("the CLI imports into a folder, and the paper's directory into a database", async () => {
    const { dir, cleanup } = scratchDir("legacy-cli");
    try {
      const out = join(dir, "out");
      const one = await runFable([
        "results",
        "import-legacy",
        "--out",
        out,
        join(LEGACY_DIR, "results", "tmpxGcSjP.tar.gz"),
      ]);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /1 of 1 imported \(1 result documents\), 0 failed/);
      assert.deepEqual(readdirSync(out), ["tmpxGcSjP.tar.gz.json"]);
      const again = await runFable([
        "results",
        "import-legacy",
        "--out",
        out,
        join(LEGACY_DIR, "results", "tmpxGcSjP.tar.gz"),
      ]);
      assert.match(again.stdout, /already present/);
      const bad = join(dir, "broken.tar.gz");
      writeFileSync(bad, "not an archive");
      const mixed = await runFable([
        "results",
        "import-legacy",
        "--db",
        join(dir, "db"),
        "--machines-from",
        MACHINES,
        bad,
        RESOLVE,
      ]);
      assert.equal(mixed.code, 1);
      assert.match(mixed.stderr, /broken\.tar\.gz: not imported: .*not a gzip file/);
      assert.match(mixed.stdout, /1 of 2 imported \(5 result documents\), 1 failed/);
      assert.match(mixed.stderr, /note: resolve: .*single runs behind the tables of repeated runs/);
    } finally {
      cleanup();
    }
  });
});
