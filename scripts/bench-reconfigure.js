#!/usr/bin/env node
// The pause in delivery a live switch causes, and the throughput dip around it: this process
// streams 4 KiB messages at full speed to a child process over a reconfigurable Connection and
// switches its path back and forth; the child timestamps every message it reads. The pause of a
// switch is the gap between the last message of the old epoch and the first of the new one, as
// the reader sees it; the dip compares the messages read in the 20 ms after the switch with the
// 20 ms before. Run it with `npm run bench:reconfigure`; options:
//   --switches N   measured switches per pair (default 200; each needs a switch back too)
//   --pairs LIST   comma-separated pairs, e.g. shm-unix,spin-block (default: all six)
//   --gap-ms N     wait N ms after each switch (default 0: back to back, so the next switch's
//                  setup, e.g. a tls listener's context, may fall into this one's pause)
//   --setup-cpu N  first, with nothing streaming: CPU time (user + system) each process spends per
//                  switch of each pair, over N switches there and N back; the cost of building a
//                  path, which a loaded machine's wall clock hides but does not change much
//   --baseline-ms N  first, stream N ms on each path of --baseline-on with no switch (default 2000):
//                  the gap in delivery that a random instant falls in is what a switch that cost
//                  nothing would show as its pause
//   --baseline-on LIST  paths for the baseline (default shm,unix,node-unix; any path of PATHS, or
//                  node-unix: the same messages written to a plain node:net unix socket, the
//                  reconfigurable stream paused, for what Node itself shows on this machine)
//   --api send|commit  how the writer writes: send() (a copy and a promise per message, default)
//                  or getWriteBuffers()/commit() (the zero-copy API)
// Both processes watch their own garbage collections (PerformanceObserver "gc"): the table says how
// many pauses over 1 ms had a collection of either process inside them.
// The machine is shared and noisy: quote the machine line and the conditions with the figures.
/* global Buffer, URL, performance, setImmediate, setTimeout */
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { printMachine } from "./lib/machine.js";

const dist = (p) => new URL(`../dist/src/${p}`, import.meta.url).href;
const { openReconfigurable } = await import(dist("channel/connection.js"));
const { listenUnix, connectUnix } = await import(dist("transports/unix.js"));
const { issueLeaf, loadLeaf } = await import(dist("daemon/tls-ca.js"));

const SIZE = 4096;
const WINDOW_MS = 20;
/** Reader gaps shorter than this are not recorded for the baseline. */
const MIN_GAP_MS = 0.02;
const PATHS = {
  shm: { kind: "shm", wait: "adaptive" },
  unix: { kind: "unix" },
  tcp: { kind: "tcp" },
  tls: { kind: "tls" },
  spin: { kind: "shm", wait: "spin" },
  block: { kind: "shm", wait: "block" },
};
const PAIRS = ["shm-unix", "unix-tcp", "tcp-tls", "tls-shm", "spin-block", "block-spin"];

if (process.argv[2] === "--child") await child(process.argv[3], process.argv[4], process.argv[5]);
else await main();

async function main() {
  const { values } = parseArgs({
    options: {
      switches: { type: "string", default: "200" },
      pairs: { type: "string", default: PAIRS.join(",") },
      "gap-ms": { type: "string", default: "0" },
      "setup-cpu": { type: "string", default: "0" },
      "baseline-ms": { type: "string", default: "2000" },
      "baseline-on": { type: "string", default: "shm,unix,node-unix" },
      api: { type: "string", default: "send" },
    },
  });
  const switches = Number(values.switches);
  const gapMs = Number(values["gap-ms"]);
  const gap = () => (gapMs > 0 ? new Promise((resolve) => setTimeout(resolve, gapMs)) : undefined);
  const pairs = values.pairs.split(",");
  const setupCpu = Number(values["setup-cpu"]);
  const baselineMs = Number(values["baseline-ms"]);
  const baselineOn = values["baseline-on"].split(",");
  const api = values.api;
  if (
    !(switches >= 1) ||
    !(gapMs >= 0) ||
    !(setupCpu >= 0) ||
    !(baselineMs >= 0) ||
    pairs.some((p) => !PAIRS.includes(p)) ||
    baselineOn.some((p) => PATHS[p] === undefined && p !== "node-unix") ||
    !["send", "commit"].includes(api)
  ) {
    throw new Error(
      `usage: bench-reconfigure.js [--switches N] [--gap-ms N] [--setup-cpu N] [--baseline-ms N] [--baseline-on LIST] [--api send|commit] [--pairs ${PAIRS.join(",")}]`,
    );
  }
  const gcs = watchGc();
  await printMachine();
  const dir = mkdtempSync(join(tmpdir(), "fable-bench-reconf-"));
  const ca = join(dir, "ca");
  const tls = issueLeaf(ca, "a");
  issueLeaf(ca, "b");
  const listener = await listenUnix(join(dir, "start.sock"));
  const peer = fork(new URL(import.meta.url).pathname, ["--child", listener.address.path, dir, ca], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    const conn = await openReconfigurable(await listener.accept(), { role: "listener", dir, tls });
    await listener.close();
    if (setupCpu > 0) await measureSetup(conn, peer, pairs, setupCpu);
    let stop = false;
    let paused; // a promise while the stream waits for a node-unix baseline
    const writing = (async () => {
      const payload = new Uint8Array(SIZE);
      for (let i = 0; !stop; i++) {
        if (paused !== undefined) await paused;
        if (api === "commit") {
          // The zero-copy API: fill the transport's own buffer, no promise per message.
          const [buffer] = conn.getWriteBuffers(SIZE);
          if (buffer === undefined) await conn.writable();
          else conn.commit(buffer);
        } else await conn.send(payload);
        if (i % 32 === 31) await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const ask = (cmd, extra) =>
      new Promise((resolve) => {
        peer.once("message", resolve);
        peer.send({ cmd, ...extra });
      });
    const baselines = [];
    for (const path of baselineMs > 0 ? baselineOn : []) {
      if (path === "node-unix") {
        let resume;
        paused = new Promise((resolve) => (resume = resolve));
        baselines.push({ path, ...(await plainBaseline(dir, baselineMs, ask)) });
        paused = undefined;
        resume();
        continue;
      }
      await conn.reconfigure(PATHS[path]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await ask("record");
      await new Promise((resolve) => setTimeout(resolve, baselineMs));
      baselines.push({ path, ...(await ask("stop")) });
    }
    const measured = new Map(); // epoch -> pair
    for (const pair of pairs) {
      const [from, to] = pair.split("-");
      for (let i = 0; i < switches; i++) {
        if (conn.transport.kind !== PATHS[from].kind || i === 0) await conn.reconfigure(PATHS[from]);
        await gap();
        const event = await conn.reconfigure(PATHS[to]);
        measured.set(event.epoch, pair);
        await gap();
        await conn.reconfigure(PATHS[from]);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 3 * WINDOW_MS));
    stop = true;
    await writing;
    const { rows: report, gcs: peerGcs } = await ask("report");
    const allGcs = [...gcs.list, ...peerGcs];
    console.log(
      `\npause in delivery at a switch (reader side, ${SIZE} B messages streaming by ${api}(), ${gapMs} ms between switches), ms; dip = read in`,
    );
    console.log(`the ${WINDOW_MS} ms after / the ${WINDOW_MS} ms before the switch (median)`);
    console.log(
      `${"switch".padEnd(12)} ${"n".padStart(5)} ${"p50".padStart(8)} ${"p99".padStart(8)} ${"max".padStart(8)} ${"dip".padStart(6)} ${">1ms".padStart(5)} ${"w/ gc".padStart(6)}`,
    );
    for (const pair of pairs) {
      const rows = report.filter((r) => measured.get(r.epoch) === pair);
      const pauses = rows.map((r) => r.pauseMs).sort((a, b) => a - b);
      const dips = rows.map((r) => (r.before > 0 ? r.after / r.before : NaN)).filter((x) => !Number.isNaN(x));
      const long = rows.filter((r) => r.pauseMs > 1);
      const withGc = long.filter((r) => allGcs.some((g) => g.at < r.endAt && g.at + g.ms > r.endAt - r.pauseMs));
      console.log(
        `${pair.replace("-", "->").padEnd(12)} ${String(pauses.length).padStart(5)} ${q(pauses, 0.5).padStart(8)} ${q(pauses, 0.99).padStart(8)} ${q(pauses, 1).padStart(8)} ${(dips.length
          ? quantile(
              dips.sort((a, b) => a - b),
              0.5,
            ).toFixed(2)
          : "-"
        ).padStart(6)} ${String(long.length).padStart(5)} ${String(withGc.length).padStart(6)}`,
      );
    }
    printBaselines(baselines, allGcs);
    await conn.close();
  } finally {
    peer.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU per switch of each pair with nothing streaming, this process and the peer's. */
async function measureSetup(conn, peer, pairs, n) {
  const peerCpu = () =>
    new Promise((resolve) => {
      peer.once("message", resolve);
      peer.send({ cmd: "cpu" });
    });
  const ms = (a, b) => (b.user - a.user + b.system - a.system) / 1000;
  console.log(`\nCPU per switch with nothing streaming (${n} each way), ms: initiator (this process), peer`);
  console.log(`${"switch".padEnd(12)} ${"init".padStart(8)} ${"peer".padStart(8)}`);
  for (const pair of pairs) {
    const [from, to] = pair.split("-");
    await conn.reconfigure(PATHS[from]);
    for (let i = 0; i < 5; i++) {
      await conn.reconfigure(PATHS[to]);
      await conn.reconfigure(PATHS[from]);
    }
    const [mine, theirs] = [process.cpuUsage(), await peerCpu()];
    for (let i = 0; i < n; i++) {
      await conn.reconfigure(PATHS[to]);
      await conn.reconfigure(PATHS[from]);
    }
    const [mine2, theirs2] = [process.cpuUsage(), await peerCpu()];
    console.log(
      `${pair.replace("-", "<>").padEnd(12)} ${(ms(mine, mine2) / (2 * n)).toFixed(3).padStart(8)} ${(ms(theirs, theirs2) / (2 * n)).toFixed(3).padStart(8)}`,
    );
  }
}

/**
 * The same stream over a plain node:net unix socket (the child records its 'data' events as it
 * records its reads): what Node itself delivers on this machine, with no fable code on the path.
 */
async function plainBaseline(dir, ms, ask) {
  const path = join(dir, "node-unix.sock");
  const server = net.createServer();
  await new Promise((resolve, reject) => server.listen(path, resolve).once("error", reject));
  const accepted = once(server, "connection");
  await ask("plain", { path });
  const [socket] = await accepted;
  socket.on("error", () => undefined); // the child destroys its end at "stop"
  await new Promise((resolve) => setTimeout(resolve, 100));
  await ask("record");
  const payload = Buffer.alloc(SIZE);
  const end = performance.now() + ms;
  for (let i = 0; performance.now() < end; i++) {
    if (!socket.write(payload)) await once(socket, "drain");
    else if (i % 32 === 31) await new Promise((resolve) => setImmediate(resolve));
  }
  const result = await ask("stop");
  socket.destroy();
  server.close();
  return result;
}

/** Garbage collections of this process: start (ms since the epoch, comparable across processes) and duration. */
function watchGc() {
  const list = [];
  const observer = new PerformanceObserver((entries) => {
    for (const e of entries.getEntries()) list.push({ at: performance.timeOrigin + e.startTime, ms: e.duration });
  });
  observer.observe({ entryTypes: ["gc"] });
  return { list, stop: () => observer.disconnect() };
}

/**
 * For each switch-free stream: the gap a random instant falls in (the time-weighted distribution of
 * the reader's gaps), which is the pause a switch that cost nothing would show.
 */
function printBaselines(baselines, gcs) {
  if (baselines.length === 0) return;
  console.log(
    "\nno switch: the gap in delivery a random instant falls in (time-weighted), ms; gaps over 1 ms, with a gc inside;",
  );
  console.log("garbage collections of both processes meanwhile: count, median and longest, ms");
  console.log(
    `${"path".padEnd(12)} ${"msgs".padStart(7)} ${"p50".padStart(8)} ${"p99".padStart(8)} ${"max".padStart(8)} ${">1ms".padStart(5)} ${"w/ gc".padStart(6)} ${"gcs".padStart(5)} ${"gc p50".padStart(7)} ${"gc max".padStart(7)}`,
  );
  for (const { path, fromAt, spanMs, gaps, messages } of baselines) {
    const during = gcs
      .filter((c) => c.at >= fromAt && c.at < fromAt + spanMs)
      .map((c) => c.ms)
      .sort((a, b) => a - b);
    const sorted = gaps.map((g) => g.ms).sort((a, b) => b - a);
    const long = gaps.filter((g) => g.ms > 1);
    const withGc = long.filter((g) => gcs.some((c) => c.at < g.endAt && c.at + c.ms > g.endAt - g.ms));
    const at = (share) => {
      let covered = 0;
      for (const g of sorted) {
        covered += g;
        if (covered >= share * spanMs) return g.toFixed(3);
      }
      return `<${MIN_GAP_MS.toFixed(2)}`;
    };
    console.log(
      `${path.padEnd(12)} ${String(messages).padStart(7)} ${at(0.5).padStart(8)} ${at(0.01).padStart(8)} ${(sorted.length > 0 ? sorted[0].toFixed(3) : "-").padStart(8)} ${String(long.length).padStart(5)} ${String(withGc.length).padStart(6)} ${String(during.length).padStart(5)} ${q(during, 0.5).padStart(7)} ${q(during, 1).padStart(7)}`,
    );
  }
}

function quantile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function q(sorted, p) {
  return sorted.length === 0 ? "-" : quantile(sorted, p).toFixed(3);
}

async function child(path, dir, ca) {
  const conn = await openReconfigurable(await connectUnix(path), { role: "connector", dir, tls: loadLeaf(ca, "b") });
  const times = new Float64Array(1 << 20);
  let n = 0;
  let epoch = conn.epoch;
  const rows = [];
  const countSince = (from, to) => {
    let c = 0;
    for (let i = n - 1; i >= 0 && i > n - times.length && times[i % times.length] >= from; i--) {
      if (times[i % times.length] < to) c++;
    }
    return c;
  };
  const gcs = watchGc();
  let recording; // the switch-free baseline: the reader's gaps over MIN_GAP_MS
  let plain; // the node-unix baseline's socket
  const note = (now, count) => {
    if (recording.last === undefined) recording.from = now;
    else if (now - recording.last >= MIN_GAP_MS) {
      recording.gaps.push({ ms: now - recording.last, endAt: performance.timeOrigin + now });
    }
    recording.last = now;
    recording.messages += count;
  };
  process.on("message", (m) => {
    if (m.cmd === "plain") {
      plain = net.connect(m.path, () => process.send({}));
      plain.on("error", () => undefined);
      plain.on("data", (chunk) => recording !== undefined && note(performance.now(), chunk.length / SIZE));
    }
    if (m.cmd === "report") process.send({ rows, gcs: gcs.list });
    if (m.cmd === "cpu") process.send(process.cpuUsage());
    if (m.cmd === "record") {
      recording = { from: undefined, last: undefined, gaps: [], messages: 0 };
      process.send({});
    }
    if (m.cmd === "stop") {
      const r = recording;
      recording = undefined;
      plain?.destroy();
      plain = undefined;
      process.send({
        fromAt: performance.timeOrigin + (r.from ?? 0),
        spanMs: r.last === undefined ? 0 : r.last - r.from,
        gaps: r.gaps,
        messages: r.messages,
      });
    }
  });
  for (;;) {
    const buffers = conn.getReadBuffers();
    const now = performance.now();
    if (recording !== undefined && buffers.length > 0) note(now, buffers.length);
    for (const b of buffers) {
      if (b.epoch !== epoch) {
        const last = n > 0 ? times[(n - 1) % times.length] : now;
        const row = {
          epoch: b.epoch,
          pauseMs: now - last,
          endAt: performance.timeOrigin + now,
          before: countSince(last - WINDOW_MS, last + 1),
          after: 0,
        };
        rows.push(row);
        setTimeout(() => (row.after = countSince(now, now + WINDOW_MS)), 2 * WINDOW_MS);
        epoch = b.epoch;
      }
      times[n++ % times.length] = now;
      conn.release(b);
    }
    if (buffers.length === 0) await conn.readable();
    else await new Promise((resolve) => setImmediate(resolve));
  }
}
