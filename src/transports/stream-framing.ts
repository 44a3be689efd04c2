/**
 * The wire format of the byte-stream transports (unix, tcp, pipe) and its parser.
 *
 * A stream is a sequence of frames. Every frame starts with a 9-byte little-endian header:
 *
 *     offset 0  u32  length   payload bytes that follow (data frame), or a control code
 *     offset 4  u8   flags    the record's flags, carried unchanged
 *     offset 5  u32  seq      the record's sequence number (low 32 bits), carried unchanged
 *
 * Lengths 0..maxRecordBytes are data frames. Two lengths above any allowed maxRecordBytes are
 * control frames without payload:
 * - HELLO (0xfffffffe), always the first frame of each direction: flags = framing version (1),
 *   seq = "FABL" as a little-endian u32. Anything else first means the peer is not a fable end.
 * - END (0xffffffff), flags 0 and seq 0: an orderly close. Nothing may follow it. A stream that
 *   stops without END is a peer that died, whatever the kernel reported (a killed process's
 *   socket usually just reads as end-of-file).
 * Every other length above maxRecordBytes is a protocol error: the parser never allocates a size
 * a peer chose beyond that cap, and collects a frame that straddles chunks piece by piece, so what
 * it holds is bounded by what actually arrived.
 */
import { TransportError } from "./transport.js";

export const FRAME_HEADER_BYTES = 9;
export const FRAMING_VERSION = 1;
export const HELLO_LENGTH = 0xfffffffe;
export const END_LENGTH = 0xffffffff;
/** "FABL" read as a little-endian u32. */
export const HELLO_MAGIC = 0x4c424146;

export function writeFrameHeader(target: Uint8Array, at: number, length: number, flags: number, seq: number): void {
  target[at] = length & 0xff;
  target[at + 1] = (length >>> 8) & 0xff;
  target[at + 2] = (length >>> 16) & 0xff;
  target[at + 3] = length >>> 24;
  target[at + 4] = flags;
  target[at + 5] = seq & 0xff;
  target[at + 6] = (seq >>> 8) & 0xff;
  target[at + 7] = (seq >>> 16) & 0xff;
  target[at + 8] = seq >>> 24;
}

/** A complete frame header, e.g. for a test that plays a hostile peer. */
export function frameHeader(length: number, flags: number, seq: number): Uint8Array {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  writeFrameHeader(header, 0, length, flags, seq);
  return header;
}

export function helloFrame(): Uint8Array {
  return frameHeader(HELLO_LENGTH, FRAMING_VERSION, HELLO_MAGIC);
}

export function endFrame(): Uint8Array {
  return frameHeader(END_LENGTH, 0, 0);
}

function readU32(bytes: Uint8Array, at: number): number {
  return (
    ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16)) +
    (bytes[at + 3] as number) * 0x1000000
  );
}

export interface FrameSink {
  /** A data frame; `bytes` is a view of the pushed chunk when the frame lay within it, else a private copy. */
  onRecord(bytes: Uint8Array, flags: number, seq: number): void;
  onEnd(): void;
}

type ParserState = "hello" | "frames" | "ended";

/**
 * Cuts pushed chunks into frames. push() throws TransportError EPROTOCOL on the first violation;
 * the caller then stops pushing.
 */
export class FrameParser {
  private state: ParserState = "hello";
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** Pieces of a payload that straddles chunks, and the bytes still missing. */
  private pieces: Uint8Array[] = [];
  private missing = 0;
  private collected = 0;
  private pendingFlags = 0;
  private pendingSeq = 0;

  constructor(
    private readonly label: string,
    private readonly maxRecordBytes: number,
    private readonly sink: FrameSink,
  ) {}

  get ended(): boolean {
    return this.state === "ended";
  }

  /** Bytes of an unfinished frame held so far (a partial header or payload pieces). */
  get partialBytes(): number {
    return this.headerFill + this.collected;
  }

  push(chunk: Uint8Array): void {
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.missing > 0) {
        const take = Math.min(this.missing, end - at);
        this.pieces.push(chunk.subarray(at, at + take));
        this.collected += take;
        this.missing -= take;
        at += take;
        if (this.missing === 0) this.emitCollected();
      } else if (this.headerFill > 0 || end - at < FRAME_HEADER_BYTES) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, end - at);
        this.header.set(chunk.subarray(at, at + take), this.headerFill);
        this.headerFill += take;
        at += take;
        if (this.headerFill === FRAME_HEADER_BYTES) {
          this.headerFill = 0;
          at = this.onHeader(this.header, 0, chunk, at);
        }
      } else {
        at = this.onHeader(chunk, at, chunk, at + FRAME_HEADER_BYTES);
      }
    }
  }

  /** Handles one header; returns where parsing goes on in `chunk` (past a payload it found there). */
  private onHeader(h: Uint8Array, hAt: number, chunk: Uint8Array, at: number): number {
    const length = readU32(h, hAt);
    const flags = h[hAt + 4] as number;
    const seq = readU32(h, hAt + 5);
    if (this.state === "ended") {
      throw this.violation(`bytes after the end marker`, h, hAt);
    }
    if (this.state === "hello") {
      if (length !== HELLO_LENGTH || seq !== HELLO_MAGIC) {
        throw this.violation("the first frame is not a fable hello: the peer is not a fable stream end", h, hAt);
      }
      if (flags !== FRAMING_VERSION) {
        throw this.violation(`the peer speaks framing version ${flags}, this end speaks ${FRAMING_VERSION}`, h, hAt);
      }
      this.state = "frames";
      return at;
    }
    if (length === END_LENGTH) {
      if (flags !== 0 || seq !== 0) throw this.violation("an end marker with non-zero flags or seq", h, hAt);
      this.state = "ended";
      this.sink.onEnd();
      return at;
    }
    if (length > this.maxRecordBytes) {
      const what = length === HELLO_LENGTH ? "a second hello" : `a record of ${length} bytes`;
      throw this.violation(`${what} (maxRecordBytes is ${this.maxRecordBytes})`, h, hAt);
    }
    if (chunk.length - at >= length) {
      this.sink.onRecord(chunk.subarray(at, at + length), flags, seq);
      return at + length;
    }
    this.pendingFlags = flags;
    this.pendingSeq = seq;
    this.missing = length;
    return at;
  }

  private emitCollected(): void {
    // Every byte is written below, so no zero-filling is needed; a plain Uint8Array over the
    // unpooled Buffer's own ArrayBuffer, not a Buffer (whose slice() is a view).
    const bytes = new Uint8Array(Buffer.allocUnsafeSlow(this.collected).buffer, 0, this.collected);
    let at = 0;
    for (const piece of this.pieces) {
      bytes.set(piece, at);
      at += piece.length;
    }
    this.pieces = [];
    this.collected = 0;
    this.sink.onRecord(bytes, this.pendingFlags, this.pendingSeq);
  }

  private violation(what: string, h: Uint8Array, hAt: number): TransportError {
    const hex = Buffer.from(h.subarray(hAt, hAt + FRAME_HEADER_BYTES)).toString("hex");
    return new TransportError("EPROTOCOL", `${this.label}: the peer broke the framing: ${what} (header ${hex})`);
  }
}
