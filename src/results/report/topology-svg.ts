/**
 * The topology picture: each package a frame holding its dies (when it has several), its cores and their SMT
 * threads (one box per CPU, numbered), then one row per cache level spanning the CPUs that share each cache,
 * then the NUMA nodes. CPUs run left to right in heatmap axis order, so the picture reads like the heatmaps'
 * axes. Offline CPUs are listed under it.
 */
import { type Cache, orderedCpus, type Topology } from "../../bench/topology.js";
import { lastLevelCaches } from "./data.js";
import { formatSize } from "./format.js";
import { markup, join, type Markup } from "./html.js";
import { type Chart, gridOf, INK, MUTED, stack, textWidth } from "./svg.js";

const LABEL_WIDTH = 40;
const PAD = 8;

function cacheName(c: Pick<Cache, "level" | "type">): string {
  return `L${c.level}${c.type === "data" ? "d" : c.type === "instruction" ? "i" : ""}`;
}

const CACHE_FILL = ["#e4eef8", "#e4eef8", "#cfe0f1", "#b3cde8", "#98badf"];

/** Runs of consecutive positions, e.g. [0,1,2,5,6] -> [[0,2],[5,6]]. */
function runsOf(positions: readonly number[]): [number, number][] {
  const sorted = [...positions].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const p of sorted) {
    const last = runs.at(-1);
    if (last !== undefined && p === last[1] + 1) last[1] = p;
    else runs.push([p, p]);
  }
  return runs;
}

function cpuListText(cpus: readonly number[]): string {
  return runsOf(cpus)
    .map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`))
    .join(",");
}

function packageBlock(t: Topology, pkg: number, cpus: readonly number[], column: number): Chart {
  const byCpu = new Map(t.cpus.map((c) => [c.cpu, c]));
  const llc = lastLevelCaches(t);
  const dies = [...new Set(cpus.map((c) => byCpu.get(c)?.die ?? 0))];
  const multiDie = dies.length > 1;
  const cell = column - 6;

  // x of each column: a small gap between cores, a larger one between dies or last-level caches.
  const xs: number[] = [];
  let x = LABEL_WIDTH + PAD;
  cpus.forEach((cpu, i) => {
    const prev = i > 0 ? cpus[i - 1] : undefined;
    if (prev !== undefined) {
      const a = byCpu.get(prev);
      const b = byCpu.get(cpu);
      const newGroup = a?.die !== b?.die || (llc.get(prev) ?? []).join() !== (llc.get(cpu) ?? []).join();
      const newCore = (a?.smtSiblings ?? []).join() !== (b?.smtSiblings ?? []).join();
      x += newGroup ? 12 : newCore ? 4 : 0;
    }
    xs.push(x);
    x += column;
  });
  const right = x + PAD - 6;
  const position = new Map(cpus.map((cpu, i) => [cpu, i]));
  const spanX = (first: number, last: number) => ({ x0: xs[first] ?? 0, x1: (xs[last] ?? 0) + cell });

  const parts: Markup[] = [];
  let y = 24;
  const dieTop = y;
  if (multiDie) y += 16;

  // Cores and their threads.
  const coreTop = y;
  const cores = new Map<string, number[]>();
  for (const cpu of cpus) {
    const c = byCpu.get(cpu);
    const key = `${c?.die}/${c?.core}/${(c?.smtSiblings ?? []).join(",")}`;
    cores.set(key, [...(cores.get(key) ?? []), cpu]);
  }
  for (const members of cores.values()) {
    const ps = members.map((m) => position.get(m) ?? 0);
    const { x0, x1 } = spanX(Math.min(...ps), Math.max(...ps));
    const c = byCpu.get(members[0] ?? 0);
    parts.push(
      markup`<rect
        class="core"
        x="${x0 - 3}"
        y="${coreTop}"
        width="${x1 - x0 + 6}"
        height="30"
        rx="4"
        fill="#eef1f5"
        stroke="#b7c0cb"
        ><title>core ${c?.core ?? "?"}: CPUs ${cpuListText(members)}</title></rect
      >`,
    );
  }
  for (const [i, cpu] of cpus.entries()) {
    const label = String(cpu);
    const size = textWidth(label, 10) > cell - 2 ? 8 : 10;
    parts.push(
      markup`<rect
          class="thread"
          x="${xs[i] ?? 0}"
          y="${coreTop + 4}"
          width="${cell}"
          height="22"
          rx="3"
          fill="#fff"
          stroke="#8796a8"
          ><title>CPU ${cpu}</title></rect
        ><text x="${(xs[i] ?? 0) + cell / 2}" y="${coreTop + 19}" text-anchor="middle" font-size="${size}"
          >${label}</text
        >`,
    );
  }
  y = coreTop + 30 + 6;
  const rowLabel = (text: string, rowY: number) =>
    markup`<text x="${LABEL_WIDTH}" y="${rowY + 13}" text-anchor="end" font-size="10" fill="${MUTED}">${text}</text>`;
  parts.push(rowLabel(t.threadsPerCore > 1 ? "cores" : "CPUs", coreTop + 8));

  // One row per cache level and type, nearest first.
  const inBlock = (list: readonly number[]) => list.filter((c) => position.has(c));
  const rows = new Map<string, Cache[]>();
  for (const cache of t.caches) {
    if (inBlock(cache.cpus).length === 0) continue;
    const name = cacheName(cache);
    rows.set(name, [...(rows.get(name) ?? []), cache]);
  }
  for (const [name, caches] of rows) {
    parts.push(rowLabel(name, y));
    for (const cache of caches) {
      for (const [a, b] of runsOf(inBlock(cache.cpus).map((c) => position.get(c) ?? 0))) {
        const { x0, x1 } = spanX(a, b);
        const size = cache.sizeBytes > 0 ? formatSize(cache.sizeBytes) : "size unknown";
        const compact = cache.sizeBytes > 0 ? size.replace(/ ([KMG])iB$/, "$1") : "?";
        const label = [size, compact].find((l) => textWidth(l, 9) <= x1 - x0 - 4) ?? "";
        const detail = [
          `${name} ${cache.type} cache, ${size}`,
          cache.ways === null ? null : `${cache.ways}-way`,
          cache.lineBytes === null ? null : `${cache.lineBytes} B lines`,
        ]
          .filter((s) => s !== null)
          .join(", ");
        parts.push(
          markup`<rect
              class="cache"
              x="${x0}"
              y="${y}"
              width="${x1 - x0}"
              height="18"
              rx="3"
              fill="${CACHE_FILL[Math.min(cache.level, 4)] ?? "#98badf"}"
              stroke="#7d9cc0"
              stroke-width="0.75"
              ><title>${detail}: shared by CPUs ${cpuListText(cache.cpus)}</title></rect
            ><text x="${(x0 + x1) / 2}" y="${y + 12.5}" text-anchor="middle" font-size="9">${label}</text>`,
        );
      }
    }
    y += 22;
  }

  // NUMA nodes.
  const nodes = t.numa.filter((n) => inBlock(n.cpus).length > 0);
  if (nodes.length > 0) {
    parts.push(rowLabel("NUMA", y));
    for (const node of nodes) {
      for (const [a, b] of runsOf(inBlock(node.cpus).map((c) => position.get(c) ?? 0))) {
        const distances = node.distances.length > 0 ? `; distances ${node.distances.join(" ")}` : "";
        const { x0, x1 } = spanX(a, b);
        const label = textWidth(`node ${node.id}`, 9) <= x1 - x0 - 4 ? `node ${node.id}` : `${node.id}`;
        parts.push(
          markup`<rect
              class="numa"
              x="${x0}"
              y="${y}"
              width="${x1 - x0}"
              height="18"
              rx="3"
              fill="#f8e3c5"
              stroke="#d0a868"
              stroke-width="0.75"
              ><title>NUMA node ${node.id}: CPUs ${cpuListText(node.cpus)}${distances}</title></rect
            ><text x="${(x0 + x1) / 2}" y="${y + 12.5}" text-anchor="middle" font-size="9">${label}</text>`,
        );
      }
    }
    y += 22;
  }

  // Dies: dashed frames from the die label down to the last row.
  if (multiDie) {
    for (const die of dies) {
      const ps = cpus.filter((c) => byCpu.get(c)?.die === die).map((c) => position.get(c) ?? 0);
      const { x0, x1 } = spanX(Math.min(...ps), Math.max(...ps));
      parts.push(
        markup`<rect
            class="die"
            x="${x0 - 5}"
            y="${dieTop}"
            width="${x1 - x0 + 10}"
            height="${y - dieTop}"
            rx="5"
            fill="none"
            stroke="#8796a8"
            stroke-dasharray="4 3"
          /><text x="${x0 - 1}" y="${dieTop + 11}" font-size="9" fill="${MUTED}">die ${die}</text>`,
      );
    }
  }

  const height = y + 4;
  const frame = markup`<rect
      class="package"
      x="0.5"
      y="0.5"
      width="${right}"
      height="${height - 1}"
      rx="8"
      fill="#fafbfc"
      stroke="#69778a"
    /><text x="${PAD}" y="16" font-size="11" font-weight="bold" fill="${INK}">package ${pkg}</text>`;
  return { width: right + 1, height, body: join([frame, ...parts]) };
}

/** The whole machine: package blocks side by side, or stacked when that would be too wide. */
export function topologyChart(t: Topology): Chart {
  const cpus = orderedCpus(t);
  const byCpu = new Map(t.cpus.map((c) => [c.cpu, c]));
  const column = cpus.length <= 8 ? 46 : cpus.length <= 16 ? 38 : cpus.length <= 48 ? 28 : 22;
  const packages = [...new Set(cpus.map((c) => byCpu.get(c)?.package ?? 0))];
  const blocks = packages.map((pkg) =>
    packageBlock(
      t,
      pkg,
      cpus.filter((c) => (byCpu.get(c)?.package ?? 0) === pkg),
      column,
    ),
  );
  const picture = gridOf(blocks, 1240, 14);
  const offline = t.cpus.filter((c) => !cpus.includes(c.cpu)).map((c) => c.cpu);
  if (offline.length === 0) return picture;
  const note = markup`<text x="0" y="12" font-size="10" fill="${MUTED}"
    >offline, not shown: CPU ${cpuListText(offline)}</text
  >`;
  return stack([picture, { width: textWidth("offline, not shown: CPU ", 10) + 60, height: 14, body: note }], 6);
}
