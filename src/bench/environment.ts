/**
 * The software and virtual-hardware environment a benchmark ran in, as a result records it: what may
 * explain a difference between two runs of the same hardware (a hypervisor, a container, the kernel,
 * the CPU frequency governor, SMT, the clocksource, the runtime).
 *
 * Privacy is the rule here: every field is structured and allow-listed. Files that hold private facts
 * (DMI, cgroup paths, mount tables) are only matched against fixed patterns, and only the fixed name of
 * what matched is kept. Never stored: hostname, user names, home paths, IP or MAC addresses, serial
 * numbers, machine-id or boot_id, DMI serials or UUIDs, the kernel command line, raw dmesg or cpuinfo.
 *
 * Reading never fails: a file that is missing or unreadable makes its field null (the unknown value).
 */
import { release } from "node:os";
import { join } from "node:path";
import { exists, readTextOrNull } from "./sysfs.js";

export interface CpuIdentity {
  vendor: string | null;
  model: string | null;
  family: number | null;
  modelNumber: number | null;
  stepping: number | null;
  /** The flags of {@link CPU_FLAGS} this CPU has, in that list's order. */
  flags: string[];
}

export interface Environment {
  /** `hypervisor`: the CPU says it runs under one (or Xen shows /sys/hypervisor); `vendor`: null when not. */
  virtualization: { hypervisor: boolean; vendor: string | null };
  /** One of {@link CONTAINER_KINDS}, or null when no container was detected. */
  container: string | null;
  kernel: { release: string };
  /** /etc/os-release ID and VERSION_ID. */
  os: { id: string | null; versionId: string | null };
  cpu: CpuIdentity;
  /** MemTotal rounded to the nearest GiB (to the nearest 0.5 GiB under 4 GiB); 0 when it cannot be read. */
  memoryGiB: number;
  /** cpu0's cpufreq scaling governor. */
  governor: string | null;
  /** /sys/devices/system/cpu/smt/control: "on", "off", "forceoff", "notsupported", "notimplemented". */
  smt: string | null;
  clocksource: string | null;
  runtime: { node: string; v8: string; uv: string };
}

/** Where to read from. Roots default to the live system; `env` to process.env. */
export interface EnvironmentSources {
  procDir?: string;
  sysDir?: string;
  etcDir?: string;
  /** The filesystem root holding /.dockerenv and /run's container markers. */
  rootDir?: string;
  /** Only the presence of KUBERNETES_SERVICE_HOST is looked at, never its value. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** CPU flags worth keeping: what decides timer quality, syscall and context-switch cost, and spin-wait tools. */
export const CPU_FLAGS: readonly string[] = Object.freeze([
  // Time stamp counter: whether it can be the benchmark's clock.
  "tsc",
  "constant_tsc",
  "nonstop_tsc",
  "tsc_known_freq",
  "tsc_reliable",
  "tsc_adjust",
  "tsc_deadline_timer",
  "rdtscp",
  "rdpid",
  // Virtualisation and SMT.
  "hypervisor",
  "ht",
  // TLB tagging and speculation mitigations: the cost of a syscall and a context switch.
  "pcid",
  "invpcid",
  "pti",
  "ibrs",
  "ibrs_enhanced",
  "ibpb",
  "stibp",
  "ssbd",
  "md_clear",
  "flush_l1d",
  // Waiting and cache-line traffic.
  "monitor",
  "mwaitx",
  "waitpkg",
  "serialize",
  "cldemote",
  "movdiri",
  "movdir64b",
  "clflushopt",
  "clwb",
  // Copying.
  "sse4_2",
  "avx",
  "avx2",
  "avx512f",
  "avx512bw",
  "erms",
  "fsrm",
  // Transactional memory.
  "rtm",
  "hle",
]);

/** The names `container` may take. */
export const CONTAINER_KINDS: readonly string[] = Object.freeze([
  "docker",
  "podman",
  "lxc",
  "kubernetes",
  "systemd-nspawn",
  "wsl",
  "unknown",
]);

const TOKEN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const VERSION_ID = /^[A-Za-z0-9._-]{1,40}$/;

function token(text: string | null): string | null {
  const t = text?.trim() ?? null;
  return t !== null && TOKEN.test(t) ? t : null;
}

function integer(text: string | undefined): number | null {
  const t = text?.trim();
  return t !== undefined && /^[0-9]{1,9}$/.test(t) ? Number(t) : null;
}

/**
 * The identity of the first CPU of a /proc/cpuinfo text: vendor, model name (whitespace collapsed),
 * family, model number, stepping, and its flags that are in {@link CPU_FLAGS} (never the others).
 */
export function parseCpuinfo(text: string): CpuIdentity {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (fields.size > 0) break; // the end of the first processor's block
      continue;
    }
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    if (!fields.has(key)) fields.set(key, line.slice(colon + 1).trim());
  }
  const text200 = (v: string | undefined) => {
    const t = v?.replace(/\s+/g, " ").trim().slice(0, 200);
    return t === undefined || t === "" ? null : t;
  };
  const flags = new Set((fields.get("flags") ?? fields.get("features") ?? "").split(/\s+/));
  return {
    vendor: text200(fields.get("vendor_id")),
    model: text200(fields.get("model name") ?? fields.get("cpu model")),
    family: integer(fields.get("cpu family")),
    modelNumber: integer(fields.get("model")),
    stepping: integer(fields.get("stepping")),
    flags: CPU_FLAGS.filter((f) => flags.has(f)),
  };
}

/**
 * A filesystem-safe slug of a CPU model, without trademarks, clock speed or filler words:
 * "Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz" → "intel-xeon-e5-2670"; "unknown-cpu" for null or nothing left.
 */
export function cpuSlug(model: string | null): string {
  if (model === null) return "unknown-cpu";
  const words = model
    .replace(/^\s*\[[^\]]*\]/, "") // a cloud's instance label, "[ec2-c1.xlarge] Intel(R) ..."
    .replace(/\((R|TM|C)\)/gi, "")
    .replace(/@.*$/, "")
    .replace(/\b\d+(\.\d+)?\s*[GM]Hz\b/gi, "")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== "" && w !== "cpu" && w !== "processor");
  // Sandy Bridge-EP Xeons print a lone "0" before the clock: "E5-2670 0 @ 2.60GHz".
  if (words.length > 1 && words.at(-1) === "0") words.pop();
  const slug = words.join("-").slice(0, 64).replace(/-+$/, "");
  return slug === "" ? "unknown-cpu" : slug;
}

function memoryGiB(meminfo: string | null): number {
  const kb = integer(/^MemTotal:\s*([0-9]+)\s*kB/m.exec(meminfo ?? "")?.[1]);
  if (kb === null || kb === 0) return 0;
  const gib = kb / 1024 ** 2;
  return gib < 4 ? Math.max(0.5, Math.round(gib * 2) / 2) : Math.round(gib);
}

function osRelease(text: string | null): Environment["os"] {
  const values = new Map<string, string>();
  for (const line of (text ?? "").split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) values.set(m[1], m[2].replace(/^(["'])(.*)\1$/, "$2"));
  }
  const id = values.get("ID") ?? null;
  const versionId = values.get("VERSION_ID") ?? null;
  return {
    id: token(id),
    versionId: versionId !== null && VERSION_ID.test(versionId) ? versionId : null,
  };
}

/** Known hypervisor vendors, recognised in DMI fields: [name, which field, pattern]. Most specific first. */
const DMI_VENDORS: ReadonlyArray<
  readonly [string, "sys_vendor" | "product_name" | "bios_vendor" | "bios_version", RegExp]
> = [
  ["Amazon EC2", "sys_vendor", /^Amazon EC2$/],
  ["Amazon EC2", "bios_version", /amazon$/i],
  ["Google", "product_name", /^Google Compute Engine$/],
  ["Microsoft Hyper-V", "product_name", /^Virtual Machine$/],
  ["VMware", "sys_vendor", /^VMware/],
  ["VirtualBox", "product_name", /^VirtualBox$/],
  ["VirtualBox", "sys_vendor", /^(innotek GmbH|Oracle Corporation)$/],
  ["Parallels", "sys_vendor", /^Parallels/],
  ["bhyve", "bios_vendor", /^BHYVE$/],
  ["Xen", "sys_vendor", /^Xen$/],
  ["KVM", "product_name", /^KVM/],
  ["KVM", "sys_vendor", /^KVM$/],
  ["Cloud Hypervisor", "sys_vendor", /^Cloud Hypervisor$/],
  ["QEMU", "sys_vendor", /^QEMU$/],
];

/** Paravirtual clocksources a guest kernel registers: evidence of the hypervisor when DMI is silent. */
const CLOCKSOURCE_VENDORS: ReadonlyArray<readonly [string, RegExp]> = [
  ["KVM", /^kvm-clock$/],
  ["Xen", /^xen$/],
  ["Microsoft Hyper-V", /^hyperv_clocksource/],
];

function hypervisorVendor(sysDir: string): string | null {
  if (readTextOrNull(join(sysDir, "hypervisor", "type"))?.trim() === "xen") return "Xen";
  const clocksources = (
    readTextOrNull(join(sysDir, "devices", "system", "clocksource", "clocksource0", "available_clocksource")) ?? ""
  ).split(/\s+/);
  const byClock = CLOCKSOURCE_VENDORS.find(([, re]) => clocksources.some((c) => re.test(c)))?.[0] ?? null;
  for (const [vendor, field, pattern] of DMI_VENDORS) {
    const value = readTextOrNull(join(sysDir, "class", "dmi", "id", field))?.trim();
    if (value === undefined || !pattern.test(value)) continue;
    // QEMU's machine with KVM acceleration: the kernel's kvm-clock tells which.
    return vendor === "QEMU" && byClock === "KVM" ? "KVM" : vendor;
  }
  return byClock;
}

/** Fixed markers and patterns, in order: the first that matches names the container. */
function container(root: string, procDir: string, env: Readonly<Record<string, string | undefined>>): string | null {
  if (env["KUBERNETES_SERVICE_HOST"] !== undefined) return "kubernetes";
  const systemd = readTextOrNull(join(root, "run", "systemd", "container"))?.trim();
  if (systemd !== undefined && systemd !== "") {
    const known: Record<string, string> = {
      docker: "docker",
      podman: "podman",
      lxc: "lxc",
      "lxc-libvirt": "lxc",
      "systemd-nspawn": "systemd-nspawn",
      wsl: "wsl",
    };
    return known[systemd] ?? "unknown";
  }
  if (exists(join(root, ".dockerenv"))) return "docker";
  if (exists(join(root, "run", ".containerenv"))) return "podman";
  const cgroup = readTextOrNull(join(procDir, "1", "cgroup")) ?? "";
  if (/kubepods/.test(cgroup)) return "kubernetes";
  if (/\/docker[/-]/.test(cgroup)) return "docker";
  if (/libpod/.test(cgroup)) return "podman";
  if (/\/lxc[/.]|lxc\.payload/.test(cgroup)) return "lxc";
  const mounts = readTextOrNull(join(procDir, "self", "mountinfo")) ?? "";
  if (/\/kubelet\/pods\//.test(mounts)) return "kubernetes";
  if (/\/docker\/containers\//.test(mounts)) return "docker";
  if (/ fuse\.lxcfs /.test(mounts)) return "lxc";
  const osrelease = readTextOrNull(join(procDir, "sys", "kernel", "osrelease")) ?? "";
  if (/microsoft|WSL/i.test(osrelease) || exists(join(procDir, "sys", "fs", "binfmt_misc", "WSLInterop"))) {
    return "wsl";
  }
  return null;
}

/** Reads the environment of this machine (or of the given roots). Never throws for missing files. */
export function readEnvironment(src: EnvironmentSources = {}): Environment {
  const procDir = src.procDir ?? "/proc";
  const sysDir = src.sysDir ?? "/sys";
  const etcDir = src.etcDir ?? "/etc";
  const cpuinfo = readTextOrNull(join(procDir, "cpuinfo"));
  const cpu = cpuinfo === null ? parseCpuinfo("") : parseCpuinfo(cpuinfo);
  const xen = readTextOrNull(join(sysDir, "hypervisor", "type")) !== null;
  const hypervisor = cpu.flags.includes("hypervisor") || xen;
  const cpuSys = join(sysDir, "devices", "system", "cpu");
  return {
    virtualization: { hypervisor, vendor: hypervisor ? (hypervisorVendor(sysDir) ?? "unknown") : null },
    container: container(src.rootDir ?? "/", procDir, src.env ?? process.env),
    kernel: { release: release() },
    os: osRelease(readTextOrNull(join(etcDir, "os-release"))),
    cpu,
    memoryGiB: memoryGiB(readTextOrNull(join(procDir, "meminfo"))),
    governor: token(readTextOrNull(join(cpuSys, "cpu0", "cpufreq", "scaling_governor"))),
    smt: token(readTextOrNull(join(cpuSys, "smt", "control"))),
    clocksource: token(
      readTextOrNull(join(sysDir, "devices", "system", "clocksource", "clocksource0", "current_clocksource")),
    ),
    runtime: { node: process.versions.node, v8: process.versions.v8, uv: process.versions.uv },
  };
}
