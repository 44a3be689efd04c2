/**
 * The `unix` transport (`unix:///path`): records framed on a unix stream socket (stream-framing.ts),
 * between processes of one host. listenUnix binds a socket file, which must not exist yet (a
 * stale one is reported, never removed behind the caller's back); closing the listener removes it.
 */
import { UsageError } from "../errors.js";
import type { StreamEndOptions } from "./stream-end.js";
import { connectNet, listenNet, type TransportListener } from "./net-listener.js";
import type { TransportEnd } from "./transport.js";

export type { StreamEndOptions as UnixOptions } from "./stream-end.js";

export interface UnixAddress {
  readonly path: string;
}

/** A socket path must be a non-empty string (node:net would take an options object there and fail obscurely). */
function checkPath(fn: string, path: unknown): string | undefined {
  return typeof path === "string" && path !== ""
    ? undefined
    : `${fn}: path must be a non-empty string (a socket file path), got ${typeof path === "string" ? '""' : typeof path}`;
}

export function listenUnix(path: string, options: StreamEndOptions = {}): Promise<TransportListener<UnixAddress>> {
  const bad = checkPath("listenUnix", path);
  if (bad !== undefined) return Promise.reject(new UsageError(bad));
  return listenNet("unix", `unix://${path}`, { path }, options, () => ({ path }));
}

export function connectUnix(path: string, options: StreamEndOptions = {}): Promise<TransportEnd> {
  const bad = checkPath("connectUnix", path);
  if (bad !== undefined) return Promise.reject(new UsageError(bad));
  return connectNet("unix", `unix://${path}`, { path }, options);
}
