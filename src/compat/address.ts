/**
 * Where a fable-io/net socket connects or a server listens: an endpoint parsed from a fable URI
 * (`shm:///path.sock`, `unix:///path`, `tcp://127.0.0.1:8080`, `xio://name`) or from node:net's
 * arguments (`{ port, host }`, `{ path }`, `(port, host)`, `(path)`). Parsing never touches the
 * system; a malformed address is an InvalidAddressError naming what was wrong.
 *
 * node:net forms map onto fable's explicit transports: a port is the `tcp` transport, a path the
 * `unix` transport unless the socket or server was given `transport: "shm"`. Any other scheme
 * (`xio://` first) is a `named` endpoint: only a connector or listener passed per instance knows
 * how to reach it (see connector.ts).
 */
import { FableError } from "../errors.js";

/** A compat address that cannot be parsed or reached the way it is written. */
export class InvalidAddressError extends FableError {
  constructor(message: string) {
    super("EADDRESS", message);
  }
}

/** No connector or listener of this socket or server knows the address's scheme (`xio://` without the daemon's). */
export class UnsupportedAddressError extends FableError {
  constructor(message: string) {
    super("EUNSUPPORTED", message);
  }
}

export type Endpoint =
  | { readonly kind: "shm"; readonly path: string; readonly uri: string }
  | { readonly kind: "unix"; readonly path: string; readonly uri: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number; readonly uri: string }
  /** Any other scheme (`xio://cache`): reached only through a connector/listener given per instance. */
  | { readonly kind: "named"; readonly scheme: string; readonly uri: string };

/** Which transport a node:net-style `{ path }` means. */
export type PathTransport = "unix" | "shm";

const URI = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i;

/** Parses a fable URI. */
export function parseUri(uri: string): Endpoint {
  const m = URI.exec(uri);
  if (m === null)
    throw new InvalidAddressError(`${JSON.stringify(uri)} is not a URI (expected e.g. shm:///run/x.sock)`);
  const scheme = (m[1] ?? "").toLowerCase();
  const rest = m[2] ?? "";
  if (scheme === "shm" || scheme === "unix") {
    if (!rest.startsWith("/")) {
      throw new InvalidAddressError(`${uri}: a ${scheme} URI names an absolute path (${scheme}:///path)`);
    }
    return { kind: scheme, path: decodeURIComponent(rest), uri };
  }
  if (scheme === "tcp") {
    const hp = /^(?:\[([^\]]+)\]|([^:/[\]]+)):(\d{1,5})\/?$/.exec(rest);
    if (hp === null) throw new InvalidAddressError(`${uri}: expected tcp://host:port`);
    return tcpEndpoint(hp[1] ?? hp[2] ?? "", Number(hp[3]));
  }
  return { kind: "named", scheme, uri };
}

export function tcpEndpoint(host: string, port: number): Endpoint {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidAddressError(`port must be a whole number 0..65535, got ${String(port)}`);
  }
  if (host.length === 0) throw new InvalidAddressError("a tcp host must not be empty");
  const h = host.includes(":") ? `[${host}]` : host;
  return { kind: "tcp", host, port, uri: `tcp://${h}:${port}` };
}

export function pathEndpoint(path: string, transport: PathTransport): Endpoint {
  if (path.length === 0) throw new InvalidAddressError("a socket path must not be empty");
  return { kind: transport, path, uri: `${transport}://${path}` };
}

/** The address fields of node:net's connect/listen options that this layer reads. */
export interface NetAddressOptions {
  readonly port?: number | string | undefined;
  readonly host?: string | undefined;
  readonly path?: string | undefined;
  /** A fable URI; takes precedence over port/host/path. */
  readonly uri?: string | undefined;
}

/**
 * The endpoint of node:net-style options. `defaultHost` is where a bare port goes: node:net
 * connects to localhost and listens on every address; fable's tcp listener defaults to loopback.
 */
export function endpointOf(options: NetAddressOptions, pathTransport: PathTransport, defaultHost: string): Endpoint {
  if (options.uri !== undefined) return parseUri(options.uri);
  if (options.path !== undefined) {
    if (URI.test(options.path)) return parseUri(options.path);
    return pathEndpoint(options.path, pathTransport);
  }
  if (options.port !== undefined) {
    const port = typeof options.port === "string" ? Number(options.port) : options.port;
    return tcpEndpoint(options.host ?? defaultHost, port);
  }
  throw new InvalidAddressError('an address needs a URI, a "path" or a "port"');
}

/** A string argument: a URI, a decimal port, or a socket path. */
export function endpointOfString(s: string, pathTransport: PathTransport, defaultHost: string): Endpoint {
  if (URI.test(s)) return parseUri(s);
  if (/^\d+$/.test(s)) return tcpEndpoint(defaultHost, Number(s));
  return pathEndpoint(s, pathTransport);
}
