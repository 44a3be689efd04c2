/**
 * fable URIs: what `listen()` and `connect()` take (DESIGN.md "Naming and URIs").
 *
 *     xio://app/cache/0        a name: the daemon chooses the transport (hierarchical, "/"-separated)
 *     shm:///run/x/cache.sock  explicit: the shm transport's rendezvous socket at an absolute path
 *     unix:///run/x/cache      explicit: a unix stream socket
 *     tcp://127.0.0.1:7000     explicit: TCP (a hostname, IPv4, or [IPv6]; port 0 only to listen)
 *     pipe://                  explicit: the pipe a Node parent gave its child as fd 3 (see api.ts)
 *
 * parseUri never guesses: a URI that does not parse is a UriError (EURI) whose message shows the
 * URI with a caret under the first character that is wrong, and says what was expected there.
 */
import { FableError } from "../errors.js";

/** A URI that does not parse; `index` is where it went wrong. */
export class UriError extends FableError {
  readonly uri: string;
  readonly index: number;

  constructor(uri: string, index: number, expected: string) {
    const shown = JSON.stringify(uri);
    // The caret sits under the character in the quoted URI (one column for the opening quote).
    const caretAt = 1 + JSON.stringify(uri.slice(0, index)).length - 2;
    super("EURI", `bad URI at character ${index + 1}: ${expected}\n  ${shown}\n  ${" ".repeat(caretAt)}^`);
    this.uri = uri;
    this.index = index;
  }
}

export type FableUri =
  | { readonly scheme: "xio"; readonly name: string }
  | { readonly scheme: "shm"; readonly path: string }
  | { readonly scheme: "unix"; readonly path: string }
  | { readonly scheme: "tcp"; readonly host: string; readonly port: number }
  | { readonly scheme: "pipe" };

export type Scheme = FableUri["scheme"];

/** Longest name the daemon stores (bytes of "app/cache/0"). */
export const MAX_NAME_LENGTH = 255;
/** One segment of a name: what is safe in a path, a metric label and a shell word alike. */
export const NAME_SEGMENT = /^[A-Za-z0-9._-]+$/;
/** A whole name as a JSON-schema pattern (protocol.ts checks names with it too). */
export const NAME_PATTERN = "^(?!(.*/)?[.]{1,2}(/|$))[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$";

const SCHEMES: readonly Scheme[] = ["xio", "shm", "unix", "tcp", "pipe"];

export function parseUri(uri: string): FableUri {
  if (typeof uri !== "string") throw new UriError(String(uri), 0, "a URI is a string");
  const colon = uri.indexOf("://");
  const schemeText = colon < 0 ? (uri.match(/^[a-z]*/)?.[0] ?? "") : uri.slice(0, colon);
  const scheme = SCHEMES.find((s) => s === schemeText);
  if (scheme === undefined) {
    throw new UriError(uri, 0, `a scheme, one of ${SCHEMES.map((s) => `${s}://`).join(", ")}`);
  }
  if (colon < 0) throw new UriError(uri, scheme.length, `"://" after "${scheme}"`);
  const rest = uri.slice(colon + 3);
  const at = colon + 3;
  switch (scheme) {
    case "xio":
      return { scheme, name: parseName(uri, rest, at) };
    case "shm":
    case "unix":
      return { scheme, path: parsePath(uri, rest, at) };
    case "tcp":
      return { scheme, ...parseHostPort(uri, rest, at) };
    case "pipe":
      if (rest !== "") throw new UriError(uri, at, `nothing after "pipe://" (it always means fd 3)`);
      return { scheme };
  }
}

/** The canonical text of a parsed URI (parseUri(formatUri(u)) equals u). */
export function formatUri(u: FableUri): string {
  switch (u.scheme) {
    case "xio":
      return `xio://${u.name}`;
    case "shm":
    case "unix":
      return `${u.scheme}://${u.path}`;
    case "tcp":
      return `tcp://${u.host.includes(":") ? `[${u.host}]` : u.host}:${u.port}`;
    case "pipe":
      return "pipe://";
  }
}

function parseName(uri: string, name: string, at: number): string {
  if (name === "") throw new UriError(uri, at, `a name after "xio://", such as xio://app/cache`);
  if (name.length > MAX_NAME_LENGTH) {
    throw new UriError(uri, at + MAX_NAME_LENGTH, `a name of at most ${MAX_NAME_LENGTH} characters`);
  }
  let offset = 0;
  for (const segment of name.split("/")) {
    if (segment === "") {
      throw new UriError(uri, at + offset, "a name segment (letters, digits, '.', '_', '-'), not an empty one");
    }
    if (!NAME_SEGMENT.test(segment)) {
      const bad = [...segment].findIndex((ch) => !NAME_SEGMENT.test(ch));
      throw new UriError(uri, at + offset + bad, "only letters, digits, '.', '_', '-' and '/' in a name");
    }
    if (segment === "." || segment === "..") throw new UriError(uri, at + offset, `a segment other than "${segment}"`);
    offset += segment.length + 1;
  }
  return name;
}

function parsePath(uri: string, path: string, at: number): string {
  if (!path.startsWith("/")) {
    throw new UriError(uri, at, "an absolute path: three slashes, as in unix:///run/app.sock");
  }
  const nul = path.indexOf("\0");
  if (nul >= 0) throw new UriError(uri, at + nul, "no NUL byte in a path");
  if (path.length === 1 || path.endsWith("/")) throw new UriError(uri, at + path.length - 1, "a file name at the end");
  // A unix socket address holds at most 107 bytes of path (sun_path).
  if (Buffer.byteLength(path) > 107) throw new UriError(uri, at + 107, "a path of at most 107 bytes (sun_path)");
  return path;
}

function parseHostPort(uri: string, rest: string, at: number): { host: string; port: number } {
  let host: string;
  let portAt: number;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) throw new UriError(uri, at + rest.length, `"]" closing the IPv6 address`);
    host = rest.slice(1, close);
    if (!/^[0-9A-Fa-f:.]+$/.test(host)) throw new UriError(uri, at + 1, "an IPv6 address inside [ ]");
    portAt = close + 1;
  } else {
    const colon = rest.indexOf(":");
    host = colon < 0 ? rest : rest.slice(0, colon);
    if (host === "") throw new UriError(uri, at, "a host, as in tcp://127.0.0.1:7000");
    const bad = [...host].findIndex((ch) => !/[A-Za-z0-9.-]/.test(ch));
    if (bad >= 0) throw new UriError(uri, at + bad, "a host name or IPv4 address (letters, digits, '.', '-')");
    portAt = host.length;
  }
  if (rest[portAt] !== ":") throw new UriError(uri, at + portAt, `":" and a port, as in tcp://127.0.0.1:7000`);
  const portText = rest.slice(portAt + 1);
  const badDigit = [...portText].findIndex((ch) => ch < "0" || ch > "9");
  if (portText === "" || badDigit >= 0) {
    throw new UriError(uri, at + portAt + 1 + Math.max(0, badDigit), "a port number (digits only)");
  }
  const port = Number(portText);
  if (port > 65535) throw new UriError(uri, at + portAt + 1, `a port of at most 65535, not ${port}`);
  return { host, port };
}
