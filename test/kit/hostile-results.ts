/**
 * Test kit: hostile contributions to a results database, built cheaply and deterministically: tar members
 * of any type (links, devices, traversal), gzip bombs of any expanded size (a deflate chunk of zeros
 * repeated, so a 2 GiB bomb is built in milliseconds), deep nesting, long strings, and a seeded random
 * generator for fuzzing.
 */
import { deflateRawSync, constants, crc32 } from "node:zlib";
import { random as seededRandom } from "./random.js";
export { seededRandom };

/** One tar header block (ustar); `size` may be declared larger than the data that follows. */
export function tarHeader(name: string, size: number, type = "0", linkName = ""): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 100, "utf8");
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(size.toString(8).padStart(11, "0").slice(-11) + "\0", 124);
  h.write("14000000000\0", 136);
  h.write("        ", 148);
  h.write(type.slice(0, 1), 156);
  h.write(linkName.slice(0, 100), 157, 100, "utf8");
  h.write("ustar\0" + "00", 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

/** A member: header, data, padding to 512 bytes. */
export function tarMember(name: string, data: string | Buffer, type = "0", linkName = ""): Buffer {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  return Buffer.concat([
    tarHeader(name, bytes.length, type, linkName),
    bytes,
    Buffer.alloc((512 - (bytes.length % 512)) % 512),
  ]);
}

/** A tar image of members, with the end-of-archive blocks. */
export function tarOf(members: readonly Buffer[]): Buffer {
  return Buffer.concat([...members, Buffer.alloc(1024)]);
}

const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]);
const ZEROS = Buffer.alloc(1 << 20);
/** 1 MiB of zeros, deflated and flushed to a byte boundary with no reference to earlier data: repeatable. */
const ZEROS_CHUNK = deflateRawSync(ZEROS, { finishFlush: constants.Z_FULL_FLUSH });
const FINAL_BLOCK = deflateRawSync(Buffer.alloc(0));
/** ZEROS_CRC[i]: the CRC-32 of i + 1 MiB of zeros. */
const ZEROS_CRC: number[] = [];

/**
 * A gzip file whose content is `prefix` then `zeroMiB` MiB of zeros (a valid gzip stream, trailer and
 * all): 2 GiB of zeros cost about 2 MB. With `truncate`, the stream stops before its end.
 */
export function gzipBomb(prefix: Buffer, zeroMiB: number, truncate = false): Buffer {
  const head = deflateRawSync(prefix, { finishFlush: constants.Z_FULL_FLUSH });
  const parts = [GZIP_HEADER, head];
  let crc = crc32(prefix);
  // The checksum of the zeros after no prefix is remembered (fuzzing builds thousands of such bombs).
  const known = prefix.length === 0 ? ZEROS_CRC : null;
  for (let i = 0; i < zeroMiB; i++) {
    parts.push(ZEROS_CHUNK);
    crc = known?.[i] ?? crc32(ZEROS, crc);
    if (known !== null && known.length === i) known.push(crc);
  }
  if (truncate) return Buffer.concat(parts);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE((prefix.length + zeroMiB * ZEROS.length) % 2 ** 32, 4);
  return Buffer.concat([...parts, FINAL_BLOCK, trailer]);
}

/** `[[[...]]]` nested `depth` deep. */
export function deepArrays(depth: number): string {
  return "[".repeat(depth) + "]".repeat(depth);
}

/** `{"a":{"a":...{}}}` nested `depth` deep. */
export function deepObjects(depth: number): string {
  return '{"a":'.repeat(depth) + "{}" + "}".repeat(depth);
}

/** Hostile result documents, as file contents, made from the text of a valid one. */
export function hostileDocuments(valid: string): Record<string, string | Buffer> {
  const doc = JSON.parse(valid) as Record<string, unknown>;
  const withRun = (run: (r: Record<string, unknown>) => void) => {
    const copy = JSON.parse(valid) as { runs: Record<string, unknown>[] };
    const first = copy.runs[0];
    if (first !== undefined) run(first);
    return JSON.stringify(copy);
  };
  return {
    "deep-arrays.json": deepArrays(100_000),
    "deep-objects.json": `{"schema":1,"machine":${deepObjects(50_000)}}`,
    "long-param.json": withRun((r) => ((r["params"] as Record<string, unknown>)["x"] = "a".repeat(1_000_000))),
    "huge-number.json": valid.replace(/"elapsedNs":\s*[\d.e+]+/, '"elapsedNs": 1e999'),
    "long-number.json": valid.replace(/"elapsedNs":\s*[\d.e+]+/, `"elapsedNs": 1${"0".repeat(500)}`),
    "nan-string.json": valid.replace(/"elapsedNs":\s*[\d.e+]+/, '"elapsedNs": "NaN"'),
    "proto.json": JSON.stringify({ ...doc, ["__proto__"]: { polluted: true } }),
    "constructor.json": valid.replace(
      '"benchmarks": {',
      '"benchmarks": { "constructor": { "method": "1.0.0", "probe": "engine" },',
    ),
    "duplicate-key.json": valid.replace('"schema": 1,', '"schema": 1, "schema": 1,'),
    "bom.json": "\ufeff" + valid,
    "invalid-utf8.json": Buffer.concat([
      Buffer.from(valid.slice(0, 50)),
      Buffer.from([0xc3, 0x28]),
      Buffer.from(valid.slice(50)),
    ]),
    "lone-surrogate.json": withRun((r) => ((r["params"] as Record<string, unknown>)["x"] = "a\ud800b")),
    "control.json": withRun((r) => ((r["params"] as Record<string, unknown>)["x"] = "a\u0007\u202eb")),
    "markup.json": withRun((r) => ((r["params"] as Record<string, unknown>)["x"] = "<script>alert(1)</script>")),
    "private.json": withRun((r) => ((r["params"] as Record<string, unknown>)["x"] = "mail me@example.com at 10.1.2.3")),
    "empty.json": "",
    "not-json.json": "{ this is not json",
    "array.json": "[]",
    "null.json": "null",
    "truncated.json": valid.slice(0, Math.floor(valid.length / 2)),
  };
}

/** Hostile legacy archives (.tar.gz), by file name. */
export function hostileArchives(): Record<string, Buffer> {
  const run = "tmp/tmpHostil/";
  const uname = tarMember(`${run}logs/uname`, "Linux 3.2.0 x86_64 x86_64 x86_64 GNU/Linux\n");
  const gz = (members: Buffer[]) => gzipBomb(tarOf(members), 0);
  return {
    "tmpZeros.tar.gz": gzipBomb(Buffer.alloc(0), 2048),
    "tmpBigMember.tar.gz": gzipBomb(tarHeader(`${run}logs/uname`, 2 ** 31 - 1), 64),
    "tmpTraverse.tar.gz": gz([uname, tarMember(`${run}logs/sys-cpu/../../../../../pwned`, "x")]),
    "tmpAbsolute.tar.gz": gz([uname, tarMember("/tmp/pwned-absolute", "x")]),
    "tmpSymlink.tar.gz": gz([uname, tarMember(`${run}logs/cpuinfo`, "", "2", "/etc/passwd")]),
    "tmpHardlink.tar.gz": gz([uname, tarMember(`${run}logs/cpuinfo`, "", "1", "/etc/passwd")]),
    "tmpDevice.tar.gz": gz([uname, tarMember(`${run}logs/cpuinfo`, "", "3"), tarMember(`${run}logs/meminfo`, "", "6")]),
    "tmpDuplicate.tar.gz": gz([uname, uname]),
    "tmpTruncated.tar.gz": gzipBomb(tarOf([uname, tarMember(`${run}logs/cpuinfo`, "x".repeat(4000))]), 0).subarray(
      0,
      300,
    ),
    "tmpNotGzip.tar.gz": Buffer.from("not an archive"),
    "tmpEmpty.tar.gz": Buffer.alloc(0),
  };
}
