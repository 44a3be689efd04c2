/**
 * Paths for reconfiguration: building a new transport end between two live connection ends, and
 * the control records the two ends exchange about it (see the rules in reconfigure.ts).
 *
 * An endpoint is a listener of one transport kind that only accepts a peer proving it knows a
 * random token: the dialer's first record on the new end is a HELLO control record carrying the
 * token; the acceptor checks it (constant time) and frees it before anyone else sees the end, so
 * a stranger that dials the endpoint is dropped and the wait goes on. A one-off socket or shm
 * endpoint (Endpoint.open) lives in a private (0700) directory made for it and removed on close;
 * tcp listens on loopback (or a given host) at a port the kernel picks. A connection's switches
 * open theirs through path-resources.ts instead (one directory per connection, a shared tls
 * listener).
 *
 * A PendingEnd stands in for an end that is being built: it has no room and no records, and its
 * readable()/writable() resolve when the real end is installed, so the connection's hot path needs
 * no check for "no path yet".
 */
import { randomFillSync, timingSafeEqual } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FableError } from "../errors.js";
import type { WaitStrategy } from "../ring/wait.js";
import { WAIT_STRATEGIES } from "../ring/wait.js";
import { ShmListener, connectShm } from "../transports/shm.js";
import { connectTcp, listenTcp } from "../transports/tcp.js";
import { connectUnix, listenUnix } from "../transports/unix.js";
import { connectTls, listenTls, type TlsCredentials } from "../transports/tls.js";
import {
  RECORD_CONTROL,
  RECORD_FIRST,
  RECORD_LAST,
  TransportError,
  type InRecord,
  type TransportEnd,
  type TransportKind,
  type Trust,
  type WaitHint,
} from "../transports/transport.js";

/** Transport kinds a connection can switch to. */
export const PATH_KINDS = ["shm", "unix", "tcp", "tls"] as const;
export type PathKind = (typeof PATH_KINDS)[number];

/** What a new path is: its transport and, for shm, how both ends wait. */
export interface PathSpec {
  readonly kind: PathKind;
  readonly wait?: WaitStrategy;
}

export type PathAddress =
  | { readonly kind: "shm" | "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "tls"; readonly host: string; readonly port: number };

/** A path could not be agreed or built. */
export class ReconfigureError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("ERECONFIGURE", message, options);
  }
}

export const TOKEN_BYTES = 16;

/** Random bytes for the next tokens, filled 256 tokens at a time (one call into the CSPRNG per fill). */
const tokenPool = new Uint8Array(256 * TOKEN_BYTES);
let tokenPoolAt = tokenPool.length;

/**
 * A fresh random token (a copy: its own memory). Each pool byte is handed out once and then
 * zeroed, so no two tokens share bytes and none lingers in the pool. One randomBytes() per
 * connection was 1.4 % of a listener's CPU at 500 connects/s (its job object, per call).
 */
export function randomToken(): Uint8Array {
  if (tokenPoolAt === tokenPool.length) {
    randomFillSync(tokenPool);
    tokenPoolAt = 0;
  }
  const end = tokenPoolAt + TOKEN_BYTES;
  const token = tokenPool.slice(tokenPoolAt, end);
  tokenPool.fill(0, tokenPoolAt, end);
  tokenPoolAt = end;
  return token;
}
/** How long a dialer has to send its HELLO. */
export const HELLO_TIMEOUT_MS = 5000;
/** Smallest maxRecordBytes a path must offer: a reconfigurable connection fragments at this size, so a record kept for re-sending fits every path. */
export const PATH_RECORD_BYTES = 256 * 1024;
const WHOLE = RECORD_FIRST | RECORD_LAST;

// ---- control records ------------------------------------------------------------------------

export const CTL_EPOCH_END = 1;
export const CTL_ACK = 2;
export const CTL_SETUP = 3;
export const CTL_OFFER = 4;
export const CTL_DECLINE = 5;
export const CTL_RESUME = 6;
export const CTL_HELLO = 7;
/**
 * The connection was aborted (destroyed, not closed) and will not be resumed: the reader fails at
 * once (a reset) instead of waiting for a fresh path. Sent by the connector on its way out over a
 * dial of the listener's resume endpoint (after HELLO), and by a shared resume endpoint to a dial
 * whose token it no longer routes (the listener's connection is gone).
 */
export const CTL_ABORT = 8;

/** Writes the one-byte ABORT record on `end`, then closes it (flushing); best effort. */
export function sendAbort(end: TransportEnd): void {
  try {
    const view = end.reserve(1);
    if (view !== null) {
      view[0] = CTL_ABORT;
      end.publish(1, RECORD_CONTROL | WHOLE, 0);
    }
    end.close();
  } catch {
    end.destroy();
  }
}

/** A control record with one epoch and one sequence number (EPOCH_END, ACK, RESUME). */
export function encodeNumbers(type: number, epoch: number, seq: number): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, type);
  view.setUint32(4, epoch >>> 0, true);
  view.setFloat64(8, seq, true);
  return bytes;
}

export function decodeNumbers(bytes: Uint8Array): { epoch: number; seq: number } {
  if (bytes.length !== 16) throw new TransportError("EPROTOCOL", `control record of ${bytes.length} bytes, not 16`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const seq = view.getFloat64(8, true);
  if (!Number.isSafeInteger(seq) || seq < 0) throw new TransportError("EPROTOCOL", `control record with seq ${seq}`);
  return { epoch: view.getUint32(4, true), seq };
}

/** A control record carrying a JSON object (SETUP, OFFER, DECLINE: rare, so readable beats compact). */
export function encodeJson(type: number, value: object): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(value));
  const bytes = new Uint8Array(1 + json.length);
  bytes[0] = type;
  bytes.set(json, 1);
  return bytes;
}

export function decodeJson(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length > 4096) throw new TransportError("EPROTOCOL", `control record of ${bytes.length} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes.subarray(1)));
  } catch (err) {
    throw new TransportError("EPROTOCOL", `control record is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TransportError("EPROTOCOL", "control record is not a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Checks a peer's path spec (an OFFER's). */
export function checkSpec(value: unknown): PathSpec {
  const spec = value as { kind?: unknown; wait?: unknown } | null;
  if (typeof spec !== "object" || spec === null || !(PATH_KINDS as readonly unknown[]).includes(spec.kind)) {
    throw new ReconfigureError(`path kind must be one of ${PATH_KINDS.join(", ")}, not ${JSON.stringify(spec?.kind)}`);
  }
  if (spec.wait !== undefined && !(WAIT_STRATEGIES as readonly unknown[]).includes(spec.wait)) {
    throw new ReconfigureError(`wait must be one of ${WAIT_STRATEGIES.join(", ")}, not ${JSON.stringify(spec.wait)}`);
  }
  return spec.wait === undefined
    ? { kind: spec.kind as PathKind }
    : { kind: spec.kind as PathKind, wait: spec.wait as WaitStrategy };
}

/** Checks a peer's endpoint address (SETUP's, OFFER's). */
export function checkAddress(value: unknown): PathAddress {
  const a = value as { kind?: unknown; path?: unknown; host?: unknown; port?: unknown } | null;
  if (typeof a === "object" && a !== null) {
    if ((a.kind === "shm" || a.kind === "unix") && typeof a.path === "string" && a.path.length < 4096) {
      return { kind: a.kind, path: a.path };
    }
    if ((a.kind === "tcp" || a.kind === "tls") && typeof a.host === "string" && Number.isInteger(a.port)) {
      return { kind: a.kind as "tcp", host: a.host, port: a.port as number };
    }
  }
  throw new TransportError("EPROTOCOL", `not a path address: ${JSON.stringify(value)?.slice(0, 200)}`);
}

export function checkToken(value: unknown): Uint8Array {
  if (typeof value !== "string" || !/^[0-9a-f]+$/.test(value) || value.length !== TOKEN_BYTES * 2) {
    throw new TransportError("EPROTOCOL", "not a path token");
  }
  return Uint8Array.from(Buffer.from(value, "hex"));
}

// ---- endpoints ------------------------------------------------------------------------------

export interface EndpointOptions {
  /** Where the private directory of an shm/unix endpoint is made (default: the OS temp dir). */
  readonly dir?: string;
  /** tcp: the host to listen on (default 127.0.0.1). */
  readonly host?: string;
  readonly trust?: Trust;
  /** This end's tls credentials (a leaf of the per-user CA), or how to get them: needed for tls paths. */
  readonly tls?: TlsCredentials | (() => Promise<TlsCredentials>);
  /** false: the listening socket does not keep the event loop alive (unix, tcp, tls; a resume endpoint). */
  readonly ref?: boolean;
}

async function credentials(options: {
  readonly tls?: TlsCredentials | (() => Promise<TlsCredentials>);
}): Promise<TlsCredentials> {
  if (options.tls === undefined)
    throw new ReconfigureError("a tls path needs credentials (the reconfigure option tls)");
  return typeof options.tls === "function" ? options.tls() : options.tls;
}

/** A listener that hands out only ends whose dialer proved the token. */
export class Endpoint {
  readonly address: PathAddress;
  readonly token: Uint8Array;
  readonly #accept: () => Promise<TransportEnd>;
  readonly #close: () => Promise<void>;
  /** Ends from #accept have proved the token already (a hub read their HELLO). */
  readonly #proven: boolean;
  #closed = false;

  private constructor(
    address: PathAddress,
    token: Uint8Array,
    accept: () => Promise<TransportEnd>,
    close: () => Promise<void>,
    proven: boolean,
  ) {
    this.address = address;
    this.token = token;
    this.#accept = accept;
    this.#close = close;
    this.#proven = proven;
  }

  /** An endpoint over a listener of its own: accept() reads each dialer's HELLO. */
  static listening(
    address: PathAddress,
    token: Uint8Array,
    listener: { accept(): Promise<TransportEnd>; close(): Promise<void> },
    close: () => Promise<void> = () => listener.close(),
  ): Endpoint {
    return new Endpoint(address, token, () => listener.accept(), close, false);
  }

  /** An endpoint at a shared listener that routes it only ends whose HELLO carried `token`. */
  static routed(
    address: PathAddress,
    token: Uint8Array,
    accept: () => Promise<TransportEnd>,
    close: () => Promise<void>,
  ): Endpoint {
    return new Endpoint(address, token, accept, close, true);
  }

  /** A one-off endpoint with a listener (and for shm/unix a private directory) of its own. */
  static async open(spec: PathSpec, options: EndpointOptions = {}): Promise<Endpoint> {
    const token = randomToken();
    const trust = options.trust ?? "trusted";
    if (spec.kind === "tcp" || spec.kind === "tls") {
      const at = { host: options.host ?? "127.0.0.1", port: 0 };
      const listener =
        spec.kind === "tcp"
          ? await listenTcp(at, { trust })
          : await listenTls(at, { trust, credentials: await credentials(options) });
      if (options.ref === false) listener.setRef(false);
      return Endpoint.listening(
        { kind: spec.kind, host: listener.address.host, port: listener.address.port },
        token,
        listener,
      );
    }
    // mkdtemp makes the directory 0700: only this uid can reach the socket inside. Made and
    // removed off the event loop: removing one that held a socket took 3 ms on an ext4 /tmp
    // (mounted with discard), and a switch removed its endpoint's just as the new path started.
    const dir = await mkdtemp(join(options.dir ?? tmpdir(), "fable-path-"));
    const path = join(dir, `${spec.kind}.sock`);
    const remove = (): Promise<void> => rm(dir, { recursive: true, force: true }).catch(() => undefined);
    try {
      const listener =
        spec.kind === "shm"
          ? await ShmListener.listen(path, { trust, ...(spec.wait !== undefined ? { wait: spec.wait } : {}) })
          : await listenUnix(path, { trust });
      if (options.ref === false && !(listener instanceof ShmListener)) listener.setRef(false);
      return Endpoint.listening({ kind: spec.kind, path }, token, listener, async () => {
        await listener.close();
        await remove();
      });
    } catch (err) {
      await remove();
      throw err;
    }
  }

  /** The next end whose dialer sent the right token; strangers are dropped. Rejects after `timeoutMs` (if given). */
  async accept(timeoutMs: number | undefined): Promise<TransportEnd> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      if (timeoutMs === undefined) return;
      timer = setTimeout(
        () => reject(new ReconfigureError(`no peer dialed the ${this.address.kind} endpoint within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      for (;;) {
        const end = await Promise.race([this.#accept(), timeout]);
        if (this.#proven) return end;
        try {
          // A dialer that never proves itself is dropped, so it cannot hold the endpoint up.
          let helloTimer: NodeJS.Timeout | undefined;
          const silent = new Promise<boolean>((resolve) => (helloTimer = setTimeout(resolve, HELLO_TIMEOUT_MS, false)));
          const proved = await Promise.race([readHello(end, this.token), timeout, silent]).finally(() =>
            clearTimeout(helloTimer),
          );
          if (proved) return end;
        } catch (err) {
          if (err instanceof ReconfigureError) {
            end.destroy();
            throw err;
          }
        }
        end.destroy(); // a stranger, or a peer that died while proving itself
      }
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return this.#close();
  }
}

async function readHello(end: TransportEnd, token: Uint8Array): Promise<boolean> {
  const sent = await readHelloToken(end);
  return sent !== null && timingSafeEqual(sent, token);
}

/** The token of a dialer's HELLO (the first record on a new end), or null when its first record is not one. */
export async function readHelloToken(end: TransportEnd): Promise<Uint8Array | null> {
  let record: InRecord | null = end.next();
  while (record === null) {
    if (end.ended) return null;
    await end.readable({ spin: false });
    record = end.next();
  }
  const bytes = record.bytes;
  const token =
    (record.flags & RECORD_CONTROL) !== 0 && bytes.length === 1 + TOKEN_BYTES && bytes[0] === CTL_HELLO
      ? bytes.slice(1)
      : null;
  end.free();
  return token;
}

/** Dials an endpoint and proves the token; the end is then ready for records. */
export async function dialEndpoint(
  address: PathAddress,
  token: Uint8Array,
  spec: PathSpec,
  options: {
    readonly trust?: Trust;
    readonly timeoutMs?: number;
    readonly tls?: TlsCredentials | (() => Promise<TlsCredentials>);
  } = {},
): Promise<TransportEnd> {
  const trust = options.trust ?? "trusted";
  let end: TransportEnd;
  if (address.kind === "tcp") end = await connectTcp({ host: address.host, port: address.port }, { trust });
  else if (address.kind === "tls") {
    const creds = await credentials(options);
    end = await connectTls({ host: address.host, port: address.port }, { trust, credentials: creds });
  } else if (address.kind === "unix") end = await connectUnix(address.path, { trust });
  else {
    end = await connectShm(address.path, {
      trust,
      ...(spec.wait !== undefined ? { wait: spec.wait } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
  }
  const hello = new Uint8Array(1 + TOKEN_BYTES);
  hello[0] = CTL_HELLO;
  hello.set(token, 1);
  const view = end.reserve(hello.length);
  if (view === null) {
    end.destroy();
    throw new ReconfigureError(`a new ${address.kind} path had no room for its first record`);
  }
  view.set(hello);
  end.publish(hello.length, RECORD_CONTROL | WHOLE, 0);
  return end;
}

// ---- the stand-in end -----------------------------------------------------------------------

/** An end being built: no room, no records; waits resolve once it is replaced (or dropped). */
export class PendingEnd implements TransportEnd {
  readonly kind: TransportKind;
  readonly trust: Trust;
  readonly sharedMemory = false;
  readonly maxRecordBytes: number;
  readonly ended = false;
  readonly failure: TransportError | undefined = undefined;
  readonly #ready: Promise<void>;
  #settle!: () => void;

  constructor(replacing: TransportEnd) {
    this.kind = replacing.kind;
    this.trust = replacing.trust;
    this.maxRecordBytes = replacing.maxRecordBytes;
    this.#ready = new Promise<void>((resolve) => (this.#settle = resolve));
  }

  /** The real end is installed (or the connection ended): every wait resolves. */
  settle(): void {
    this.#settle();
  }

  reserve(): Uint8Array | null {
    return null;
  }
  publish(): void {
    throw new TransportError("EORDER", "publish() on a path that is still being built");
  }
  writable(_hint?: WaitHint): Promise<void> {
    return this.#ready;
  }
  next(): InRecord | null {
    return null;
  }
  free(): void {
    throw new TransportError("EORDER", "free() on a path that is still being built");
  }
  readable(_hint?: WaitHint): Promise<void> {
    return this.#ready;
  }
  close(): void {
    this.#settle();
  }
  destroy(): void {
    this.#settle();
  }
}

export function isPath(kind: string): kind is PathKind {
  return (PATH_KINDS as readonly string[]).includes(kind);
}

export { WHOLE as RECORD_WHOLE };
