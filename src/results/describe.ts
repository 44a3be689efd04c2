/**
 * Plain-text descriptions of result documents: one line for lists, and the full account of what a file
 * holds that `fable results submit` prints before anything is committed. The full account names every
 * field group and lists every distinct text value of the file, so nothing leaves unseen: what is not
 * listed is numbers (statistics, samples, CPU numbers, sizes).
 */
import type { ResultFile } from "../bench/result.js";

function formatBytes(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3}G`;
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return `${n}`;
}

export function onlineCount(doc: ResultFile): number {
  return doc.machine.topology.cpus.filter((c) => c.online).length;
}

export function virtualizationText(doc: ResultFile): string {
  const v = doc.machine.environment.virtualization;
  const c = doc.machine.environment.container;
  const vm = v.hypervisor ? `VM (${v.vendor ?? "unknown"})` : "native";
  return c === null ? vm : `${vm}, container ${c}`;
}

/** "Intel Xeon E5620 · 16 CPUs · native · Linux 2.6.32 · 2012-02-07 · ipc-bench 0.2.0 (legacy)". */
export function oneLine(doc: ResultFile): string {
  const env = doc.machine.environment;
  const legacy = doc.legacy === undefined ? "" : " (legacy)";
  return [
    env.cpu.model ?? "unknown CPU",
    `${onlineCount(doc)} CPUs`,
    virtualizationText(doc),
    `Linux ${env.kernel.release}`,
    doc.createdAt.slice(0, 10),
    `${doc.suite.name} ${doc.suite.version}${legacy}`,
  ].join(" · ");
}

/** Every distinct string of a JSON value, keys excluded (they are the schema's names), sorted. */
export function textValues(value: unknown): string[] {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === "string") out.add(v);
    else if (Array.isArray(v)) {
      for (const x of v) if (typeof x === "string" || (typeof x === "object" && x !== null)) walk(x);
    } else if (typeof v === "object" && v !== null) {
      for (const x of Object.values(v)) walk(x);
    }
  };
  walk(value);
  return [...out].sort();
}

/** Keys of the objects that hold free-form names (params, benchmarks): they are data, not schema names. */
function dataKeys(doc: ResultFile): string[] {
  const keys = new Set<string>(Object.keys(doc.benchmarks));
  for (const r of doc.runs) if (r.status === "ok") for (const k of Object.keys(r.params)) keys.add(k);
  for (const r of doc.legacy?.runs ?? []) for (const k of Object.keys(r.params)) keys.add(k);
  return [...keys].sort();
}

function wrap(items: readonly string[], width = 110, indent = "    "): string[] {
  const lines: string[] = [];
  let line = "";
  for (const item of items) {
    const piece = JSON.stringify(item);
    if (line !== "" && line.length + piece.length + 2 > width) {
      lines.push(indent + line + ",");
      line = "";
    }
    line = line === "" ? piece : `${line}, ${piece}`;
  }
  if (line !== "") lines.push(indent + line);
  return lines;
}

/** The full account of one document (see the module comment). */
export function describe(doc: ResultFile): string[] {
  const m = doc.machine;
  const env = m.environment;
  const t = m.topology;
  const caches = t.caches.map((c) => `L${c.level}${c.type[0]} ${formatBytes(c.sizeBytes)} x${c.cpus.length}`);
  const cacheKinds = [...new Set(caches)];
  const ok = doc.runs.filter((r) => r.status === "ok").length;
  const lines = [
    `  created    ${doc.createdAt}`,
    `  suite      ${doc.suite.name} ${doc.suite.version} · commit ${doc.suite.commit ?? "none"} · dirty ${doc.suite.dirty ?? "unknown"} · engine ${doc.suite.engine ?? "none"}`,
    `  machine    id ${m.id} (random, or derived from a legacy archive's hash) · hardware key ${m.hardwareKey} · ${m.arch}`,
    `  CPU        ${env.cpu.vendor ?? "?"} · ${env.cpu.model ?? "?"} · family ${env.cpu.family ?? "?"} model ${env.cpu.modelNumber ?? "?"} stepping ${env.cpu.stepping ?? "?"}`,
    `  CPU flags  ${env.cpu.flags.join(" ") || "none"}`,
    `  topology   ${t.cpus.length} CPUs (${onlineCount(doc)} online) · ${t.packages} packages · ${t.dies} dies · ${t.cores} cores · ${t.threadsPerCore} threads per core · ${t.numa.length} NUMA nodes`,
    `  caches     ${cacheKinds.join(", ") || "none"}`,
    `  system     ${virtualizationText(doc)} · Linux ${env.kernel.release} · OS ${env.os.id ?? "?"} ${env.os.versionId ?? ""} · ${env.memoryGiB} GiB · governor ${env.governor ?? "?"} · SMT ${env.smt ?? "?"} · clocksource ${env.clocksource ?? "?"}`,
    `  runtime    Node ${env.runtime.node ?? "none"} · V8 ${env.runtime.v8 ?? "none"} · libuv ${env.runtime.uv ?? "none"}`,
    `  config     ${doc.config.quick ? "quick" : "full"} · budget ${doc.config.budgetMs ?? "none"} ms · warm-up ${doc.config.warmupMs ?? "none"} ms · pairs ${doc.config.pairs} · sizes ${doc.config.sizes.join(",")} · ${doc.config.modes.join("+")}`,
    `  methods    ${Object.entries(doc.benchmarks)
      .map(([k, b]) => `${k} ${b.method}`)
      .join(", ")}`,
    `  runs       ${doc.runs.length} (${ok} ok, ${doc.runs.length - ok} failed)${doc.legacy === undefined ? "" : ` · ${doc.legacy.runs.length} converted ipc-bench runs`}`,
  ];
  if (doc.legacy !== undefined) {
    const l = doc.legacy;
    lines.push(
      `  legacy     from ${l.archive}${l.variant === null ? "" : ` (${l.variant})`} · sha256 ${l.contentSha256} · machine from ${l.machineFrom ?? "the archive"} · date from ${l.dateFrom} · conversion ${l.conversion}`,
    );
  }
  lines.push("  every text value in the file:", ...wrap(textValues(doc)));
  lines.push("  names of parameters and mechanisms:", ...wrap(dataKeys(doc)));
  return lines;
}
