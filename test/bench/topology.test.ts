import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  PLACEMENT_CLASSES,
  TopologyError,
  allPairs,
  numaDistance,
  orderedCpus,
  placementClass,
  readTopology,
  representativePairs,
  type Topology,
} from "../../src/bench/topology.js";
import { parseCpuList, parseCpuMask, parseSize, SysfsFormatError } from "../../src/bench/sysfs.js";
import {
  LEGACY_FULL,
  cleanupLegacyArchives,
  extractLegacyArchive,
  legacyArchiveId,
  legacyLogArchives,
} from "../kit/legacy.js";

after(cleanupLegacyArchives);

async function legacyTopology(id: string): Promise<Topology> {
  const root = await extractLegacyArchive(id, "logs");
  return readTopology({ cpuDir: join(root, "logs", "sys-cpu"), nodeDir: join(root, "logs", "sys-node") });
}

function classes(t: Topology): Record<string, [number, number]> {
  return Object.fromEntries(representativePairs(t));
}

describe("CPU lists, masks and sizes", () => {
  test("CPU lists as the kernel prints them", () => {
    assert.deepEqual(parseCpuList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
    assert.deepEqual(parseCpuList("0"), [0]);
    assert.deepEqual(parseCpuList(""), []);
    assert.deepEqual(parseCpuList("\n"), []);
    assert.deepEqual(parseCpuList("5,1,1-2"), [1, 2, 5]);
    assert.deepEqual(parseCpuList("0-1"), [0, 1]);
    assert.deepEqual(parseCpuList("7-7"), [7]);
  });

  test("garbage CPU lists are refused with the reason", () => {
    for (const bad of ["3-1", "0,,1", "-1", "a", "0-", "1 2", "01", "0-70000", "0x3"]) {
      assert.throws(() => parseCpuList(bad), SysfsFormatError, bad);
    }
    assert.throws(() => parseCpuList("3-1"), /runs backwards/);
  });

  test("CPU masks: 32-bit hex words, most significant first", () => {
    assert.deepEqual(parseCpuMask("00000000,0000000f"), [0, 1, 2, 3]);
    assert.deepEqual(parseCpuMask("3"), [0, 1]);
    assert.deepEqual(parseCpuMask("000000f0\n"), [4, 5, 6, 7]);
    assert.deepEqual(parseCpuMask("1,00000000"), [32]);
    assert.deepEqual(parseCpuMask("80000000,00000001"), [0, 63]);
    assert.deepEqual(parseCpuMask("00000000"), []);
    assert.deepEqual(parseCpuMask("A"), [1, 3]);
    for (const bad of ["", "g", "0,f", "0x1", "1,,00000000", "00000000,"]) {
      assert.throws(() => parseCpuMask(bad), SysfsFormatError, bad);
    }
  });

  test("cache sizes", () => {
    assert.equal(parseSize("32K"), 32768);
    assert.equal(parseSize("4096K\n"), 4194304);
    assert.equal(parseSize("30M"), 31457280);
    assert.equal(parseSize("5118K"), 5118 * 1024);
    assert.equal(parseSize("1G"), 1073741824);
    assert.equal(parseSize("512"), 512);
    for (const bad of ["", "K", "32k", "32 K", "32KB", "-1K", "1.5M"]) assert.throws(() => parseSize(bad), bad);
  });
});

describe("the legacy ipc-bench sysfs trees", () => {
  test("every archive's tree parses, and agrees with its cpuinfo", async () => {
    const archives = legacyLogArchives();
    // PROVENANCE.md: the original set less seven archives that could not be retrieved; the shipped subset
    // has 10 archives and 10 trimmed ones (test/fixtures/legacy/README.md).
    assert.equal(archives.length, LEGACY_FULL ? 48 : 20);
    const failures: string[] = [];
    for (const archive of archives) {
      const id = legacyArchiveId(archive);
      try {
        const t = await legacyTopology(id);
        const cpuinfo = readFileSync(join(await extractLegacyArchive(id, "logs"), "logs", "cpuinfo"), "utf8");
        const processors = cpuinfo.split("\n").filter((l) => /^processor\s*:/.test(l)).length;
        if (t.cpus.length !== processors) failures.push(`${id}: ${t.cpus.length} CPUs, cpuinfo has ${processors}`);
        if (!t.cpus.every((c) => c.online)) failures.push(`${id}: offline CPUs in a tree without online files`);
        if (allPairs(t).length !== t.cpus.length ** 2) failures.push(`${id}: allPairs is not n*n`);
      } catch (err) {
        if (!(err instanceof TopologyError)) throw err;
        failures.push(`${id}: ${err.message}`);
      }
    }
    assert.deepEqual(failures, [], `archives that do not parse:\n${failures.join("\n")}`);
  });

  test("tmpfCBrYh: two Xeon E5620 packages with SMT and two NUMA nodes", async () => {
    const t = await legacyTopology("tmpfCBrYh");
    assert.equal(t.cpus.length, 16);
    assert.deepEqual([t.packages, t.dies, t.cores, t.threadsPerCore], [2, 2, 8, 2]);
    assert.deepEqual(t.cpus[0], { cpu: 0, online: true, package: 0, die: 0, core: 0, smtSiblings: [0, 8], node: 0 });
    assert.deepEqual(t.cpus[6], { cpu: 6, online: true, package: 1, die: 0, core: 9, smtSiblings: [6, 14], node: 1 });
    assert.deepEqual(classes(t), {
      "same-cpu": [0, 0],
      "smt-sibling": [0, 8],
      "shared-l3": [0, 1],
      "cross-package": [0, 4],
    });
    assert.equal(placementClass(t, 3, 11), "smt-sibling");
    assert.equal(placementClass(t, 11, 3), "smt-sibling");
    assert.equal(placementClass(t, 9, 2), "shared-l3");
    assert.equal(placementClass(t, 12, 3), "cross-package");
    assert.deepEqual(
      t.numa.map((n) => [n.id, n.cpus, n.distances]),
      [
        [0, [0, 1, 2, 3, 8, 9, 10, 11], [10, 21]],
        [1, [4, 5, 6, 7, 12, 13, 14, 15], [21, 10]],
      ],
    );
    assert.equal(numaDistance(t, 0, 4), 21);
    assert.equal(numaDistance(t, 0, 8), 10);
    const l3 = t.caches.filter((c) => c.level === 3);
    assert.deepEqual(l3, [
      {
        level: 3,
        type: "unified",
        sizeBytes: 12 * 1024 ** 2,
        lineBytes: 64,
        ways: 16,
        cpus: [0, 1, 2, 3, 8, 9, 10, 11],
      },
      {
        level: 3,
        type: "unified",
        sizeBytes: 12 * 1024 ** 2,
        lineBytes: 64,
        ways: 16,
        cpus: [4, 5, 6, 7, 12, 13, 14, 15],
      },
    ]);
    // 8 cores x (L1d, L1i, L2) + 2 L3.
    assert.equal(t.caches.length, 26);
    assert.deepEqual(orderedCpus(t), [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15]);
  });

  test('tmpK1UpPd: SMT siblings listed as a range ("0-1")', async () => {
    const t = await legacyTopology("tmpK1UpPd");
    assert.deepEqual([t.packages, t.cores, t.threadsPerCore], [1, 2, 2]);
    assert.deepEqual(classes(t), { "same-cpu": [0, 0], "smt-sibling": [0, 1], "shared-l3": [0, 2] });
  });

  test("tmpSPgfjL: two Opteron 6168 packages, two dies each, four NUMA nodes numbered out of CPU order", async () => {
    const t = await legacyTopology("tmpSPgfjL");
    assert.deepEqual([t.cpus.length, t.packages, t.dies, t.cores, t.threadsPerCore], [24, 2, 2, 24, 1]);
    // core_id counts within a die: cpu0 and cpu6 are both core 0 of package 0, yet different cores.
    assert.equal(t.cpus[0]?.core, 0);
    assert.equal(t.cpus[6]?.core, 0);
    assert.equal(placementClass(t, 0, 6), "same-package");
    assert.equal(placementClass(t, 0, 5), "shared-l3");
    assert.equal(placementClass(t, 0, 12), "cross-package");
    assert.deepEqual(classes(t), {
      "same-cpu": [0, 0],
      "shared-l3": [0, 1],
      "same-package": [0, 6],
      "cross-package": [0, 12],
    });
    assert.deepEqual(
      t.numa.map((n) => [n.id, n.cpus[0], n.distances]),
      [
        [0, 0, [10, 16, 16, 16]],
        [1, 6, [16, 10, 16, 16]],
        [2, 18, [16, 16, 10, 16]],
        [3, 12, [16, 16, 16, 10]],
      ],
    );
    assert.equal(t.cpus[12]?.node, 3);
    assert.equal(numaDistance(t, 0, 5), 10);
    assert.equal(numaDistance(t, 0, 12), 16);
    const l1d = t.caches.find((c) => c.level === 1 && c.type === "data");
    assert.deepEqual(l1d, { level: 1, type: "data", sizeBytes: 65536, lineBytes: 64, ways: 2, cpus: [0] });
    assert.deepEqual(t.caches.find((c) => c.level === 3)?.sizeBytes, 5118 * 1024);
    assert.deepEqual(orderedCpus(t), [...Array(24).keys()]);
  });

  test("tmp3tSeqw: caches shared as hex masks (shared_cpu_map), 4 packages, 8 nodes", async () => {
    const t = await legacyTopology("tmp3tSeqw");
    assert.deepEqual([t.cpus.length, t.packages, t.cores, t.numa.length], [32, 4, 32, 8]);
    const l3 = t.caches.filter((c) => c.level === 3).map((c) => c.cpus);
    assert.equal(l3.length, 8);
    assert.deepEqual(l3[1], [4, 5, 6, 7]);
    assert.deepEqual(t.numa[0]?.distances, [10, 16, 16, 22, 16, 22, 16, 22]);
    assert.equal(numaDistance(t, 0, 12), 22);
    assert.equal(placementClass(t, 0, 4), "same-package");
  });

  test("tmpkC7xL9: two Xeon E5450 packages whose core pairs share an L2", async () => {
    const t = await legacyTopology("tmpkC7xL9");
    assert.deepEqual([t.packages, t.cores, t.threadsPerCore, t.numa.length], [2, 8, 1, 1]);
    assert.deepEqual(classes(t), {
      "same-cpu": [0, 0],
      "shared-l2": [0, 4],
      "same-package": [0, 2],
      "cross-package": [0, 1],
    });
    assert.equal(numaDistance(t, 0, 1), 10);
    assert.deepEqual(orderedCpus(t), [0, 4, 2, 6, 1, 5, 3, 7]);
  });

  test("tmpS4y2va: a KVM guest whose two vCPUs are two packages", async () => {
    const t = await legacyTopology("tmpS4y2va");
    assert.deepEqual([t.cpus.length, t.packages, t.cores, t.threadsPerCore], [2, 2, 2, 1]);
    assert.equal(placementClass(t, 0, 1), "cross-package");
    assert.equal(numaDistance(t, 0, 1), 10);
    assert.deepEqual(
      t.caches.map((c) => [c.level, c.type, c.sizeBytes, c.cpus]),
      [
        [1, "data", 32768, [0]],
        [1, "data", 32768, [1]],
        [1, "instruction", 32768, [0]],
        [1, "instruction", 32768, [1]],
        [2, "unified", 4194304, [0]],
        [2, "unified", 4194304, [1]],
      ],
    );
  });

  test("tmp1Fpcu3: a VirtualBox guest whose caches all claim to be data caches", async () => {
    const t = await legacyTopology("tmp1Fpcu3");
    // index0 and index1 are both "Data" L1s of one CPU: two caches, not one.
    assert.deepEqual(
      t.caches.map((c) => [c.level, c.type, c.sizeBytes, c.cpus]),
      [
        [1, "data", 32768, [0]],
        [1, "data", 32768, [0]],
        [1, "data", 32768, [1]],
        [1, "data", 32768, [1]],
        [2, "data", 6144 * 1024, [0, 1]],
      ],
    );
    assert.equal(placementClass(t, 0, 1), "shared-l2");
  });

  test("trees without sys-node have no NUMA information", async () => {
    for (const id of ["tmpTjbW9n", "tmpeKj4XT", "tmpgtzzD3", "tmprtQw9u"]) {
      const t = await legacyTopology(id);
      assert.deepEqual(t.numa, [], id);
      assert.ok(
        t.cpus.every((c) => c.node === null),
        id,
      );
      assert.equal(numaDistance(t, 0, 1), null, id);
    }
  });
});

describe("this machine's /sys", () => {
  const live = readTopology();
  const onlineList = readFileSync("/sys/devices/system/cpu/online", "utf8");

  test("describes every online CPU once, in order", () => {
    assert.deepEqual(
      live.cpus.filter((c) => c.online).map((c) => c.cpu),
      parseCpuList(onlineList),
    );
    assert.ok(live.packages >= 1 && live.cores >= 1 && live.threadsPerCore >= 1);
    assert.deepEqual(
      [...orderedCpus(live)].sort((a, b) => a - b),
      parseCpuList(onlineList),
    );
    assert.equal(allPairs(live).length, parseCpuList(onlineList).length ** 2);
  });

  test("placement classes are symmetric and the representatives agree with them", () => {
    for (const [a, b] of allPairs(live)) assert.equal(placementClass(live, a, b), placementClass(live, b, a));
    const reps = representativePairs(live);
    const first = Math.min(...parseCpuList(onlineList));
    assert.deepEqual(reps.get("same-cpu"), [first, first]);
    for (const [cls, [a, b]] of reps) assert.equal(placementClass(live, a, b), cls);
    assert.deepEqual(
      [...reps.keys()],
      PLACEMENT_CLASSES.filter((c) => reps.has(c)),
    );
  });

  // The reference machine: 2 vCPUs in one package, each with its own L2, sharing the L3.
  const cache = (cpu: number, index: number) =>
    readFileSync(`/sys/devices/system/cpu/cpu${cpu}/cache/index${index}/shared_cpu_list`, "utf8").trim();
  let reference = false;
  try {
    reference = onlineList.trim() === "0-1" && cache(0, 2) === "0" && cache(1, 2) === "1" && cache(0, 3) === "0-1";
  } catch {
    reference = false;
  }
  test(
    "the 2-CPU reference machine: (0,1) share only the L3",
    { skip: !reference && "not the reference machine" },
    () => {
      assert.deepEqual([live.cpus.length, live.packages, live.cores, live.threadsPerCore], [2, 1, 2, 1]);
      assert.equal(placementClass(live, 0, 1), "shared-l3");
      assert.deepEqual(classes(live), { "same-cpu": [0, 0], "shared-l3": [0, 1] });
      assert.deepEqual(live.numa, [{ id: 0, cpus: [0, 1], distances: [10] }]);
      assert.equal(numaDistance(live, 0, 1), 10);
    },
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Crafted trees

const scratch = mkdtempSync(join(tmpdir(), "fable-topology-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let trees = 0;

type Files = Record<string, string>;

/** Writes files (paths relative to a fresh root) and returns the root. */
function tree(files: Files): string {
  const root = join(scratch, `t${trees++}`);
  mkdirSync(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** A plain 2-core, 1-package machine with private L1/L2 and a shared L3, as a file map. */
function machine(n = 2): Files {
  const files: Files = {};
  for (let c = 0; c < n; c++) {
    const cpu = `cpu/cpu${c}`;
    Object.assign(files, {
      [`${cpu}/topology/physical_package_id`]: "0\n",
      [`${cpu}/topology/die_id`]: "0\n",
      [`${cpu}/topology/core_id`]: `${c}\n`,
      [`${cpu}/topology/thread_siblings_list`]: `${c}\n`,
      [`${cpu}/topology/core_siblings_list`]: `0-${n - 1}\n`,
      [`${cpu}/cache/index0/level`]: "1\n",
      [`${cpu}/cache/index0/type`]: "Data\n",
      [`${cpu}/cache/index0/size`]: "48K\n",
      [`${cpu}/cache/index0/coherency_line_size`]: "64\n",
      [`${cpu}/cache/index0/ways_of_associativity`]: "12\n",
      [`${cpu}/cache/index0/shared_cpu_list`]: `${c}\n`,
      [`${cpu}/cache/index2/level`]: "2\n",
      [`${cpu}/cache/index2/type`]: "Unified\n",
      [`${cpu}/cache/index2/size`]: "2048K\n",
      [`${cpu}/cache/index2/shared_cpu_list`]: `${c}\n`,
      [`${cpu}/cache/index3/level`]: "3\n",
      [`${cpu}/cache/index3/type`]: "Unified\n",
      [`${cpu}/cache/index3/size`]: "30M\n",
      [`${cpu}/cache/index3/shared_cpu_list`]: `0-${n - 1}\n`,
    });
  }
  return files;
}

function readTree(files: Files): Topology {
  const root = tree(files);
  return readTopology({ cpuDir: join(root, "cpu"), nodeDir: join(root, "node") });
}

function assertTopologyError(files: Files, file: string, value: string | null, reason: RegExp): void {
  const root = tree(files);
  assert.throws(
    () => readTopology({ cpuDir: join(root, "cpu"), nodeDir: join(root, "node") }),
    (err: unknown) => {
      assert.ok(err instanceof TopologyError, String(err));
      assert.equal(err.code, "ETOPOLOGY");
      assert.equal(err.path, join(root, file));
      assert.equal(err.value, value);
      assert.match(err.message, reason);
      assert.ok(err.message.includes(join(root, file)), err.message);
      return true;
    },
  );
}

describe("crafted sysfs trees", () => {
  test("a plain tree", () => {
    const t = readTree(machine());
    assert.deepEqual([t.packages, t.dies, t.cores, t.threadsPerCore], [1, 1, 2, 1]);
    assert.equal(placementClass(t, 0, 1), "shared-l3");
    assert.deepEqual(t.caches.at(-1), {
      level: 3,
      type: "unified",
      sizeBytes: 30 * 1024 ** 2,
      lineBytes: null,
      ways: null,
      cpus: [0, 1],
    });
    assert.deepEqual(t.numa, []);
  });

  test("garbage values raise a TopologyError naming the file and the value", () => {
    const at = (path: string, text: string) => ({ ...machine(), [path]: text });
    assertTopologyError(at("cpu/cpu1/topology/core_id", "abc\n"), "cpu/cpu1/topology/core_id", "abc", /decimal/);
    assertTopologyError(
      at("cpu/cpu0/cache/index3/shared_cpu_list", "3-1\n"),
      "cpu/cpu0/cache/index3/shared_cpu_list",
      "3-1",
      /backwards/,
    );
    assertTopologyError(at("cpu/cpu1/cache/index0/size", "48Q\n"), "cpu/cpu1/cache/index0/size", "48Q", /size/);
    assertTopologyError(at("cpu/cpu0/cache/index2/type", "Trace\n"), "cpu/cpu0/cache/index2/type", "Trace", /type/);
    assertTopologyError(at("cpu/cpu1/online", "2\n"), "cpu/cpu1/online", "2", /"0" or "1"/);
    assertTopologyError(
      at("cpu/cpu1/topology/thread_siblings_list", "0\n"),
      "cpu/cpu1/topology/thread_siblings_list",
      "0",
      /do not include cpu1/,
    );
    assertTopologyError(
      at("cpu/cpu1/cache/index2/shared_cpu_list", "0\n"),
      "cpu/cpu1/cache/index2/shared_cpu_list",
      "0",
      /does not list it/,
    );
    assertTopologyError(
      { ...machine(), "node/node0/cpulist": "0-1\n", "node/node0/distance": "10 20\n" },
      "node/node0/distance",
      "10 20",
      /expected 1 distances/,
    );
    assertTopologyError(
      { ...machine(), "node/node0/cpulist": "0-1\n", "node/node1/cpulist": "1\n" },
      "node/node1/cpulist",
      "1",
      /cpu1 is also in node0/,
    );
    assertTopologyError(
      { ...machine(), "node/node0/cpulist": "0-1\n", "node/node0/distance": "10 x\n" },
      "node/node0/distance",
      "10 x",
      /decimal/,
    );
  });

  test("missing files that no kernel omits raise a TopologyError", () => {
    const without = (path: string) => {
      const files = machine();
      delete files[path];
      return files;
    };
    assertTopologyError(without("cpu/cpu1/topology/core_id"), "cpu/cpu1/topology/core_id", null, /missing/);
    assertTopologyError(
      without("cpu/cpu0/topology/thread_siblings_list"),
      "cpu/cpu0/topology/thread_siblings_list",
      null,
      /missing/,
    );
    assertTopologyError(
      without("cpu/cpu0/cache/index3/shared_cpu_list"),
      "cpu/cpu0/cache/index3/shared_cpu_list",
      null,
      /missing/,
    );
    assertTopologyError(without("cpu/cpu1/cache/index0/level"), "cpu/cpu1/cache/index0/level", null, /missing/);
    assertTopologyError({ "cpu/online": "0\n" }, "cpu", null, /no cpuN/);
    assertTopologyError({}, "cpu", null, /no such directory/);
    const noTopology: Files = {};
    for (const [path, text] of Object.entries(machine()))
      if (!path.startsWith("cpu/cpu1/topology/")) noTopology[path] = text;
    assertTopologyError(noTopology, "cpu/cpu1/topology", null, /missing for online cpu1/);
  });

  test("what old kernels and offline CPUs omit is tolerated as documented", () => {
    const files = machine(4);
    for (const path of Object.keys(files)) {
      if (path.endsWith("/die_id") || path.startsWith("cpu/cpu3/")) delete files[path];
      if (path.startsWith("cpu/cpu1/cache/")) delete files[path];
    }
    files["cpu/cpu3/online"] = "0\n"; // unplugged: the kernel removed its topology and cache directories
    files["cpu/cpu2/online"] = "1\n";
    for (const c of [0, 2]) files[`cpu/cpu${c}/cache/index3/shared_cpu_list`] = "0,2\n";
    const t = readTree(files);
    assert.deepEqual(t.cpus[3], { cpu: 3, online: false, package: -1, die: -1, core: -1, smtSiblings: [], node: null });
    assert.equal(t.cpus[2]?.online, true);
    assert.equal(t.cpus[0]?.die, 0);
    assert.deepEqual([t.packages, t.dies, t.cores], [1, 1, 3]);
    // cpu1 has no caches: it shares none with cpu0.
    assert.equal(placementClass(t, 0, 1), "same-package");
    assert.equal(placementClass(t, 0, 2), "shared-l3");
    assert.deepEqual(
      allPairs(t).filter(([a, b]) => a === 3 || b === 3),
      [],
    );
    assert.deepEqual(orderedCpus(t), [0, 2, 1]);
    assert.throws(() => placementClass(t, 0, 3), RangeError);
    assert.throws(() => placementClass(t, 0, 9), /cpu9 is not in this topology/);
  });

  test("shared_cpu_map and *_siblings masks stand in for the lists", () => {
    const files = machine();
    for (const c of [0, 1]) {
      delete files[`cpu/cpu${c}/cache/index3/shared_cpu_list`];
      files[`cpu/cpu${c}/cache/index3/shared_cpu_map`] = "00000000,00000003\n";
      delete files[`cpu/cpu${c}/topology/thread_siblings_list`];
      files[`cpu/cpu${c}/topology/thread_siblings`] = "3\n";
    }
    const t = readTree(files);
    assert.deepEqual(t.cpus[0]?.smtSiblings, [0, 1]);
    assert.equal(t.threadsPerCore, 2);
    assert.equal(placementClass(t, 0, 1), "smt-sibling");
  });

  test("physical_package_id -1 falls back to core_siblings_list groups; die_id -1 is die 0", () => {
    const files = machine(4);
    for (let c = 0; c < 4; c++) {
      files[`cpu/cpu${c}/topology/physical_package_id`] = "-1\n";
      files[`cpu/cpu${c}/topology/die_id`] = "-1\n";
      files[`cpu/cpu${c}/topology/core_siblings_list`] = c < 2 ? "0-1\n" : "2-3\n";
    }
    const t = readTree(files);
    assert.deepEqual(
      t.cpus.map((c) => [c.package, c.die]),
      [
        [0, 0],
        [0, 0],
        [1, 0],
        [1, 0],
      ],
    );
    assert.equal(t.packages, 2);
  });

  test("without a node directory, cpuN/nodeM links give nodes but no distances", () => {
    const root = tree(machine());
    mkdirSync(join(root, "nodes", "node1"), { recursive: true });
    for (const c of [0, 1]) symlinkSync(join(root, "nodes", "node1"), join(root, "cpu", `cpu${c}`, "node1"));
    const t = readTopology({ cpuDir: join(root, "cpu") });
    assert.deepEqual(t.numa, [{ id: 1, cpus: [0, 1], distances: [] }]);
    assert.equal(t.cpus[1]?.node, 1);
    assert.equal(numaDistance(t, 0, 1), null);
  });

  test("a uniprocessor tree without topology files is one CPU of package 0", () => {
    const t = readTree({ "cpu/cpu0/uevent": "" });
    assert.deepEqual(t.cpus, [{ cpu: 0, online: true, package: 0, die: 0, core: 0, smtSiblings: [0], node: null }]);
    assert.deepEqual(classes(t), { "same-cpu": [0, 0] });
  });
});
