/**
 * Reads a .tar.gz archive into memory without extracting it: legacy archives are untrusted input, so
 * their member names never become paths on this machine. Understands ustar and GNU tar (long names),
 * skips pax headers' records; keeps regular files only (directories, links and devices are ignored).
 * Sizes are bounded so that a hostile archive cannot exhaust memory.
 */
import { gunzipSync } from "node:zlib";
import { FableError } from "../../errors.js";

export interface TarFile {
  /** The member name as stored ("tmp/tmpAbc/logs/uname"), without a leading "./". */
  name: string;
  data: Buffer;
  /** Modification time, ms since the epoch. */
  mtimeMs: number;
}

export class ArchiveError extends FableError {
  constructor(message: string) {
    super("EARCHIVE", message);
  }
}

/** Refuse archives that expand beyond this. The largest legacy archive expands to about 25 MB. */
export const MAX_EXPANDED_BYTES = 512 * 1024 * 1024;

function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? raw.length : nul).toString("utf8");
}

function octal(block: Buffer, offset: number, length: number, what: string): number {
  const raw = block.subarray(offset, offset + length);
  // GNU base-256 for large values: the high bit of the first byte set.
  if (((raw[0] ?? 0) & 0x80) !== 0) {
    let n = (raw[0] ?? 0) & 0x7f;
    for (let i = 1; i < raw.length; i++) n = n * 256 + (raw[i] ?? 0);
    return n;
  }
  const text = field(block, offset, length).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new ArchiveError(`not a tar archive: ${what} field ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  const stored = octal(block, 148, 8, "checksum");
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] ?? 0);
  return sum === stored;
}

/** Parses an uncompressed tar image. */
export function readTar(tar: Buffer): TarFile[] {
  const files: TarFile[] = [];
  let offset = 0;
  let longName: string | null = null;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    if (!checksumOk(header)) throw new ArchiveError(`not a tar archive: bad header checksum at byte ${offset}`);
    const size = octal(header, 124, 12, "size");
    const type = String.fromCharCode(header[156] ?? 0);
    const dataStart = offset + 512;
    const dataEnd = dataStart + size;
    if (dataEnd > tar.length)
      throw new ArchiveError(`truncated tar archive: a member needs ${size} bytes at ${dataStart}`);
    const data = tar.subarray(dataStart, dataEnd);
    offset = dataStart + Math.ceil(size / 512) * 512;
    if (type === "L") {
      longName = field(data, 0, data.length);
      continue;
    }
    if (type === "x" || type === "g" || type === "K") continue;
    const magic = field(header, 257, 6);
    const prefix = magic.startsWith("ustar") && header[345] !== 0 ? field(header, 345, 155) : "";
    const name = (longName ?? (prefix === "" ? field(header, 0, 100) : `${prefix}/${field(header, 0, 100)}`)).replace(
      /^(\.\/)+/,
      "",
    );
    longName = null;
    if (type !== "0" && type !== "\0" && type !== "7") continue;
    files.push({ name, data: Buffer.from(data), mtimeMs: octal(header, 136, 12, "mtime") * 1000 });
  }
  return files;
}

/** Reads a gzip-compressed tar archive. */
export function readTarGz(bytes: Buffer): TarFile[] {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: MAX_EXPANDED_BYTES });
  } catch (cause) {
    throw new ArchiveError(
      `not a gzip file, or it expands beyond ${MAX_EXPANDED_BYTES} bytes: ${(cause as Error).message}`,
    );
  }
  return readTar(tar);
}
