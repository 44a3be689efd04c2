/**
 * The reconfiguration policy as a pure function (signals in, decisions out), and the daemon's
 * triggers through NameService.handle() with pushes and /proc samples captured: no sockets, no timers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DefaultOrderSelector } from "../../src/daemon/default-order.js";
import { type Caller, NameService, PENDING_TIMEOUT_MS } from "../../src/daemon/name-service.js";
import {
  contention,
  decide,
  DEFAULT_POLICY,
  type EndSample,
  type FlowPolicy,
  type Signal,
  startPolicy,
} from "../../src/daemon/policy.js";
import type { FlowReport, PathChoice, Push, Reply, Request, RequestBody } from "../../src/naming/protocol.js";
import { random } from "../kit/random.js";

const spin: PathChoice = { transport: "shm", wait: "spin" };
const block: PathChoice = { transport: "shm", wait: "block" };

/** Feeds signals at `stepMs` apart; reports each switch as done at once. Returns the switches. */
function run(signals: readonly Signal[], stepMs = 100, start: PathChoice = spin): { to: PathChoice; at: number }[] {
  let p: FlowPolicy = startPolicy(start, 0);
  const switches: { to: PathChoice; at: number }[] = [];
  signals.forEach((signal, i) => {
    const now = (i + 1) * stepMs;
    const { state, decision } = decide(p, signal, now);
    p = state;
    if (decision !== undefined) {
      switches.push({ to: decision.to, at: now });
      p = decide(p, { kind: "reported", to: decision.to, reason: decision.reason, ok: true }, now).state;
    }
  });
  return switches;
}

const sample = (s: "pinned" | "co-running" | "apart"): Signal => ({ kind: "contention", sample: s });

test("policy: pinned onto one CPU switches spin -> block after the entry samples, and back after the leave samples", () => {
  const signals = [...Array(20).fill(sample("pinned")), ...Array(30).fill(sample("apart"))] as Signal[];
  const switches = run(signals);
  assert.deepEqual(
    switches.map((s) => s.to),
    [block, spin],
  );
  // Not before the dwell time after the flow started (1 s), nor before 3 pinned samples.
  assert.equal(switches[0]?.at, DEFAULT_POLICY.minDwellMs);
  // Back: 5 clean samples after the pin ends at 2000 ms, and the dwell since the first switch.
  assert.equal(switches[1]?.at, 2000 + DEFAULT_POLICY.leaveSamples * 100);
});

test("policy: a noisy contention signal cannot make a flow flap (seeded; switches counted)", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rnd = random(seed);
    // 10 minutes of samples every 100 ms, each contended with probability one half, of both kinds.
    const signals: Signal[] = [];
    for (let i = 0; i < 6000; i++) {
      const r = rnd();
      signals.push(sample(r < 0.25 ? "pinned" : r < 0.5 ? "co-running" : "apart"));
    }
    const switches = run(signals);
    const bound = (6000 * 100) / DEFAULT_POLICY.minDwellMs;
    assert.ok(switches.length <= bound, `seed ${seed}: ${switches.length} switches (bound ${bound})`);
    // Hysteresis makes it far rarer than that: 3 pinned, or 10 contended, in a row.
    assert.ok(switches.length < bound / 4, `seed ${seed}: ${switches.length} switches`);
    for (let i = 1; i < switches.length; i++) {
      const gap = (switches[i]?.at ?? 0) - (switches[i - 1]?.at ?? 0);
      assert.ok(gap >= DEFAULT_POLICY.minDwellMs, `seed ${seed}: switches ${gap} ms apart`);
    }
  }
  // Occasional co-running (never 10 in a row) never switches at all.
  const rare = Array.from({ length: 600 }, (_, i) => sample(i % 3 === 0 ? "co-running" : "apart"));
  assert.deepEqual(run(rare), []);
});

test("policy: location and trust act at once, override contention, and go back; failure moves the base", () => {
  let p = startPolicy(spin, 0);
  const step = (signal: Signal, now: number): PathChoice | undefined => {
    const { state, decision } = decide(p, signal, now);
    p = state;
    if (decision !== undefined)
      p = decide(p, { kind: "reported", to: decision.to, reason: decision.reason, ok: true }, now).state;
    return decision?.to;
  };
  assert.deepEqual(step({ kind: "location", apart: true }, 10), { transport: "tcp", wait: null });
  assert.deepEqual(step({ kind: "trust", trusted: false }, 20), { transport: "tls", wait: null });
  for (let t = 100; t < 3000; t += 100) assert.equal(step(sample("pinned"), t), undefined); // tls wins
  assert.deepEqual(step({ kind: "trust", trusted: true }, 3000), { transport: "tcp", wait: null });
  assert.deepEqual(step({ kind: "location", apart: false }, 3010), block); // still pinned: block, not spin
  // A manual command sets the base; a failure makes the resume path the base.
  assert.deepEqual(step({ kind: "manual", to: { transport: "unix", wait: null } }, 3020), {
    transport: "unix",
    wait: null,
  });
  p = decide(p, { kind: "reported", to: { transport: "tcp", wait: null }, reason: "failure", ok: true }, 3030).state;
  assert.deepEqual(
    [p.base, p.current],
    [
      { transport: "tcp", wait: null },
      { transport: "tcp", wait: null },
    ],
  );
  // One switch in flight at a time (still pinned: a spinning base would become block).
  const unix: PathChoice = { transport: "unix", wait: null };
  const pending = decide(p, { kind: "manual", to: unix }, 3040);
  assert.deepEqual(pending.decision?.to, unix);
  assert.equal(decide(pending.state, { kind: "trust", trusted: false }, 3050).decision, undefined);
  // A failed attempt leaves the flow where it was.
  const failed = decide(pending.state, { kind: "reported", to: unix, reason: "manual", ok: false }, 3060).state;
  assert.deepEqual([failed.current, failed.pending], [{ transport: "tcp", wait: null }, undefined]);
});

test("policy: contention samples: pinned together, co-running, idle on one CPU, apart", () => {
  const end = (allowedCpus: number[], currentCpu: number, running: boolean): EndSample => ({
    allowedCpus,
    currentCpu,
    running,
  });
  assert.equal(contention(end([0], 0, false), end([0], 0, false)), "pinned");
  assert.equal(contention(end([0, 1], 1, true), end([0, 1], 1, true)), "co-running");
  assert.equal(contention(end([0, 1], 1, false), end([0, 1], 1, true)), "apart");
  assert.equal(contention(end([0], 0, true), end([1], 1, true)), "apart");
});

// ---- through the daemon's handlers ----------------------------------------------------------

const alice: Caller = { pid: 100, uid: 1000, gid: 1000, session: 1 };
const aliceCli: Caller = { pid: 102, uid: 1000, gid: 1000, session: 2 };
const bob: Caller = { pid: 200, uid: 2000, gid: 2000, session: 3 };
let nextId = 1;
const call = (s: NameService, who: Caller, body: RequestBody): Reply =>
  s.handle(who, { ...body, id: nextId++ } as Request);
const code = (r: Reply): string | undefined => (r.ok ? undefined : r.error.code);

function daemon(): {
  service: NameService;
  pushes: { session: number; push: Push }[];
  where: Map<number, EndSample>;
  clock: { now: number };
} {
  const pushes: { session: number; push: Push }[] = [];
  const where = new Map<number, EndSample>();
  const clock = { now: 1_000_000 };
  const service = new NameService({
    selector: new DefaultOrderSelector(),
    placement: (pid) => ({ pid, allowedCpus: [0, 1], currentCpu: null }),
    alive: () => true,
    uid: 1000,
    now: () => clock.now,
    push: (session, push) => {
      pushes.push({ session, push });
      return session !== 99;
    },
    sample: (pid) => {
      const s = where.get(pid);
      if (s === undefined) throw new Error(`no process ${pid}`);
      return s;
    },
    tlsCredentials: () => ({ key: "k", cert: "c", ca: "a" }),
  });
  return { service, pushes, where, clock };
}

const report = (wait: PathChoice["wait"] = "spin", epoch = 0): FlowReport => ({
  id: "flow-1",
  name: "app/x",
  listenerPid: 300,
  listenerCpus: [0, 1],
  connectorCpus: [0, 1],
  transport: "shm",
  wait,
  epoch,
  fallbacks: [],
  since: 0,
  counters: { sentMessages: 0, sentBytes: 0, receivedMessages: 0, receivedBytes: 0, writeWaits: 0 },
});

test("triggers: a manual switch is pushed to the flow's connecting end; its event is recorded with the switch", () => {
  const { service, pushes, clock } = daemon();
  assert.equal(call(service, alice, { type: "flow", flow: report() }).ok, true);
  assert.equal(code(call(service, bob, { type: "reconfigure", flowId: "flow-1", to: block })), "ENOENT");
  assert.equal(code(call(service, aliceCli, { type: "reconfigure", flowId: "nope", to: block })), "ENOENT");
  const r = call(service, aliceCli, { type: "reconfigure", flowId: "flow-1", to: block });
  assert.ok(r.ok);
  assert.deepEqual(pushes, [
    { session: 1, push: { push: "reconfigure", flowId: "flow-1", to: block, reason: "manual" } },
  ]);
  assert.equal(code(call(service, aliceCli, { type: "reconfigure", flowId: "flow-1", to: spin })), "EBUSY");
  // Only the reporting session reports events.
  const event = { from: spin, to: block, epoch: 1, reason: "manual" as const, pauseMs: 0.4, resent: 0, at: clock.now };
  assert.equal(code(call(service, aliceCli, { type: "flow-event", flowId: "flow-1", event })), "ENOENT");
  assert.equal(call(service, alice, { type: "flow-event", flowId: "flow-1", event }).ok, true);
  const flows = call(service, aliceCli, { type: "flows" });
  assert.ok(flows.ok);
  const [f] = flows.flows as { wait: string; epoch: number; switches: number; events: unknown[] }[];
  assert.deepEqual([f?.wait, f?.epoch, f?.switches, f?.events], ["block", 1, 1, [event]]);
  assert.deepEqual(service.switchTotals(), [
    { reason: "manual", from: "shm:spin", to: "shm:block", count: 1, pauseMs: 0.4, resent: 0 },
  ]);
  assert.equal(code(call(service, aliceCli, { type: "reconfigure", flowId: "flow-1", to: block })), "ENOCHANGE");
});

test("triggers: contention sampling switches a spinning flow pinned with its peer, and nothing else", () => {
  const { service, pushes, where, clock } = daemon();
  call(service, alice, { type: "flow", flow: report() });
  call(service, alice, { type: "flow", flow: { ...report("block"), id: "flow-2" } });
  assert.equal(service.spinningFlows, 1);
  where.set(100, { allowedCpus: [1], currentCpu: 1, running: true });
  where.set(300, { allowedCpus: [1], currentCpu: 1, running: false });
  for (let i = 0; i < 12; i++) {
    clock.now += 100;
    service.sampleContention();
  }
  assert.deepEqual(
    pushes.map((p) => [p.push.flowId, p.push.to, p.push.reason]),
    [["flow-1", block, "contention"]],
  );
  // A pushed switch never reported counts as failed after PENDING_TIMEOUT_MS; then it is decided again.
  clock.now += PENDING_TIMEOUT_MS + 1;
  service.sampleContention();
  clock.now += DEFAULT_POLICY.minDwellMs;
  service.sampleContention();
  assert.equal(pushes.length, 2);
  // A push that cannot be delivered leaves nothing in flight.
  call(service, { ...alice, session: 99 }, { type: "flow", flow: { ...report(), id: "flow-3" } });
  const r = call(service, aliceCli, { type: "flow-trust", flowId: "flow-3", trusted: false });
  assert.ok(r.ok);
  assert.equal(r.pushed, null);
});

test("triggers: location and trust marks push tcp and tls; tls credentials only for the daemon's uid", () => {
  const { service, pushes } = daemon();
  call(service, alice, { type: "flow", flow: report("block") });
  const r = call(service, aliceCli, { type: "flow-location", flowId: "flow-1", apart: true });
  assert.ok(r.ok);
  assert.deepEqual(r.pushed, { transport: "tcp", wait: null });
  assert.equal(pushes[0]?.push.reason, "location");
  assert.equal(code(call(service, bob, { type: "tls-credentials" })), "EACCES");
  const creds = call(service, alice, { type: "tls-credentials" });
  assert.ok(creds.ok);
  assert.equal(creds.cert, "c");
});
