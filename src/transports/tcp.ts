/**
 * The `tcp` transport (`tcp://host:port`): records framed on a TCP connection
 * (stream-framing.ts), Nagle off on both sides so a lone small record leaves at once (the end
 * already coalesces the records of one turn into one write).
 */
import type net from "node:net";
import type { StreamEndOptions } from "./stream-end.js";
import { connectNet, listenNet, type TransportListener } from "./net-listener.js";
import type { TransportEnd } from "./transport.js";

export type { StreamEndOptions as TcpOptions } from "./stream-end.js";

export interface TcpAddress {
  readonly host: string;
  readonly port: number;
}

const noDelay = (socket: net.Socket): void => {
  socket.setNoDelay(true);
};

/** Listens on host (default 127.0.0.1) and port (default 0: the kernel picks; see `address.port`). */
export function listenTcp(
  at: { readonly host?: string; readonly port?: number } = {},
  options: StreamEndOptions = {},
): Promise<TransportListener<TcpAddress>> {
  const host = at.host ?? "127.0.0.1";
  const port = at.port ?? 0;
  return listenNet(
    "tcp",
    `tcp://${hostPort(host, port)}`,
    { host, port },
    options,
    (server) => ({ host, port: (server.address() as net.AddressInfo).port }),
    noDelay,
  );
}

export function connectTcp(address: TcpAddress, options: StreamEndOptions = {}): Promise<TransportEnd> {
  return connectNet(
    "tcp",
    `tcp://${hostPort(address.host, address.port)}`,
    { host: address.host, port: address.port },
    options,
    noDelay,
  );
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
