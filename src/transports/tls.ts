/**
 * The `tls` transport (`tls://host:port`): records framed (stream-framing.ts) on a TLS connection
 * over TCP, both ends verified: the server asks for and checks the client's certificate, the client
 * checks the server's, each against the CA it is given (`ca`), and nothing else is trusted (no
 * system roots). Keys and certificates come from the caller (the daemon holds a per-user CA,
 * src/daemon/tls-ca.ts); this module never reads or makes them. Nagle is off, as for tcp.
 *
 * A connecting end keeps one secure context per credentials object (key, certificate and CA
 * parsed once) for all its connections: making one took 1.2-2.5 ms on the 2-vCPU guest, on every
 * tls path a live switch builds. A listener's tls.Server makes its own (reusing one there would
 * mean wrapping sockets through Node's internals, which also check the client's certificate);
 * live switches share one listener instead (src/channel/path-resources.ts).
 *
 * A connecting end also keeps, per credentials, the last TLS 1.3 session ticket each server
 * address gave it, and offers it on its next connection there: a resumed handshake skips both
 * certificate signatures (0.8 ms each with RSA-2048). The ticket only resumes what a full,
 * mutually verified handshake with that server established (the server's ticket keys are its
 * own; a server restarted or rotated makes new ones and the client falls back to a full one).
 */
import net from "node:net";
import tls from "node:tls";
import { UsageError } from "../errors.js";
import { connectNet, listenNet, type TransportListener } from "./net-listener.js";
import type { StreamEndOptions } from "./stream-end.js";
import type { TcpAddress } from "./tcp.js";
import type { TransportEnd } from "./transport.js";

/** PEM key and certificate of this end, and the CA (one or more PEM certificates) its peer must chain to. */
export interface TlsCredentials {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

export interface TlsOptions extends StreamEndOptions {
  readonly credentials: TlsCredentials;
  /** Client: the name the server's certificate must carry (default: the host dialed). */
  readonly servername?: string;
}

const noDelay = (socket: net.Socket): void => {
  socket.setNoDelay(true);
};

const contexts = new WeakMap<TlsCredentials, tls.SecureContext>();
/** Per credentials: the last session ticket of each server (host, port, servername); a few servers at most. */
const sessions = new WeakMap<TlsCredentials, Map<string, Buffer>>();
const MAX_SESSIONS = 64;

function keepSession(c: TlsCredentials, key: string, session: Buffer): void {
  let byServer = sessions.get(c);
  if (byServer === undefined) sessions.set(c, (byServer = new Map()));
  byServer.delete(key);
  byServer.set(key, session);
  if (byServer.size > MAX_SESSIONS) byServer.delete(byServer.keys().next().value as string);
}

/** The secure context of `c` (made on first use; credentials are immutable, a rotation makes new ones). */
function secureContext(c: TlsCredentials): tls.SecureContext {
  let context = contexts.get(c);
  if (context === undefined) {
    context = tls.createSecureContext({ key: c.key, cert: c.cert, ca: c.ca, minVersion: "TLSv1.3" });
    contexts.set(c, context);
  }
  return context;
}

function checkCredentials(options: TlsOptions | undefined): TlsCredentials {
  const c = options?.credentials;
  for (const field of ["key", "cert", "ca"] as const) {
    if (typeof c?.[field] !== "string" || !c[field].includes("-----BEGIN")) {
      throw new UsageError(
        `tls: credentials.${field} must be PEM text (see src/daemon/tls-ca.ts), got ${typeof c?.[field]}`,
      );
    }
  }
  return c as TlsCredentials;
}

function streamOptions(options: TlsOptions): StreamEndOptions {
  const { credentials: _c, servername: _s, ...rest } = options;
  return rest;
}

/** Listens on host (default 127.0.0.1) and port (default 0); accepts only clients with a certificate from `ca`. */
export function listenTls(
  at: { readonly host?: string; readonly port?: number },
  options: TlsOptions,
): Promise<TransportListener<TcpAddress>> {
  const { key, cert, ca } = checkCredentials(options);
  const host = at.host ?? "127.0.0.1";
  const port = at.port ?? 0;
  return listenNet(
    "tls",
    `tls://${host}:${port}`,
    { host, port },
    streamOptions(options),
    (server) => ({ host, port: (server.address() as net.AddressInfo).port }),
    noDelay,
    {
      createServer: () =>
        tls.createServer({
          key,
          cert,
          ca,
          requestCert: true,
          rejectUnauthorized: true,
          allowHalfOpen: true,
          minVersion: "TLSv1.3",
        }),
      connectionEvent: "secureConnection",
    },
  );
}

export function connectTls(address: TcpAddress, options: TlsOptions): Promise<TransportEnd> {
  const c = checkCredentials(options);
  const context = secureContext(c);
  // An IP is checked against the certificate's IP names; SNI carries host names only.
  const servername =
    options.servername !== undefined || net.isIP(address.host) === 0 ? (options.servername ?? address.host) : undefined;
  const sessionKey = `${address.host}|${address.port}|${servername ?? ""}`;
  const session = sessions.get(c)?.get(sessionKey);
  return connectNet(
    "tls",
    `tls://${address.host}:${address.port}`,
    { host: address.host, port: address.port },
    streamOptions(options),
    noDelay,
    {
      connect: () => {
        const socket = tls.connect({
          // Half-open like the other socket transports (net.Socket's option, passed on by tls).
          ...({ allowHalfOpen: true } as tls.ConnectionOptions),
          host: address.host,
          port: address.port,
          secureContext: context,
          ...(servername !== undefined ? { servername } : {}),
          ...(session !== undefined ? { session } : {}),
          rejectUnauthorized: true,
          minVersion: "TLSv1.3",
        });
        // TLS 1.3 tickets come after the handshake ("session"); only a verified server sends one.
        socket.on("session", (ticket: Buffer) => {
          if (socket.authorized) keepSession(c, sessionKey, ticket);
        });
        return socket;
      },
      connectEvent: "secureConnect",
    },
  );
}
