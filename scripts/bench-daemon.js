#!/usr/bin/env node
// The fable daemon under load: 10,000 registered names, then connect + first message + close by
// name, paced at up to --rate per second for --seconds, each beside a raw `net` unix-socket connect
// + first message + close to an echo server (interleaved, one of each per step). Prints the setup
// time's p50/p99 for both, the rate reached, errors, and the daemon's RSS at start, middle and end,
// with a verdict on whether its memory stayed flat (computed from per-second samples, see FLAT_BOUND).
// A private daemon in temporary directories (never the user's). `npm run bench:daemon`; options:
//   --seconds N   how long to connect (default 60)
//   --rate N      connect+close by name per second, at most (default 1000)
//   --names N     names registered first (default 10000)
//   --lanes N     connections in flight at once: one timing lane + N-1 load lanes (default 8)
//   --cpu-prof D  the daemon, the listener and the echo server write V8 CPU profiles into D
// Also prints the CPU time (user+sys) per connect of the connecting process, the listener and the
// daemon over the timed window.
/* global URL, setTimeout, setInterval, clearInterval */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { printMachine } from "./lib/machine.js";

const dist = (p) => new URL(`../dist/${p}`, import.meta.url);
const { connect, connectionFlow } = await import(dist("src/naming/api.js").href);
const { DaemonClient } = await import(dist("src/naming/daemon-client.js").href);

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    rate: { type: "string", default: "1000" },
    names: { type: "string", default: "10000" },
    lanes: { type: "string", default: "8" },
    "cpu-prof": { type: "string" },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const nameCount = Number(values.names);
const lanes = Number(values.lanes);
const profile = values["cpu-prof"] !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${values["cpu-prof"]}`] : [];
if (!(seconds > 0) || !(rate > 0) || !(nameCount >= 0) || !Number.isInteger(lanes) || lanes < 2)
  throw new Error("usage: bench-daemon.js [--seconds N] [--rate N] [--names N] [--lanes N>=2]");

await printMachine();
const root = mkdtempSync(join(tmpdir(), "fable-bench-daemon-"));
const paths = { runtimeDir: join(root, "run"), stateDir: join(root, "state") };
for (const d of Object.values(paths)) mkdirSync(d, { mode: 0o700 });
const env = {
  ...process.env,
  FABLE_RUNTIME_DIR: paths.runtimeDir,
  FABLE_STATE_DIR: paths.stateDir,
  FABLE_NO_AUTOSTART: "1",
  // No background calibration run competing for the 2 CPUs while we time; selection reads the
  // results kept in this private data dir (none: the fixed order).
  FABLE_DATA_DIR: join(root, "data"),
  FABLE_CALIBRATION: "off",
};
const children = [];
const child = (args, withIpc) => {
  const c = spawn(process.execPath, [...profile, ...args], {
    env,
    stdio: ["ignore", "inherit", "inherit", ...(withIpc ? ["ipc"] : [])],
  });
  children.push(c);
  return c;
};

try {
  const daemon = child([new URL("../bin/fable.js", import.meta.url).pathname, "daemon", "run"], false);
  const client = new DaemonClient({ paths, autostart: false });
  for (let i = 0; ; i++) {
    try {
      await client.request({ type: "status" });
      break;
    } catch (err) {
      if (i > 400) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${daemon.pid}/status`, "utf8"))?.[1]) * 1024;

  // The names: registered by another process (its connection holds them), like 10,000 listeners would.
  const holder = new DaemonClient({ paths, autostart: false });
  for (let i = 0; i < nameCount; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(nameCount, i + 500); j++) {
      batch.push(
        holder.request({
          type: "register",
          name: `bench/n/${j}`,
          allow: [],
          endpoints: { unix: `/tmp/none-${j}.sock` },
        }),
      );
    }
    await Promise.all(batch);
  }

  // The listener by name and a raw echo server, each in a process of its own.
  const listener = child(
    [dist("test/kit/naming-child.js").pathname, JSON.stringify({ mode: "listen", uri: "xio://bench/target" })],
    true,
  );
  await new Promise((resolve, reject) => {
    listener.once("message", (m) => (m.event === "ready" ? resolve() : reject(new Error(JSON.stringify(m)))));
  });
  const rawPath = join(root, "raw.sock");
  const raw = child(
    [
      "-e",
      `require("node:net").createServer((s) => s.on("data", (d) => s.write(d)).on("error", () => {})).listen(${JSON.stringify(rawPath)}, () => process.send("ready"))`,
    ],
    true,
  );
  await new Promise((resolve) => raw.once("message", resolve));

  const byName = [];
  const rawTimes = [];
  let errors = 0;
  let firstError;
  const payload = new Uint8Array([1]);
  // What the connects by name got (the daemon's choice changes with the listener's load).
  const got = new Map();
  const oneByName = async () => {
    const t0 = process.hrtime.bigint();
    const conn = await connect("xio://bench/target", { client });
    const flow = connectionFlow(conn);
    const kind = flow.wait === null ? flow.transport : `${flow.transport}:${flow.wait}`;
    got.set(kind, (got.get(kind) ?? 0) + 1);
    await conn.send(payload);
    const it = conn[Symbol.asyncIterator]();
    await it.next();
    byName.push(Number(process.hrtime.bigint() - t0));
    await conn.close();
  };
  // Parts of a connect by name, timed apart to show where the time goes: the daemon's answer
  // (resolve), and the transport it chose set up by an explicit URI to a plain (not
  // reconfigurable) listener in another process: what a name adds over both is the
  // reconfigurable connection's agreement (its resume endpoint) and the flow report.
  const resolveTimes = [];
  const explicitTimes = [];
  const oneResolve = async () => {
    const t0 = process.hrtime.bigint();
    const reply = await client.request({
      type: "resolve",
      name: "bench/target",
      requirements: { latency: "critical", spin: true, trust: "trusted", sizes: [] },
    });
    resolveTimes.push(Number(process.hrtime.bigint() - t0));
    return reply;
  };
  const oneExplicit = async (uri, wait) => {
    const t0 = process.hrtime.bigint();
    const conn = await connect(uri, { wait });
    await conn.send(payload);
    await conn[Symbol.asyncIterator]().next();
    explicitTimes.push(Number(process.hrtime.bigint() - t0));
    await conn.close();
  };
  const chosen = (await oneResolve()).selection.ranked[0];
  resolveTimes.length = 0;
  let chosenUri;
  if (chosen.transport === "shm") {
    chosenUri = `shm://${join(root, "plain.sock")}`;
    const plain = child(
      [dist("test/kit/naming-child.js").pathname, JSON.stringify({ mode: "listen", uri: chosenUri })],
      true,
    );
    await new Promise((resolve, reject) => {
      plain.once("message", (m) => (m.event === "ready" ? resolve() : reject(new Error(JSON.stringify(m)))));
    });
  }
  const oneRaw = () =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const s = net.connect(rawPath, () => s.write(payload));
      s.once("data", () => {
        rawTimes.push(Number(process.hrtime.bigint() - t0));
        s.destroy();
        resolve();
      });
      s.once("error", reject);
    });

  const rssStart = rss();
  // CPU time (user + system) over the timed window: what a connect costs each process, a figure
  // that the machine's load disturbs less than the times and the rate (which wait for a CPU).
  const cpuOf = (pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / 100) * 1e6; // clock ticks (USER_HZ 100) -> µs
  };
  const cpuStart = { self: process.cpuUsage(), listener: cpuOf(listener.pid), daemon: cpuOf(daemon.pid) };
  let rssMiddle = rssStart;
  // The RSS every second of the timed window: a collected heap swings by tens of MiB, so three
  // readings cannot tell a plateau from a leak; the range of each third of the window can. With
  // it, the daemon's JS heap in use (its status): its lows are what is left after a collection.
  const rssSamples = [];
  const heapSamples = [];
  const sampler = setInterval(() => {
    rssSamples.push(rss());
    client.request({ type: "status" }).then(
      (s) => s.memory !== undefined && heapSamples.push(s.memory.heapUsed),
      () => undefined,
    );
  }, 1000);
  const start = Date.now();
  const end = start + seconds * 1000;
  let tickets = 0;
  let middleTaken = false;
  // Connects by name are paced to `rate` per second over all lanes together: each takes the next
  // ticket and starts no earlier than its time. Lane 0 times the comparisons one at a time (by
  // name, raw, the daemon's answer, the explicit endpoint), so both sides of the ratio are measured
  // under the same load; the other lanes only connect by name, as many clients at once would.
  const paced = async () => {
    const ahead = start + (tickets++ * 1000) / rate - Date.now();
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
  };
  const loadTimes = [];
  const lane = async (timing) => {
    while (Date.now() < end) {
      await paced();
      try {
        if (timing) {
          await oneByName();
          await oneRaw();
          await oneResolve();
          if (chosenUri !== undefined) await oneExplicit(chosenUri, chosen.wait ?? "adaptive");
        } else {
          const before = byName.length;
          await oneByName();
          loadTimes.push(byName.splice(before, 1)[0]);
        }
      } catch (err) {
        errors++;
        firstError ??= err;
      }
      if (!middleTaken && Date.now() >= start + (seconds * 1000) / 2) {
        rssMiddle = rss();
        middleTaken = true;
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, (_, i) => lane(i === 0)));
  clearInterval(sampler);
  const elapsed = (Date.now() - start) / 1000;
  const selfCpu = process.cpuUsage(cpuStart.self);
  const cpu = {
    self: selfCpu.user + selfCpu.system,
    listener: cpuOf(listener.pid) - cpuStart.listener,
    daemon: cpuOf(daemon.pid) - cpuStart.daemon,
  };
  const connects = byName.length + loadTimes.length;
  // Let the last flow reports and closes land before the last look.
  await new Promise((r) => setTimeout(r, 1000));
  const rssEnd = rss();
  const status = await client.request({ type: "status" });

  const pct = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
  };
  const us = (ns) => `${(ns / 1000).toFixed(0)} µs`;
  const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
  console.log(`names registered: ${nameCount} (daemon holds ${status.names}); flows open at the end: ${status.flows}`);
  console.log(
    `connect+first message+close by name: ${connects} in ${elapsed.toFixed(1)} s = ${(connects / elapsed).toFixed(0)}/s over ${lanes} lanes (paced at most ${rate}/s); errors: ${errors}${firstError ? ` (first: ${firstError.message})` : ""}`,
  );
  console.log(
    `setup, by name, all ${lanes - 1} load lanes:          p50 ${us(pct(loadTimes, 50))}  p99 ${us(pct(loadTimes, 99))}`,
  );
  console.log(`setup, by name (xio://, the daemon's choice):  p50 ${us(pct(byName, 50))}  p99 ${us(pct(byName, 99))}`);
  console.log(
    `setup, raw net unix connect + first message:   p50 ${us(pct(rawTimes, 50))}  p99 ${us(pct(rawTimes, 99))}`,
  );
  console.log(
    `  of which: the daemon's answer (resolve):     p50 ${us(pct(resolveTimes, 50))}  p99 ${us(pct(resolveTimes, 99))}`,
  );
  if (chosenUri !== undefined) {
    console.log(
      `  ${chosen.transport}:${chosen.wait} by explicit URI to a plain listener + first message: p50 ${us(pct(explicitTimes, 50))}  p99 ${us(pct(explicitTimes, 99))}`,
    );
  }
  console.log(
    `by name got: ${[...got].map(([k, n]) => `${k} ${((100 * n) / connects).toFixed(1)} %`).join(", ")} (the daemon's answer is kept by the client for 1 s)`,
  );
  console.log(`ratio of p50s: ${(pct(byName, 50) / pct(rawTimes, 50)).toFixed(2)} (goal: at most 2)`);
  const perConnect = (us) => `${(us / connects).toFixed(0)} µs`;
  console.log(
    `CPU per connect by name (user+sys): connector ${perConnect(cpu.self)} (this process, lane 0's comparisons included), listener ${perConnect(cpu.listener)}, daemon ${perConnect(cpu.daemon)}`,
  );
  console.log(`daemon RSS: start ${mib(rssStart)}, middle ${mib(rssMiddle)}, end ${mib(rssEnd)}`);
  // Flat: from the middle third of the run to the last, the RSS's peak grows by less than
  // FLAT_BOUND. The first third is warm-up (V8 grows its young generation to its working size
  // there). The heap's lows are shown beside it: a leak raises them third by third, where a
  // saw-tooth between collections does not (they are lows only if a collection came in the third).
  const FLAT_BOUND = 0.1;
  const thirds = (xs) => {
    const n = Math.floor(xs.length / 3);
    return [xs.slice(0, n), xs.slice(n, 2 * n), xs.slice(2 * n)];
  };
  if (rssSamples.length >= 6 && heapSamples.length >= 6) {
    const range = (xs) => `${mib(Math.min(...xs))}-${mib(Math.max(...xs))}`;
    const rssParts = thirds(rssSamples);
    const heapParts = thirds(heapSamples);
    console.log(
      `daemon RSS each second, min-max by third of the run: ${rssParts.map(range).join(", ")} (${rssSamples.length} samples)`,
    );
    console.log(
      `daemon JS heap in use each second, min-max by third: ${heapParts.map(range).join(", ")} (${heapSamples.length} samples)`,
    );
    const growth = (before, after) => after / before - 1;
    const rssGrowth = growth(Math.max(...rssParts[1]), Math.max(...rssParts[2]));
    const heapGrowth = growth(Math.min(...heapParts[1]), Math.min(...heapParts[2]));
    const pc = (x) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)} %`;
    console.log(
      `daemon memory ${rssGrowth < FLAT_BOUND ? "FLAT" : "NOT FLAT"}: RSS peak, middle third -> last third, ${pc(rssGrowth)} (flat: under ${pc(FLAT_BOUND)}); JS heap low ${pc(heapGrowth)}`,
    );
  } else {
    console.log(`daemon memory: too few samples for a verdict (${rssSamples.length} s; run longer)`);
  }
  holder.close();
  await client.request({ type: "stop" });
  client.close();
} finally {
  // Children with an IPC channel leave on its end (so `NODE_OPTIONS=--cpu-prof` gets their
  // profiles); whoever is still there after a second is killed.
  for (const c of children) if (c.connected) c.disconnect();
  const gone = (c) => c.exitCode !== null || c.signalCode !== null;
  for (let i = 0; i < 40 && !children.every(gone); i++) await new Promise((r) => setTimeout(r, 25));
  for (const c of children) if (!gone(c)) c.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
}
