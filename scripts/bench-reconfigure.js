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
// The machine is shared and noisy: quote the machine line and the conditions with the figures.
/* global URL, performance, setImmediate, setTimeout */
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { printMachine } from "./lib/machine.js";

const dist = (p) => new URL(`../dist/src/${p}`, import.meta.url).href;
const { openReconfigurable } = await import(dist("channel/connection.js"));
const { listenUnix, connectUnix } = await import(dist("transports/unix.js"));
const { issueLeaf, loadLeaf } = await import(dist("daemon/tls-ca.js"));

const SIZE = 4096;
const WINDOW_MS = 20;
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
    },
  });
  const switches = Number(values.switches);
  const gapMs = Number(values["gap-ms"]);
  const gap = () => (gapMs > 0 ? new Promise((resolve) => setTimeout(resolve, gapMs)) : undefined);
  const pairs = values.pairs.split(",");
  const setupCpu = Number(values["setup-cpu"]);
  if (!(switches >= 1) || !(gapMs >= 0) || !(setupCpu >= 0) || pairs.some((p) => !PAIRS.includes(p))) {
    throw new Error(
      `usage: bench-reconfigure.js [--switches N] [--gap-ms N] [--setup-cpu N] [--pairs ${PAIRS.join(",")}]`,
    );
  }
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
    const writing = (async () => {
      const payload = new Uint8Array(SIZE);
      for (let i = 0; !stop; i++) {
        await conn.send(payload);
        if (i % 32 === 31) await new Promise((resolve) => setImmediate(resolve));
      }
    })();
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
    const report = await new Promise((resolve) => {
      peer.once("message", resolve);
      peer.send({ cmd: "report" });
    });
    console.log(
      `\npause in delivery at a switch (reader side, ${SIZE} B messages streaming, ${gapMs} ms between switches), ms; dip = read in`,
    );
    console.log(`the ${WINDOW_MS} ms after / the ${WINDOW_MS} ms before the switch (median)`);
    console.log(
      `${"switch".padEnd(12)} ${"n".padStart(5)} ${"p50".padStart(8)} ${"p99".padStart(8)} ${"max".padStart(8)} ${"dip".padStart(6)}`,
    );
    for (const pair of pairs) {
      const rows = report.filter((r) => measured.get(r.epoch) === pair);
      const pauses = rows.map((r) => r.pauseMs).sort((a, b) => a - b);
      const dips = rows.map((r) => (r.before > 0 ? r.after / r.before : NaN)).filter((x) => !Number.isNaN(x));
      console.log(
        `${pair.replace("-", "->").padEnd(12)} ${String(pauses.length).padStart(5)} ${q(pauses, 0.5).padStart(8)} ${q(pauses, 0.99).padStart(8)} ${q(pauses, 1).padStart(8)} ${(dips.length
          ? quantile(
              dips.sort((a, b) => a - b),
              0.5,
            ).toFixed(2)
          : "-"
        ).padStart(6)}`,
      );
    }
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
  process.on("message", (m) => {
    if (m.cmd === "report") process.send(rows);
    if (m.cmd === "cpu") process.send(process.cpuUsage());
  });
  for (;;) {
    const buffers = conn.getReadBuffers();
    const now = performance.now();
    for (const b of buffers) {
      if (b.epoch !== epoch) {
        const last = n > 0 ? times[(n - 1) % times.length] : now;
        const row = { epoch: b.epoch, pauseMs: now - last, before: countSince(last - WINDOW_MS, last + 1), after: 0 };
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
