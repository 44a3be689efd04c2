/**
 * Parsers of the original ipc-bench's text output (format in the legacy data's PROVENANCE.md). Each takes
 * text and returns structured values, or throws {@link LegacyFormatError} saying what is wrong with which
 * line; none of them keeps free text. Units are the original's: seconds and Mbps.
 */
import { FableError } from "../../errors.js";

export class LegacyFormatError extends FableError {
  constructor(message: string) {
    super("ELEGACYFORMAT", message);
  }
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function num(text: string, what: string): number {
  if (!NUMBER.test(text)) throw new LegacyFormatError(`${what}: ${JSON.stringify(text)} is not a number`);
  return Number(text);
}

function int(text: string, what: string): number {
  if (!/^-?\d{1,9}$/.test(text)) throw new LegacyFormatError(`${what}: ${JSON.stringify(text)} is not an integer`);
  return Number(text);
}

/** `uname -s -r -m -p -i -o`: the kernel release and the machine (the processor field may hold spaces). */
export function parseUname(text: string): { release: string; machine: string } {
  const fields = text.trim().split(/\s+/);
  const [sysname, release, machine] = fields;
  if (sysname !== "Linux" || release === undefined || machine === undefined) {
    throw new LegacyFormatError(`uname: expected "Linux <release> <machine> ...", got ${fields.length} fields`);
  }
  if (!/^[A-Za-z0-9._+~-]{1,100}$/.test(release))
    throw new LegacyFormatError("uname: the kernel release has odd characters");
  return { release, machine };
}

/** Node's names for uname's machines. */
const ARCHES: Readonly<Record<string, string>> = {
  x86_64: "x64",
  amd64: "x64",
  i386: "ia32",
  i486: "ia32",
  i586: "ia32",
  i686: "ia32",
  aarch64: "arm64",
  armv6l: "arm",
  armv7l: "arm",
  ppc64le: "ppc64",
  ppc64: "ppc64",
  s390x: "s390x",
  riscv64: "riscv64",
};

export function nodeArch(machine: string): string {
  const arch = ARCHES[machine];
  if (arch === undefined) throw new LegacyFormatError(`uname: machine "${machine}" is not an architecture fable knows`);
  return arch;
}

/** MemTotal rounded as bench/environment.ts rounds it: nearest GiB, nearest 0.5 GiB under 4 GiB; 0 if absent. */
export function memoryGiB(meminfo: string): number {
  const m = /^MemTotal:\s*([0-9]{1,12})\s*kB/m.exec(meminfo);
  if (m?.[1] === undefined) return 0;
  const gib = Number(m[1]) / 1024 ** 2;
  if (gib === 0) return 0;
  return gib < 4 ? Math.max(0.5, Math.round(gib * 2) / 2) : Math.round(gib);
}

/** Hypervisors named in the DMI line of dmesg (system vendor / product), most specific first. */
const DMI_VENDORS: ReadonlyArray<readonly [string, RegExp]> = [
  ["VirtualBox", /^innotek GmbH VirtualBox|^Oracle Corporation VirtualBox/],
  ["Parallels", /^Parallels /],
  ["VMware", /^VMware/],
  ["Microsoft Hyper-V", /^Microsoft Corporation Virtual Machine/],
  ["Amazon EC2", /^Amazon EC2/],
  ["Google", /^Google Google Compute Engine/],
  ["Xen", /^Xen /],
  ["Bochs", /^Bochs /],
  ["QEMU", /^QEMU /],
];

/** What the guest kernel says it boots on, or detects; "bare hardware" is no evidence either way. */
const KERNEL_VENDORS: ReadonlyArray<readonly [string, RegExp]> = [
  ["KVM", /^KVM$/],
  ["Xen", /^Xen(?: HVM| PV)?$/],
  ["VMware", /^VMware$/],
  ["Microsoft Hyper-V", /^Microsoft Hyper-V$|^Microsoft HyperV$/],
  ["lguest", /^lguest$/],
];

/**
 * The virtualisation of a legacy run: the cpuinfo hypervisor flag, or a hypervisor named by the kernel in
 * the dmesg lines the original kept (those matching "virtual"). Only fixed lines are read (the DMI line,
 * "Booting paravirtualized kernel on X", "Hypervisor detected: X"), only a vendor from a fixed list is kept,
 * and a host's own messages (a VirtualBox host loading its driver) are not mistaken for a guest's.
 */
export function virtualization(
  hypervisorFlag: boolean,
  dmesgVirt: string,
): { hypervisor: boolean; vendor: string | null } {
  let dmi: string | null = null;
  let kernel: string | null = null;
  for (const line of dmesgVirt.split("\n")) {
    const text = line.replace(/^\[[\s\d.]*\]\s*/, "");
    const d = /^DMI: (.*)$/.exec(text);
    if (d?.[1] !== undefined) dmi ??= DMI_VENDORS.find(([, re]) => re.test(d[1] ?? ""))?.[0] ?? null;
    const k = /^(?:Booting paravirtualized kernel on|Hypervisor detected:) (.+?)\s*$/.exec(text);
    if (k?.[1] !== undefined) kernel ??= KERNEL_VENDORS.find(([, re]) => re.test(k[1] ?? ""))?.[0] ?? null;
  }
  // QEMU with KVM acceleration: the kernel's own word tells which.
  const vendor = dmi === "QEMU" && kernel === "KVM" ? "KVM" : (dmi ?? kernel);
  const hypervisor = hypervisorFlag || vendor !== null;
  return { hypervisor, vendor: hypervisor ? (vendor ?? "unknown") : null };
}

/** A latency matrix: rows are the first CPU, columns the second; values in seconds. */
export function parseMatrix(text: string, what: string): number[][] {
  const rows = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .map((l, i) => l.split(/\s+/).map((v, j) => num(v, `${what} row ${i} column ${j}`)));
  const n = rows.length;
  if (n === 0) throw new LegacyFormatError(`${what}: empty`);
  rows.forEach((r, i) => {
    if (r.length !== n)
      throw new LegacyFormatError(`${what}: row ${i} has ${r.length} values, not ${n} (a square matrix)`);
    r.forEach((v, j) => {
      if (!(v >= 0 && v < 3600)) throw new LegacyFormatError(`${what}: row ${i} column ${j}: ${v} s is not a latency`);
    });
  });
  return rows;
}

/** A per-pair latency headline: "<test> <size> <iterations> <seconds>s". */
export function parseLatencyHeadline(
  text: string,
  what: string,
): { test: string; size: number; count: number; seconds: number } {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 4 || !fields[3]?.endsWith("s")) {
    throw new LegacyFormatError(`${what}: expected "<test> <size> <iterations> <seconds>s"`);
  }
  return {
    test: fields[0] ?? "",
    size: int(fields[1] ?? "", `${what} size`),
    count: int(fields[2] ?? "", `${what} iterations`),
    seconds: num((fields[3] ?? "").slice(0, -1), `${what} seconds`),
  };
}

/** The "Distribution of all values" of a -tsc.log, in seconds. */
export interface TscStatistics {
  mean: number;
  stddev: number;
  min: number;
  p5: number;
  p50: number;
  p95: number;
  max: number;
}

export function parseTscLog(text: string, what: string): TscStatistics {
  const at = text.indexOf("Distribution of all values:");
  if (at < 0) throw new LegacyFormatError(`${what}: no "Distribution of all values" section`);
  const section = text.slice(at).split("\n").slice(1, 4).join("\n");
  const g = "([+-]?\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?)";
  const moments = new RegExp(`Mean ${g}, sample sd ${g}`).exec(section);
  const quintiles = /Quintiles: ([^\n]+)/.exec(section);
  const tails = new RegExp(`5% ${g}, median ${g}, 95% ${g}`).exec(section);
  if (moments === null || quintiles?.[1] === undefined || tails === null) {
    throw new LegacyFormatError(`${what}: the "Distribution of all values" section is not in the expected form`);
  }
  const q = quintiles[1].split(",").map((v) => num(v.trim(), `${what} quintile`));
  if (q.length !== 6) throw new LegacyFormatError(`${what}: ${q.length} quintile values, not 6 (0%, 20% ... 100%)`);
  return {
    mean: num(moments[1] ?? "", `${what} mean`),
    stddev: num(moments[2] ?? "", `${what} sd`),
    min: q[0] ?? 0,
    p5: num(tails[1] ?? "", `${what} 5%`),
    p50: num(tails[2] ?? "", `${what} median`),
    p95: num(tails[3] ?? "", `${what} 95%`),
    max: q[5] ?? 0,
  };
}

/** One throughput line (one test on one pair, size, memory node and copy mode). */
export interface ThroughputLine {
  /** The test name the line itself prints (the file may say otherwise; see the importer). */
  label: string;
  cpus: [number, number];
  /** The memory node the buffers were bound to; null when unbound (-1) or not recorded. */
  memNode: number | null;
  size: number;
  produceMethod: number;
  writeInPlace: boolean;
  readInPlace: boolean;
  verify: boolean;
  count: number;
  /** Mbps, one per run (several in the paper's tables of repeated runs). */
  mbps: number[];
}

/**
 * A throughput headline log. Three forms, told apart by their field count:
 * - `test a b node size produce write read verify count <value> Mbps` (contributed archives, 12 fields);
 * - `test a b size produce write read verify count <value> Mbps` (the paper's early runs, 11 fields);
 * - `"test" a b node size produce write read verify count v1 ... vK mean sd` (the paper's tables of K
 *   repeated runs, tab or space separated, the name sometimes quoted).
 */
export function parseThroughputLog(text: string, what: string): ThroughputLine[] {
  const lines: ThroughputLine[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    const at = `${what} line ${i + 1}`;
    const f = line.split(/\s+/).map((x) => x.replace(/^"(.*)"$/, "$1"));
    const bool = (x: string | undefined, name: string) => {
      const v = int(x ?? "", `${at} ${name}`);
      if (v !== 0 && v !== 1) throw new LegacyFormatError(`${at}: ${name} ${v} is not 0 or 1`);
      return v === 1;
    };
    let rest: string[];
    let memNode: number | null;
    let mbps: number[];
    if (f.at(-1) === "Mbps") {
      if (f.length === 12) {
        memNode = int(f[3] ?? "", `${at} node`);
        rest = f.slice(4, 10);
      } else if (f.length === 11) {
        memNode = null;
        rest = f.slice(3, 9);
      } else {
        throw new LegacyFormatError(`${at}: ${f.length} fields; a headline has 11 or 12`);
      }
      mbps = [num(f.at(-2) ?? "", `${at} Mbps`)];
    } else {
      if (f.length < 13)
        throw new LegacyFormatError(`${at}: ${f.length} fields; a table of repeated runs has at least 13`);
      memNode = int(f[3] ?? "", `${at} node`);
      rest = f.slice(4, 10);
      mbps = f.slice(10, -2).map((v) => num(v, `${at} Mbps`));
    }
    const [size, produce, write, read, verify, count] = rest;
    lines.push({
      label: f[0] ?? "",
      cpus: [int(f[1] ?? "", `${at} first CPU`), int(f[2] ?? "", `${at} second CPU`)],
      memNode: memNode !== null && memNode < 0 ? null : memNode,
      size: int(size ?? "", `${at} size`),
      produceMethod: int(produce ?? "", `${at} produce method`),
      writeInPlace: bool(write, "write in place"),
      readInPlace: bool(read, "read in place"),
      verify: bool(verify, "verify"),
      count: int(count ?? "", `${at} count`),
      mbps,
    });
    const last = lines.at(-1);
    if (last !== undefined && (last.size < 1 || last.mbps.some((v) => !(v >= 0)))) {
      throw new LegacyFormatError(`${at}: a size or a throughput out of range`);
    }
  });
  return lines;
}

/** Text files hold no NUL byte; an OLE2 spreadsheet saved under a .log name does. */
export function isText(data: Buffer): boolean {
  return !data.includes(0);
}
