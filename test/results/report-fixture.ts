/**
 * Crafted result documents for the report's tests: a machine of any shape (packages × cores × SMT threads,
 * numbered as Linux numbers them: the first threads of every core, then the second ones), plausible figures
 * that grow with the distance between the two CPUs, a failed test, a pair not run, spinning pairs on one CPU,
 * and optional hostile text in every free-text field the schema allows.
 */
import type { ResultFile, Run } from "../../src/bench/result.js";
import { placementClass, type Cache, type Topology } from "../../src/bench/topology.js";
import { random } from "../kit/random.js";

export const HOSTILE = `<script>alert("x")</script>"><img src=x onerror=alert(1)>'&`;

export interface FixtureShape {
  packages: number;
  coresPerPackage: number;
  threadsPerCore: number;
  /** Put HOSTILE in every free-text field. */
  hostile?: boolean;
  /** Multiplies every latency (and divides every throughput): a "virtualised" twin of a machine. */
  slowdown?: number;
}

export function craftedTopology(shape: FixtureShape): Topology {
  const cores = shape.packages * shape.coresPerPackage;
  const cpus: Topology["cpus"] = [];
  const caches: Cache[] = [];
  for (let t = 0; t < shape.threadsPerCore; t++) {
    for (let core = 0; core < cores; core++) {
      const pkg = Math.floor(core / shape.coresPerPackage);
      const siblings = Array.from({ length: shape.threadsPerCore }, (_, k) => core + k * cores);
      cpus.push({
        cpu: core + t * cores,
        online: true,
        package: pkg,
        die: 0,
        core: core % shape.coresPerPackage,
        smtSiblings: siblings,
        node: pkg,
      });
    }
  }
  cpus.sort((a, b) => a.cpu - b.cpu);
  const perCore = (core: number) => Array.from({ length: shape.threadsPerCore }, (_, k) => core + k * cores);
  for (const [level, type, size] of [
    [1, "data", 48 << 10],
    [1, "instruction", 32 << 10],
    [2, "unified", 2 << 20],
  ] as const) {
    for (let core = 0; core < cores; core++) {
      caches.push({ level, type, sizeBytes: size, lineBytes: 64, ways: 8, cpus: perCore(core) });
    }
  }
  for (let pkg = 0; pkg < shape.packages; pkg++) {
    const members = cpus.filter((c) => c.package === pkg).map((c) => c.cpu);
    caches.push({ level: 3, type: "unified", sizeBytes: 32 << 20, lineBytes: 64, ways: 16, cpus: members });
  }
  return {
    cpus,
    packages: shape.packages,
    dies: shape.packages,
    cores,
    threadsPerCore: shape.threadsPerCore,
    caches,
    numa: Array.from({ length: shape.packages }, (_, id) => ({
      id,
      cpus: cpus.filter((c) => c.package === id).map((c) => c.cpu),
      distances: Array.from({ length: shape.packages }, (_, j) => (j === id ? 10 : 21)),
    })),
  };
}

const CLASS_FACTOR = {
  "same-cpu": 0.6,
  "smt-sibling": 0.5,
  "shared-l2": 0.8,
  "shared-l3": 1,
  "same-package": 1.3,
  "cross-package": 2.2,
} as const;

const MECHANISMS = {
  cacheline: { probe: "engine", latencyNs: 60, bytesPerSecond: 0, spins: true },
  pipe: { probe: "engine", latencyNs: 9_000, bytesPerSecond: 2e9, spins: false },
  "mempipe-spin-safe": { probe: "engine", latencyNs: 250, bytesPerSecond: 6e9, spins: true },
  "node-net-unix": { probe: "node", latencyNs: 30_000, bytesPerSecond: 4e8, spins: false },
} as const;

function okRun(
  mechanism: string,
  mode: "latency" | "throughput",
  size: number,
  cpus: [number, number],
  topology: Topology,
  value: number,
  rnd: () => number,
  hostile: boolean,
): Run {
  const samples = Array.from({ length: 400 }, () => value * (0.85 + 0.3 * rnd()) * (rnd() < 0.02 ? 8 : 1));
  const sorted = [...samples].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? value;
  const spin = cpus[0] === cpus[1] && MECHANISMS[mechanism as keyof typeof MECHANISMS].spins;
  const latencyValue = spin ? 4e6 : value;
  const stats = {
    n: samples.length,
    min: sorted[0] ?? value,
    p50: mode === "latency" ? latencyValue : q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    p999: q(0.999),
    max: sorted.at(-1) ?? value,
    mean: value,
    stddev: value * 0.1,
    cv: 0.1,
    drift: 0,
  };
  return {
    mechanism,
    mode,
    size,
    cpus,
    placement: placementClass(topology, cpus[0], cpus[1]),
    numaDistance: 10,
    status: "ok",
    unit: mode === "latency" ? "ns" : "B/s",
    stats,
    ...(mode === "throughput" ? { rate: { bytesPerSecond: value, messagesPerSecond: value / size } } : {}),
    iterations: 1000,
    warmupIterations: 100,
    elapsedNs: 1e8,
    batchMessages: 1,
    clock: { source: "tsc", hz: 2.6e9, overheadNs: 12 },
    pinning: { verified: true, observed: cpus },
    flags: spin ? ["spin-on-shared-cpu"] : [],
    samples: { values: mode === "latency" ? samples.map((s) => (spin ? s * 1e4 : s)) : samples, of: 1000 },
    params: { wait: hostile ? HOSTILE : "spin+pause", ringBytes: 65536 },
  };
}

/** A valid result document (it passes the schema) for a machine of the given shape. */
export function craftedResult(shape: FixtureShape): ResultFile {
  const topology = craftedTopology(shape);
  const hostile = shape.hostile ?? false;
  const slow = shape.slowdown ?? 1;
  const text = (plain: string) => (hostile ? HOSTILE : plain);
  const rnd = random(42);
  const all = topology.cpus.map((c) => c.cpu);
  const runs: Run[] = [];
  for (const [mechanism, m] of Object.entries(MECHANISMS)) {
    for (const a of all) {
      for (const b of all) {
        // One pair is not run, one fails: the heatmap must show both.
        if (mechanism === "pipe" && a === 1 && b === 4) continue;
        if (mechanism === "pipe" && a === 4 && b === 1) {
          runs.push({
            mechanism,
            mode: "latency",
            size: 64,
            cpus: [a, b],
            placement: placementClass(topology, a, b),
            numaDistance: 10,
            status: "failed",
            error: { code: "EPEER", message: text("side B: the peer is gone") },
          });
          continue;
        }
        const factor = CLASS_FACTOR[placementClass(topology, a, b)];
        runs.push(
          okRun(
            mechanism,
            "latency",
            64,
            [a, b],
            topology,
            m.latencyNs * factor * slow * (0.95 + 0.1 * rnd()),
            rnd,
            hostile,
          ),
        );
      }
    }
    if (m.bytesPerSecond === 0) continue;
    const seen = new Set<string>();
    for (const a of all) {
      for (const b of all) {
        const cls = placementClass(topology, a, b);
        if (b < a || seen.has(cls)) continue;
        seen.add(cls);
        for (const size of [64, 65536]) {
          const value = (m.bytesPerSecond / CLASS_FACTOR[cls] / slow) * (size === 64 ? 0.05 : 1);
          runs.push(okRun(mechanism, "throughput", size, [a, b], topology, value, rnd, hostile));
        }
      }
    }
  }
  return {
    schema: 1,
    createdAt: "2026-11-22T10:00:00Z",
    suite: {
      name: "fable-io",
      version: "0.1.0",
      commit: "0123456789abcdef0123456789abcdef01234567",
      dirty: false,
      engine: "0.1.0",
    },
    machine: {
      id: "0123456789abcdef0123456789abcdef",
      hardwareKey: "0123456789abcdef",
      arch: "x64",
      topology,
      environment: {
        virtualization: { hypervisor: slow > 1, vendor: slow > 1 ? text("KVM") : null },
        container: null,
        kernel: { release: "6.1.0-13-amd64" },
        os: { id: "debian", versionId: "12" },
        cpu: {
          vendor: text("GenuineIntel"),
          model: text(`Crafted CPU ${shape.packages}x${shape.coresPerPackage}x${shape.threadsPerCore}`),
          family: 6,
          modelNumber: 85,
          stepping: 4,
          flags: ["tsc", "constant_tsc"],
        },
        memoryGiB: 64,
        governor: "performance",
        smt: shape.threadsPerCore > 1 ? "on" : "notsupported",
        clocksource: "tsc",
        runtime: { node: text("20.20.2"), v8: text("11.3.244.8"), uv: text("1.46.0") },
      },
    },
    config: {
      quick: false,
      budgetMs: 300,
      warmupMs: 50,
      pairs: "all",
      sizes: [64, 65536],
      modes: ["latency", "throughput"],
    },
    benchmarks: Object.fromEntries(
      Object.entries(MECHANISMS).map(([name, m]) => [name, { method: "1.0.0", probe: m.probe }]),
    ),
    runs,
  };
}
