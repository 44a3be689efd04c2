/* global performance */
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
