/**
 * Errors of fable-io/net as node:net names them, so code that tests `err.code` (http, undici, ws,
 * retry logic) treats a fable socket's failures as it treats a net.Socket's: system errors with
 * `code`, `errno`, `syscall` (ECONNREFUSED, ENOENT, EPIPE, ECONNRESET, EADDRINUSE) and Node's
 * own ERR_* codes (ERR_SOCKET_CLOSED, ERR_SERVER_NOT_RUNNING...). The fable error underneath is
 * kept as `cause`. FableErrors that have no node:net equivalent (an unsupported scheme) pass
 * through unchanged.
 */
import { constants } from "node:os";
import { FableError } from "../errors.js";
import { TransportError } from "../transports/transport.js";
import type { Endpoint } from "./address.js";

export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
}

/** A system error shaped like libuv's through node:net: "connect ECONNREFUSED 127.0.0.1:80". */
export function systemError(code: string, syscall: string, endpoint?: Endpoint, cause?: unknown): SystemError {
  const where = endpoint === undefined ? "" : ` ${describe(endpoint)}`;
  const err = new Error(`${syscall} ${code}${where}`, cause === undefined ? undefined : { cause }) as SystemError;
  err.code = code;
  err.errno = -((constants.errno as Record<string, number>)[code] ?? 0);
  err.syscall = syscall;
  if (endpoint?.kind === "tcp") {
    err.address = endpoint.host;
    err.port = endpoint.port;
  } else if (endpoint?.kind === "unix" || endpoint?.kind === "shm") {
    err.address = endpoint.path;
  }
  return err;
}

function describe(endpoint: Endpoint): string {
  switch (endpoint.kind) {
    case "tcp":
      return `${endpoint.host}:${endpoint.port}`;
    case "unix":
    case "shm":
      return endpoint.path;
    case "named":
      return endpoint.uri;
  }
}

/** A Node-internal error (code ERR_*), as node:net throws or emits it. */
export function nodeError(code: string, message: string, Base: ErrorConstructor = Error): Error & { code: string } {
  const err = new Base(message) as Error & { code: string };
  err.code = code;
  return err;
}

/** The errno code somewhere down an error's cause chain (ECONNREFUSED from the socket under a transport). */
function errnoIn(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code) && (constants.errno as Record<string, number>)[code]) {
      return code;
    }
  }
  return undefined;
}

/** A failed connect as node:net reports it; fable errors with no errno underneath pass through. */
export function connectError(err: unknown, endpoint: Endpoint): Error {
  if (isAbort(err)) return err as Error;
  const code = errnoIn(err);
  if (code !== undefined) return systemError(code, "connect", endpoint, err);
  if (err instanceof TransportError && err.code === "EPEER")
    return systemError("ECONNREFUSED", "connect", endpoint, err);
  return err instanceof Error ? err : new Error(String(err));
}

export function listenError(err: unknown, endpoint: Endpoint): Error {
  const code = errnoIn(err);
  if (code !== undefined) return systemError(code, "listen", endpoint, err);
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * An I/O error on an open connection: the peer reset it or died (EPEER), or the connection closed
 * under a read, is ECONNRESET; writing after the peer closed is EPIPE. Anything else (a hostile peer's EPROTOCOL) passes through.
 */
export function ioError(err: unknown, syscall: "read" | "write"): Error {
  if (err instanceof TransportError) {
    if (err.code === "EPEER") return systemError("ECONNRESET", syscall, undefined, err);
    if (err.code === "ECLOSED")
      return systemError(syscall === "write" ? "EPIPE" : "ECONNRESET", syscall, undefined, err);
  }
  // Closed under the socket (a reconfigurable connection whose resume after the peer's abort failed): a reset.
  if (err instanceof FableError && err.code === "ECLOSED") {
    return systemError(syscall === "write" ? "EPIPE" : "ECONNRESET", syscall, undefined, err);
  }
  return err instanceof Error ? err : new Error(String(err));
}

export function abortError(signal: AbortSignal): Error {
  const err = new Error("The operation was aborted", { cause: signal.reason }) as Error & { code: string };
  err.name = "AbortError";
  err.code = "ABORT_ERR";
  return err;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}
