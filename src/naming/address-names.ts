/**
 * Names of addresses: in transparent mode (compat/transparent.ts) a server that listens on a TCP
 * address or a unix path also registers it with the daemon under a name derived from it, in the
 * reserved `.addr/` tree, and a client that connects to that address asks for that name:
 *
 *     127.0.0.1:8080        .addr/tcp/127.0.0.1/8080
 *     [::]:8080             .addr/tcp/__/8080           (":" is not a name character: "_")
 *     /run/app/http.sock    .addr/unix/run/app/http.sock
 *     /tmp/a b.sock         .addr/unix-sha256/<32 hex>   (a path that is no valid name: its digest)
 *
 * A flow to a name of this tree is a transparent one (the daemon marks it so).
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { MAX_NAME_LENGTH, NAME_SEGMENT } from "./uri.js";

export const ADDRESS_NAME_ROOT = ".addr";

/** True for a name that transparent mode registered for an address. */
export function isAddressName(name: string): boolean {
  return name.startsWith(`${ADDRESS_NAME_ROOT}/`);
}

/** The name of a TCP address; `host` is an IP literal (IPv6 without brackets). */
export function tcpAddressName(host: string, port: number): string {
  return `${ADDRESS_NAME_ROOT}/tcp/${host.replace(/[^A-Za-z0-9.-]/g, "_")}/${port}`;
}

/** The name of a unix socket path (made absolute against the working directory). */
export function unixAddressName(path: string): string {
  const absolute = resolve(path);
  const segments = absolute.split("/").filter((s) => s.length > 0);
  const readable = `${ADDRESS_NAME_ROOT}/unix/${segments.join("/")}`;
  const ok =
    segments.length > 0 &&
    readable.length <= MAX_NAME_LENGTH &&
    segments.every((s) => NAME_SEGMENT.test(s) && s !== "." && s !== "..");
  if (ok) return readable;
  return `${ADDRESS_NAME_ROOT}/unix-sha256/${createHash("sha256").update(absolute).digest("hex").slice(0, 32)}`;
}
