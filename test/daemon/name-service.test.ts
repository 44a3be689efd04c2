/** The daemon's handlers as plain functions: (caller credentials, request) -> reply, no sockets. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DefaultOrderSelector } from "../../src/daemon/default-order.js";
import { type Caller, NameService } from "../../src/daemon/name-service.js";
import { renderExplain } from "../../src/cli/explain.js";
import { candidateName, type EndPlacement, type Selection } from "../../src/daemon/selector.js";
import type { FlowReport, Reply, Request, RequestBody, ResolveReply } from "../../src/naming/protocol.js";

function world(): { service: NameService; dead: Set<number>; cpus: Map<number, number[]>; stopped: () => boolean } {
  const dead = new Set<number>();
  const cpus = new Map<number, number[]>();
  let stopped = false;
  const service = new NameService({
    selector: new DefaultOrderSelector(),
    placement: (pid): EndPlacement => ({ pid, allowedCpus: cpus.get(pid) ?? [0, 1], currentCpu: null }),
    alive: (pid) => !dead.has(pid),
    onStop: () => (stopped = true),
    uid: 1000,
    now: () => 1_000_000,
  });
  return { service, dead, cpus, stopped: () => stopped };
}

const alice: Caller = { pid: 100, uid: 1000, gid: 1000, session: 1 };
const alice2: Caller = { pid: 101, uid: 1000, gid: 1000, session: 2 };
const bob: Caller = { pid: 200, uid: 2000, gid: 2000, session: 3 };
let nextId = 1;

function call(s: NameService, who: Caller, body: RequestBody): Reply {
  return s.handle(who, { ...body, id: nextId++ } as Request);
}

function errorCode(r: Reply): string | undefined {
  return r.ok ? undefined : r.error.code;
}

const endpoints = { unix: "/run/x/unix.sock", shm: { spin: "/run/x/s", adaptive: "/run/x/a", block: "/run/x/b" } };
const critical = { latency: "critical", spin: true, trust: "trusted", sizes: [] } as const;

test("name service: a live holder keeps its name; anyone else's register is EADDRINUSE", () => {
  const { service } = world();
  assert.equal(call(service, alice, { type: "register", name: "app/cache", allow: [], endpoints }).ok, true);
  assert.equal(
    errorCode(call(service, alice2, { type: "register", name: "app/cache", allow: [], endpoints })),
    "EADDRINUSE",
  );
  assert.equal(
    errorCode(call(service, bob, { type: "register", name: "app/cache", allow: [], endpoints })),
    "EADDRINUSE",
  );
  assert.equal(errorCode(call(service, bob, { type: "unregister", name: "app/cache" })), "ENOENT");
  const names = call(service, alice, { type: "names" });
  assert.ok(names.ok);
  assert.deepEqual(
    (names.names as { name: string; pid: number }[]).map((n) => [n.name, n.pid]),
    [["app/cache", 100]],
  );
});

test("name service: a name goes with its session, or when its pid is dead", () => {
  const { service, dead } = world();
  call(service, alice, { type: "register", name: "a", allow: [], endpoints });
  service.endSession(alice.session);
  assert.equal(call(service, alice2, { type: "register", name: "a", allow: [], endpoints }).ok, true);
  dead.add(alice2.pid);
  // A dead holder's name is free for the next register, and resolve no longer finds it.
  assert.equal(errorCode(call(service, alice, { type: "resolve", name: "a", requirements: critical })), "ENOENT");
  call(service, alice, { type: "register", name: "b", allow: [], endpoints });
  dead.add(alice.pid);
  service.sweep();
  assert.equal(service.nameCount, 0);
});

test("name service: only the owner's uid and allowed uids may resolve or see a name", () => {
  const { service } = world();
  call(service, alice, { type: "register", name: "private", allow: [], endpoints });
  call(service, alice, { type: "register", name: "shared", allow: [2000], endpoints });
  assert.equal(errorCode(call(service, bob, { type: "resolve", name: "private", requirements: critical })), "EACCES");
  const r = call(service, bob, { type: "resolve", name: "shared", requirements: critical });
  assert.ok(r.ok);
  assert.equal((r.listener as { uid: number }).uid, 1000);
  const seen = call(service, bob, { type: "names" });
  assert.ok(seen.ok);
  assert.deepEqual(
    (seen.names as { name: string }[]).map((n) => n.name),
    ["shared"],
  );
  assert.equal(errorCode(call(service, bob, { type: "stop" })), "EACCES");
});

test("name service: resolve hands the Selector both ends' placement and what the listener offers", () => {
  const { service, cpus } = world();
  call(service, alice, {
    type: "register",
    name: "n",
    allow: [],
    endpoints: { unix: "/run/x/u", tcp: { host: "127.0.0.1", port: 9 } },
  });
  const r = call(service, alice2, { type: "resolve", name: "n", requirements: critical });
  assert.ok(r.ok);
  const sel = r.selection as { ranked: { transport: string }[]; verdicts: { excluded?: string }[] };
  assert.deepEqual(
    sel.ranked.map((c) => c.transport),
    ["unix", "tcp"],
  );
  assert.ok(sel.verdicts.some((v) => v.excluded === "the listener does not offer shm"));
  // Both ends pinned to one CPU: no spinning candidate, whatever the connector allows.
  call(service, alice2, { type: "register", name: "m", allow: [], endpoints });
  cpus.set(alice2.pid, [1]);
  cpus.set(alice.pid, [1]);
  const pinned = call(service, alice, { type: "resolve", name: "m", requirements: critical });
  assert.ok(pinned.ok);
  assert.deepEqual(
    (pinned.selection as { ranked: { wait: string | null }[] }).ranked.map((c) => c.wait),
    ["block", null],
  );
});

test("name service: a socket connector to a listener taking native streams gets unix first, and the reason", () => {
  const { service } = world();
  const withStream = { ...endpoints, stream: "/run/x/st/stream.sock" };
  call(service, alice, { type: "register", name: ".addr/tcp/127.0.0.1/8080", allow: [], endpoints: withStream });
  call(service, alice, { type: "register", name: "plain", allow: [], endpoints });
  const noSpin = { ...critical, spin: false } as const;
  const ranked = (name: string, socket: boolean): { names: string[]; reply: ResolveReply } => {
    const requirements = socket ? { ...noSpin, socket } : noSpin;
    const r = call(service, alice2, { type: "resolve", name, requirements });
    assert.ok(r.ok);
    const reply = r as unknown as ResolveReply;
    return { names: reply.selection.ranked.map(candidateName), reply };
  };
  // As transparent mode asks: native unix first, the others kept behind it as fallbacks.
  const native = ranked(".addr/tcp/127.0.0.1/8080", true);
  assert.deepEqual(native.names, ["unix", "shm:block"]);
  const first = native.reply.selection.verdicts.find((v) => v.rank === 1);
  assert.equal(first?.candidate.transport, "unix");
  assert.match(first?.reason ?? "", /node:net sockets.*native unix streams/);
  assert.match(native.reply.selection.verdicts.find((v) => v.rank === 2)?.reason ?? "", /after native unix/);
  const text = renderExplain("xio://.addr/tcp/127.0.0.1/8080", native.reply, { ...noSpin, socket: true });
  assert.match(text, /a node:net socket \(transparent mode\).*native unix streams/);
  assert.match(text, /chosen: unix/);
  // Not a socket connector (FABLE_TRANSPARENT_NATIVE=0, fable-io), or no stream endpoint: the Selector's order.
  assert.deepEqual(ranked(".addr/tcp/127.0.0.1/8080", false).names, ["shm:block", "unix"]);
  assert.deepEqual(ranked("plain", true).names, ["shm:block", "unix"]);
});

test("name service: flows are kept per uid, computed into rates, and dropped with their session", () => {
  let now = 1_000;
  const service = new NameService({
    selector: new DefaultOrderSelector(),
    placement: (pid) => ({ pid, allowedCpus: [0], currentCpu: null }),
    alive: () => true,
    now: () => now,
  });
  const flow = (sent: number): FlowReport => ({
    id: "f-1",
    name: "n",
    listenerPid: 1,
    listenerCpus: [0],
    connectorCpus: [0],
    transport: "unix",
    wait: null,
    epoch: 0,
    fallbacks: [],
    since: 0,
    counters: { sentMessages: sent, sentBytes: sent * 10, receivedMessages: 0, receivedBytes: 0, writeWaits: 0 },
  });
  call(service, alice, { type: "flow", flow: flow(0) });
  now += 500;
  call(service, alice, { type: "flow", flow: flow(100) });
  const mine = call(service, alice, { type: "flows" });
  assert.ok(mine.ok);
  const [f] = mine.flows as { rates: { sentMessages: number; sentBytes: number }; connectorPid: number }[];
  assert.equal(f?.rates.sentMessages, 200);
  assert.equal(f?.rates.sentBytes, 2000);
  assert.equal(f?.connectorPid, alice.pid);
  const theirs = call(service, bob, { type: "flows" });
  assert.ok(theirs.ok);
  assert.deepEqual(theirs.flows, []);
  service.endSession(alice.session);
  assert.equal(service.flowCount, 0);
});

test("name service: stop from the daemon's own uid asks the daemon to stop", async () => {
  const w = world();
  assert.equal(call(w.service, alice, { type: "stop" }).ok, true);
  await Promise.resolve();
  assert.equal(w.stopped(), true);
});

test("name service: a flow to an address's name (transparent mode's .addr/ tree) is marked transparent", () => {
  const { service } = world();
  const report = (id: string, name: string): FlowReport => ({
    id,
    name,
    listenerPid: 1,
    listenerCpus: [0],
    connectorCpus: [0],
    transport: "shm",
    wait: "block",
    epoch: 0,
    fallbacks: [],
    since: 0,
    counters: { sentMessages: 0, sentBytes: 0, receivedMessages: 0, receivedBytes: 0, writeWaits: 0 },
  });
  call(service, alice, { type: "flow", flow: report("f-addr", ".addr/tcp/127.0.0.1/8080") });
  call(service, alice, { type: "flow", flow: report("f-name", "app/cache") });
  const r = call(service, alice, { type: "flows" });
  assert.ok(r.ok);
  const marks = Object.fromEntries(
    (r.flows as { id: string; transparent: boolean }[]).map((f) => [f.id, f.transparent]),
  );
  assert.deepEqual(marks, { "f-addr": true, "f-name": false });
});

test("name service: a listener taking 100+ new flows a second gets blocking ends, explain says why, and a second later spinning again", () => {
  let now = 5_000;
  const service = new NameService({
    selector: new DefaultOrderSelector(),
    placement: (pid) => ({ pid, allowedCpus: [0, 1], currentCpu: null }),
    alive: () => true,
    now: () => now,
  });
  call(service, alice, { type: "register", name: "busy", allow: [], endpoints });
  const resolve = (): Extract<Reply, { ok: true }> => {
    const r = call(service, alice2, { type: "resolve", name: "busy", requirements: critical });
    assert.ok(r.ok);
    return r;
  };
  const first = (r: Extract<Reply, { ok: true }>): string =>
    candidateName((r.selection as Selection).ranked[0] ?? { transport: "tcp", wait: null });
  const report = (i: number): FlowReport => ({
    id: `f-${i}`,
    name: "busy",
    listenerPid: alice.pid,
    listenerCpus: [0, 1],
    connectorCpus: [0, 1],
    transport: "shm",
    wait: "spin",
    epoch: 0,
    fallbacks: [],
    since: now,
    counters: { sentMessages: 1, sentBytes: 1, receivedMessages: 1, receivedBytes: 1, writeWaits: 0 },
  });
  for (let i = 0; i < 99; i++) {
    call(service, alice2, { type: "flow", flow: report(i) });
    now += 5; // 99 flows in 495 ms
  }
  // A report of a flow already known is no new flow.
  call(service, alice2, { type: "flow", flow: report(0) });
  assert.equal(first(resolve()), "shm:spin");
  call(service, alice2, { type: "flow", flow: report(99) });
  const busy = resolve();
  assert.equal(first(busy), "shm:block");
  const explained = renderExplain("xio://busy", busy as unknown as ResolveReply, critical);
  assert.match(explained, /took 100 new flows in the last second/);
  assert.match(explained, /chosen: shm:block/);
  now += 1_000;
  assert.equal(first(resolve()), "shm:spin");
  service.sweep();
});
