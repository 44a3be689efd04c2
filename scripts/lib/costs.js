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

/** Through a Connection on each end: getWriteBuffers/commit, getReadBuffers/release. */
export function connectionCost(a, b, size, n) {
  let seq = 0;
  return timed(n, (i) => {
    const [w] = a.getWriteBuffers(size);
    w.bytes[0] = i;
    a.commit(w);
    const [r] = b.getReadBuffers();
    if (r.seq !== seq) throw new Error(`message ${seq} read back as ${r.seq}`);
    seq++;
    b.release(r);
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
 * The same through two reconfigurable Connections (sequence numbers, a kept copy of every message
 * until the peer acknowledges it). Acknowledgements go out on the connections' timer, so the loop
 * lets the event loop run every `YIELD_EVERY` messages (a fraction of a ns per message).
 */
export async function reconfigurableCost(a, b, size, n) {
  const YIELD_EVERY = 4096;
  let seq = 0;
  const one = (i) => {
    const [w] = a.getWriteBuffers(size);
    if (w === undefined) return false;
    w.bytes[0] = i;
    a.commit(w);
    const [r] = b.getReadBuffers();
    if (r.seq !== seq) throw new Error(`message ${seq} read back as ${r.seq}`);
    seq++;
    b.release(r);
    return true;
  };
  const round = async (count) => {
    const t0 = performance.now();
    for (let i = 0; i < count;) {
      const end = Math.min(count, i + YIELD_EVERY);
      while (i < end) {
        if (!one(i)) break; // the kept copies are full: wait for acknowledgements
        i++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    return ((performance.now() - t0) * 1e6) / count;
  };
  await round(Math.min(n, 200_000));
  return round(n);
}
