/**
 * The probe's clock (process.hrtime.bigint, CLOCK_MONOTONIC in ns) and where samples are kept:
 * a growable Float64Array capped at --max-samples, written out as little-endian float64.
 */
import { writeFileSync } from "node:fs";
import { endianness } from "node:os";

export const CLOCK_SOURCE = "hrtime";

export function now(): bigint {
  return process.hrtime.bigint();
}

/** The smallest difference between two back-to-back readings: what one reading costs. */
export function timerOverheadNs(rounds = 20_000): number {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < rounds; i++) {
    const a = process.hrtime.bigint();
    const b = process.hrtime.bigint();
    const d = Number(b - a);
    if (d < min) min = d;
  }
  return min;
}

/** Appends float64 values up to a fixed cap; grows by doubling so short runs stay small. */
export class SampleBuffer {
  private data: Float64Array;
  length = 0;

  constructor(readonly capacity: number) {
    this.data = new Float64Array(Math.max(1, Math.min(capacity, 65536)));
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(Math.min(this.capacity, this.data.length * 2));
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }

  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

/** Writes samples as little-endian float64, whatever this machine's byte order. */
export function writeSamplesFile(path: string, samples: Float64Array): void {
  const bytes = Buffer.allocUnsafe(samples.length * 8);
  if (endianness() === "LE") {
    bytes.set(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength));
  } else {
    for (let i = 0; i < samples.length; i++) bytes.writeDoubleLE(samples[i] as number, i * 8);
  }
  writeFileSync(path, bytes);
}

/** Float64 samples to a string that survives JSON (the child_process channel) and back. */
export function encodeSamples(samples: Float64Array): string {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).toString("base64");
}

export function decodeSamples(text: string): Float64Array {
  const bytes = Buffer.from(text, "base64");
  const out = new Float64Array(Math.floor(bytes.length / 8));
  new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 8));
  return out;
}
