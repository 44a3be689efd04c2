/* global performance, setImmediate */
// What one message costs in CPU time with both ends in this thread (no second CPU involved): written
// on `a`, read and given back on `b`, `n` times after a warm-up; ns per message.

/** Through the bare transport ends: reserve/publish, next/free. */
export function bareCost(a, b, size, n) {
  return timed(n, (i) => {
    const view = a.reserve(size);
    view[0] = i;
    a.publish(size, 3, i);
    if (b.next().seq !== i) throw new Error(`record ${i} read back wrong`);
    b.free();
  });
}

function timed(n, one) {
  const round = (count) => {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) one(i);
    return ((performance.now() - t0) * 1e6) / count;
  };
  round(Math.min(n, 200_000)); // warm-up: JIT
  return round(n);
}

/**
 * Through a Connection on each end: getWriteBuffers/commit, getReadBuffers/release. Plain and
 * reconfigurable Connections go through this same loop (one function: a second copy of it would
 * be compiled on its own, and two copies differed by up to 150 ns per message from the JIT alone).
 * A reconfigurable connection acknowledges on its timer, so the loop lets the event loop run
 * every `YIELD_EVERY` messages, for both kinds alike (a fraction of a ns per message). `seq`: the
 * sequence number of the next message read (a connection's numbers go on from run to run).
 */
export async function connectionCost(a, b, size, n, seq = { next: 0 }) {
  const YIELD_EVERY = 4096;
  const round = async (count) => {
    const t0 = performance.now();
    for (let i = 0; i < count;) {
      const end = Math.min(count, i + YIELD_EVERY);
      while (i < end) {
        const [w] = a.getWriteBuffers(size);
        if (w === undefined) break; // a reconfigurable writer's kept records are full: wait for acknowledgements
        w.bytes[0] = i;
        a.commit(w);
        const [r] = b.getReadBuffers();
        if (r.seq !== seq.next) throw new Error(`message ${seq.next} read back as ${r.seq}`);
        seq.next++;
        b.release(r);
        i++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    return ((performance.now() - t0) * 1e6) / count;
  };
  await round(Math.min(n, 200_000)); // warm-up: JIT
  return round(n);
}
