/**
 * The daemon's reconfiguration triggers against real processes and a real daemon: two children
 * stream a numbered ping-pong over a named connection (shm with blocking waits: `spin: false`, so
 * the contention trigger leaves it alone until a test makes it spin) while the test triggers
 * switches the ways the world would: `fable reconfigure` and the API (manual), taskset pinning
 * both ends onto one CPU and back (contention), location and trust marks, and a path killed under
 * the stream (failure). Each switch must show as a flow event in `fable flows` and in the
 * daemon's metrics, and the stream must stay in order throughout.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { reconfigureFlow } from "../../src/naming/api.js";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import type { FlowEntry, FlowEvent } from "../../src/naming/protocol.js";
import { runFable } from "../kit/cli.js";
import {
  type ChildEvent,
  type DaemonProcess,
  eventually,
  type Isolated,
  isolatedPaths,
  type NamingChild,
  namingChild,
  startDaemon,
} from "../kit/daemon.js";

let iso: Isolated;
let daemon: DaemonProcess;
let client: DaemonClient;

before(async () => {
  iso = isolatedPaths("triggers");
  daemon = await startDaemon(iso, { args: ["--metrics", "127.0.0.1:0"] });
  client = new DaemonClient({ paths: iso.paths, autostart: false });
});

after(async () => {
  client.close();
  await daemon.stop();
  iso.cleanup();
});

interface Stream {
  readonly listener: NamingChild;
  readonly connector: NamingChild;
  readonly flowId: string;
  stop(): Promise<void>;
}

async function stream(name: string): Promise<Stream> {
  const listener = namingChild({ mode: "listen", uri: `xio://${name}` }, iso.env);
  await listener.next("ready");
  const connector = namingChild(
    { mode: "connect", uri: `xio://${name}`, stream: true, options: { spin: false } },
    iso.env,
  );
  const connected = await connector.next("connected");
  const flowId = (connected.flow as { id: string }).id;
  assert.equal(connected.kind, "shm");
  await flowOf(flowId);
  return {
    listener,
    connector,
    flowId,
    async stop() {
      connector.send({ cmd: "stop" });
      const done = await connector.next("streamed").catch((err: Error) => ({ event: "x", error: err.message }));
      await connector.kill();
      await listener.kill();
      assert.equal((done as ChildEvent).inOrder, true, `the stream stayed in order: ${JSON.stringify(done)}`);
    },
  };
}

async function flowOf(id: string): Promise<FlowEntry> {
  return eventually(`flow ${id}`, async () => (await client.request({ type: "flows" })).flows.find((f) => f.id === id));
}

/** Waits for the flow's next event after `count` events, matching `reason`. */
function nextEvent(id: string, count: number, reason: string, ms = 10_000): Promise<FlowEvent> {
  return eventually(
    `a ${reason} switch of flow ${id}`,
    async () => {
      const f = await flowOf(id);
      return f.events.slice(count).find((e) => e.reason === reason);
    },
    ms,
  );
}

async function rtt(child: NamingChild, since: number, epoch: number): Promise<{ median: number | null; n: number }> {
  child.send({ cmd: "rtt", since, epoch });
  const r = await child.next("rtt");
  return { median: r.median as number | null, n: r.n as number };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const us = (ns: number | null): string => (ns === null ? "-" : `${(ns / 1000).toFixed(1)} us`);

test("triggers: manual (CLI, API); both ends pinned onto one CPU mid-stream switch spin -> block, and back", async (t) => {
  const s = await stream("triggers/pin");
  try {
    let flow = await flowOf(s.flowId);
    assert.deepEqual([flow.transport, flow.wait, flow.epoch], ["shm", "block", 0]);
    const start = Date.now();
    await sleep(400);
    const unpinnedBlock = await rtt(s.connector, start, 0);
    // Manual, from the command line: to spinning waits.
    const cli = await runFable(["reconfigure", s.flowId.slice(0, 8), "--to", "shm:spin"], iso.env);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /shm:block -> shm:spin \(manual\) epoch 1, pause [\d.]+ ms, 0 re-sent/);
    flow = await flowOf(s.flowId);
    assert.deepEqual([flow.transport, flow.wait, flow.epoch], ["shm", "spin", 1]);
    const spinFrom = Date.now();
    await sleep(300);
    const unpinnedSpin = await rtt(s.connector, spinFrom, 1);

    // Contention: pin every thread of both processes onto CPU 0.
    const allowed = (pid: number): string =>
      /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "0";
    const original = [s.connector.pid, s.listener.pid].map((pid) => [pid, allowed(pid)] as const);
    const events = (await flowOf(s.flowId)).events.length;
    const pinnedStart = performance.now();
    for (const [pid] of original) execFileSync("taskset", ["-a", "-cp", "0", String(pid)]);
    // Round trips count as pinned from when both ends are: until taskset returned they were still fast.
    const pinnedAt = Date.now() + 1;
    const ev = await nextEvent(s.flowId, events, "contention", 5000);
    const switchMs = performance.now() - pinnedStart;
    assert.deepEqual(
      [ev.from, ev.to],
      [
        { transport: "shm", wait: "spin" },
        { transport: "shm", wait: "block" },
      ],
    );
    const pinnedSpin = await rtt(s.connector, pinnedAt, 1);
    const blockAt = Date.now();
    await sleep(500);
    const pinnedBlock = await rtt(s.connector, blockAt, ev.epoch);
    t.diagnostic(
      `contention switch ${switchMs.toFixed(0)} ms after pinning (pause ${ev.pauseMs.toFixed(2)} ms); round trip ` +
        `medians: unpinned block ${us(unpinnedBlock.median)} (n ${unpinnedBlock.n}), unpinned spin ` +
        `${us(unpinnedSpin.median)} (n ${unpinnedSpin.n}), pinned spin ${us(pinnedSpin.median)} (n ${pinnedSpin.n}), ` +
        `pinned block ${us(pinnedBlock.median)} (n ${pinnedBlock.n})`,
    );
    assert.ok(switchMs < 5000);
    assert.ok(pinnedBlock.n > 10 && pinnedBlock.median !== null, "the stream goes on after the switch");
    // Recovered to a blocking round trip, not a scheduler slice per message (wide margins only).
    if (pinnedSpin.n >= 3 && pinnedSpin.median !== null) assert.ok(pinnedBlock.median * 3 < pinnedSpin.median);
    if (unpinnedBlock.median !== null) assert.ok(pinnedBlock.median < unpinnedBlock.median * 10 + 200_000);
    flow = await flowOf(s.flowId);
    assert.deepEqual([flow.transport, flow.wait], ["shm", "block"]);

    // No longer sharing: back to spinning.
    for (const [pid, cpus] of original) execFileSync("taskset", ["-a", "-cp", cpus, String(pid)]);
    const backEv = await nextEvent(s.flowId, events + 1, "contention", 10_000);
    assert.deepEqual(backEv.to, { transport: "shm", wait: "spin" });

    // Manual, from the API.
    const last = await reconfigureFlow(s.flowId, { transport: "unix", wait: null }, { client });
    assert.deepEqual(
      [last.from, last.to, last.reason],
      [{ transport: "shm", wait: "spin" }, { transport: "unix", wait: null }, "manual"],
    );
    assert.ok(last.epoch > backEv.epoch);
  } finally {
    await s.stop();
  }
});

test("triggers: location (shm -> tcp and back), trust (-> tls and back), failure; all in flows and metrics", async () => {
  const s = await stream("triggers/marks");
  try {
    let n = 0;
    const expect = async (reason: string, transport: string, wait: string | null): Promise<FlowEvent> => {
      const e = await nextEvent(s.flowId, n, reason);
      n = (await flowOf(s.flowId)).events.length;
      assert.equal(e.error, undefined, e.error);
      assert.deepEqual(e.to, { transport, wait });
      return e;
    };
    let r = await client.request({ type: "flow-location", flowId: s.flowId, apart: true });
    assert.deepEqual(r.pushed, { transport: "tcp", wait: null });
    await expect("location", "tcp", null);
    r = await client.request({ type: "flow-location", flowId: s.flowId, apart: false });
    await expect("location", "shm", "block");
    const mark = await runFable(["reconfigure", s.flowId, "--mark", "untrusted"], iso.env);
    assert.equal(mark.code, 0, mark.stderr);
    await expect("trust", "tls", null);
    // While untrusted, a manual switch away from tls changes nothing.
    await assert.rejects(
      client.request({ type: "reconfigure", flowId: s.flowId, to: { transport: "unix", wait: null } }),
      { code: "ENOCHANGE" },
    );
    r = await client.request({ type: "flow-trust", flowId: s.flowId, trusted: true });
    // The manual command above made unix the flow's base: trusted again, it goes there.
    await expect("trust", "unix", null);
    // Failure: the path dies under the stream; the connection resumes and says so.
    s.connector.send({ cmd: "break" });
    assert.equal((await s.connector.next("broke")).killed, true);
    const failure = await expect("failure", "unix", null);
    assert.ok(failure.resent >= 0);

    const flow = await flowOf(s.flowId);
    assert.deepEqual(
      flow.events.map((e) => e.reason),
      ["location", "location", "trust", "trust", "failure"],
    );
    assert.equal(flow.switches, 5);
    const view = await runFable(["flows", "--once"], iso.env);
    assert.equal(view.code, 0, view.stderr);
    assert.match(view.stdout, /shm:block -> tcp \(location\) epoch 1, pause [\d.]+ ms, 0 re-sent/);
    assert.match(view.stdout, /-> tls \(trust\)/);
    assert.match(view.stdout, /\(failure\)/);
    const { metrics } = await client.request({ type: "status" });
    assert.ok(metrics !== null);
    const text = await (await fetch(metrics)).text();
    assert.match(text, /fable_flow_switches_total\{reason="location",from="shm:block",to="tcp"\} 1/);
    assert.match(text, /fable_flow_switches_total\{reason="trust",from="shm:block",to="tls"\} 1/);
    assert.match(text, /fable_flow_switch_pause_ms_total\{reason="failure"/);
  } finally {
    await s.stop();
  }
});
