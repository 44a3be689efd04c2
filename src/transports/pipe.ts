/**
 * The `pipe` transport (`pipe://`): records framed (stream-framing.ts) over what a Node parent and
 * child can really share without naming anything:
 *
 * - the child's extra stdio: `spawn(process.execPath, [script], { stdio: ["inherit", "inherit",
 *   "inherit", "pipe"] })`; the parent calls `pipeFromStreams(child.stdio[3], child.stdio[3])`,
 *   the child `pipeFromFds(3, 3)`. (libuv makes such a "pipe" a unix socket pair, so one fd
 *   carries both directions.) Do not use fd 0-2: Node writes to a pipe on stdout synchronously, and
 *   anything else printed there breaks the framing (EPROTOCOL).
 * - two FIFOs (`mkfifo`), or any pair of pipe fds: `pipeFromFds(readFd, writeFd)`; `pipePair()`
 *   makes two connected ends in this process that way.
 *
 * The fds are wrapped in net.Socket (libuv pipe handles: non-blocking, event loop, never the thread
 * pool). An end owns its fds and closes them.
 */
import { execFile } from "node:child_process";
import { constants, mkdtempSync, openSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { promisify } from "node:util";
import { FableError } from "../errors.js";
import { StreamEnd, type StreamEndOptions } from "./stream-end.js";
import type { TransportEnd } from "./transport.js";

export type { StreamEndOptions as PipeOptions } from "./stream-end.js";

/** An end over streams given by the caller (binary, no encoding set); pass one duplex twice. */
export function pipeFromStreams(input: Readable, output: Writable, options: StreamEndOptions = {}): TransportEnd {
  return new StreamEnd({ kind: "pipe", label: "pipe://", input, output, options });
}

/** An end over fds this process holds: one duplex fd (readFd === writeFd) or a read and a write pipe. */
export function pipeFromFds(readFd: number, writeFd: number, options: StreamEndOptions = {}): TransportEnd {
  const label = readFd === writeFd ? `pipe:// (fd ${readFd})` : `pipe:// (read fd ${readFd}, write fd ${writeFd})`;
  if (readFd === writeFd) {
    const socket = new net.Socket({ fd: readFd, readable: true, writable: true, allowHalfOpen: true });
    return new StreamEnd({ kind: "pipe", label, input: socket, output: socket, options });
  }
  const input = new net.Socket({ fd: readFd, readable: true, writable: false });
  const output = new net.Socket({ fd: writeFd, readable: false, writable: true });
  return new StreamEnd({ kind: "pipe", label, input, output, options });
}

/** Two connected ends in this process over two FIFOs (made with mkfifo, unlinked once open). */
export async function pipePair(options: StreamEndOptions = {}): Promise<[TransportEnd, TransportEnd]> {
  const dir = mkdtempSync(join(tmpdir(), "fable-pipe-"));
  try {
    const ab = join(dir, "ab");
    const ba = join(dir, "ba");
    try {
      await promisify(execFile)("mkfifo", ["-m", "600", ab, ba]);
    } catch (cause) {
      throw new FableError("ENOMKFIFO", `pipePair: cannot make FIFOs in ${dir} with mkfifo: ${String(cause)}`, {
        cause,
      });
    }
    // Read ends first: opening a FIFO for writing without O_NONBLOCK blocks, with it fails, until a reader exists.
    const readFlags = constants.O_RDONLY | constants.O_NONBLOCK;
    const writeFlags = constants.O_WRONLY | constants.O_NONBLOCK;
    const aRead = openSync(ba, readFlags);
    const bRead = openSync(ab, readFlags);
    const aWrite = openSync(ab, writeFlags);
    const bWrite = openSync(ba, writeFlags);
    return [pipeFromFds(aRead, aWrite, options), pipeFromFds(bRead, bWrite, options)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
