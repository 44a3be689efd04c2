/**
 * Reads a .tar.gz archive into memory without extracting it: legacy archives are untrusted input, so
 * their member names never become paths on this machine. Understands ustar and GNU tar (long names),
 * skips pax headers' records; keeps regular files only (directories, links and devices are ignored).
 *
 * The archive is inflated as a stream and parsed as it inflates, against {@link ARCHIVE_LIMITS}: a member
 * declaring more than its limit is refused at its header, before its data is inflated; inflation stops at
 * the end-of-archive block (the zeros after it are never inflated) or as soon as the total passes its limit.
 * So a gzip bomb costs at most the limits, not its expanded size. A member name given twice is refused: the
 * importer would not know which to believe.
 */
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
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

/**
 * Limits of one archive, sized to the 48 real ipc-bench archives (2012-2016; README, results database):
 * the largest is 1.0 MB compressed, expands to 19.9 MB, has 25,161 members, and its largest member is 43 KB.
 */
export const ARCHIVE_LIMITS = {
  /** Bytes of the compressed file. */
  archiveBytes: 16 * 1024 * 1024,
  /** Bytes inflated, headers and padding included. */
  expandedBytes: 64 * 1024 * 1024,
  /** Bytes of one member, as its header declares. */
  memberBytes: 1024 * 1024,
  /** Members (headers) of one archive. */
  members: 100_000,
  /** Bytes of a GNU long name. */
  nameBytes: 4096,
} as const;

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

interface Member {
  header: Buffer;
  type: string;
  data: Buffer;
  /** Bytes of data still to come. */
  missing: number;
  /** Padding after the data. */
  padding: number;
}

/** A tar parser fed chunk by chunk; it keeps regular files and enforces {@link ARCHIVE_LIMITS}. */
class TarStream {
  readonly files: TarFile[] = [];
  /** Bytes received, and where they are in the archive. */
  private offset = 0;
  private header = Buffer.alloc(512);
  private headerFill = 0;
  private member: Member | null = null;
  private skip = 0;
  private longName: string | null = null;
  private members = 0;
  private readonly names = new Set<string>();
  ended = false;

  /** Takes the next bytes; returns true once the end-of-archive block was read. */
  push(chunk: Buffer): boolean {
    if (this.offset + chunk.length > ARCHIVE_LIMITS.expandedBytes) {
      throw new ArchiveError(
        `expands beyond ${ARCHIVE_LIMITS.expandedBytes} bytes: over the limit of ${ARCHIVE_LIMITS.expandedBytes} bytes inflated per archive (real ipc-bench archives expand to at most 20 MB)`,
      );
    }
    let at = 0;
    while (at < chunk.length && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
      } else if (this.member !== null) {
        const m = this.member;
        const n = Math.min(m.missing, chunk.length - at);
        chunk.copy(m.data, m.data.length - m.missing, at, at + n);
        m.missing -= n;
        at += n;
        if (m.missing === 0) {
          this.member = null;
          this.skip = m.padding;
          this.complete(m);
        }
      } else {
        const n = Math.min(512 - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + n);
        this.headerFill += n;
        at += n;
        if (this.headerFill === 512) {
          this.headerFill = 0;
          this.begin(this.offset + at - 512);
        }
      }
    }
    this.offset += chunk.length;
    return this.ended;
  }

  /** The archive ended: it must not end inside a header or a member. */
  finish(): TarFile[] {
    if (!this.ended && (this.headerFill > 0 || this.member !== null)) {
      throw new ArchiveError(`truncated tar archive: it ends inside a member, after ${this.offset} bytes`);
    }
    return this.files;
  }

  private begin(at: number): void {
    const header = this.header;
    if (header.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    if (!checksumOk(header)) throw new ArchiveError(`not a tar archive: bad header checksum at byte ${at}`);
    if (++this.members > ARCHIVE_LIMITS.members) {
      throw new ArchiveError(`more than ${ARCHIVE_LIMITS.members} members: over the limit of members per archive`);
    }
    const size = octal(header, 124, 12, "size");
    const type = String.fromCharCode(header[156] ?? 0);
    const limit = type === "L" ? ARCHIVE_LIMITS.nameBytes : ARCHIVE_LIMITS.memberBytes;
    if (size > limit) {
      throw new ArchiveError(
        `the member ${JSON.stringify(this.nameOf(Buffer.from(header)))} at byte ${at} declares ${size} bytes: over the limit of ${limit} bytes per ${type === "L" ? "long name" : "member"}`,
      );
    }
    const m: Member = { header: Buffer.from(header), type, data: Buffer.alloc(size), missing: size, padding: 0 };
    m.padding = Math.ceil(size / 512) * 512 - size;
    if (size === 0) this.complete(m);
    else this.member = m;
  }

  private nameOf(header: Buffer): string {
    const magic = field(header, 257, 6);
    const prefix = magic.startsWith("ustar") && header[345] !== 0 ? field(header, 345, 155) : "";
    return (this.longName ?? (prefix === "" ? field(header, 0, 100) : `${prefix}/${field(header, 0, 100)}`)).replace(
      /^(\.\/)+/,
      "",
    );
  }

  private complete(m: Member): void {
    if (m.type === "L") {
      this.longName = field(m.data, 0, m.data.length);
      return;
    }
    if (m.type === "x" || m.type === "g" || m.type === "K") return;
    const name = this.nameOf(m.header);
    this.longName = null;
    if (m.type !== "0" && m.type !== "\0" && m.type !== "7") return;
    if (this.names.has(name)) {
      throw new ArchiveError(`the member ${JSON.stringify(name)} appears twice: which one holds the run is unknown`);
    }
    this.names.add(name);
    this.files.push({ name, data: m.data, mtimeMs: octal(m.header, 136, 12, "mtime") * 1000 });
  }
}

/** Parses an uncompressed tar image (within the same limits). */
export function readTar(tar: Buffer): TarFile[] {
  const stream = new TarStream();
  stream.push(tar);
  return stream.finish();
}

/** Compressed input is fed in slices this big, so one write inflates at most ~1000 times it before a check. */
const SLICE = 16 * 1024;

/** Reads a gzip-compressed tar archive, inflating only as far as the tar needs (see the module comment). */
export async function readTarGz(bytes: Buffer): Promise<TarFile[]> {
  if (bytes.length > ARCHIVE_LIMITS.archiveBytes) {
    throw new ArchiveError(
      `${bytes.length} bytes: over the limit of ${ARCHIVE_LIMITS.archiveBytes} bytes per archive (real ipc-bench archives are at most 1 MB)`,
    );
  }
  const slices = function* () {
    for (let at = 0; at < bytes.length; at += SLICE) yield bytes.subarray(at, at + SLICE);
  };
  const source = Readable.from(slices());
  const gunzip = createGunzip({ chunkSize: 64 * 1024 });
  source.on("error", (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  const tar = new TarStream();
  try {
    for await (const chunk of gunzip) if (tar.push(chunk as Buffer)) break;
  } catch (cause) {
    if (cause instanceof ArchiveError) throw cause;
    throw new ArchiveError(`not a gzip file, or a damaged one: ${(cause as Error).message}`);
  } finally {
    source.unpipe(gunzip);
    source.destroy();
    gunzip.destroy();
  }
  return tar.finish();
}
