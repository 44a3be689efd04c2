/**
 * The machine a result ran on, as a table: hardware, topology counts, virtualisation, software, suite and
 * run. Every value comes from the result file and is escaped by the `markup` tag.
 */
import type { ResultFile } from "../../bench/result.js";
import { failedRuns, measurements } from "./data.js";
import { formatSize } from "./format.js";
import { markup, type Interpolation, type Markup } from "./html.js";

function row(label: string, value: Interpolation): Markup {
  return markup`<tr>
    <th scope="row">${label}</th>
    <td>${value}</td>
  </tr>`;
}

function cacheSummary(doc: ResultFile): string {
  const groups = new Map<string, { size: number; count: number; sharedBy: number }>();
  for (const c of doc.machine.topology.caches) {
    const name = `L${c.level}${c.type === "data" ? "d" : c.type === "instruction" ? "i" : ""}`;
    const g = groups.get(name) ?? { size: c.sizeBytes, count: 0, sharedBy: c.cpus.length };
    g.count++;
    groups.set(name, g);
  }
  return [...groups]
    .map(
      ([name, g]) =>
        `${name} ${g.size > 0 ? formatSize(g.size) : "?"} ×${g.count} (${g.sharedBy} CPU${g.sharedBy === 1 ? "" : "s"} each)`,
    )
    .join(" · ");
}

function runConfig(doc: ResultFile): string {
  const c = doc.config;
  // Null in a converted ipc-bench result: the original ran fixed iteration counts.
  if (c.budgetMs === null || c.warmupMs === null) return "fixed iteration counts";
  const rounds = c.rounds === undefined ? "per test" : `per round, ${c.rounds} rounds per test`;
  return `${c.quick ? "quick" : "full"} suite · ${c.budgetMs} ms ${rounds} after ${c.warmupMs} ms warm-up`;
}

export function machineSummary(doc: ResultFile): Markup {
  const m = doc.machine;
  const env = m.environment;
  const t = m.topology;
  const online = t.cpus.filter((c) => c.online).length;
  const cpuId = [
    env.cpu.vendor,
    env.cpu.family === null ? null : `family ${env.cpu.family}`,
    env.cpu.modelNumber === null ? null : `model ${env.cpu.modelNumber}`,
    env.cpu.stepping === null ? null : `stepping ${env.cpu.stepping}`,
  ].filter((s) => s !== null);
  const virt = env.virtualization.hypervisor
    ? `${env.virtualization.vendor ?? "unknown hypervisor"} guest`
    : "bare metal (no hypervisor reported)";
  const numa =
    t.numa.length === 0
      ? "not reported"
      : `${t.numa.length} node${t.numa.length === 1 ? "" : "s"}` +
        (t.numa.some((n) => n.distances.length > 0)
          ? ` · distances ${t.numa.map((n) => `[${n.distances.join(" ")}]`).join(" ")}`
          : "");
  const commit =
    doc.suite.commit === null
      ? "unknown commit"
      : `commit ${doc.suite.commit.slice(0, 12)}${doc.suite.dirty === true ? " (modified)" : ""}`;
  const ok = measurements(doc).length;
  const failed = failedRuns(doc).length;
  const c = doc.config;
  return markup`<table class="facts">
    <tbody>
      ${row("CPU", markup`<strong>${env.cpu.model ?? "unknown"}</strong>${cpuId.length > 0 ? markup`<br /><span class="muted">${cpuId.join(", ")}</span>` : ""}`)}
      ${row("CPUs", `${t.cpus.length} (${online} online) · ${t.packages} package${t.packages === 1 ? "" : "s"} · ${t.dies} die${t.dies === 1 ? "" : "s"} · ${t.cores} cores · ${t.threadsPerCore} thread${t.threadsPerCore === 1 ? "" : "s"} per core`)}
      ${row("caches", cacheSummary(doc) || "not reported")} ${row("NUMA", numa)}
      ${row("memory", `${env.memoryGiB} GiB`)}
      ${row("virtualisation", `${virt}${env.container === null ? "" : ` · container: ${env.container}`}`)}
      ${row("kernel", `Linux ${env.kernel.release} · ${m.arch} · clocksource ${env.clocksource ?? "?"} · governor ${env.governor ?? "?"} · SMT ${env.smt ?? "?"}`)}
      ${row("OS", `${env.os.id ?? "unknown"} ${env.os.versionId ?? ""}`)}
      ${env.runtime.node === null ? "" : row("Node", `${env.runtime.node} · V8 ${env.runtime.v8 ?? "?"} · libuv ${env.runtime.uv ?? "?"}`)}
      ${row("suite", `${doc.suite.name} ${doc.suite.version} · ${commit} · engine ${doc.suite.engine ?? "?"}`)}
      ${row("run", `${doc.createdAt.replace("T", " ").replace("Z", " UTC")} · ${runConfig(doc)} · pairs: ${c.pairs}`)}
      ${row("tests", `${ok} ok${failed > 0 ? ` · ${failed} failed` : ""}`)}
      ${row("machine", `id ${m.id.slice(0, 8)} · hardware key ${m.hardwareKey}`)}
    </tbody>
  </table>`;
}
