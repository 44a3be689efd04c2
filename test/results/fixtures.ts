/**
 * Result documents for the results database tests: a small valid fable-io result on a fixed two-CPU
 * topology (no live reads, so every figure is known), helpers to mutate copies, and a snapshot of a
 * directory to prove that it did not change.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { Environment } from "../../src/bench/environment.js";
import { hardwareKey } from "../../src/bench/machine.js";
import type { ResultFile, RunOk } from "../../src/bench/result.js";
import { summarize, thin } from "../../src/bench/statistics.js";
import type { Topology } from "../../src/bench/topology.js";

export function twoCpuTopology(): Topology {
  return {
    cpus: [
      { cpu: 0, online: true, package: 0, die: 0, core: 0, smtSiblings: [0], node: 0 },
      { cpu: 1, online: true, package: 0, die: 0, core: 1, smtSiblings: [1], node: 0 },
    ],
    packages: 1,
    dies: 1,
    cores: 2,
    threadsPerCore: 1,
    caches: [
      { level: 1, type: "data", sizeBytes: 32768, lineBytes: 64, ways: 8, cpus: [0] },
      { level: 1, type: "data", sizeBytes: 32768, lineBytes: 64, ways: 8, cpus: [1] },
      { level: 3, type: "unified", sizeBytes: 8388608, lineBytes: 64, ways: 16, cpus: [0, 1] },
    ],
    numa: [{ id: 0, cpus: [0, 1], distances: [10] }],
  };
}

export function environment(): Environment {
  return {
    virtualization: { hypervisor: false, vendor: null },
    container: null,
    kernel: { release: "6.1.0-13-amd64" },
    os: { id: "debian", versionId: "12" },
    cpu: {
      vendor: "GenuineIntel",
      model: "Example(R) CPU E1234 @ 2.00GHz",
      family: 6,
      modelNumber: 85,
      stepping: 4,
      flags: ["tsc", "constant_tsc"],
    },
    memoryGiB: 16,
    governor: "performance",
    smt: "on",
    clocksource: "tsc",
    runtime: { node: "20.20.2", v8: "11.3.244.8-node.38", uv: "1.46.0" },
  };
}

function latencyRun(cpus: [number, number], samples: number[]): RunOk {
  return {
    mechanism: "pipe",
    mode: "latency",
    size: 64,
    cpus,
    placement: cpus[0] === cpus[1] ? "same-cpu" : "shared-l3",
    numaDistance: 10,
    status: "ok",
    unit: "ns",
    stats: summarize(samples),
    iterations: samples.length,
    warmupIterations: 10,
    elapsedNs: samples.reduce((a, b) => a + b, 0),
    batchMessages: 1,
    clock: { source: "tsc", hz: 2.0e9, overheadNs: 10 },
    pinning: { verified: true, observed: cpus },
    flags: [],
    samples: { values: thin(samples, 1000), of: samples.length },
    params: { pipes: 2 },
  };
}

function throughputRun(): RunOk {
  const batch = 16;
  const size = 4096;
  const durations = [20_000, 21_000, 19_500, 20_500, 22_000, 20_100, 19_900, 20_000];
  const rates = durations.map((d) => (batch * size * 1e9) / d);
  const elapsed = durations.reduce((a, b) => a + b, 0);
  const iterations = durations.length * batch;
  return {
    mechanism: "pipe",
    mode: "throughput",
    size,
    cpus: [0, 1],
    placement: "shared-l3",
    numaDistance: 10,
    status: "ok",
    unit: "B/s",
    stats: summarize(rates),
    rate: { bytesPerSecond: (iterations * size * 1e9) / elapsed, messagesPerSecond: (iterations * 1e9) / elapsed },
    iterations,
    warmupIterations: 32,
    elapsedNs: elapsed,
    batchMessages: batch,
    clock: { source: "tsc", hz: 2.0e9, overheadNs: 10 },
    pinning: { verified: true, observed: [0, 1] },
    flags: [],
    samples: { values: durations, of: durations.length },
    params: { pipes: 2, wait: "blocking read" },
  };
}

/** A valid fable-io result: pipe latency on every pair of the two CPUs, and one throughput run. */
export function validDoc(): ResultFile {
  const topology = twoCpuTopology();
  const env = environment();
  const base = [9000, 9100, 9050, 9200, 9900, 9010, 9020, 9080, 9150, 9300];
  return {
    schema: 1,
    createdAt: "2026-11-20T10:00:00Z",
    suite: {
      name: "fable-io",
      version: "0.1.0",
      commit: "0123456789abcdef0123456789abcdef01234567",
      dirty: false,
      engine: "0.1.0",
    },
    machine: {
      id: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
      hardwareKey: hardwareKey("x64", topology, env),
      arch: "x64",
      topology,
      environment: env,
    },
    config: {
      quick: false,
      budgetMs: 300,
      warmupMs: 50,
      pairs: "all",
      sizes: [64, 4096],
      modes: ["latency", "throughput"],
    },
    benchmarks: { pipe: { method: "1.0.0", probe: "engine" } },
    runs: [
      latencyRun(
        [0, 0],
        base.map((v) => v - 2000),
      ),
      latencyRun([0, 1], base),
      latencyRun(
        [1, 0],
        base.map((v) => v + 50),
      ),
      latencyRun(
        [1, 1],
        base.map((v) => v - 1900),
      ),
      throughputRun(),
    ],
  };
}

/**
 * A copy of a document with values set at JSON pointers (crafted files need not fit the type); a value of
 * `undefined` deletes the member. A pointer ending in "/-" appends to an array.
 */
export function crafted(changes: Record<string, unknown>, doc: ResultFile = validDoc()): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
  for (const [pointer, value] of Object.entries(changes)) {
    const parts = pointer.split("/").slice(1);
    const last = parts.pop() ?? "";
    let node: unknown = copy;
    for (const p of parts) node = (node as Record<string, unknown>)[p];
    if (Array.isArray(node) && last === "-") node.push(value);
    else if (value === undefined) delete (node as Record<string, unknown>)[last];
    else (node as Record<string, unknown>)[last] = value;
  }
  return copy;
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value, null, 2));
  return path;
}

/** Every file under a directory with the SHA-256 of its bytes: equal snapshots mean nothing changed. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out[relative(dir, full)] = createHash("sha256").update(readFileSync(full)).digest("hex");
    }
  };
  walk(dir);
  return out;
}
