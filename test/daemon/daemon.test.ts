/**
 * The fable daemon as a real process: one per runtime directory however many start it at once,
 * names that follow their processes, and clients that misbehave without disturbing others.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { after, test } from "node:test";
import type { Connection } from "../../src/channel/connection.js";
import { processAlive } from "../../src/daemon/server.js";
import { connect } from "../../src/naming/api.js";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import { controlSocket, logFile } from "../../src/naming/paths.js";
import { encodeFrame, FrameDecoder, PROTOCOL_VERSION } from "../../src/naming/protocol.js";
import { runFable } from "../kit/cli.js";
import { eventually, FABLE_BIN, isolatedPaths, namingChild, startDaemon } from "../kit/daemon.js";
import { random } from "../kit/random.js";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test("daemon: five processes starting it at once end with one daemon, which they all reach", async () => {
  const iso = isolatedPaths("race");
  cleanups.push(iso.cleanup);
  const env = { ...iso.env, FABLE_NO_AUTOSTART: "0" };
  const children = Array.from({ length: 5 }, () => namingChild({ mode: "status" }, env));
  const statuses = await Promise.all(children.map((c) => c.next("status")));
  const pids = new Set(statuses.map((s) => (s.status as { pid: number }).pid));
  assert.equal(pids.size, 1, `the starters reached daemons ${[...pids].join(", ")}`);
  const [pid] = [...pids] as [number];
  cleanups.push(() => {
    if (processAlive(pid)) process.kill(pid, "SIGKILL");
  });
  // Only the lock holder ever serves: a starter that lost the race logs that it gave up.
  const serving = readFileSync(logFile(iso.paths), "utf8")
    .split("\n")
    .filter((l) => l.includes(" serving "));
  assert.equal(serving.length, 1, serving.join("\n"));
  assert.match(serving[0] ?? "", new RegExp(`fable daemon ${pid} serving`));
  const client = new DaemonClient({ paths: iso.paths, autostart: false });
  await client.request({ type: "stop" });
  client.close();
  await eventually("the daemon to exit", async () => (processAlive(pid) ? undefined : true));
});

test("daemon: a name disappears when its process is killed with SIGKILL, and is free again", async () => {
  const iso = isolatedPaths("names");
  const d = await startDaemon(iso);
  cleanups.push(iso.cleanup, () => d.stop());
  const client = new DaemonClient({ paths: iso.paths, autostart: false });
  cleanups.push(() => client.close());
  const holder = namingChild({ mode: "listen", uri: "xio://app/cache/0" }, iso.env);
  await holder.next("ready");
  const { names } = await client.request({ type: "names" });
  assert.deepEqual(
    names.map((n) => [n.name, n.pid]),
    [["app/cache/0", holder.pid]],
  );
  // Taken while the holder lives: never a steal.
  const rival = namingChild({ mode: "listen", uri: "xio://app/cache/0" }, iso.env);
  await assert.rejects(rival.next("ready"), /EADDRINUSE/);
  await rival.kill();
  await holder.kill("SIGKILL");
  await eventually("the dead holder's name to go", async () =>
    (await client.request({ type: "names" })).names.length === 0 ? true : undefined,
  );
  const next = namingChild({ mode: "listen", uri: "xio://app/cache/0" }, iso.env);
  await next.next("ready");
  await next.kill();
});

/** A raw control connection that records what the daemon answers and whether it hung up. */
function rawClient(path: string): Promise<{ socket: net.Socket; replies: unknown[]; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    const replies: unknown[] = [];
    const decoder = new FrameDecoder();
    let closed = false;
    socket.on("data", (c: Buffer) => replies.push(...decoder.push(c)));
    socket.on("close", () => (closed = true));
    socket.on("error", () => undefined);
    socket.once("connect", () => resolve({ socket, replies, closed: () => closed }));
    socket.once("error", reject);
  });
}

function rawFrame(length: number, version: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32LE(length, 0);
  head.writeUInt8(version, 4);
  return Buffer.concat([head, body]);
}

test("daemon: hostile clients get a typed reply or are hung up on, and a good client is served meanwhile", async () => {
  const iso = isolatedPaths("hostile");
  const d = await startDaemon(iso);
  cleanups.push(iso.cleanup, () => d.stop());
  const path = controlSocket(iso.paths);
  const good = new DaemonClient({ paths: iso.paths, autostart: false });
  cleanups.push(() => good.close());
  await good.request({ type: "register", name: "good", allow: [], endpoints: { unix: "/tmp/nowhere.sock" } });

  const cases: { frame: Buffer; code: string; hangUp: boolean }[] = [
    { frame: rawFrame(0xfffffff0, PROTOCOL_VERSION, Buffer.alloc(0)), code: "EPROTOCOL", hangUp: true },
    { frame: rawFrame(3, 9, Buffer.from("{}")), code: "EPROTOCOL", hangUp: true },
    { frame: rawFrame(4, PROTOCOL_VERSION, Buffer.from("{{}")), code: "EPROTOCOL", hangUp: true },
    {
      frame: encodeFrame({ id: 7, type: "register", name: "good", allow: "everyone" }),
      code: "EBADREQUEST",
      hangUp: false,
    },
    {
      frame: encodeFrame({ id: 8, type: "register", name: "good", allow: [], endpoints: { unix: "/x/y" } }),
      code: "EADDRINUSE",
      hangUp: false,
    },
    { frame: encodeFrame([1, 2, 3]), code: "EBADREQUEST", hangUp: false },
  ];
  for (const c of cases) {
    const raw = await rawClient(path);
    raw.socket.write(c.frame);
    await eventually(`a reply to a ${c.code} frame`, async () => (raw.replies.length > 0 ? true : undefined));
    const reply = raw.replies[0] as { ok: boolean; error: { code: string } };
    assert.equal(reply.ok, false);
    assert.equal(reply.error.code, c.code);
    if (c.hangUp) await eventually("the daemon to hang up", async () => (raw.closed() ? true : undefined));
    else {
      raw.socket.write(encodeFrame({ id: 9, type: "status" }));
      await eventually("the connection to go on", async () => (raw.replies.length > 1 ? true : undefined));
    }
    raw.socket.destroy();
  }
  // A client that stops mid-frame holds nothing but its own connection.
  const stuck = await rawClient(path);
  stuck.socket.write(encodeFrame({ id: 1, type: "status" }).subarray(0, 7));
  const { names } = await good.request({ type: "names" });
  assert.deepEqual(
    names.map((n) => n.name),
    ["good"],
  );
  stuck.socket.destroy();
});

/** One fuzz frame; `breaks` when it puts the stream out of step (the daemon hangs up, or waits for bytes). */
function fuzzFrame(rnd: () => number, id: number): { frame: Buffer; breaks: "truncated" | "frame" | false } {
  const kinds = ["register", "resolve", "flow", "names", "status", "unregister", "flow-close", "bogus"];
  const type = kinds[Math.floor(rnd() * kinds.length)];
  const body: Record<string, unknown> = { id: rnd() < 0.1 ? -id : id, type };
  if (rnd() < 0.7)
    body.name = rnd() < 0.5 ? `fuzz/${Math.floor(rnd() * 50)}` : "../" + "x".repeat(Math.floor(rnd() * 400));
  if (rnd() < 0.5) body.allow = rnd() < 0.5 ? [Math.floor(rnd() * 5)] : "all";
  if (rnd() < 0.5) body.endpoints = { unix: `/tmp/fuzz-${id}.sock` };
  if (rnd() < 0.3)
    body.requirements = { latency: rnd() < 0.5 ? "critical" : "x", spin: true, trust: "trusted", sizes: [] };
  if (rnd() < 0.2) body.flowId = `f${Math.floor(rnd() * 20)}`; // closes of flows that were never opened: out of order
  const frame = encodeFrame(body);
  const r = rnd();
  if (r < 0.03) return { frame: frame.subarray(0, Math.floor(rnd() * frame.length)), breaks: "truncated" };
  if (r < 0.05)
    frame.writeUInt32LE(0x7fffffff, 0); // oversized
  else if (r < 0.07)
    frame.writeUInt8(2, 4); // another version
  else if (r < 0.1)
    frame[5 + Math.floor(rnd() * (frame.length - 5))] = Math.floor(rnd() * 256); // a flipped byte
  else return { frame, breaks: false };
  return { frame, breaks: "frame" };
}

test("daemon: seeded fuzz from several clients at once; it never crashes, stays bounded, and serves a good client", async () => {
  const total = Number(process.env.FABLE_FUZZ_FRAMES ?? 4000);
  const clients = 4;
  const iso = isolatedPaths("fuzz");
  const d = await startDaemon(iso);
  cleanups.push(iso.cleanup, () => d.stop());
  const path = controlSocket(iso.paths);
  const good = new DaemonClient({ paths: iso.paths, autostart: false });
  cleanups.push(() => good.close());
  await good.request({ type: "register", name: "steady", allow: [], endpoints: { unix: "/tmp/steady.sock" } });
  const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.pid}/status`, "utf8"))?.[1]) * 1024;
  const before = rss();
  let sent = 0;
  let goodRounds = 0;
  let hangUps = 0;
  let replies = 0;
  await Promise.all([
    ...Array.from({ length: clients }, async (_, c) => {
      const rnd = random(0x5eed + c);
      let raw = await rawClient(path);
      for (let i = 0; i < total / clients; i++) {
        if (raw.closed()) {
          replies += raw.replies.length;
          raw = await rawClient(path);
          hangUps++;
        }
        const { frame, breaks } = fuzzFrame(rnd, i);
        raw.socket.write(frame);
        sent++;
        if (breaks === "truncated") raw.socket.end(); // the rest never comes
        // Every frame must reach an open connection: after one that may break the stream, and
        // every 50 frames, a status round trip (or the hang-up) shows where the stream stands.
        if (breaks !== false || i % 50 === 0) {
          const before = raw.replies.length;
          if (breaks !== "truncated") raw.socket.write(encodeFrame({ id: 4_000_000_000, type: "status" }));
          await eventually("a reply or a hang-up", async () =>
            raw.closed() || raw.replies.slice(before).some((m) => (m as { id: unknown }).id === 4_000_000_000)
              ? true
              : undefined,
          );
        }
      }
      replies += raw.replies.length;
      raw.socket.destroy();
    }),
    (async () => {
      while (sent < total) {
        const { names } = await good.request({ type: "names" });
        assert.ok(names.some((n) => n.name === "steady"));
        goodRounds++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })(),
  ]);
  assert.ok(goodRounds > 0);
  assert.ok(hangUps > total / 20, `only ${hangUps} hang-ups for ${total} frames`);
  assert.ok(replies > 0);
  assert.equal(d.child.exitCode, null, `the daemon exited: ${d.output()}`);
  const status = await good.request({ type: "status" });
  assert.equal(status.pid, d.pid);
  // Bounded: what the fuzzers registered went with their connections.
  await eventually("the fuzzers' names to go", async () =>
    (await good.request({ type: "status" })).names === 1 ? true : undefined,
  );
  const grown = rss() - before;
  assert.ok(grown < 64 * 1024 * 1024, `the daemon grew by ${grown} bytes over ${total} frames`);
});

test("daemon: status, stop, unit and the CLI's views, against a real daemon", async () => {
  const iso = isolatedPaths("cli");
  const d = await startDaemon(iso, { args: ["--metrics", "127.0.0.1:0"] });
  cleanups.push(iso.cleanup, () => d.stop());
  const status = await runFable(["daemon", "status", "--json"], iso.env);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout) as { pid: number; metrics: string };
  assert.equal(s.pid, d.pid);
  const holder = namingChild({ mode: "listen", uri: "xio://svc/a" }, iso.env);
  cleanups.push(() => holder.kill());
  await holder.next("ready");
  const conn = namingChild({ mode: "connect", uri: "xio://svc/a" }, iso.env);
  cleanups.push(() => conn.kill());
  await conn.next("connected");
  const names = await runFable(["names"], iso.env);
  assert.match(names.stdout, new RegExp(`xio://svc/a\\s+${holder.pid}\\s`));
  const client = new DaemonClient({ paths: iso.paths, autostart: false });
  cleanups.push(() => client.close());
  await eventually("the flow's first round trip to be reported", async () => {
    const { flows } = await client.request({ type: "flows" });
    return flows[0]?.counters.receivedMessages === 1 ? true : undefined;
  });
  const r = await runFable(["flows", "--json"], iso.env);
  const flows = JSON.parse(r.stdout) as { name: string; connectorPid: number; counters: { sentMessages: number } }[];
  assert.deepEqual(
    flows.map((f) => [f.name, f.connectorPid, f.counters.sentMessages]),
    [["svc/a", conn.pid, 1]],
  );
  const metrics = await (await fetch(s.metrics)).text();
  assert.match(metrics, /fable_names 1/);
  assert.match(metrics, /fable_flow_sent_messages\{name="svc\/a",flow="[^"]+",transport="shm",wait="spin"\} 1/);
  const unit = await runFable(["daemon", "unit"], iso.env);
  assert.match(unit.stdout, /ExecStart=.*fable\.js daemon run/);
  const stop = await runFable(["daemon", "stop"], iso.env);
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  await eventually("the daemon to exit", async () => (d.child.exitCode !== null ? true : undefined));
  const none = await runFable(["daemon", "status"], iso.env);
  assert.equal(none.code, 1);
  assert.match(none.stdout, /no fable daemon runs/);
});

test("daemon: the flows of 300 connects and closes by name are all freed, and its status shows its memory", async () => {
  const iso = isolatedPaths("churn");
  const d = await startDaemon(iso);
  cleanups.push(iso.cleanup, () => d.stop());
  const holder = namingChild({ mode: "listen", uri: "xio://churn/target" }, iso.env);
  cleanups.push(() => holder.kill());
  await holder.next("ready");
  const client = new DaemonClient({ paths: iso.paths, autostart: false });
  cleanups.push(() => client.close());
  const flows = async (): Promise<number> => (await client.request({ type: "status" })).flows;
  const roundTrip = async (conn: Connection): Promise<void> => {
    await conn.send(new Uint8Array([7]));
    const back = await conn[Symbol.asyncIterator]().next();
    assert.equal(back.done, false);
  };
  // One flow held open: the daemon lists it (so the count below can tell freed from never kept).
  const kept = await connect("xio://churn/target", { client });
  await roundTrip(kept);
  await eventually("the open flow to be listed", async () => ((await flows()) === 1 ? true : undefined));
  for (let i = 0; i < 300; i++) {
    const conn = await connect("xio://churn/target", { client });
    await roundTrip(conn);
    await conn.close();
  }
  await eventually("the daemon to hold only the open flow", async () => ((await flows()) === 1 ? true : undefined));
  await kept.close();
  await eventually("the daemon to hold no flow", async () => ((await flows()) === 0 ? true : undefined));
  const { memory } = await client.request({ type: "status" });
  assert.ok(memory !== undefined && memory.heapUsed > 0 && memory.rss >= memory.heapUsed, JSON.stringify(memory));
});

test("daemon: `fable daemon start` three times at once leaves one detached daemon; `fable flows` redraws on a terminal", async () => {
  const iso = isolatedPaths("start");
  cleanups.push(iso.cleanup);
  const starts = await Promise.all([1, 2, 3].map(() => runFable(["daemon", "start"], iso.env)));
  for (const s of starts) assert.equal(s.code, 0, s.stdout + s.stderr);
  // Every starter has exited; the daemon outlives them all.
  const status = await runFable(["daemon", "status", "--json"], iso.env);
  assert.equal(status.code, 0, status.stderr);
  const { pid } = JSON.parse(status.stdout) as { pid: number };
  cleanups.push(() => {
    if (processAlive(pid)) process.kill(pid, "SIGKILL");
  });
  for (const s of starts) assert.match(s.stdout, new RegExp(`\\(pid ${pid}\\)`), s.stdout);
  // One `daemon run` process on this runtime directory, whatever the race did.
  const marker = `FABLE_RUNTIME_DIR=${iso.paths.runtimeDir}`;
  const daemons = readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
        const env = readFileSync(`/proc/${p}/environ`, "utf8").split("\0");
        return cmd.includes("daemon") && cmd.includes("run") && env.includes(marker);
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
  assert.deepEqual(daemons, [pid]);
  // Detached: its own session, not the starter's; its log in the state directory.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  assert.equal(Number(fields[3]), pid, "the daemon leads its own session (setsid)");
  assert.match(readFileSync(logFile(iso.paths), "utf8"), new RegExp(`fable daemon ${pid} serving`));

  const holder = namingChild({ mode: "listen", uri: "xio://live/a" }, iso.env);
  cleanups.push(() => holder.kill());
  await holder.next("ready");
  const conn = namingChild({ mode: "connect", uri: "xio://live/a" }, iso.env);
  cleanups.push(() => conn.kill());
  await conn.next("connected");
  // On a terminal (script(1) gives it one) the view redraws every second until stopped.
  const view = await new Promise<string>((resolve) => {
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(FABLE_BIN)} flows`;
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      env: { ...process.env, ...iso.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    setTimeout(() => child.kill("SIGTERM"), 3500);
    child.once("exit", () => resolve(out));
  });
  const frames = view.split("\x1b[H\x1b[2J").slice(1);
  assert.ok(frames.length >= 2, `the live view drew ${frames.length} frame(s): ${JSON.stringify(view.slice(0, 300))}`);
  for (const f of frames) assert.match(f, /1 flows \(Ctrl-C to quit\)[\s\S]*xio:\/\/live\/a/);

  const stop = await runFable(["daemon", "stop"], iso.env);
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  await eventually("the started daemon to exit", async () => (processAlive(pid) ? undefined : true));
});
