/**
 * Drives an end whose peer echoes every record back (test/kit/peer-child.ts, sab-echo-worker.ts):
 * sends records of the given sizes while reading their echoes, checking seq, flags and every byte.
 */
import assert from "node:assert/strict";
import type { TransportEnd } from "../../src/transports/transport.js";

/** The payload of record `n`: a pattern that differs per record and per byte. */
export function payload(n: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (n * 13 + i * 3) & 0xff;
  return b;
}

/** Sends records of `sizes` and checks their echoes in order; rejects with the end's failure. */
export async function roundTrip(end: TransportEnd, sizes: readonly number[]): Promise<void> {
  const sending = (async () => {
    for (let n = 0; n < sizes.length; n++) {
      const size = sizes[n]!;
      let view = end.reserve(size);
      while (view === null) {
        await end.writable();
        view = end.reserve(size);
      }
      view.set(payload(n, size));
      end.publish(size, n & 0xff, n);
    }
  })();
  sending.catch(() => {}); // a failure shows in the reading loop too
  for (let n = 0; n < sizes.length;) {
    const r = end.next();
    if (r === null) {
      await end.readable();
      continue;
    }
    assert.equal(r.seq, n);
    assert.equal(r.flags, n & 0xff);
    const expected = payload(n, sizes[n]!);
    if (!Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length).equals(expected)) {
      assert.fail(`echo ${n} (${sizes[n]} bytes) differs`);
    }
    end.free();
    n++;
  }
  await sending;
}
