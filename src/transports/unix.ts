/**
 * The `unix` transport (`unix:///path`): records framed on a unix stream socket (stream-framing.ts),
 * between processes of one host. listenUnix binds a socket file, which must not exist yet (a
 * stale one is reported, never removed behind the caller's back); closing the listener removes it.
 */
import type { StreamEndOptions } from "./stream-end.js";
import { connectNet, listenNet, type TransportListener } from "./net-listener.js";
import type { TransportEnd } from "./transport.js";

export type { StreamEndOptions as UnixOptions } from "./stream-end.js";

export interface UnixAddress {
  readonly path: string;
}

export function listenUnix(path: string, options: StreamEndOptions = {}): Promise<TransportListener<UnixAddress>> {
  return listenNet("unix", `unix://${path}`, { path }, options, () => ({ path }));
}

export function connectUnix(path: string, options: StreamEndOptions = {}): Promise<TransportEnd> {
  return connectNet("unix", `unix://${path}`, { path }, options);
}
