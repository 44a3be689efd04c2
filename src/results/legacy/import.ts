/**
 * Legacy import: the original ipc-bench's results (2012-2016) converted into fable result documents,
 * marked legacy (suite "ipc-bench", measurements in `legacy.runs`), through the same allow-list as a
 * `fable bench` result. Two sources (format in the legacy data's PROVENANCE.md):
 *
 * - a contributed archive, `tmpXXXXXX.tar.gz` (or the directory it extracts to): one machine, one run. It is
 *   read in memory; only its sysfs copy is written out (to a private temporary directory, with every path
 *   component checked) because the topology reader reads directories.
 * - the paper's `resolve/` directory: latency matrices and throughput logs of one 48-core AMD Opteron 6168
 *   machine, native and under Xen with and without pinned vCPUs. It holds no machine description; see
 *   {@link RESOLVE_MACHINES} for where that comes from.
 *
 * What is kept, and nothing else: the CPU identity from cpuinfo (`parseCpuinfo`: vendor, model, family,
 * model, stepping, allow-listed flags), the topology from the sysfs copy, the kernel release and the
 * architecture from uname, the hypervisor from the cpuinfo flag or the vendor named in dmesg_virt, MemTotal
 * rounded. Never hostnames, user names (tar headers hold some), raw dmesg or raw cpuinfo.
 *
 * Figures: latency in round-trip ns (the original mempipe_lat timed two round trips per iteration: halved),
 * from the per-pair `-tsc.log` statistics where present (full precision: min, 5%, median, 95%, max, mean,
 * sd), else from the matrix CSV (a mean per iteration printed with 1 us resolution); throughput in payload
 * bytes per second (the original printed megabits per second: x 10^6 / 8).
 *
 * The machine id is derived from the content's SHA-256 (never from anything in it), so importing the same
 * archive twice gives the same documents, byte for byte.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative, sep } from "node:path";
import { parseCpuinfo, type Environment } from "../../bench/environment.js";
import { FableError } from "../../errors.js";
import { hardwareKey } from "../../bench/machine.js";
import type { LegacySource, RecordedEnvironment, ResultFile, RunLegacy } from "../../bench/result.js";
import { RESULT_SCHEMA_VERSION } from "../../bench/result.js";
import { summarize } from "../../bench/statistics.js";
import { numaDistance, placementClass, readTopology, type Topology } from "../../bench/topology.js";
import { sha256 } from "../canonical.js";
import { findOriginalTest, LEGACY_CONVERSIONS, type OriginalTest } from "../methods.js";
import {
  isText,
  memoryGiB,
  nodeArch,
  parseLatencyHeadline,
  parseMatrix,
  parseThroughputLog,
  parseTscLog,
  parseUname,
  type ThroughputLine,
  virtualization,
} from "./parse.js";
import { ARCHIVE_LIMITS, ArchiveError, readTarGz } from "./tar.js";

/** An archive or directory that cannot be converted; the message says why. */
export class LegacyImportError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("ELEGACY", message, options);
  }
}

/** The files of one run, by path relative to the run's root ("logs/uname"), with modification times. */
type Tree = Map<string, { data: Buffer; mtimeMs: number }>;

export interface LegacyDocument {
  doc: ResultFile;
  /** A name for messages: the archive and, for resolve/, the variant. */
  source: string;
}

export interface LegacyImport {
  docs: LegacyDocument[];
  /** Files left out and why (nothing is left out silently). */
  notes: string[];
}

const CONVERSION = LEGACY_CONVERSIONS[LEGACY_CONVERSIONS.length - 1] ?? "1.0.0";
/** The version fable gives the contributed self-test (results/*.tar.gz); see methods.ts. */
const CONTRIBUTED_SUITE = "0.2.0";
/** The version fable gives the code behind the paper's data (resolve/). */
const PAPER_SUITE = "0.1.0";
/** One megabit per second, in bytes per second: the quantum of the original's throughput figures. */
const MBPS = 1e6 / 8;

function text(tree: Tree, path: string): string | null {
  const file = tree.get(path);
  return file === undefined ? null : file.data.toString("utf8");
}

function need(tree: Tree, path: string, what: string): string {
  const t = text(tree, path);
  if (t === null) throw new LegacyImportError(`${what}: no ${path}, so the machine cannot be described`);
  return t;
}

// ---------------------------------------------------------------------------------------------------------------
// The machine

interface LegacyMachine {
  arch: string;
  topology: Topology;
  environment: RecordedEnvironment;
  hardwareKey: string;
}

const SAFE_COMPONENT = /^[A-Za-z0-9_,][A-Za-z0-9_.,-]{0,63}$/;

/** Writes the sysfs copy to a private temporary directory and reads the topology from it. */
function topologyOf(tree: Tree, what: string): Topology {
  const dir = mkdtempSync(join(tmpdir(), "fable-legacy-sysfs-"));
  try {
    let files = 0;
    for (const [path, { data }] of tree) {
      if (!path.startsWith("logs/sys-cpu/") && !path.startsWith("logs/sys-node/")) continue;
      const parts = path.split("/").slice(1);
      if (!parts.every((p) => SAFE_COMPONENT.test(p))) {
        throw new LegacyImportError(`${what}: ${JSON.stringify(path)} is not a sysfs file name`);
      }
      mkdirSync(join(dir, ...parts.slice(0, -1)), { recursive: true });
      writeFileSync(join(dir, ...parts), data, { mode: 0o600 });
      files++;
    }
    if (files === 0) throw new LegacyImportError(`${what}: no logs/sys-cpu copy, so the topology is unknown`);
    const cpuDir = join(dir, "sys-cpu");
    const nodeDir = join(dir, "sys-node");
    try {
      return readTopology({ cpuDir, ...(isDirectory(nodeDir) ? { nodeDir } : {}) });
    } catch (cause) {
      const reason = (cause as Error).message.replaceAll(dir + sep, "logs/");
      throw new LegacyImportError(`${what}: its sysfs copy does not describe a topology: ${reason}`, { cause });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function machineFromLogs(tree: Tree, what: string): LegacyMachine {
  const uname = parseUname(need(tree, "logs/uname", what));
  const arch = nodeArch(uname.machine);
  const cpu = parseCpuinfo(need(tree, "logs/cpuinfo", what));
  const topology = topologyOf(tree, what);
  const environment: RecordedEnvironment = {
    virtualization: virtualization(cpu.flags.includes("hypervisor"), text(tree, "logs/dmesg_virt") ?? ""),
    container: null,
    kernel: { release: uname.release },
    os: { id: null, versionId: null },
    cpu,
    memoryGiB: memoryGiB(text(tree, "logs/meminfo") ?? ""),
    governor: null,
    smt: null,
    clocksource: null,
    runtime: { node: null, v8: null, uv: null },
  };
  // The hardware key is made of CPU identity, topology and memory only; the runtime does not enter it.
  const forKey: Environment = { ...environment, runtime: { node: "", v8: "", uv: "" } };
  return { arch, topology, environment, hardwareKey: hardwareKey(arch, topology, forKey) };
}

function machineIdOf(contentSha256: string, environment: string): string {
  return sha256(`fable legacy machine\n${contentSha256}\n${environment}`).slice(0, 32);
}

// ---------------------------------------------------------------------------------------------------------------
// Runs

function onlineCpus(t: Topology): number[] {
  return t.cpus.filter((c) => c.online && c.smtSiblings.length > 0).map((c) => c.cpu);
}

function placed(t: Topology, a: number, b: number, what: string): Pick<RunLegacy, "placement" | "numaDistance"> {
  try {
    return { placement: placementClass(t, a, b), numaDistance: numaDistance(t, a, b) };
  } catch (cause) {
    throw new LegacyImportError(`${what}: cpus ${a} and ${b}: ${(cause as Error).message}`, { cause });
  }
}

/** Seconds as printed (7 significant digits in the tsc logs) to ns, without float noise. */
function secondsToNs(s: number): number {
  return Number((s * 1e9).toPrecision(9));
}

interface LatencyInput {
  test: OriginalTest;
  matrix: number[][] | null;
  /** Per pair "a-b": the per-pair headline and tsc statistics, when the run kept them. */
  pairs: Map<string, { count?: number; seconds?: number; tsc?: ReturnType<typeof parseTscLog> }>;
  size: number;
  sizeStated: boolean;
}

function latencyRuns(input: LatencyInput, topology: Topology, what: string): RunLegacy[] {
  const { test, matrix } = input;
  const cpus = onlineCpus(topology);
  const n = matrix?.length ?? cpus.length;
  if (n !== cpus.length || cpus.some((c, i) => c !== i)) {
    throw new LegacyImportError(
      `${what}: the ${test.name} matrix is ${n} x ${n} but the machine has ${cpus.length} online CPUs (${cpus.join(",")}); rows and columns cannot be matched to CPUs`,
    );
  }
  const perIteration = test.roundTripsPerIteration ?? 1;
  const runs: RunLegacy[] = [];
  for (const a of cpus) {
    for (const b of cpus) {
      const pair = input.pairs.get(`${a}-${b}`);
      const mechanism = typeof test.mechanism === "string" ? test.mechanism : test.mechanism.safe;
      const base = {
        mechanism,
        mode: "latency" as const,
        size: input.size,
        cpus: [a, b] as [number, number],
        ...placed(topology, a, b, what),
        unit: "ns" as const,
        flags: test.spins && a === b ? ["spin-on-shared-cpu" as const] : [],
        params: {
          test: test.name,
          ...(pair?.count !== undefined ? { iterations: pair.count } : {}),
          roundTripsPerIteration: perIteration,
          ...(input.sizeStated ? {} : { sizeStated: false }),
        },
      };
      const tsc = pair?.tsc;
      if (tsc !== undefined) {
        const ns = (s: number) => secondsToNs(s) / perIteration;
        runs.push({
          ...base,
          stats: {
            ...(pair?.count !== undefined ? { n: pair.count } : {}),
            min: ns(tsc.min),
            p5: ns(tsc.p5),
            p50: ns(tsc.p50),
            p95: ns(tsc.p95),
            max: ns(tsc.max),
            mean: ns(tsc.mean),
            stddev: ns(tsc.stddev),
          },
          source: "tsc-log",
          resolution: null,
        });
        continue;
      }
      const seconds = matrix?.[a]?.[b] ?? pair?.seconds;
      if (seconds === undefined) throw new LegacyImportError(`${what}: ${test.name} has no figure for cpus ${a}-${b}`);
      // Printed with 6 decimals: whole microseconds.
      const mean = (Math.round(seconds * 1e6) * 1000) / perIteration;
      runs.push({
        ...base,
        stats: { ...(pair?.count !== undefined ? { n: pair.count } : {}), mean },
        source: "matrix",
        resolution: 1000 / perIteration,
      });
    }
  }
  return runs;
}

interface ThroughputFile {
  /** The test the file is named after. */
  test: OriginalTest;
  path: string;
  lines: ThroughputLine[];
}

/**
 * Attributes each throughput line to a test, and merges repetitions. A log is split into blocks, a new block
 * starting where a (pair, node, size, mode) comes again:
 * - blocks that repeat the same sequence are repeated runs appended to one log (the paper's numa-native
 *   logs hold five): one run each, with the statistics of its repetitions;
 * - in the paper's data the mempipe_spin_thr binary printed "mempipe_thr": in a file named mempipe_spin_thr
 *   that label is accepted, and a mempipe_thr log with no mempipe_spin_thr log beside it whose second block
 *   has the same tests without the same-CPU pairs is mempipe_thr then mempipe_spin_thr (the paper's tables of
 *   repeated runs show exactly these second blocks under mempipe_spin_thr; a test checks it).
 * Anything else measured twice is an error: fable would not know which figure to keep.
 */
function attribute(
  files: ThroughputFile[],
  what: string,
  notes: string[],
): { test: OriginalTest; line: ThroughputLine }[] {
  const out: { test: OriginalTest; line: ThroughputLine }[] = [];
  const hasSpinFile = files.some((f) => f.test.name === "mempipe_spin_thr");
  const spin = findOriginalTest("mempipe_spin_thr");
  const keyOf = (l: ThroughputLine) => `${l.cpus.join("-")}|${l.memNode}|${l.size}|${l.writeInPlace}|${l.readInPlace}`;
  for (const file of files) {
    for (const line of file.lines) {
      if (line.label !== file.test.name && !(file.test.name === "mempipe_spin_thr" && line.label === "mempipe_thr")) {
        throw new LegacyImportError(`${what}: ${file.path} holds a line of "${line.label}", not ${file.test.name}`);
      }
    }
    const blocks: ThroughputLine[][] = [];
    let seen = new Set<string>();
    for (const line of file.lines) {
      const key = keyOf(line);
      if (blocks.length === 0 || seen.has(key)) {
        blocks.push([]);
        seen = new Set();
      }
      seen.add(key);
      blocks.at(-1)?.push(line);
    }
    const [first = [], second = []] = blocks;
    const sequence = (b: ThroughputLine[]) => b.map(keyOf).join(" ");
    if (blocks.length <= 1) {
      out.push(...first.map((line) => ({ test: file.test, line })));
    } else if (blocks.every((b) => sequence(b) === sequence(first))) {
      notes.push(
        `${what}: ${file.path}: ${blocks.length} repetitions of the same ${first.length} tests; each test's figures are merged`,
      );
      first.forEach((line, i) => {
        out.push({ test: file.test, line: { ...line, mbps: blocks.flatMap((b) => b[i]?.mbps ?? []) } });
      });
    } else if (
      blocks.length === 2 &&
      file.test.name === "mempipe_thr" &&
      !hasSpinFile &&
      spin !== undefined &&
      sequence(second) === sequence(first.filter((l) => l.cpus[0] !== l.cpus[1]))
    ) {
      notes.push(
        `${what}: ${file.path}: the ${second.length} lines after the first ${first.length} are mempipe_spin_thr's, appended under the label mempipe_thr`,
      );
      out.push(...first.map((line) => ({ test: file.test, line })), ...second.map((line) => ({ test: spin, line })));
    } else {
      const line = blocks[1]?.[0];
      throw new LegacyImportError(
        `${what}: ${file.path} measures cpus ${line?.cpus.join("-")} at ${line?.size} B more than once, and not as repeated runs`,
      );
    }
  }
  return out;
}

function throughputRuns(files: ThroughputFile[], topology: Topology, what: string, notes: string[]): RunLegacy[] {
  return attribute(files, what, notes).map(({ test, line }) => {
    const [a, b] = line.cpus;
    const mechanism =
      typeof test.mechanism === "string"
        ? test.mechanism
        : line.readInPlace
          ? test.mechanism.unsafe
          : test.mechanism.safe;
    const bps = line.mbps.map((v) => v * MBPS);
    let stats: RunLegacy["stats"];
    if (bps.length === 1) {
      stats = { mean: bps[0] ?? 0 };
    } else {
      const s = summarize(bps);
      stats = { n: s.n, min: s.min, p50: s.p50, max: s.max, mean: s.mean, stddev: s.stddev };
    }
    return {
      mechanism,
      mode: "throughput" as const,
      size: line.size,
      cpus: [a, b],
      ...placed(topology, a, b, what),
      unit: "B/s" as const,
      stats,
      source: bps.length === 1 ? ("headline" as const) : ("repeated-headlines" as const),
      resolution: MBPS,
      flags: test.spins && a === b ? ["spin-on-shared-cpu" as const] : [],
      params: {
        test: test.name,
        count: line.count,
        produceMethod: line.produceMethod,
        writeInPlace: line.writeInPlace,
        readInPlace: line.readInPlace,
        verify: line.verify,
        ...(line.memNode !== null ? { memNode: line.memNode } : {}),
      },
    };
  });
}

/** Reads the throughput logs of one directory of a tree ("results/" of an archive, or a resolve dir). */
function throughputFiles(entries: { path: string; data: Buffer }[], what: string, notes: string[]): ThroughputFile[] {
  const files: ThroughputFile[] = [];
  for (const { path, data } of entries) {
    const m = /(?:^|\/)\d+-([a-z_]+)-headline\.log$/.exec(path);
    if (m?.[1] === undefined) continue;
    if (!isText(data)) {
      notes.push(`${what}: ${path}: not text (a binary file saved under a log's name); skipped`);
      continue;
    }
    const test = findOriginalTest(m[1]);
    if (test === undefined || test.mode !== "throughput") {
      notes.push(`${what}: ${path}: "${m[1]}" is not a throughput test fable knows; skipped`);
      continue;
    }
    files.push({ test, path, lines: parseThroughputLog(data.toString("utf8"), `${what}: ${path}`) });
  }
  return files.sort((x, y) => (x.path < y.path ? -1 : 1));
}

// ---------------------------------------------------------------------------------------------------------------
// Documents

function compareRuns(x: RunLegacy, y: RunLegacy): number {
  const key = (r: RunLegacy): (string | number)[] => [
    r.mode,
    r.mechanism,
    r.size,
    r.cpus[0],
    r.cpus[1],
    typeof r.params["memNode"] === "number" ? r.params["memNode"] : -1,
  ];
  const kx = key(x);
  const ky = key(y);
  for (let i = 0; i < kx.length; i++) {
    const a = kx[i] ?? 0;
    const b = ky[i] ?? 0;
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

interface Assembly {
  suiteVersion: string;
  machine: LegacyMachine;
  machineId: string;
  createdAt: string;
  source: Omit<LegacySource, "source" | "conversion" | "originalTests" | "runs">;
  runs: RunLegacy[];
}

function assemble(a: Assembly): ResultFile {
  const runs = [...a.runs].sort(compareRuns);
  const benchmarks: ResultFile["benchmarks"] = {};
  for (const r of runs) benchmarks[r.mechanism] ??= { method: a.suiteVersion, probe: "ipc-bench" };
  const modes = (["latency", "throughput"] as const).filter((m) => runs.some((r) => r.mode === m));
  const tests = [...new Set(runs.map((r) => String(r.params["test"])))].sort();
  return {
    schema: RESULT_SCHEMA_VERSION,
    createdAt: a.createdAt,
    suite: { name: "ipc-bench", version: a.suiteVersion, commit: null, dirty: null, engine: null },
    machine: {
      id: a.machineId,
      hardwareKey: a.machine.hardwareKey,
      arch: a.machine.arch,
      topology: a.machine.topology,
      environment: a.machine.environment,
    },
    // The original ran every pair for latency and chosen pairs for throughput, fixed iteration counts.
    config: {
      quick: false,
      budgetMs: null,
      warmupMs: null,
      pairs: modes.includes("throughput") ? "custom" : "all",
      sizes: [...new Set(runs.map((r) => r.size))].sort((x, y) => x - y),
      modes: [...modes],
    },
    benchmarks,
    runs: [],
    legacy: { source: "ipc-bench", ...a.source, conversion: CONVERSION, originalTests: tests, runs },
  };
}

/** The name of a file or directory as a `legacy.archive` value. */
function archiveName(path: string): string {
  const name = basename(path);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new LegacyImportError(`${path}: the name "${name}" has characters a result may not hold; rename it`);
  }
  return name;
}

/** Converts one contributed run (its files by path relative to the run's root). */
function convertRun(tree: Tree, archive: string, contentSha256: string, notes: string[]): LegacyDocument {
  const what = archive;
  const machine = machineFromLogs(tree, what);

  // Latency: lat/<test>.csv, and per pair lat/<size>/<a>-<b>-<test>/NN-<test>-{headline,tsc}.log.
  const latency = new Map<string, LatencyInput>();
  const inputOf = (test: OriginalTest): LatencyInput => {
    let input = latency.get(test.name);
    if (input === undefined) {
      input = { test, matrix: null, pairs: new Map(), size: 0, sizeStated: true };
      latency.set(test.name, input);
    }
    return input;
  };
  for (const [path, { data }] of tree) {
    const csv = /^results\/lat\/([a-z_]+)\.csv$/.exec(path);
    if (csv?.[1] !== undefined) {
      const test = findOriginalTest(csv[1]);
      if (test?.mode !== "latency") {
        notes.push(`${what}: ${path}: "${csv[1]}" is not a latency test fable knows; skipped`);
        continue;
      }
      inputOf(test).matrix = parseMatrix(data.toString("utf8"), `${what}: ${path}`);
      continue;
    }
    const pair = /^results\/lat\/(\d+)\/(\d+)-(\d+)-([a-z_]+)\/\d+-([a-z_]+)-(headline|tsc)\.log$/.exec(path);
    if (pair === null) continue;
    const [, size, a, b, dirTest, fileTest, kind] = pair;
    const test = findOriginalTest(dirTest ?? "");
    if (test?.mode !== "latency" || fileTest !== dirTest) {
      notes.push(`${what}: ${path}: not a latency log fable knows; skipped`);
      continue;
    }
    const input = inputOf(test);
    if (input.size !== 0 && input.size !== Number(size)) {
      throw new LegacyImportError(
        `${what}: ${test.name} was run at ${input.size} B and ${size} B; fable keeps one size`,
      );
    }
    input.size = Number(size);
    const entry = input.pairs.get(`${a}-${b}`) ?? {};
    if (kind === "tsc") {
      entry.tsc = parseTscLog(data.toString("utf8"), `${what}: ${path}`);
    } else {
      const h = parseLatencyHeadline(data.toString("utf8"), `${what}: ${path}`);
      entry.count = h.count;
      entry.seconds = h.seconds;
    }
    input.pairs.set(`${a}-${b}`, entry);
  }
  const runs: RunLegacy[] = [];
  if (latency.size === 0) notes.push(`${what}: no latency matrix or per-pair latency log: converted throughput only`);
  for (const input of latency.values()) {
    if (input.size === 0)
      throw new LegacyImportError(`${what}: no per-pair logs say at which size ${input.test.name} ran`);
    runs.push(...latencyRuns(input, machine.topology, what));
  }

  const thrEntries = [...tree]
    .filter(([path]) => /^results\/[^/]+-headline\.log$/.test(path))
    .map(([path, { data }]) => ({ path, data }));
  runs.push(...throughputRuns(throughputFiles(thrEntries, what, notes), machine.topology, what, notes));
  if (runs.length === 0) throw new LegacyImportError(`${what}: holds no latency matrix and no throughput log`);

  // The run ended when its last result was written.
  const last = Math.max(...[...tree].filter(([p]) => p.startsWith("results/")).map(([, f]) => f.mtimeMs));
  return {
    source: archive,
    doc: assemble({
      suiteVersion: CONTRIBUTED_SUITE,
      machine,
      machineId: machineIdOf(contentSha256, ""),
      createdAt: isoSeconds(last),
      source: { archive, variant: null, contentSha256, machineFrom: null, dateFrom: "archive-mtime" },
      runs,
    }),
  };
}

/** The run's files from a tar.gz: members under the one directory that holds logs/uname. */
async function treeFromArchive(bytes: Buffer, what: string, notes: string[]): Promise<Tree> {
  const members = await readTarGz(bytes);
  const roots = members
    .filter((m) => /(?:^|\/)logs\/uname$/.test(m.name))
    .map((m) => m.name.slice(0, -"logs/uname".length));
  if (roots.length !== 1) {
    throw new LegacyImportError(
      `${what}: ${roots.length === 0 ? "no" : roots.length} logs/uname in the archive; an ipc-bench archive holds one run`,
    );
  }
  const root = roots[0] ?? "";
  const tree: Tree = new Map();
  let outside = 0;
  for (const m of members) {
    if (!m.name.startsWith(root)) {
      outside++;
      continue;
    }
    tree.set(m.name.slice(root.length), { data: m.data, mtimeMs: m.mtimeMs });
  }
  if (outside > 0) notes.push(`${what}: ${outside} members outside ${root || "the run's directory"}; skipped`);
  return tree;
}

function filesUnder(dir: string): { rel: string; full: string }[] {
  const out: { rel: string; full: string }[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) out.push({ rel: relative(dir, full).split(sep).join("/"), full });
    }
  };
  walk(dir);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** An extracted run or resolve/ directory, read within the limits of an archive (tar.ts). */
function treeFromDirectory(dir: string): { tree: Tree; contentSha256: string } {
  const tree: Tree = new Map();
  const digest: string[] = [];
  const files = filesUnder(dir);
  if (files.length > ARCHIVE_LIMITS.members) {
    throw new ArchiveError(`${files.length} files: over the limit of ${ARCHIVE_LIMITS.members} files per run`);
  }
  let total = 0;
  for (const { rel, full } of files) {
    const st = statSync(full);
    if (st.size > ARCHIVE_LIMITS.memberBytes) {
      throw new ArchiveError(
        `${rel} has ${st.size} bytes: over the limit of ${ARCHIVE_LIMITS.memberBytes} bytes per member`,
      );
    }
    total += st.size;
    if (total > ARCHIVE_LIMITS.expandedBytes) {
      throw new ArchiveError(`its files pass ${ARCHIVE_LIMITS.expandedBytes} bytes: over the limit per run`);
    }
    const data = readFileSync(full);
    tree.set(rel, { data, mtimeMs: st.mtimeMs });
    digest.push(`${rel}\0${sha256(data)}\n`);
  }
  return { tree, contentSha256: sha256(digest.join("")) };
}

/** Converts a contributed archive (.tar.gz), or a directory holding one extracted run (logs/, results/). */
export async function importArchive(path: string): Promise<LegacyImport> {
  const notes: string[] = [];
  const archive = archiveName(path);
  try {
    if (isDirectory(path)) {
      const { tree, contentSha256 } = treeFromDirectory(path);
      return { docs: [convertRun(tree, archive, contentSha256, notes)], notes };
    }
    const bytes = readArchive(path);
    return {
      docs: [convertRun(await treeFromArchive(bytes, archive, notes), archive, contentSha256Of(bytes), notes)],
      notes,
    };
  } catch (err) {
    if (err instanceof LegacyImportError) throw err;
    if (err instanceof FableError) throw new LegacyImportError(`${archive}: ${err.message}`, { cause: err });
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined) throw new LegacyImportError(`${archive}: cannot be read (${code})`, { cause: err });
    throw err;
  }
}

/** An archive's bytes; its size is checked before it is read. */
function readArchive(path: string): Buffer {
  const size = statSync(path).size;
  if (size > ARCHIVE_LIMITS.archiveBytes) {
    throw new ArchiveError(
      `${size} bytes: over the limit of ${ARCHIVE_LIMITS.archiveBytes} bytes per archive (real ipc-bench archives are at most 1 MB)`,
    );
  }
  return readFileSync(path);
}

function contentSha256Of(bytes: Buffer): string {
  return sha256(bytes);
}

// ---------------------------------------------------------------------------------------------------------------
// The paper's data (resolve/)

/**
 * resolve/ holds no machine description. Two contributed archives of January 2012 are of the same machine:
 * 48 CPUs of AMD Opteron 6168, the same custom kernel (3.1.8), one native (tmpsbkFiM) and one a Xen guest
 * (tmpwlnFNM); their latency matrices match resolve's (the blocks of six CPUs sharing an L3 line up; a test
 * checks the correlation). The machine of each environment is taken from them, and the document says so
 * (`legacy.machineFrom`). Both Xen environments are described as the guest saw itself, as for any VM.
 */
export const RESOLVE_MACHINES: Readonly<Record<ResolveEnvironment, string>> = {
  native: "tmpsbkFiM.tar.gz",
  xenpin: "tmpwlnFNM.tar.gz",
  xennopin: "tmpwlnFNM.tar.gz",
};

type ResolveEnvironment = "native" | "xenpin" | "xennopin";

/** The paper's results, one document each: latency matrices and throughput of one environment. */
export const RESOLVE_VARIANTS: readonly {
  variant: string;
  environment: ResolveEnvironment;
  /** Prefix of the latency matrices ("48native" for 48native.<test>.lat.csv), or none. */
  latency: string | null;
  throughput: string;
}[] = [
  { variant: "48native", environment: "native", latency: "48native", throughput: "results.thr.48native-repeated" },
  { variant: "48xenpin", environment: "xenpin", latency: "48xenpin", throughput: "results.thr.48xenpin" },
  { variant: "48xennopin", environment: "xennopin", latency: "48xennopin", throughput: "results.thr.48xennopin" },
  { variant: "48native-thr", environment: "native", latency: null, throughput: "results.thr.48native" },
  { variant: "numa-native", environment: "native", latency: null, throughput: "results.thr.numa-native" },
];

/** The paper's latency tests ran at the suite's default size; the files do not say it (every later run: 128 B). */
const RESOLVE_LATENCY_SIZE = 128;
/** The paper appeared at RESoLVE'12 (with ASPLOS, London), March 2012; the data is no later. */
const RESOLVE_DATE = "2012-03-01T00:00:00Z";
const OPTERON_6168 = /Opteron\(tm\) Processor 6168/;

export interface ResolveOptions {
  /** Where the contributed archives are (default: ../results beside the resolve directory). */
  machinesFrom?: string;
}

/** Converts the paper's resolve/ directory: five documents of three machines (environments). */
export async function importResolve(dir: string, options: ResolveOptions = {}): Promise<LegacyImport> {
  const notes: string[] = [];
  const archive = archiveName(dir);
  const { tree, contentSha256 } = treeFromDirectory(dir);
  const machinesDir = options.machinesFrom ?? join(dir, "..", "results");
  const machines = new Map<string, LegacyMachine>();
  const machineOf = async (environment: ResolveEnvironment): Promise<LegacyMachine> => {
    const name = RESOLVE_MACHINES[environment];
    let m = machines.get(name);
    if (m === undefined) {
      const path = join(machinesDir, name);
      let bytes: Buffer;
      try {
        bytes = readArchive(path);
      } catch (cause) {
        if (cause instanceof FableError)
          throw new LegacyImportError(`${archive}: ${name}: ${cause.message}`, { cause });
        throw new LegacyImportError(
          `${archive}: holds no machine description; fable takes the ${environment} machine's from the contributed archive ${name} (same CPUs, kernel and month; see RESOLVE_MACHINES), which is not at ${path}: pass the folder holding it`,
          { cause },
        );
      }
      m = machineFromLogs(await treeFromArchive(bytes, name, notes), name);
      const online = onlineCpus(m.topology).length;
      if (!OPTERON_6168.test(m.environment.cpu.model ?? "") || online !== 48) {
        throw new LegacyImportError(
          `${archive}: ${name} is not the paper's 48-CPU Opteron 6168 machine (${m.environment.cpu.model}, ${online} CPUs)`,
        );
      }
      machines.set(name, m);
    }
    return m;
  };

  const used = new Set<string>();
  const docs: LegacyDocument[] = [];
  for (const v of RESOLVE_VARIANTS) {
    const what = `${archive}/${v.variant}`;
    const machine = await machineOf(v.environment);
    const runs: RunLegacy[] = [];
    if (v.latency !== null) {
      for (const [path, { data }] of tree) {
        const m = new RegExp(`^${v.latency}\\.([a-z_]+)\\.lat\\.csv$`).exec(path);
        if (m?.[1] === undefined) continue;
        const test = findOriginalTest(m[1]);
        if (test?.mode !== "latency") {
          notes.push(`${what}: ${path}: "${m[1]}" is not a latency test fable knows; skipped`);
          continue;
        }
        used.add(path);
        const matrix = parseMatrix(data.toString("utf8"), `${archive}: ${path}`);
        runs.push(
          ...latencyRuns(
            { test, matrix, pairs: new Map(), size: RESOLVE_LATENCY_SIZE, sizeStated: false },
            machine.topology,
            what,
          ),
        );
      }
    }
    // Only the logs directly in the directory: the paper's tables of repeated runs are there, and the
    // numbered subdirectories hold the single runs they were made from.
    const entries = [...tree]
      .filter(([path]) => path.startsWith(`${v.throughput}/`) && !path.slice(v.throughput.length + 1).includes("/"))
      .map(([path, { data }]) => ({ path, data }));
    for (const e of entries) used.add(e.path);
    runs.push(...throughputRuns(throughputFiles(entries, what, notes), machine.topology, what, notes));
    if (runs.length === 0) throw new LegacyImportError(`${what}: no latency matrix and no throughput log found`);
    docs.push({
      source: what,
      doc: assemble({
        suiteVersion: PAPER_SUITE,
        machine,
        machineId: machineIdOf(contentSha256, v.environment),
        createdAt: RESOLVE_DATE,
        source: {
          archive,
          variant: v.variant,
          contentSha256,
          machineFrom: RESOLVE_MACHINES[v.environment],
          dateFrom: "publication-month",
        },
        runs,
      }),
    });
  }
  const subdirs = new Set<string>();
  for (const path of tree.keys()) {
    if (used.has(path)) continue;
    const m = /^(results\.thr\.[^/]+)\/(\d+)\//.exec(path);
    if (m !== null) subdirs.add(`${m[1]}/${m[2]}/`);
    else notes.push(`${archive}: ${path}: not part of any converted result; skipped`);
  }
  if (subdirs.size > 0) {
    notes.push(
      `${archive}: ${[...subdirs].sort().join(", ")}: the single runs behind the tables of repeated runs, which are imported instead`,
    );
  }
  return { docs, notes };
}

/** Converts an archive, an extracted run directory, or the paper's resolve/ directory. */
export async function importLegacy(path: string, options: ResolveOptions = {}): Promise<LegacyImport> {
  if (isDirectory(path)) {
    const names = readdirSync(path);
    if (names.includes("logs")) return importArchive(path);
    if (names.some((n) => n.endsWith(".lat.csv") || n.startsWith("results.thr."))) return importResolve(path, options);
    throw new LegacyImportError(
      `${path}: neither an extracted ipc-bench run (logs/, results/) nor the paper's resolve/ directory`,
    );
  }
  return importArchive(path);
}
