/**
 * Chaos: two real processes stream sequence-numbered messages of mixed sizes (1 B to 1 MiB) both
 * ways at full speed while random switches among shm (spin, block, adaptive), unix, tcp and tls, from
 * either end, and abrupt path kills (socket destroyed, shm liveness cut and region torn down) from
 * either end happen; each side checks every message of the other exactly once, in order, byte for
 * byte. Seeded and repeatable: FABLE_CHAOS_SEED=<n> repeats a run (the seed is reported).
 * FABLE_CHAOS_SWITCHES and FABLE_CHAOS_KILLS set the run (defaults 1000 and 50, kills spread
 * through it): the full run by default, 25-95 s on a 2-vCPU machine at load 3-7 (a switch takes
 * p50 18-60 ms, request to done). FABLE_CHAOS_BUDGET_S (default 240; 0 = none) is a guard for a
 * machine far slower than that: it stops the run early (reported; at least 20 switches and 2 kills
 * must be done). FABLE_CHAOS_STALL_S (default 60): a step stuck that long dumps both ends' inner
 * state and fails with the seed. FABLE_CHAOS_PROGRESS=<n>: a line on stderr every n switches.
 */
import assert from "node:assert/strict";
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { fileURLToPath } from "node:url";
import { openReconfigurable } from "../../src/channel/connection.js";
import type { PathSpec } from "../../src/channel/paths.js";
import { issueLeaf } from "../../src/daemon/tls-ca.js";
import { listenUnix } from "../../src/transports/unix.js";
import { endState, killPath, random, Streams } from "../kit/chaos-stream.js";

const SPECS: readonly PathSpec[] = [
  { kind: "shm", wait: "spin" },
  { kind: "shm", wait: "block" },
  { kind: "shm", wait: "adaptive" },
  { kind: "unix" },
  { kind: "tcp" },
  { kind: "tls" },
];

const dir = mkdtempSync(join(tmpdir(), "fable-chaos-"));
let child: ChildProcess | undefined;
after(() => {
  child?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

type ChildEvent =
  | { event: "ready" }
  | { event: "switched" }
  | { event: "refused" | "failed"; message: string }
  | { event: "stopped"; sent: number }
  | { event: "received"; count: number; error?: string };

it("delivers every message exactly once, in order, through random switches and path kills", async (t) => {
  const seed = Number(process.env.FABLE_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const wantSwitches = Number(process.env.FABLE_CHAOS_SWITCHES ?? 1000);
  const wantKills = Number(process.env.FABLE_CHAOS_KILLS ?? 50);
  const budgetMs = Number(process.env.FABLE_CHAOS_BUDGET_S ?? 240) * 1000;
  // FABLE_CHAOS_PROGRESS=<n>: a line on stderr every n switches (and every slow step), live.
  const progressEvery = Number(process.env.FABLE_CHAOS_PROGRESS ?? 0);
  // A step (switch, or the final count) that takes longer than this is a hang: both ends' inner
  // state goes to stderr and the test fails with its seed, instead of running into CI's timeout.
  const stallMs = Number(process.env.FABLE_CHAOS_STALL_S ?? 60) * 1000;
  const started = Date.now();
  const overBudget = (): boolean => budgetMs > 0 && Date.now() - started > budgetMs;
  t.diagnostic(`seed ${seed} (repeat with FABLE_CHAOS_SEED=${seed})`);
  const rng = random(seed);

  const ca = join(dir, "ca");
  const tls = issueLeaf(ca, "parent");
  issueLeaf(ca, "child");
  const path = join(dir, "chaos.sock");
  const listener = await listenUnix(path);
  const script = fileURLToPath(new URL("../kit/reconfigure-peer.js", import.meta.url));
  const peer = fork(script, [path, String(seed), dir, ca], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  child = peer;
  const events: ChildEvent[] = [];
  let wake: (() => void) | undefined;
  peer.on("message", (m: ChildEvent) => {
    events.push(m);
    wake?.();
  });
  const exited = new Promise<never>((_, reject) =>
    peer.once("exit", (code) => reject(new Error(`the peer process exited (${code}); seed ${seed}`))),
  );
  exited.catch(() => undefined);
  const next = async <E extends ChildEvent["event"]>(...names: E[]): Promise<Extract<ChildEvent, { event: E }>> => {
    for (;;) {
      const i = events.findIndex((e) => (names as string[]).includes(e.event) || e.event === "failed");
      if (i >= 0) {
        const [e] = events.splice(i, 1);
        if (e?.event === "failed") throw new Error(`the peer's connection failed: ${e.message}; seed ${seed}`);
        return e as Extract<ChildEvent, { event: E }>;
      }
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), exited]);
    }
  };

  const conn = await openReconfigurable(await listener.accept(), { role: "listener", dir, tls, timeoutMs: 10_000 });
  await listener.close();
  await next("ready");
  const streams = new Streams(conn, seed, seed + 1);
  const step = async <T>(what: string, work: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        peer.send({ cmd: "dump" });
        const state = {
          sent: streams.sent,
          received: streams.received,
          connection: conn.debugState,
          end: endState(conn.transport),
        };
        process.stderr.write(`chaos state: ${JSON.stringify(state)}\n`);
        // A moment for the peer's dump to come out before the test fails; then the socket's counters again.
        setTimeout(() => {
          peer.send({ cmd: "dump" });
          process.stderr.write(`chaos state 2 s later: ${JSON.stringify(endState(conn.transport))}\n`);
          setTimeout(() => reject(new Error(`stuck for ${stallMs / 1000} s at ${what}; seed ${seed}`)), 500);
        }, 2000);
      }, stallMs);
    });
    try {
      return await Promise.race([work, stalled]);
    } finally {
      clearTimeout(timer);
    }
  };
  const writing = streams.write();
  const reading = streams.read();
  reading.catch(() => undefined);

  let switches = 0;
  let refused = 0;
  let kills = 0;
  const resumes: number[] = [];
  let lastPauseMs = 0;
  conn.on("switch", (e) => {
    if (e.reason === "resume") resumes.push(e.resent);
    else lastPauseMs = e.pauseMs;
  });
  // Time of each switch as the initiator saw it (request to done), by the path switched to.
  const stepTimes = new Map<string, number[]>();
  while ((switches < wantSwitches || kills < wantKills) && !overBudget()) {
    const killNow = kills < wantKills && (switches >= wantSwitches || rng() < wantKills / (wantSwitches + wantKills));
    const ours = rng() < 0.6;
    if (killNow) {
      if (ours) assert.ok(killPath(conn.transport) || true);
      else peer.send({ cmd: "kill" });
      kills++;
      continue;
    }
    const spec = SPECS[Math.floor(rng() * SPECS.length)] as PathSpec;
    const stepStart = performance.now();
    const fromKind = conn.transport.kind;
    let ok: boolean;
    if (ours)
      ok = await step(
        `switch ${switches + 1} (ours, to ${spec.kind})`,
        conn.reconfigure(spec).then(
          () => true,
          () => false,
        ),
      );
    else {
      peer.send({ cmd: "switch", spec });
      const answer: { event: string } = await step(
        `switch ${switches + 1} (theirs, to ${spec.kind})`,
        next("switched", "refused"),
      );
      ok = answer.event === "switched";
    }
    if (ok) switches++;
    else refused++;
    const stepMs = performance.now() - stepStart;
    const to = `${spec.kind}${spec.wait !== undefined ? `:${spec.wait}` : ""}`;
    if (ok) stepTimes.set(to, [...(stepTimes.get(to) ?? []), stepMs]);
    if (progressEvery > 0 && (stepMs > 500 || (ok && switches % progressEvery === 0))) {
      process.stderr.write(
        `chaos ${((Date.now() - started) / 1000).toFixed(1)} s: switch ${switches} ${ours ? "ours" : "theirs"} ` +
          `${fromKind}->${to} ${ok ? "ok" : "refused"} ${stepMs.toFixed(0)} ms (pause ${lastPauseMs.toFixed(0)} ms); ` +
          `kills ${kills}, sent ${streams.sent}, received ${streams.received}\n`,
      );
    }
    assert.equal(streams.error, undefined, `seed ${seed}`);
  }

  streams.stop();
  const sent = await step("stopping the writer", writing);
  peer.send({ cmd: "stop" });
  const theirs = (await step("the peer's stop", next("stopped"))).sent;
  peer.send({ cmd: "expect", count: sent });
  await step(`receiving the peer's ${theirs} messages`, streams.until(theirs));
  const received = await step(`the peer receiving ${sent} messages`, next("received"));
  t.diagnostic(
    `seed ${seed}: ${switches} switches (${refused} interrupted), ${kills} kills, ${resumes.length} resumes ` +
      `re-sending ${resumes.reduce((a, b) => a + b, 0)} records; messages ${sent} one way, ${theirs} the other`,
  );
  const summary = (times: number[]): string => {
    const sorted = [...times].sort((x, y) => x - y);
    const at = (q: number): string =>
      (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(0);
    return `n ${sorted.length} p50 ${at(0.5)} p90 ${at(0.9)} p99 ${at(0.99)} max ${at(1)} ms`;
  };
  t.diagnostic(
    `seed ${seed}: ${((Date.now() - started) / 1000).toFixed(1)} s; switch times (request to done) ` +
      `${summary([...stepTimes.values()].flat())}; ` +
      [...stepTimes].map(([to, times]) => `to ${to}: ${summary(times)}`).join("; "),
  );
  assert.equal(streams.error, undefined, `seed ${seed}`);
  assert.equal(received.error, undefined, `seed ${seed}`);
  assert.equal(received.count, sent, `seed ${seed}`);
  assert.equal(streams.received, theirs, `seed ${seed}`);
  if (overBudget()) {
    t.diagnostic(`stopped by FABLE_CHAOS_BUDGET_S after ${switches} of ${wantSwitches} switches`);
    assert.ok(switches >= Math.min(20, wantSwitches) && kills >= Math.min(2, wantKills), `seed ${seed}`);
  } else assert.ok(switches >= wantSwitches && kills >= wantKills);
  assert.ok(sent > 0 && theirs > 0);
  await conn.close();
  peer.disconnect();
});
