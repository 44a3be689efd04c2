/**
 * The seam between fable-io/net's sockets and the ways of reaching a peer: a `Connector` turns an
 * endpoint into a connected Connection, a `Listen` turns one into a listener of Connections. Each
 * Socket and Server takes its own (an option, never a global), so the daemon's `xio://` names and
 * transparent mode plug in by passing theirs; the defaults here reach the explicit transports
 * (shm, unix, tcp) and refuse every other scheme with an UnsupportedAddressError.
 *
 * A connector also says what the socket reports as its addresses (`local`, `remote`: node:net's
 * localAddress/remoteAddress/remotePort...). The defaults report what node:net reports for the
 * socket underneath: a tcp transport's real loopback addresses and ports, nothing for unix and shm
 * (node:net gives a unix socket no remoteAddress either, and http, undici and ws accept that).
 * A transparent-mode connector standing in for a TCP connection reports the TCP addresses the
 * application asked for, so code that logs or checks them sees what it would without fable.
 */
import type { AddressInfo } from "node:net";
import { Connection, type ConnectionOptions } from "../channel/connection.js";
import { type TransportListener } from "../transports/net-listener.js";
import { connectShm, ShmListener, type ShmOptions } from "../transports/shm.js";
import { StreamEnd, type StreamEndOptions } from "../transports/stream-end.js";
import { connectTcp, listenTcp } from "../transports/tcp.js";
import type { TransportEnd } from "../transports/transport.js";
import { connectUnix, listenUnix } from "../transports/unix.js";
import { type Endpoint, UnsupportedAddressError } from "./address.js";
import { abortError, listenError, connectError } from "./errors.js";

/** An address as node:net reports it on a socket; all undefined for unix and shm sockets. */
export interface PeerAddress {
  readonly address: string | undefined;
  readonly port: number | undefined;
  readonly family: string | undefined;
}

export interface Connected {
  readonly connection: Connection;
  readonly local?: PeerAddress;
  readonly remote?: PeerAddress;
}

export interface ConnectOptions {
  readonly signal?: AbortSignal | undefined;
}

/** Connects to an endpoint; rejects with a node:net-style error (code ECONNREFUSED, ENOENT...) or a FableError. */
export type Connector = (endpoint: Endpoint, options: ConnectOptions) => Promise<Connected>;

export interface CompatListener {
  /** What server.address() returns: the path for unix and shm (as node:net does for a pipe), else host/port. */
  readonly address: AddressInfo | string;
  /** The next connection; rejects once the listener is closed. */
  accept(): Promise<Connected>;
  close(): Promise<void>;
  setRef(ref: boolean): void;
}

export type Listen = (endpoint: Endpoint) => Promise<CompatListener>;

/** Options of the default connector and listener, per transport. */
export interface TransportOptions {
  readonly shm?: ShmOptions;
  readonly stream?: StreamEndOptions;
  readonly connection?: ConnectionOptions;
}

/**
 * Ring bytes of an shm socket unless the caller says otherwise: the listener zeroes both rings of
 * every new connection (page faults on fresh memory), which with the transport's 1 MiB default
 * made connection setup the slow part of many short connections, and a byte stream gains
 * nothing from records near 512 KiB.
 */
export const DEFAULT_SOCKET_RING_BYTES = 256 * 1024;

const NO_ADDRESS: PeerAddress = { address: undefined, port: undefined, family: undefined };

/** What node:net would report for the socket under a transport end. */
function addressesOf(end: TransportEnd): { local: PeerAddress; remote: PeerAddress } {
  if (!(end instanceof StreamEnd)) return { local: NO_ADDRESS, remote: NO_ADDRESS };
  const a = end.socketAddresses();
  const family = a.remoteFamily;
  return {
    local: { address: a.localAddress, port: a.localPort, family: a.localAddress === undefined ? undefined : family },
    remote: { address: a.remoteAddress, port: a.remotePort, family },
  };
}

function connected(end: TransportEnd, options: TransportOptions): Connected {
  return { connection: new Connection(end, options.connection), ...addressesOf(end) };
}

/** Connects to shm, unix and tcp endpoints. */
export function defaultConnector(options: TransportOptions = {}): Connector {
  return async (endpoint, { signal }) => {
    signal?.throwIfAborted();
    let pending: Promise<TransportEnd>;
    switch (endpoint.kind) {
      case "shm":
        pending = connectShm(endpoint.path, options.shm);
        break;
      case "unix":
        pending = connectUnix(endpoint.path, options.stream);
        break;
      case "tcp":
        pending = connectTcp({ host: endpoint.host, port: endpoint.port }, options.stream);
        break;
      case "named":
        throw new UnsupportedAddressError(
          `${endpoint.uri}: no connector for ${endpoint.scheme}:// here (names need the fable daemon's connector); ` +
            "pass { connector } to the socket, or use shm://, unix:// or tcp://",
        );
    }
    const end = await abortable(pending, signal, (late) => late.destroy()).catch((err: unknown) => {
      throw connectError(err, endpoint);
    });
    return connected(end, options);
  };
}

/** Listens on shm, unix and tcp endpoints. */
export function defaultListen(options: TransportOptions = {}): Listen {
  return async (endpoint) => {
    try {
      switch (endpoint.kind) {
        case "shm": {
          const l = await ShmListener.listen(endpoint.path, { ringBytes: DEFAULT_SOCKET_RING_BYTES, ...options.shm });
          return wrapListener(endpoint.path, l, options);
        }
        case "unix":
          return wrapListener(endpoint.path, await listenUnix(endpoint.path, options.stream), options);
        case "tcp": {
          const l = await listenTcp({ host: endpoint.host, port: endpoint.port }, options.stream);
          const family = l.address.host.includes(":") ? "IPv6" : "IPv4";
          return wrapListener({ address: l.address.host, family, port: l.address.port }, l, options);
        }
        case "named":
          throw new UnsupportedAddressError(
            `${endpoint.uri}: no listener for ${endpoint.scheme}:// here (names need the fable daemon); ` +
              "pass { listen } to the server, or use shm://, unix:// or tcp://",
          );
      }
    } catch (err) {
      throw listenError(err, endpoint);
    }
  };
}

function wrapListener(
  address: AddressInfo | string,
  listener: ShmListener | TransportListener<unknown>,
  options: TransportOptions,
): CompatListener {
  return {
    address,
    accept: async () => connected(await listener.accept(), options),
    close: () => listener.close(),
    setRef: (ref) => listener.setRef(ref),
  };
}

/** `pending`, or an AbortError as soon as `signal` aborts (what arrives late is handed to `discard`). */
export function abortable<T>(
  pending: Promise<T>,
  signal: AbortSignal | undefined,
  discard: (late: T) => void,
): Promise<T> {
  if (signal === undefined) return pending;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) discard(value);
        else resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err as Error);
      },
    );
  });
}
