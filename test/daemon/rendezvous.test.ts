/**
 * Connecting by name between real processes: the daemon's choice (and `fable explain` agreeing
 * with it), fallback when the chosen transport cannot be set up, and a daemon killed with SIGKILL
 * while two processes stream: the data path never went through it.
 */
import assert from "node:assert/strict";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { connect, connectionFlow, listen } from "../../src/naming/api.js";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import type { ConnectOptions } from "../../src/naming/api.js";
import { runFable } from "../kit/cli.js";
import { eventually, isolatedPaths, namingChild, startDaemon } from "../kit/daemon.js";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const iso = isolatedPaths("rendezvous");
cleanups.push(iso.cleanup);

interface Case {
  readonly title: string;
  readonly options: ConnectOptions;
  readonly pin?: number[];
  readonly explainFlags: string[];
  readonly expect: string;
}

const cases: Case[] = [
  { title: "critical, spinning allowed", options: {}, explainFlags: [], expect: "shm:spin" },
  { title: "spin: false", options: { spin: false }, explainFlags: ["--no-spin"], expect: "shm:block" },
  { title: "both ends pinned to CPU 0", options: {}, pin: [0], explainFlags: [], expect: "shm:block" },
];

let shared: Awaited<ReturnType<typeof startDaemon>> | undefined;

for (const c of cases) {
  test(`rendezvous: two separate processes by name, ${c.title}: ${c.expect}, and fable explain agrees`, async () => {
    if (shared === undefined) {
      const d = await startDaemon(iso);
      cleanups.push(() => d.stop());
      shared = d;
    }
    const name = `app/${c.expect.replace(":", "-")}-${c.pin === undefined ? "free" : "pinned"}`;
    const holder = namingChild({ mode: "listen", uri: `xio://${name}`, ...(c.pin ? { pin: c.pin } : {}) }, iso.env);
    cleanups.push(() => holder.kill());
    await holder.next("ready");
    // The connector closes after one round trip (and stays): idle ends leave the CPUs to the test.
    const peer = namingChild(
      { mode: "connect", uri: `xio://${name}`, options: c.options, closeAfter: true, ...(c.pin ? { pin: c.pin } : {}) },
      iso.env,
    );
    cleanups.push(() => peer.kill());
    const connected = await peer.next("connected");
    const flow = connected.flow as { transport: string; wait: string | null; fallbacks: unknown[] };
    assert.equal(flow.wait === null ? flow.transport : `${flow.transport}:${flow.wait}`, c.expect);
    assert.equal(connected.kind, "shm");
    assert.deepEqual(flow.fallbacks, []);
    assert.equal((await peer.next("streamed")).inOrder, true);
    const explain = await runFable(
      ["explain", `xio://${name}`, "--pid", String(peer.pid), "--json", ...c.explainFlags],
      iso.env,
    );
    assert.equal(explain.code, 0, explain.stderr);
    const reply = JSON.parse(explain.stdout) as {
      connector: { pid: number };
      selection: {
        ranked: { transport: string; wait: string | null }[];
        verdicts: { excluded?: string; reason: string }[];
      };
    };
    assert.equal(reply.connector.pid, peer.pid);
    const first = reply.selection.ranked[0];
    assert.deepEqual(first, { transport: flow.transport, wait: flow.wait });
    for (const v of reply.selection.verdicts) assert.ok(v.reason.length > 0);
    if (c.pin !== undefined) {
      assert.ok(reply.selection.verdicts.some((v) => v.excluded?.includes("same one CPU") === true));
    }
    await peer.kill();
    await holder.kill();
    if (c === cases[cases.length - 1]) await shared.stop();
  });
}

test("rendezvous: an explicit tcp:// URI gets tcp, with no daemon at all", async () => {
  const l = await listen("tcp://127.0.0.1:0");
  cleanups.push(() => l.close());
  assert.match(l.uri, /^tcp:\/\/127\.0\.0\.1:[1-9]\d*$/);
  const c = await connect(l.uri);
  const s = await l.accept();
  await c.send(new Uint8Array([1, 2, 3]));
  const [m] = await (async () => {
    for await (const m of s) return [m];
    return [];
  })();
  assert.deepEqual([...(m ?? [])], [1, 2, 3]);
  assert.equal(c.transport.kind, "tcp");
  assert.equal(connectionFlow(c), undefined);
  await c.close();
  await s.close();
});

test("rendezvous: when shm cannot be set up the connector falls back to unix, and the flow says so", async () => {
  const d = await startDaemon(iso);
  cleanups.push(() => d.stop());
  const holder = namingChild({ mode: "listen", uri: "xio://fallback" }, iso.env);
  cleanups.push(() => holder.kill());
  await holder.next("ready");
  // The listener's shm rendezvous sockets vanish: a real setup failure, as a dead endpoint gives.
  for (const ep of readdirSync(iso.paths.runtimeDir).filter((f) => f.startsWith("ep-"))) {
    for (const f of readdirSync(join(iso.paths.runtimeDir, ep))) {
      if (f.startsWith("shm-")) rmSync(join(iso.paths.runtimeDir, ep, f));
    }
  }
  const client = new DaemonClient({ paths: iso.paths, autostart: false, reportIntervalMs: 100 });
  cleanups.push(() => client.close());
  const conn = await connect("xio://fallback", { client });
  cleanups.push(() => conn.destroy());
  assert.equal(conn.transport.kind, "unix");
  const flow = connectionFlow(conn);
  assert.equal(flow?.transport, "unix");
  assert.deepEqual(
    flow?.fallbacks.map((f) => f.candidate),
    [{ transport: "shm", wait: "spin" }],
  );
  assert.match(flow?.fallbacks[0]?.error ?? "", /ENOENT|cannot connect/);
  await conn.send(new Uint8Array([7]));
  for await (const m of conn) {
    assert.deepEqual([...m], [7]);
    break;
  }
  const listed = await eventually("the flow with its fallback", async () => {
    const { flows } = await client.request({ type: "flows" });
    return flows.find((f) => f.id === flow?.id);
  });
  assert.equal(listed.transport, "unix");
  assert.equal(listed.fallbacks.length, 1);
  await conn.close();
  await holder.kill();
  await d.stop();
});

test("rendezvous: SIGKILL the daemon mid-stream; no message lost or reordered, and a new daemon learns the name and flow again", async () => {
  let d = await startDaemon(iso);
  cleanups.push(() => d.stop());
  const holder = namingChild({ mode: "listen", uri: "xio://stream" }, iso.env);
  cleanups.push(() => holder.kill());
  await holder.next("ready");
  const peer = namingChild(
    { mode: "connect", uri: "xio://stream", options: { latency: "bulk" }, stream: true },
    iso.env,
  );
  cleanups.push(() => peer.kill());
  const { flow } = (await peer.next("connected")) as unknown as { flow: { id: string } };
  const client = new DaemonClient({ paths: iso.paths, autostart: false });
  cleanups.push(() => client.close());
  const sentBefore = await eventually("the stream to be reported", async () => {
    const f = (await client.request({ type: "flows" })).flows.find((x) => x.id === flow.id);
    return f !== undefined && f.counters.sentMessages > 0 ? f.counters.sentMessages : undefined;
  });
  await d.kill();
  d = await startDaemon(iso);
  const again = await eventually("the name and the flow to be reported to the new daemon", async () => {
    const { names } = await client.request({ type: "names" });
    const f = (await client.request({ type: "flows" })).flows.find((x) => x.id === flow.id);
    return names.some((n) => n.name === "stream" && n.pid === holder.pid) &&
      f !== undefined &&
      f.counters.sentMessages > sentBefore
      ? f
      : undefined;
  });
  assert.equal(again.connectorPid, peer.pid);
  const listed = await runFable(["flows", "--once"], iso.env);
  assert.match(listed.stdout, /xio:\/\/stream/);
  peer.send({ cmd: "stop" });
  const streamed = await peer.next("streamed");
  assert.equal(streamed.inOrder, true);
  assert.ok((streamed.sent as number) > again.counters.sentMessages);
  await peer.kill();
  await holder.kill();
  await d.stop();
});
