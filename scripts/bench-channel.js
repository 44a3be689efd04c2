#!/usr/bin/env node
// What a Connection costs over its transport: one 64 B message written (getWriteBuffers/commit)
// and read (getReadBuffers/release) with both ends in this thread, beside the same record through
// the bare transport (reserve/publish, next/free). No second CPU is involved, so this is the CPU
// time each layer adds per message. Run it with `npm run bench:channel`; options:
//   --runs N       repetitions (the median is quoted); default 5
//   --messages N   messages per repetition; default 2000000
/* global URL */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bareCost, connectionCost } from "./lib/costs.js";
import { printMachine } from "./lib/machine.js";

const dist = (p) => new URL(`../dist/src/${p}`, import.meta.url).href;
const { Connection, openReconfigurable } = await import(dist("channel/connection.js"));
const { memoryPair } = await import(dist("transports/memory.js"));
const { createSab, openSab } = await import(dist("transports/sab.js"));
const { ShmListener, connectShm } = await import(dist("transports/shm.js"));

const SIZE = 64;
const { values } = parseArgs({
  options: { runs: { type: "string", default: "5" }, messages: { type: "string", default: "2000000" } },
});
const runs = Number(values.runs);
const messages = Number(values.messages);
if (!(runs >= 1) || !(messages >= 1000)) throw new Error("usage: bench-channel.js [--runs N] [--messages N>=1000]");

await printMachine();
const dir = mkdtempSync(join(tmpdir(), "fable-bench-channel-"));
try {
  const pairs = {
    memory: async () => memoryPair(),
    sab: async () => {
      const { end, peer } = createSab();
      return [end, openSab(peer)];
    },
    "shm (trusted)": async () => shmPair("trusted"),
    "shm (untrusted)": async () => shmPair("untrusted"),
  };
  console.log(
    `\nns per ${SIZE} B message, both ends in one thread (median of ${runs} runs of ${messages}); "added": over the column before`,
  );
  console.log(
    `${"transport".padEnd(18)} ${"bare".padStart(8)} ${"Connection".padStart(11)} ${"added".padStart(8)}` +
      ` ${"reconfigurable".padStart(15)} ${"added".padStart(8)}`,
  );
  for (const [name, make] of Object.entries(pairs)) {
    const bare = [];
    const conn = [];
    const reconf = [];
    // Each run measures the three on fresh ends, one after the other (in alternating order for
    // the two Connection kinds), so a change of the machine's speed hits them alike.
    for (let r = 0; r < runs; r++) {
      const [a, b] = await make();
      bare.push(bareCost(a, b, SIZE, messages));
      for (const end of [a, b]) end.close();
      const plain = async () => {
        const [c, d] = await make();
        conn.push(await connectionCost(new Connection(c), new Connection(d), SIZE, messages));
        for (const end of [c, d]) end.close();
      };
      const reconfigurable = async () => {
        if (name === "sab") return;
        const [e, f] = await make();
        const [g, h] = await Promise.all([
          openReconfigurable(e, { role: "listener", dir }),
          openReconfigurable(f, { role: "connector", dir }),
        ]);
        reconf.push(await connectionCost(g, h, SIZE, messages));
        await Promise.all([g.close(), h.close()]);
      };
      if (r % 2 === 0) {
        await plain();
        await reconfigurable();
      } else {
        await reconfigurable();
        await plain();
      }
    }
    const m1 = median(bare);
    const m2 = median(conn);
    const m3 = reconf.length > 0 ? median(reconf) : NaN;
    const cell = (v, w) => (Number.isNaN(v) ? "-" : v.toFixed(1)).padStart(w);
    console.log(
      `${name.padEnd(18)} ${cell(m1, 8)} ${cell(m2, 11)} ${cell(m2 - m1, 8)} ${cell(m3, 15)} ${cell(m3 - m2, 8)}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0); // the sab ends' ports

async function shmPair(trust) {
  const path = join(dir, `${trust}.sock`);
  const listener = await ShmListener.listen(path, { trust });
  const ends = await Promise.all([listener.accept(), connectShm(path, { trust })]);
  await listener.close();
  return ends;
}

function median(values) {
  const sorted = [...values].sort((x, y) => x - y);
  const m = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}
