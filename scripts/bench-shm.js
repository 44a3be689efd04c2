#!/usr/bin/env node
// The shm transport's figures against the targets of issue 4, Node process to Node process, with
// the native engine's mempipe-spin-safe and the Node probe's node-net-unix measured in the same
// run on the same CPU pair. Run it with `npm run bench:shm` (builds first); options:
//   --cpus A,B      CPU of this process (side A) and of the child (side B); default 0,1
//   --runs N        repetitions of every measurement (the median is quoted); default 5
//   --budget-ms N   time of one measurement; default 1000
//   --json PATH     also write every figure as JSON
// The machine is shared and noisy: figures are medians of runs; compare ratios within one run.
/* global Buffer, URL, performance, setTimeout */
import { fork, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bareCost } from "./lib/costs.js";
import { printMachine } from "./lib/machine.js";

const root = new URL("..", import.meta.url).pathname;
const dist = (p) => new URL(`../dist/src/${p}`, import.meta.url).href;
const { loadNative } = await import(dist("native/load.js"));
const { ShmListener, connectShm } = await import(dist("transports/shm.js"));
const { Connection, openReconfigurable } = await import(dist("channel/connection.js"));
const native = loadNative();

const SIZES = [64, 4096, 65536];
const STRATEGIES = ["spin", "block", "adaptive"];
const STOP = 0x80; // record flag: the writer's last record of a throughput run
const WAKE_GAP_MS = 5;
const BATCH = 16; // round trips per latency sample (see roundTrips)
let peerRef;

if (process.argv[2] === "--child") await child();
else await main();

// ---- side A (this process) ------------------------------------------------------------------

async function main() {
  const { values } = parseArgs({
    options: {
      cpus: { type: "string", default: "0,1" },
      runs: { type: "string", default: "5" },
      "budget-ms": { type: "string", default: "1000" },
      json: { type: "string" },
    },
  });
  const cpus = values.cpus.split(",").map(Number);
  const runs = Number(values.runs);
  const budgetMs = Number(values["budget-ms"]);
  if (cpus.length !== 2 || cpus.some((c) => !Number.isInteger(c)) || !(runs >= 1) || !(budgetMs >= 10)) {
    throw new Error("usage: bench-shm.js [--cpus A,B] [--runs N] [--budget-ms N] [--json PATH]");
  }
  const [cpuA, cpuB] = cpus;
  await printMachine([cpuA, cpuB]);
  native.setAffinity([cpuA], "process");

  const dir = mkdtempSync(join(tmpdir(), "fable-bench-shm-"));
  const peer = startChild(cpuB);
  peerRef = peer;
  const figures = { cpus, runs, budgetMs, results: {} };
  try {
    await peer.ready;
    let n = 0;
    const connect = async (role, options, ours = options) => {
      const path = join(dir, `b${n++}.sock`);
      const listener = await ShmListener.listen(path, ours);
      const accepting = listener.accept();
      peer.send({ cmd: role, path, options });
      const end = await accepting;
      await listener.close();
      return end;
    };

    const engine = join(root, "build", "Release", "fable-engine");
    const probe = join(root, "dist", "src", "bench", "node-probe", "main.js");
    const series = new Map();
    const add = (key, value) => series.set(key, [...(series.get(key) ?? []), value]);

    // Every run measures everything once, the engine and node-net-unix beside shm, so a noisy
    // neighbour (this machine is shared) hits all of them alike; ratios are taken per run.
    for (let r = 0; r < runs; r++) {
      process.stdout.write(`run ${r + 1}/${runs}...\r`);
      // Round trips, 64 B, each strategy on both sides; untrusted (copying) readers, like the
      // engine's "safe" mempipe.
      const shmRoundTrips = async (wait) => {
        const end = await connect("echo", { wait, trust: "untrusted" });
        add(`rtt-${wait}`, await roundTrips(end, 64, budgetMs));
        end.close();
        await peer.next("done");
      };
      add("engine-rtt", probeLatency(engine, [], "mempipe-spin-safe", cpus, budgetMs, dir));
      await shmRoundTrips("adaptive");
      add("ratio-rtt", series.get("rtt-adaptive").at(-1) / series.get("engine-rtt").at(-1));
      await shmRoundTrips("spin");
      // Both sides polling next() synchronously, never awaiting: the floor of a Node round trip.
      {
        const end = await connect("echo-sync", { wait: "spin", trust: "untrusted" });
        add("rtt-sync", await syncRoundTrips(end, 64, budgetMs));
        end.close();
        await peer.next("done");
      }
      // The same adaptive round trip through a Connection on each side (getWriteBuffers/commit,
      // getReadBuffers/release): what the channel adds over its transport; and through
      // reconfigurable Connections (what a connection made through a name is: sequence numbers,
      // records kept until acknowledged, an acknowledgement timer). Both are open at once and
      // measured in alternating slices: the guest changes speed for seconds at a time, so two
      // figures taken one after the other can differ by 2x for no reason of their own.
      {
        const plainEnd = await connect("echo-connection", { wait: "adaptive", trust: "untrusted" });
        const end = await connect("echo-reconfigurable", { wait: "adaptive", trust: "untrusted" });
        const conn = await openReconfigurable(end, { role: "connector", dir });
        const pair = await interleavedRoundTrips(new Connection(plainEnd), conn, 64, budgetMs);
        add("rtt-connection", pair.a);
        add("rtt-reconfigurable", pair.b);
        add("ratio-reconfigurable", pair.ratio);
        plainEnd.close();
        await peer.next("done");
        await conn.close();
        await peer.next("done");
      }
      add("net-unix-rtt", probeLatency(process.execPath, [probe], "node-net-unix", cpus, budgetMs, dir));

      // One-way throughput; the reader checks each record's seq and a sequence word in the payload.
      for (const size of SIZES) {
        const e = probeThroughput(engine, [], "mempipe-spin-safe", size, cpus, budgetMs);
        add(`engine-throughput-${size}`, e.bytesPerSecond);
        add(`engine-messages-${size}`, e.messagesPerSecond);
        for (const wait of ["adaptive", "spin"]) {
          const end = await connect("sink", { wait, trust: "untrusted" });
          const sending = stream(end, size, budgetMs);
          const result = await peer.next("sink");
          await sending;
          end.close();
          add(`throughput-${wait}-${size}`, (result.bytes / result.elapsedNs) * 1e9);
          add(`messages-${wait}-${size}`, (result.records / result.elapsedNs) * 1e9);
        }
        add(`ratio-throughput-${size}`, series.get(`throughput-adaptive-${size}`).at(-1) / e.bytesPerSecond);
      }
      // Last: both sides sleeping on every record leaves the (virtual) CPUs idling, which can move
      // them on the host and disturb whatever is measured next.
      await shmRoundTrips("block");
    }

    // What handling one record costs, both ends in this process: no other CPU involved.
    for (let r = 0; r < runs; r++) add("record-cost", await recordCost(dir, 64));

    // An idle adaptive receiver: its CPU use once the spin budget is spent; then round trips to
    // it while it sleeps (5 ms apart; this side spins, so only the receiver's wake-up is in them),
    // and node-net-unix round trips with the same gaps (both sides asleep in epoll).
    for (let r = 0; r < Math.min(runs, 3); r++) {
      const end = await connect("idle", { wait: "adaptive", trust: "untrusted" }, { wait: "spin", trust: "untrusted" });
      add("idle-cpu-percent", (await peer.next("idle")).cpuPercent);
      add("wake-rtt", await wakeRoundTrips(end, 100, WAKE_GAP_MS));
      end.close();
      await peer.next("done");
      add("net-unix-gap-rtt", await netUnixGapRoundTrips(join(dir, `n${r}.sock`), 100, WAKE_GAP_MS));
    }

    const results = Object.fromEntries([...series].map(([k, v]) => [k, summary(v)]));
    figures.results = results;
    console.log("".padEnd(40));
    const show = (what, key, unit) => report(what, results[key].runs, unit);
    show("engine mempipe-spin-safe 64 B round trip", "engine-rtt", "ns");
    for (const wait of STRATEGIES) show(`shm ${wait} 64 B round trip`, `rtt-${wait}`, "ns");
    show("shm adaptive 64 B, through Connections", "rtt-connection", "ns");
    show("  the same, reconfigurable Connections", "rtt-reconfigurable", "ns");
    show("shm 64 B, both polling next() (no await)", "rtt-sync", "ns");
    show("one 64 B record written and read, one thread", "record-cost", "ns");
    show("node-net-unix 64 B round trip", "net-unix-rtt", "ns");
    for (const size of SIZES) {
      show(`engine mempipe-spin-safe ${size} B`, `engine-throughput-${size}`, "B/s");
      for (const wait of ["adaptive", "spin"]) {
        report(
          `shm ${wait} ${size} B`,
          results[`throughput-${wait}-${size}`].runs,
          "B/s",
          results[`messages-${wait}-${size}`].runs,
        );
      }
    }
    show("idle adaptive receiver CPU", "idle-cpu-percent", "%");
    show(`round trip to a sleeping receiver (${WAKE_GAP_MS} ms gaps)`, "wake-rtt", "ns");
    show(`node-net-unix round trip (${WAKE_GAP_MS} ms gaps)`, "net-unix-gap-rtt", "ns");

    printTargets(results);
    if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(figures, null, 2) + "\n");
  } finally {
    peer.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The median round trip in ns of `pingPong(max, clock)`, a loop of round trips that calls
 * clock.tick(i) after round trip i and stops when it returns true: first 200k round trips of
 * warm-up (JIT, page faults, both CPUs busy), then up to 5M for about `budgetMs`. One sample is the
 * mean of BATCH consecutive round trips: performance.now() costs ~55 ns here (the engine's TSC
 * read ~13 ns), too much to pay inside every sub-microsecond round trip.
 */
async function medianRoundTrip(pingPong, budgetMs) {
  await pingPong(200_000, batchClock(null, Infinity));
  const clock = batchClock(new Float64Array(5_000_000 / BATCH), budgetMs);
  await pingPong(5_000_000, clock);
  return median(clock.samples()) * 1e6;
}

function batchClock(samples, budgetMs) {
  const deadline = performance.now() + budgetMs;
  let last = performance.now();
  let n = 0;
  return {
    tick(i) {
      if (samples === null || i % BATCH !== BATCH - 1) return false;
      const now = performance.now();
      samples[n++] = (now - last) / BATCH;
      last = now;
      return now > deadline || n === samples.length;
    },
    samples: () => samples.subarray(0, n),
  };
}

/** Round trips over a transport end, each side awaiting when it has nothing (the API as meant). */
function roundTrips(end, size, budgetMs) {
  return medianRoundTrip(async (max, clock) => {
    for (let i = 0; i < max; i++) {
      let view = end.reserve(size);
      while (view === null) {
        await end.writable();
        view = end.reserve(size);
      }
      view[0] = i;
      end.publish(size, 0, i);
      let r = end.next();
      while (r === null) {
        await end.readable();
        r = end.next();
      }
      if (r.seq !== i) throw new Error(`echo ${i} came back as ${r.seq}`);
      end.free();
      if (clock.tick(i)) return;
    }
  }, budgetMs);
}

/** Round trips with both sides polling next() in a loop, never awaiting. */
function syncRoundTrips(end, size, budgetMs) {
  return medianRoundTrip((max, clock) => {
    for (let i = 0; i < max; i++) {
      const view = end.reserve(size);
      view[0] = i;
      end.publish(size, 0, i);
      let r = end.next();
      while (r === null) r = end.next();
      if (r.seq !== i) throw new Error(`echo ${i} came back as ${r.seq}`);
      end.free();
      if (clock.tick(i)) return;
    }
  }, budgetMs);
}

/** Round trips through a Connection: the zero-copy buffer API on top of the same transport. */
/** Round trips through a Connection from message `first` until `clock` says stop; how many ran. */
async function connectionRoundTrips(conn, size, clock, first) {
  for (let i = 0; ; i++) {
    let [buf] = conn.getWriteBuffers(size);
    while (buf === undefined) {
      await conn.writable();
      [buf] = conn.getWriteBuffers(size);
    }
    buf.bytes[0] = first + i;
    conn.commit(buf);
    let got = conn.getReadBuffers();
    while (got.length === 0) {
      await conn.readable();
      got = conn.getReadBuffers();
    }
    if (got.length !== 1 || got[0].bytes[0] !== ((first + i) & 0xff))
      throw new Error(`echo ${first + i} came back wrong`);
    conn.release(got[0]);
    if (clock.tick(i)) return i + 1;
  }
}

/**
 * Round trips through two connections in alternating slices of SLICE_MS (order ABBA, so neither
 * always goes first), until each had `budgetMs`: the median round trip of each (median of its
 * slices' medians) and the median of the per-pair ratios b / a.
 */
async function interleavedRoundTrips(a, b, size, budgetMs) {
  const SLICE_MS = 50;
  const counters = new Map([
    [a, 0],
    [b, 0],
  ]);
  const slice = async (conn, ms) => {
    const clock = batchClock(new Float64Array(5_000_000 / BATCH), ms);
    const first = counters.get(conn);
    const ran = await connectionRoundTrips(conn, size, clock, first);
    counters.set(conn, first + ran);
    return median(clock.samples()) * 1e6;
  };
  // Warm-up: JIT, page faults, both CPUs busy.
  for (const conn of [a, b]) await slice(conn, 300);
  const as = [];
  const bs = [];
  for (let k = 0; k * SLICE_MS < budgetMs; k++) {
    if (k % 2 === 0) {
      as.push(await slice(a, SLICE_MS));
      bs.push(await slice(b, SLICE_MS));
    } else {
      bs.push(await slice(b, SLICE_MS));
      as.push(await slice(a, SLICE_MS));
    }
  }
  return { a: median(as), b: median(bs), ratio: median(bs.map((x, i) => x / as[i])) };
}

/** ns to write one record on one end and read and free it on the other, both in this thread. */
async function recordCost(dir, size) {
  const path = join(dir, `cost-${size}.sock`);
  const listener = await ShmListener.listen(path, { trust: "untrusted" });
  const [a, b] = await Promise.all([listener.accept(), connectShm(path, { trust: "untrusted" })]);
  await listener.close();
  const cost = bareCost(a, b, size, 1_000_000);
  a.close();
  b.close();
  return cost;
}

/** Round trips each `gapMs` apart, so the peer is asleep when each one starts; median in ns. */
async function wakeRoundTrips(end, count, gapMs) {
  const samples = [];
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    const t0 = performance.now();
    const view = end.reserve(64);
    end.publish(64, 0, i);
    let r = end.next();
    while (r === null) {
      await end.readable();
      r = end.next();
    }
    samples.push(performance.now() - t0);
    end.free();
    void view;
  }
  return median(Float64Array.from(samples)) * 1e6;
}

/** Writes `size`-byte records for `budgetMs`, then one STOP record. */
async function stream(end, size, budgetMs) {
  const deadline = performance.now() + budgetMs;
  let seq = 0;
  for (;;) {
    let view = end.reserve(size);
    while (view === null) {
      await end.writable();
      view = end.reserve(size);
    }
    const stop = (seq & 255) === 0 && performance.now() > deadline;
    view[0] = seq;
    view[1] = seq >>> 8;
    view[2] = seq >>> 16;
    view[3] = seq >>> 24;
    end.publish(size, stop ? STOP : 0, seq);
    seq++;
    if (stop) return;
  }
}

/** node-net-unix round trips `gapMs` apart with the child echoing; median in ns. */
async function netUnixGapRoundTrips(path, count, gapMs) {
  const server = createServer();
  await new Promise((resolve) => server.listen(path, resolve));
  const accepted = new Promise((resolve) => server.once("connection", resolve));
  peerRef.send({ cmd: "net-echo", path });
  const socket = await accepted;
  server.close();
  let got = () => {};
  socket.on("data", () => got());
  const samples = [];
  const message = Buffer.alloc(64);
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    const echoed = new Promise((resolve) => (got = resolve));
    const t0 = performance.now();
    socket.write(message);
    await echoed;
    samples.push(performance.now() - t0);
  }
  socket.destroy();
  await peerRef.next("done");
  return median(Float64Array.from(samples)) * 1e6;
}

function startChild(cpu) {
  const child = fork(new URL(import.meta.url).pathname, ["--child", String(cpu)], { stdio: "inherit" });
  const events = [];
  let wake = () => {};
  child.on("message", (m) => {
    events.push(m);
    wake();
  });
  child.on("exit", (code) => {
    events.push({ event: "exit", code });
    wake();
  });
  const next = async (event) => {
    for (;;) {
      const i = events.findIndex((e) => e.event === event || e.event === "error" || e.event === "exit");
      if (i >= 0) {
        const [e] = events.splice(i, 1);
        if (e.event !== event) throw new Error(`bench child: ${e.message ?? `exited (${e.code})`}`);
        return e;
      }
      await new Promise((resolve) => (wake = resolve));
    }
  };
  return { ready: next("ready"), next, send: (m) => child.send(m), kill: () => child.kill() };
}

// ---- side B (the child) ---------------------------------------------------------------------

async function child() {
  native.setAffinity([Number(process.argv[3])], "process");
  process.on("message", (m) => {
    run(m).catch((e) => process.send({ event: "error", message: String(e?.stack ?? e) }));
  });
  process.on("disconnect", () => process.exit(0));
  process.send({ event: "ready" });
}

async function run(m) {
  if (m.cmd === "net-echo") {
    const socket = netConnect(m.path);
    socket.on("data", (d) => socket.write(d));
    await new Promise((resolve) => socket.on("close", resolve));
    process.send({ event: "done" });
    return;
  }
  const end = await connectShm(m.path, m.options);
  if (m.cmd === "echo-sync") {
    echoSync(end);
    end.close();
    process.send({ event: "done" });
  } else if (m.cmd === "echo-connection") {
    await echoConnection(new Connection(end));
    process.send({ event: "done" });
  } else if (m.cmd === "echo-reconfigurable") {
    await echoConnection(await openReconfigurable(end, { role: "listener" }));
    process.send({ event: "done" });
  } else if (m.cmd === "echo") {
    await echo(end);
    process.send({ event: "done" });
  } else if (m.cmd === "sink") {
    process.send({ event: "sink", ...(await sink(end)) });
    end.close();
  } else if (m.cmd === "idle") {
    const waiting = end.readable();
    await new Promise((resolve) => setTimeout(resolve, 200)); // past the spin budget
    const u0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const u1 = process.cpuUsage(u0);
    const cpuPercent = ((u1.user + u1.system) / 1000 / (performance.now() - t0)) * 100;
    process.send({ event: "idle", cpuPercent });
    await waiting;
    await echo(end);
    process.send({ event: "done" });
  }
}

async function echo(end) {
  for (;;) {
    let r;
    while ((r = end.next()) !== null) {
      const n = r.bytes.length;
      let out = end.reserve(n);
      while (out === null) {
        await end.writable();
        out = end.reserve(n);
      }
      out.set(r.bytes);
      end.publish(n, r.flags, r.seq);
      end.free();
    }
    if (end.ended) {
      end.close();
      return;
    }
    await end.readable();
  }
}

/** Echoes records, polling next() without ever yielding, until the peer closes. */
function echoSync(end) {
  for (;;) {
    const r = end.next();
    if (r === null) {
      if (end.ended) return;
      continue;
    }
    const n = r.bytes.length;
    const out = end.reserve(n);
    out.set(r.bytes);
    end.publish(n, r.flags, r.seq);
    end.free();
  }
}

async function echoConnection(conn) {
  for (;;) {
    const got = conn.getReadBuffers();
    for (const r of got) {
      let [out] = conn.getWriteBuffers(r.bytes.length);
      while (out === undefined) {
        await conn.writable();
        [out] = conn.getWriteBuffers(r.bytes.length);
      }
      out.bytes.set(r.bytes);
      conn.commit(out);
      conn.release(r);
    }
    if (got.length === 0) {
      if (conn.ended) {
        await conn.close();
        return;
      }
      await conn.readable();
    }
  }
}

async function sink(end) {
  let expected = 0;
  let bytes = 0;
  let first = 0;
  for (;;) {
    const r = end.next();
    if (r === null) {
      await end.readable();
      continue;
    }
    const b = r.bytes;
    if (r.seq !== expected || (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0 !== expected) {
      throw new Error(`record ${expected} carries seq ${r.seq}`);
    }
    if (expected === 0) first = performance.now();
    else bytes += b.length;
    expected++;
    const stop = r.flags === STOP;
    end.free();
    if (stop) {
      // The first record starts the clock: it and its bytes are not counted.
      return { bytes, records: expected - 1, elapsedNs: (performance.now() - first) * 1e6 };
    }
  }
}

// ---- probes (engine and node-probe) ---------------------------------------------------------

function runProbe(command, prefix, mechanism, mode, size, cpus, budgetMs, samplesOut) {
  const args = [
    ...prefix,
    "--mechanism",
    mechanism,
    "--mode",
    mode,
    "--size",
    String(size),
    "--cpus",
    cpus.join(","),
    "--budget-ms",
    String(budgetMs),
  ];
  if (samplesOut !== undefined) args.push("--samples-out", samplesOut);
  const res = spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 24 });
  const out = JSON.parse(res.stdout);
  if (!out.ok) throw new Error(`${mechanism}: ${out.error.code}: ${out.error.message}`);
  return out;
}

function probeLatency(command, prefix, mechanism, cpus, budgetMs, dir) {
  const file = join(dir, `${mechanism}.f64`);
  runProbe(command, prefix, mechanism, "latency", 64, cpus, budgetMs, file);
  const raw = readFileSync(file);
  const samples = new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return median(samples);
}

function probeThroughput(command, prefix, mechanism, size, cpus, budgetMs) {
  const out = runProbe(command, prefix, mechanism, "throughput", size, cpus, budgetMs);
  return {
    bytesPerSecond: (out.bytes / out.elapsedNs) * 1e9,
    messagesPerSecond: (out.iterations / out.elapsedNs) * 1e9,
  };
}

// ---- statistics and printing ----------------------------------------------------------------

function median(values) {
  const sorted = Float64Array.from(values).sort();
  const m = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

function summary(runs) {
  return { median: median(runs), min: Math.min(...runs), max: Math.max(...runs), runs };
}

function fmt(v, unit) {
  if (unit === "ns" && v < 1000) return `${v.toFixed(0)} ns`;
  if (unit === "ns") return v >= 10_000 ? `${(v / 1000).toFixed(1)} us` : `${(v / 1000).toFixed(2)} us`;
  if (unit === "B/s") return `${(v / 1e6).toFixed(0)} MB/s`;
  if (unit === "%") return `${v.toFixed(2)} %`;
  return String(v);
}

function report(what, runs, unit, messages) {
  const s = summary(runs);
  const extra = messages === undefined ? "" : `, ${(median(messages) / 1e6).toFixed(2)} M msg/s`;
  console.log(
    `${what.padEnd(46)} ${fmt(s.median, unit).padStart(11)}${extra}   ` +
      `(runs: ${runs.map((r) => fmt(r, unit)).join(", ")})`,
  );
}

function printTargets(f) {
  const m = (key) => f[key].median;
  const rows = [
    ["shm adaptive RTT / mempipe-spin RTT", m("ratio-rtt"), "<=", 1.5],
    ["node-net-unix RTT / shm adaptive RTT", m("net-unix-rtt") / m("rtt-adaptive"), ">=", 20],
    ["  the same through Connections", m("net-unix-rtt") / m("rtt-connection"), ">=", 20],
    ["reconfigurable / plain Connection RTT (issue 10)", m("ratio-reconfigurable"), "<=", 1.1],
    ["shm 64 KiB throughput / mempipe-spin 64 KiB", m("ratio-throughput-65536"), ">=", 0.8],
    ["shm 64 B messages/s (millions)", m("messages-adaptive-64") / 1e6, ">=", 3],
    ["idle adaptive receiver CPU (%)", m("idle-cpu-percent"), "<", 2],
    ["sleeping-receiver RTT / node-net-unix RTT", m("wake-rtt") / m("net-unix-rtt"), "<=", 1],
    ["  the same, both after 5 ms idle", m("wake-rtt") / m("net-unix-gap-rtt"), "<=", 1],
    ["  one wake-up (block RTT / 2) / node-net-unix RTT", m("rtt-block") / 2 / m("net-unix-rtt"), "<=", 1],
  ];
  console.log("\ntargets (issue 4): ratios are medians of per-run ratios where both were measured in one run");
  console.log("  (shm readers are untrusted: they copy each record to private memory, like mempipe-spin-safe;");
  console.log("   the shm throughput reader checks seq and a sequence word, the engine its whole pattern)");
  for (const [what, value, op, target] of rows) {
    const ok = op === "<=" ? value <= target : op === ">=" ? value >= target : value < target;
    console.log(
      `  ${what.padEnd(50)} ${value.toFixed(2).padStart(8)}  target ${op} ${target}  ${ok ? "met" : "MISSED"}`,
    );
  }
}
