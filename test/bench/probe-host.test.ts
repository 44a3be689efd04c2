import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findMechanism, type Mechanism, type ProbeKind } from "../../src/bench/mechanisms.js";
import {
  type BenchConfig,
  type BenchHooks,
  probeCommand,
  readMachine,
  runBench,
} from "../../src/bench/orchestrator.js";
import { type HostCommand, parseAnswer, ProbeHost } from "../../src/bench/probe-host.js";
import type { ResultFile, Run } from "../../src/bench/result.js";

const machine = readMachine();
const online = machine.topology.cpus.filter((c) => c.online).map((c) => c.cpu);
const [cpuA, cpuB] = [online[0] ?? 0, online[1] ?? online[0] ?? 0];

/** Latency of `names` on both orders of two CPUs (or one CPU with itself), in rounds, without a sentinel. */
function config(names: readonly string[], rounds: number, answerSlackMs?: number): BenchConfig {
  return {
    mechanisms: names.map((n) => findMechanism(n) as Mechanism),
    modes: ["latency"],
    latencySizes: [64],
    throughputSizes: [],
    latencyPairs: [
      [cpuA, cpuB],
      [cpuB, cpuA],
    ],
    throughputPairs: [],
    budgetMs: 20,
    warmupMs: 5,
    maxSamples: 2_000_000,
    ...(answerSlackMs !== undefined ? { answerSlackMs } : {}),
    quick: true,
    pairsKind: "custom",
    rounds,
    seed: 11,
    sentinel: { cpus: null, budgetMs: 10, warmupMs: 2, everyMs: 0 },
    maxRerunsPerTest: 0,
    rerunShare: 0,
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids of `pids` still running after a generous while (hosts exit when their input ends). */
async function survivors(pids: readonly number[]): Promise<number[]> {
  for (let i = 0; i < 100 && pids.some(alive); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return pids.filter(alive);
}

/**
 * A serving Node probe behind a proxy that passes every line through but puts a line of garbage
 * before the probe's third answer: what the orchestrator reads is a corrupt answer from a real host.
 */
const GARBLING_PROXY = `
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
const probe = spawn(process.execPath, process.argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
process.stdin.pipe(probe.stdin);
let answers = 0;
createInterface({ input: probe.stdout }).on("line", (line) => {
  if (++answers === 3) process.stdout.write("this is not a probe result\\n");
  process.stdout.write(line + "\\n");
});
probe.on("exit", () => process.exit(0));
`;

const garbling: HostCommand = (kind) => {
  const [command, prefix] = probeCommand(kind);
  return kind === "node"
    ? [process.execPath, ["--input-type=module", "-e", GARBLING_PROXY, ...prefix]]
    : [command, prefix];
};

/** Runs the bench and lets `act` do something to the host of `kind` once, at the start of a round of `mechanism`. */
async function benchWithFault(
  c: BenchConfig,
  kind: ProbeKind,
  mechanism: string,
  act: (pid: number) => void,
  hostCommand: HostCommand = probeCommand,
): Promise<{ doc: ResultFile; hosts: number[]; acted: number | undefined }> {
  const hosts: number[] = [];
  let current: number | undefined;
  let acted: number | undefined;
  const hooks: BenchHooks = {
    onProbeHost: (k, m, pid) => {
      if (pid !== undefined) hosts.push(pid);
      if (k === kind && (kind === "engine" || m === mechanism)) current = pid;
    },
    onRoundStart: (r) => {
      // The host exists once a round of this mechanism ran: act on the next one.
      if (acted !== undefined || current === undefined || r.test.mechanism.name !== mechanism) return;
      acted = r.slot;
      act(current);
    },
  };
  const doc = await runBench(c, machine, hooks, new Date(), hostCommand);
  return { doc, hosts, acted };
}

function failedRuns(doc: ResultFile): Array<Extract<Run, { status: "failed" }>> {
  return doc.runs.filter((r): r is Extract<Run, { status: "failed" }> => r.status === "failed");
}

describe("serving probes: the host protocol", () => {
  it("accepts only a whole probe result of its own kind", () => {
    assert.equal(typeof parseAnswer("not json", "node"), "string");
    assert.equal(typeof parseAnswer("[1,2]", "node"), "string");
    assert.equal(typeof parseAnswer('{"ok":true,"probe":"engine"}', "node"), "string");
    assert.equal(typeof parseAnswer('{"ok":true,"probe":"node","iterations":"3"}', "node"), "string");
    assert.equal(typeof parseAnswer('{"ok":false,"probe":"node","error":{"code":"EPEER"}}', "node"), "string");
    const failure = parseAnswer('{"ok":false,"probe":"node","error":{"code":"EPEER","message":"m"}}', "node");
    assert.equal(typeof failure, "object");
  });

  it("runs test after test in one Node probe and one warm side B; a failed test retires the probe", async () => {
    const [command, prefix] = probeCommand("node");
    const host = new ProbeHost("node", command, prefix);
    const args = (extra: string[] = []): string[] => [
      ...["--mechanism", "node-net-unix", "--mode", "latency", "--size", "64", "--cpus", `${cpuA},${cpuB}`],
      ...["--budget-ms", "10", "--warmup-ms", "2", ...extra],
    ];
    try {
      for (let i = 0; i < 3; i++) {
        const out = await host.request(args(), 60_000);
        assert.equal(out.ok, true, JSON.stringify(out));
        assert.equal(host.alive, true, "the probe stays for the next test");
      }
      const corrupted = await host.request(args(["--budget-ms", "10000", "--corrupt-at", "2"]), 60_000);
      assert.equal(corrupted.ok, false);
      assert.equal(corrupted.ok ? undefined : corrupted.error.code, "ESEQUENCE");
      assert.equal(host.alive, false, "a probe whose test failed is not asked again");
    } finally {
      host.kill();
    }
  });
});

describe("serving probes: a host in trouble fails one round, and the run goes on", { timeout: 180_000 }, () => {
  it("a host killed mid-round (Node probe and engine)", async () => {
    for (const [kind, mechanism] of [
      ["node", "node-net-unix"],
      ["engine", "pipe"],
    ] as const) {
      const { doc, hosts, acted } = await benchWithFault(config([mechanism], 3), kind, mechanism, (pid) => {
        setTimeout(() => process.kill(pid, "SIGKILL"), 15);
      });
      assert.ok(acted !== undefined, "a round was disturbed");
      const failed = failedRuns(doc);
      assert.equal(failed.length, 1, `exactly one test failed: ${JSON.stringify(failed)}`);
      assert.equal(failed[0]?.error.code, "EPEER");
      assert.match(failed[0]?.error.message ?? "", /probe host .*(killed by SIGKILL|exited)/);
      assert.equal(doc.runs.length, 2);
      assert.ok(hosts.length >= 2, `a fresh host took over (${hosts.length} started)`);
      assert.deepEqual(await survivors(hosts), [], "every host is gone after the run");
    }
  });

  it("a host that answers a line that is not a probe result", async () => {
    const { doc, hosts } = await benchWithFault(
      config(["node-net-unix"], 3),
      "node",
      "node-net-unix",
      () => undefined,
      garbling,
    );
    const failed = failedRuns(doc);
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]?.error.code, "EPEER");
    assert.match(failed[0]?.error.message ?? "", /not a probe result/);
    assert.equal(doc.runs.length, 2);
    assert.ok(hosts.length >= 2, "the host was replaced");
  });

  it("a stalled host", async () => {
    const stopped: number[] = [];
    const { doc, hosts } = await benchWithFault(
      config(["node-net-unix", "pipe"], 2, 1_500),
      "node",
      "node-net-unix",
      (pid) => {
        stopped.push(pid);
        process.kill(pid, "SIGSTOP");
      },
    );
    const failed = failedRuns(doc);
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]?.error.code, "ETIMEOUT");
    assert.equal(failed[0]?.mechanism, "node-net-unix");
    assert.equal(doc.runs.length, 4);
    assert.ok(hosts.length >= 3, "the stalled host was replaced");
    assert.deepEqual(await survivors(stopped), [], "the stalled host was killed");
  });
});
