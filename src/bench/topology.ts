/**
 * The machine's CPU topology, read from a sysfs tree without privileges, and the placement class of
 * any two CPUs: the words the benchmark, the report and the daemon's selection use to say where two
 * processes sit relative to each other.
 *
 * Sources: `cpuN/online`, `cpuN/topology/*`, `cpuN/cache/indexK/*` under a CPU directory
 * (`/sys/devices/system/cpu` or a copy of it, such as the `logs/sys-cpu` of legacy ipc-bench archives),
 * and `nodeN/{cpulist,distance}` under a node directory, or the `cpuN/nodeM` links when there is none.
 *
 * What is missing is tolerated in these defined ways, and only these:
 * - `cpuN/online` absent: the CPU is online (cpu0 usually cannot be unplugged and has no such file).
 * - `topology/die_id` absent (kernels before 5.2) or -1 (no die information): die 0.
 * - `topology/physical_package_id` absent or -1 (no package information): packages numbered by the order of
 *   their first CPU, from `package_cpus_list` or `core_siblings_list`.
 * - `topology/core_id` -1: the core is numbered by its first CPU.
 * - `topology/` absent for an offline CPU (the kernel removes it): package, die and core are -1, smtSiblings [].
 *   For an online CPU it is an error, except on a one-CPU tree (a uniprocessor kernel): package 0, die 0, core 0.
 * - `cache/` absent: that CPU has no caches. In a cache, `size` absent (the kernel hides a zero size): 0;
 *   `coherency_line_size`, `ways_of_associativity` absent: null.
 * - the node directory absent: CPUs' nodes from `cpuN/nodeM` links, with no distances; no links either: numa [].
 * Any value the kernel would not print, and any other missing file, raises a {@link TopologyError}
 * naming the file and the value read.
 */
import { join } from "node:path";
import {
  SysfsFormatError,
  isDirectory,
  numberedEntries,
  parseCount,
  parseCpuList,
  parseCpuMask,
  parseInteger,
  parseSize,
  readText,
} from "./sysfs.js";

/** Where two CPUs sit relative to each other, nearest first. */
export type PlacementClass = "same-cpu" | "smt-sibling" | "shared-l2" | "shared-l3" | "same-package" | "cross-package";

export const PLACEMENT_CLASSES: readonly PlacementClass[] = Object.freeze([
  "same-cpu",
  "smt-sibling",
  "shared-l2",
  "shared-l3",
  "same-package",
  "cross-package",
] as const);

export interface Cache {
  level: number;
  type: "data" | "instruction" | "unified";
  /** 0 when the kernel does not know it (it then hides the `size` file). */
  sizeBytes: number;
  lineBytes: number | null;
  ways: number | null;
  /** The CPUs sharing this cache, sorted. */
  cpus: number[];
}

export interface Cpu {
  cpu: number;
  online: boolean;
  /** -1 for package, die and core: an offline CPU whose topology the kernel no longer shows. */
  package: number;
  die: number;
  /** The kernel's core_id: unique within a package on most machines, but only within a die on some (AMD Magny-Cours). */
  core: number;
  /** The CPUs of the same core, this one included, as the kernel lists them (online ones only). */
  smtSiblings: number[];
  node: number | null;
}

export interface NumaNode {
  id: number;
  cpus: number[];
  /** Distance to each node, indexed by position in {@link Topology.numa}; [] when the tree has no distances. */
  distances: number[];
}

export interface Topology {
  /** Sorted by cpu number. */
  cpus: Cpu[];
  /** Counts over the online CPUs: packages, dies (over all packages), cores (over all packages). */
  packages: number;
  dies: number;
  cores: number;
  /** The most online CPUs that one core lists as its SMT siblings. */
  threadsPerCore: number;
  /** Each distinct cache once, with the CPUs that share it; sorted by level, type, first CPU. */
  caches: Cache[];
  /** Sorted by node id; [] if the tree has no node information. */
  numa: NumaNode[];
}

export interface TopologySources {
  cpuDir: string;
  nodeDir?: string;
}

export const LIVE_TOPOLOGY_SOURCES: Readonly<TopologySources> = Object.freeze({
  cpuDir: "/sys/devices/system/cpu",
  nodeDir: "/sys/devices/system/node",
});

/** A topology file that could not be read or holds a value the kernel would not print. */
export class TopologyError extends Error {
  readonly code = "ETOPOLOGY";
  override readonly name = "TopologyError";
  constructor(
    /** The file or directory at fault. */
    readonly path: string,
    /** The text read from it, when there was one. */
    readonly value: string | null,
    readonly reason: string,
  ) {
    super(
      `${path}: ${reason}${value === null ? "" : ` (read ${JSON.stringify(value)})`}; ` +
        "readTopology needs a sysfs cpu (and node) directory as the kernel writes it, or a complete copy of one",
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

function read(path: string): string | null {
  try {
    return readText(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new TopologyError(path, null, `cannot be read (${code})`);
  }
}

function parse<T>(path: string, text: string, parser: (text: string) => T): T {
  try {
    return parser(text);
  } catch (err) {
    if (err instanceof SysfsFormatError) throw new TopologyError(path, text, err.reason);
    throw err;
  }
}

function readParsed<T>(path: string, parser: (text: string) => T): T | null {
  const text = read(path);
  return text === null ? null : parse(path, text, parser);
}

/** The first of the files that exists, parsed with its own parser, and its path; null if none does. */
function readFirst<T>(
  dir: string,
  choices: ReadonlyArray<readonly [string, (text: string) => T]>,
): { path: string; value: T } | null {
  for (const [name, parser] of choices) {
    const path = join(dir, name);
    const value = readParsed(path, parser);
    if (value !== null) return { path, value };
  }
  return null;
}

/** Like {@link readFirst}, but a file is required: none of them raises, naming the first. */
function needFirst<T>(
  dir: string,
  choices: ReadonlyArray<readonly [string, (text: string) => T]>,
  who: string,
): { path: string; value: T } {
  const found = readFirst(dir, choices);
  if (found !== null) return found;
  const [first, ...others] = choices.map(([name]) => name);
  throw new TopologyError(join(dir, first ?? ""), null, `missing for ${who}, and so are ${others.join(", ")}`);
}

const CPU_SET_FILES = (list: string, mask: string) =>
  [
    [list, parseCpuList],
    [mask, parseCpuMask],
  ] as const;

function parseOnline(text: string): boolean {
  const t = text.trim();
  if (t === "1") return true;
  if (t === "0") return false;
  throw new SysfsFormatError(text, 'not "0" or "1"');
}

function parseCacheType(text: string): Cache["type"] {
  switch (text.trim()) {
    case "Data":
      return "data";
    case "Instruction":
      return "instruction";
    case "Unified":
      return "unified";
    default:
      throw new SysfsFormatError(text, 'not a cache type ("Data", "Instruction" or "Unified")');
  }
}

function parseDistances(text: string): number[] {
  const t = text.trim();
  if (t === "") throw new SysfsFormatError(text, "no distances");
  return t.split(/\s+/).map(parseCount);
}

interface RawTopology {
  package: number | null;
  packageCpus: number[] | null;
  die: number;
  core: number;
  siblings: number[];
}

function readCpuTopology(dir: string, cpu: number, online: boolean): RawTopology {
  const need = <T>(name: string, value: T | null): T => {
    if (value === null) throw new TopologyError(join(dir, name), null, `missing for cpu${cpu}`);
    return value;
  };
  const listed = needFirst(
    dir,
    [...CPU_SET_FILES("thread_siblings_list", "thread_siblings"), ...CPU_SET_FILES("core_cpus_list", "core_cpus")],
    `cpu${cpu}`,
  );
  let siblings = listed.value;
  // An offline CPU's lists may leave it out (or be empty): it is still its own core's member.
  if (!online && !siblings.includes(cpu)) siblings = [...siblings, cpu].sort((a, b) => a - b);
  if (!siblings.includes(cpu)) {
    throw new TopologyError(listed.path, siblings.join(","), `cpu${cpu}'s own SMT siblings do not include cpu${cpu}`);
  }
  const core = need("core_id", readParsed(join(dir, "core_id"), parseInteger));
  return {
    package: readParsed(join(dir, "physical_package_id"), parseInteger),
    packageCpus:
      readFirst(dir, [
        ...CPU_SET_FILES("package_cpus_list", "package_cpus"),
        ...CPU_SET_FILES("core_siblings_list", "core_siblings"),
      ])?.value ?? null,
    // Kernels without die information print -1 (arm64) or have no die_id (before 5.2): one die per package.
    die: Math.max(0, readParsed(join(dir, "die_id"), parseInteger) ?? 0),
    core: core >= 0 ? core : Math.min(...siblings),
    siblings,
  };
}

interface RawCache extends Cache {
  /** Position among this CPU's caches of the same level and type: tells apart two caches that look alike. */
  ordinal: number;
}

function readCpuCaches(dir: string, cpu: number): RawCache[] {
  const indexes = numberedEntries(dir, "index");
  if (indexes === null) return [];
  const caches: RawCache[] = [];
  for (const k of indexes) {
    const idx = join(dir, `index${k}`);
    const need = <T>(name: string, value: T | null): T => {
      if (value === null) throw new TopologyError(join(idx, name), null, `missing for cpu${cpu}`);
      return value;
    };
    const level = need("level", readParsed(join(idx, "level"), parseCount));
    const type = need("type", readParsed(join(idx, "type"), parseCacheType));
    const shared = needFirst(idx, CPU_SET_FILES("shared_cpu_list", "shared_cpu_map"), `cpu${cpu}`);
    const cpus = shared.value;
    if (!cpus.includes(cpu)) {
      throw new TopologyError(shared.path, cpus.join(","), `cpu${cpu}'s own cache does not list it`);
    }
    caches.push({
      level,
      type,
      sizeBytes: readParsed(join(idx, "size"), parseSize) ?? 0,
      lineBytes: readParsed(join(idx, "coherency_line_size"), parseCount),
      ways: readParsed(join(idx, "ways_of_associativity"), parseCount),
      cpus,
      ordinal: caches.filter((c) => c.level === level && c.type === type).length,
    });
  }
  return caches;
}

const TYPE_ORDER: Readonly<Record<Cache["type"], number>> = { data: 0, instruction: 1, unified: 2 };

function distinctCaches(perCpu: RawCache[][]): Cache[] {
  const byKey = new Map<string, Cache>();
  for (const caches of perCpu) {
    for (const { ordinal, ...cache } of caches) {
      const key = [cache.level, cache.type, ordinal, cache.sizeBytes, cache.cpus.join(",")].join("/");
      if (!byKey.has(key)) byKey.set(key, cache);
    }
  }
  return [...byKey.values()].sort(
    (a, b) => a.level - b.level || TYPE_ORDER[a.type] - TYPE_ORDER[b.type] || (a.cpus[0] ?? 0) - (b.cpus[0] ?? 0),
  );
}

function readNuma(
  nodeDir: string | undefined,
  cpuDir: string,
  cpuNumbers: number[],
): { numa: NumaNode[]; nodeOf: Map<number, number> } {
  const nodeOf = new Map<number, number>();
  const ids = nodeDir === undefined ? null : numberedEntries(nodeDir, "node");
  if (nodeDir !== undefined && ids !== null) {
    const numa: NumaNode[] = [];
    for (const id of ids) {
      const dir = join(nodeDir, `node${id}`);
      const cpus = needFirst(dir, CPU_SET_FILES("cpulist", "cpumap"), `node${id}`).value;
      for (const cpu of cpus) {
        const other = nodeOf.get(cpu);
        if (other !== undefined) {
          throw new TopologyError(join(dir, "cpulist"), cpus.join(","), `cpu${cpu} is also in node${other}`);
        }
        nodeOf.set(cpu, id);
      }
      numa.push({ id, cpus, distances: readParsed(join(dir, "distance"), parseDistances) ?? [] });
    }
    const withDistances = numa.filter((n) => n.distances.length > 0).length;
    for (const node of numa) {
      if (withDistances > 0 && node.distances.length !== numa.length) {
        const path = join(nodeDir, `node${node.id}`, "distance");
        throw new TopologyError(path, node.distances.join(" "), `expected ${numa.length} distances, one per node`);
      }
    }
    return { numa, nodeOf };
  }
  // No node directory: the cpuN/nodeM links, which give membership but no distances.
  const members = new Map<number, number[]>();
  for (const cpu of cpuNumbers) {
    const dir = join(cpuDir, `cpu${cpu}`);
    const links = numberedEntries(dir, "node") ?? [];
    if (links.length > 1)
      throw new TopologyError(dir, links.map((n) => `node${n}`).join(" "), "links to several nodes");
    const id = links[0];
    if (id === undefined) continue;
    nodeOf.set(cpu, id);
    members.set(id, [...(members.get(id) ?? []), cpu]);
  }
  const numa = [...members.entries()].sort(([a], [b]) => a - b).map(([id, cpus]) => ({ id, cpus, distances: [] }));
  return { numa, nodeOf };
}

/**
 * Reads the topology from a sysfs CPU directory (and node directory); by default the live one.
 * Throws {@link TopologyError} for a tree it cannot trust (see the module comment for what is tolerated).
 */
export function readTopology(src: TopologySources = LIVE_TOPOLOGY_SOURCES): Topology {
  const cpuNumbers = numberedEntries(src.cpuDir, "cpu");
  if (cpuNumbers === null) throw new TopologyError(src.cpuDir, null, "no such directory");
  if (cpuNumbers.length === 0) throw new TopologyError(src.cpuDir, null, "holds no cpuN directories");

  const raw = cpuNumbers.map((cpu) => {
    const dir = join(src.cpuDir, `cpu${cpu}`);
    const online = readParsed(join(dir, "online"), parseOnline) ?? true;
    const topoDir = join(dir, "topology");
    let topology: RawTopology | null = null;
    if (isDirectory(topoDir)) topology = readCpuTopology(topoDir, cpu, online);
    else if (online && cpuNumbers.length > 1) throw new TopologyError(topoDir, null, `missing for online cpu${cpu}`);
    else if (online) topology = { package: 0, packageCpus: null, die: 0, core: 0, siblings: [cpu] };
    return { cpu, online, topology, caches: readCpuCaches(join(dir, "cache"), cpu) };
  });

  // Packages by id; without physical_package_id, numbered by the order of their first CPU.
  const packageOfGroup = new Map<string, number>();
  const packageOf = (r: (typeof raw)[number]): number => {
    const t = r.topology;
    if (t === null) return -1;
    if (t.package !== null && t.package >= 0) return t.package;
    if (t.packageCpus === null) {
      throw new TopologyError(join(src.cpuDir, `cpu${r.cpu}`, "topology", "physical_package_id"), null, "missing");
    }
    const key = t.packageCpus.join(",");
    if (!packageOfGroup.has(key)) packageOfGroup.set(key, packageOfGroup.size);
    return packageOfGroup.get(key) ?? -1;
  };

  const { numa, nodeOf } = readNuma(src.nodeDir, src.cpuDir, cpuNumbers);
  const cpus: Cpu[] = raw.map((r) => ({
    cpu: r.cpu,
    online: r.online,
    package: packageOf(r),
    die: r.topology?.die ?? -1,
    core: r.topology?.core ?? -1,
    smtSiblings: r.topology?.siblings ?? [],
    node: nodeOf.get(r.cpu) ?? null,
  }));

  const known = cpus.filter((c) => c.online);
  const distinct = (keys: string[]) => new Set(keys).size;
  return {
    cpus,
    packages: distinct(known.map((c) => `${c.package}`)),
    dies: distinct(known.map((c) => `${c.package}/${c.die}`)),
    cores: distinct(known.map((c) => c.smtSiblings.join(","))),
    threadsPerCore: Math.max(1, ...known.map((c) => c.smtSiblings.length)),
    caches: distinctCaches(raw.map((r) => r.caches)),
    numa,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Questions about a topology

interface Index {
  byCpu: Map<number, Cpu>;
  /** Per CPU, the data and unified caches holding it, as sets, nearest level first. */
  cachesOf: Map<number, { level: number; cpus: Set<number> }[]>;
  nodePosition: Map<number, number>;
}

const indexes = new WeakMap<Topology, Index>();

function indexOf(t: Topology): Index {
  let index = indexes.get(t);
  if (index === undefined) {
    const cachesOf = new Map<number, { level: number; cpus: Set<number> }[]>();
    for (const cache of t.caches) {
      if (cache.type === "instruction") continue;
      const entry = { level: cache.level, cpus: new Set(cache.cpus) };
      for (const cpu of cache.cpus) cachesOf.set(cpu, [...(cachesOf.get(cpu) ?? []), entry]);
    }
    for (const list of cachesOf.values()) list.sort((a, b) => a.level - b.level);
    index = {
      byCpu: new Map(t.cpus.map((c) => [c.cpu, c])),
      cachesOf,
      nodePosition: new Map(t.numa.map((n, i) => [n.id, i])),
    };
    indexes.set(t, index);
  }
  return index;
}

function cpuOf(t: Topology, cpu: number): Cpu {
  const c = indexOf(t).byCpu.get(cpu);
  if (c === undefined) {
    throw new RangeError(`cpu${cpu} is not in this topology (cpus ${t.cpus.map((x) => x.cpu).join(",")})`);
  }
  return c;
}

/**
 * The placement class of two CPUs: the same CPU; SMT siblings of one core; sharing a level-1 or level-2
 * data or unified cache; sharing a higher-level one; in the same package; else in different packages.
 * Symmetric. Throws RangeError for a CPU that is not in the topology, or offline with unknown topology.
 */
export function placementClass(t: Topology, a: number, b: number): PlacementClass {
  const ca = cpuOf(t, a);
  const cb = cpuOf(t, b);
  if (a === b) return "same-cpu";
  for (const c of [ca, cb]) {
    if (c.smtSiblings.length === 0) throw new RangeError(`cpu${c.cpu} is offline and its topology is unknown`);
  }
  if (ca.smtSiblings.includes(b) || cb.smtSiblings.includes(a)) return "smt-sibling";
  const shared = (indexOf(t).cachesOf.get(a) ?? []).find((cache) => cache.cpus.has(b));
  if (shared !== undefined) return shared.level <= 2 ? "shared-l2" : "shared-l3";
  return ca.package === cb.package ? "same-package" : "cross-package";
}

/** The NUMA distance between the nodes of two CPUs (10 within a node), or null when unknown. */
export function numaDistance(t: Topology, a: number, b: number): number | null {
  const { nodePosition } = indexOf(t);
  const na = cpuOf(t, a).node;
  const nb = cpuOf(t, b).node;
  if (na === null || nb === null) return null;
  const pb = nodePosition.get(nb);
  const row = t.numa[nodePosition.get(na) ?? -1]?.distances;
  return pb === undefined ? null : (row?.[pb] ?? null);
}

function onlineCpus(t: Topology): number[] {
  return t.cpus.filter((c) => c.online && c.smtSiblings.length > 0).map((c) => c.cpu);
}

/**
 * One pair of online CPUs for each placement class the machine has (same-cpu included), in
 * {@link PLACEMENT_CLASSES} order; each is the first pair [a, b], a <= b, in order of CPU numbers.
 */
export function representativePairs(t: Topology): Map<PlacementClass, [number, number]> {
  const found = new Map<PlacementClass, [number, number]>();
  const cpus = onlineCpus(t);
  for (const [i, a] of cpus.entries()) {
    for (const b of cpus.slice(i)) {
      const cls = placementClass(t, a, b);
      if (!found.has(cls)) found.set(cls, [a, b]);
    }
  }
  return new Map(PLACEMENT_CLASSES.flatMap((cls) => (found.has(cls) ? [[cls, found.get(cls) ?? [0, 0]]] : [])));
}

/** Every ordered pair of online CPUs, the diagonal included, by first then second CPU number. */
export function allPairs(t: Topology): [number, number][] {
  const cpus = onlineCpus(t);
  return cpus.flatMap((a) => cpus.map((b): [number, number] => [a, b]));
}

/**
 * The online CPUs in heatmap axis order: package > die > last-level cache > core > SMT sibling, so that
 * CPUs sharing more sit next to each other. The cache level is there because some kernels number cores
 * only within a die without reporting dies (AMD Magny-Cours: two dies per package, each with its L3).
 */
export function orderedCpus(t: Topology): number[] {
  const { cachesOf } = indexOf(t);
  const key = (cpu: number): number[] => {
    const c = cpuOf(t, cpu);
    const llc = (cachesOf.get(cpu) ?? []).at(-1);
    const llcFirst = llc === undefined ? cpu : Math.min(...llc.cpus);
    return [c.package, c.die, llcFirst, c.core, Math.min(...c.smtSiblings), cpu];
  };
  const keys = new Map(onlineCpus(t).map((cpu) => [cpu, key(cpu)]));
  const compare = (x: number[], y: number[]): number => {
    for (let i = 0; i < x.length; i++) {
      const d = (x[i] ?? 0) - (y[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  };
  return [...keys.keys()].sort((a, b) => compare(keys.get(a) ?? [], keys.get(b) ?? []));
}
