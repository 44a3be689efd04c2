/**
 * The `shm` transport: two processes on one host share one memfd region holding two rings of
 * DESIGN.md "Ring protocol" (src/ring/), one per direction, and read and write them from
 * JavaScript with no system call per record.
 *
 *     const listener = await ShmListener.listen("/run/user/1000/cache.sock", { wait: "adaptive" });
 *     const end = await listener.accept();                 // in the other process:
 *                                                          // const end = await connectShm(path);
 *
 * Rendezvous (./rendezvous.ts): the listener creates the region for each connection (sealed:
 * it can neither shrink nor grow), initialises both rings, and sends the region's fd with a hello
 * (ring size, offsets, epoch) by SCM_RIGHTS, together with the connector's wake socket (one end
 * of a datagram socketpair; the listener keeps the other); the connector checks the hello against
 * what it received before mapping it. The unix socket then stays open as the liveness channel: its end
 * without an orderly close in the rings means the peer died (EPEER), which ends every wait at
 * once. The listener's ring size counts for both directions.
 *
 * Waiting (`wait`): "spin" polls and never sleeps (lowest latency, a CPU per waiting side),
 * "block" sleeps at once (on its wake socket in the event loop, src/ring/wake-socket.ts; or with
 * `sleeper: "futex"` on a native waiter thread, never a libuv pool thread),
 * "adaptive" (default) spins a bounded budget, then sleeps; writers wake a sleeping side only
 * when its sleeping flag is set. Each end chooses for itself.
 *
 * Trust (`trust`, default "trusted" like every transport): a trusted end reads records in place
 * (zero-copy); an untrusted end checks every header value and copies the payload to private
 * memory first, so a hostile peer can only make that end fail with EPROTOCOL.
 */
import { closeSync } from "node:fs";
import { loadNative } from "../native/load.js";
import type { PeerCredentials } from "../native/native.js";
import { RingError } from "../ring/errors.js";
import { attachRing, checkCapacity, initRing, ringBytes, type RingMemory, W_EPOCH } from "../ring/layout.js";
import { WAIT_STRATEGIES, type WaitStrategy } from "../ring/wait.js";
import { WakeSocket } from "../ring/wake-socket.js";
import { UsageError } from "../errors.js";
import { checkTrust } from "./common.js";
import { connectRendezvous, RendezvousListener, type RendezvousConnection } from "./rendezvous.js";
import { RingTransportEnd } from "./ring-end.js";
import { TransportError, type Trust } from "./transport.js";

export interface ShmOptions {
  readonly trust?: Trust;
  /** How this end waits for records and for space (default "adaptive"). */
  readonly wait?: WaitStrategy;
  /** Adaptive: spin this long before sleeping (default: see src/ring/wait.ts). */
  readonly spinBudgetUs?: number;
  /** Spin: poll this long before the event loop gets a turn. */
  readonly spinSliceUs?: number;
  /**
   * How this end sleeps (default "socket": its wake socket, watched by the event loop; "futex": a
   * native waiter thread, two hand-offs per wake-up). Environment default: FABLE_SHM_SLEEPER.
   */
  readonly sleeper?: ShmSleeper;
  /** Listener: bytes of each ring, a power of two (default 1 MiB); maxRecordBytes is under half of it. */
  readonly ringBytes?: number;
  /** Listener: the epoch written into both rings (default 0). */
  readonly epoch?: number;
  /** Peer uids accepted (default: this process's uid only). */
  readonly allowUids?: readonly number[];
  /** Rendezvous time limit (default 5000 ms). */
  readonly timeoutMs?: number;
  /**
   * Listener: one connection is expected (a live switch's endpoint): its region is made right
   * after listening, off the connector's path, and none is made ahead for a next one.
   */
  readonly once?: boolean;
}

export type ShmSleeper = "socket" | "futex";
export const SHM_SLEEPERS: readonly ShmSleeper[] = Object.freeze(["socket", "futex"]);

export const DEFAULT_SHM_RING_BYTES = 1024 * 1024;
const HELLO_MAGIC = 0x48534246; // "FBSH"
/**
 * 3: the hello carries the region and the connector's wake socket (2: also a second pair's end,
 * the listener's doorbell; one pair serves both ways, two sockets fewer to make and close).
 */
const HELLO_VERSION = 3;
const HELLO_WORDS = 7;

/** One end of an shm connection. */
export class ShmEnd extends RingTransportEnd {
  readonly kind = "shm" as const;
  /** The peer process (from the kernel, at connect). */
  readonly peer: PeerCredentials;
  /** Bytes of each ring. */
  readonly ringBytes: number;
  readonly epoch: number;
  /** The rendezvous socket, kept open as the liveness channel. */
  readonly connection: RendezvousConnection;
  #region: ArrayBuffer | undefined;
  /**
   * This end's wake socket: one end of a datagram socketpair whose other end is the peer's. It
   * receives the peer's rings and sends this end's to the peer (a connected pair delivers each
   * datagram to the other end only); each end owns its own open file description, so a peer
   * cannot change how this end's socket behaves, and every send and receive is MSG_DONTWAIT.
   */
  readonly #wake: WakeSocket;
  readonly #sleepsOnSocket: boolean;

  /** @internal: made by ShmListener.accept() and connectShm(). */
  constructor(
    region: ArrayBuffer,
    inbound: RingMemory,
    outbound: RingMemory,
    connection: RendezvousConnection,
    options: ShmOptions,
    side: "listener" | "connector",
    wakeFd: number,
  ) {
    const wakeSocket = new WakeSocket(wakeFd);
    const onSocket = checkSleeper(options.sleeper) === "socket" && loadNative().capabilities.fdWatch;
    super(inbound, outbound, {
      trust: checkTrust(options.trust),
      label: `shm (${side}, peer pid ${connection.peer.pid})`,
      peerWakeFd: wakeFd,
      wait: {
        strategy: checkWait(options.wait),
        // The wake socket is watched by the event loop: one hand-off per wake-up, where a
        // futex needs a waiter thread and then the loop (a thread with no loop keeps the futex).
        ...(onSocket ? { wakeSocket } : { sleeper: "futex" as const }),
        ...(options.spinBudgetUs !== undefined ? { spinBudgetUs: options.spinBudgetUs } : {}),
        ...(options.spinSliceUs !== undefined ? { spinSliceUs: options.spinSliceUs } : {}),
      },
    });
    this.#region = region;
    this.peer = connection.peer;
    this.ringBytes = inbound.capacity;
    this.epoch = inbound.words[W_EPOCH] ?? 0;
    this.connection = connection;
    this.#wake = wakeSocket;
    this.#sleepsOnSocket = onSocket;
    connection.watch((error) => this.peerGone(error === undefined ? "its socket closed" : error.message));
  }

  /** With the wake socket, an unref'd end's sleeping waits do not hold the loop (a waiter thread does). */
  get unrefWaits(): boolean {
    return this.#sleepsOnSocket;
  }

  /** The liveness socket and the wake socket are this end's handles. */
  setRef(ref: boolean): void {
    if (this.#region === undefined) return; // released: the socket was unref'd or destroyed then
    if (ref) this.connection.socket.ref();
    else this.connection.socket.unref();
    this.#wake.setRef(ref);
  }

  protected release(aborted: boolean): void {
    // The rings already say closed (or aborted); the socket's end tells a peer that waits on it.
    if (!aborted) {
      this.connection.end();
      this.connection.socket.unref();
    } else {
      this.connection.destroy();
    }
    const region = this.#region;
    this.#region = undefined;
    if (region !== undefined) loadNative().shmUnmap(region);
    // The rings are closed: nothing rings the peer after this (a reused fd number must not get a byte).
    this.#wake.close();
  }
}

function checkSleeper(sleeper: ShmSleeper | undefined): ShmSleeper {
  const chosen = sleeper ?? (process.env.FABLE_SHM_SLEEPER as ShmSleeper | undefined) ?? "socket";
  if (!SHM_SLEEPERS.includes(chosen)) {
    const from = sleeper === undefined ? "FABLE_SHM_SLEEPER" : "sleeper";
    throw new UsageError(`${from} must be one of ${SHM_SLEEPERS.join(", ")}, not ${JSON.stringify(chosen)}`);
  }
  return chosen;
}

function checkWait(wait: WaitStrategy | undefined): WaitStrategy {
  if (wait === undefined) return "adaptive";
  if (!WAIT_STRATEGIES.includes(wait)) {
    throw new UsageError(`wait must be one of ${WAIT_STRATEGIES.join(", ")}, not ${JSON.stringify(wait)}`);
  }
  return wait;
}

/** A connection's region and wake sockets, made before its connector arrives (ShmListener.accept). */
interface PreparedRegion {
  readonly fd: number;
  readonly region: ArrayBuffer;
  readonly toConnector: RingMemory;
  readonly toListener: RingMemory;
  readonly listenerWake: number;
  readonly connectorWake: number;
}

/**
 * Listens at a unix socket path; each accepted connection gets its own region. Once it has
 * accepted a connection, the listener makes the next one's region (memfd, map, rings, wake
 * sockets) right away, off the connector's path: an arriving connector then waits only for the
 * hello to be sent. The spare region is fresh (no process but this one has seen it) and goes to
 * exactly one connector; close() frees it.
 */
export class ShmListener {
  readonly path: string;
  readonly #rendezvous: RendezvousListener;
  readonly #options: ShmOptions;
  readonly #capacity: number;
  #spare: PreparedRegion | undefined;
  #preparing: NodeJS.Immediate | undefined;
  #closed = false;

  private constructor(path: string, rendezvous: RendezvousListener, options: ShmOptions, capacity: number) {
    this.path = path;
    this.#rendezvous = rendezvous;
    this.#options = options;
    this.#capacity = capacity;
  }

  static async listen(path: string, options: ShmOptions = {}): Promise<ShmListener> {
    const capacity = options.ringBytes ?? DEFAULT_SHM_RING_BYTES;
    try {
      checkCapacity(capacity);
    } catch (err) {
      throw new UsageError(`ringBytes: ${(err as RingError).message}`);
    }
    checkTrust(options.trust);
    checkWait(options.wait);
    checkSleeper(options.sleeper);
    const caps = loadNative().capabilities;
    if (!caps.memfd || !caps.futex) {
      throw new TransportError("EPEER", "the shm transport needs memfd and futex, which this system lacks");
    }
    const rendezvous = await RendezvousListener.listen(path, rendezvousOptions(options));
    const listener = new ShmListener(path, rendezvous, options, capacity);
    if (options.once === true) listener.#prepareSoon();
    return listener;
  }

  /** The next connection: hands it a region of its own (made ahead, see the class comment). */
  async accept(): Promise<ShmEnd> {
    for (;;) {
      const connection = await this.#rendezvous.accept();
      const p = this.#spare ?? this.#prepare();
      this.#spare = undefined;
      let handedOver = false;
      try {
        const hello = new Uint32Array([
          HELLO_MAGIC,
          HELLO_VERSION,
          this.#capacity,
          (this.#options.epoch ?? 0) >>> 0,
          0,
          p.toListener.byteOffset,
          p.region.byteLength,
        ]);
        connection.send(new Uint8Array(hello.buffer), [p.fd, p.connectorWake]);
        handedOver = true;
        return new ShmEnd(p.region, p.toListener, p.toConnector, connection, this.#options, "listener", p.listenerWake);
      } catch (err) {
        // The connector went away during the rendezvous: wait for the next one.
        loadNative().shmUnmap(p.region);
        connection.destroy();
        if (!handedOver) closeSync(p.listenerWake);
        if (!(err instanceof TransportError && err.code === "EPEER")) throw err;
      } finally {
        // Ours to close either way: the connector has its own copies now (or never will).
        closeSync(p.fd);
        closeSync(p.connectorWake);
        if (this.#options.once !== true || !handedOver) this.#prepareSoon();
      }
    }
  }

  /** A fresh region with both rings initialised, and the connection's pair of wake sockets. */
  #prepare(): PreparedRegion {
    const native = loadNative();
    const ring = ringBytes(this.#capacity);
    const regionBytes = 2 * ring;
    const fd = native.shmCreate("fable-shm", regionBytes);
    let region: ArrayBuffer | undefined;
    try {
      region = native.shmMap(fd, regionBytes);
      const epoch = (this.#options.epoch ?? 0) >>> 0;
      // A new memfd reads as zeros: only the control blocks are written.
      const toConnector = initRing(region, 0, this.#capacity, epoch, true);
      const toListener = initRing(region, ring, this.#capacity, epoch, true);
      // The wake sockets: one pair, an end each (each rings the other through its own).
      const [listenerWake, connectorWake] = native.wakePair();
      return { fd, region, toConnector, toListener, listenerWake, connectorWake };
    } catch (err) {
      if (region !== undefined) native.shmUnmap(region);
      closeSync(fd);
      throw err;
    }
  }

  /** Makes the next connection's region once this turn of the event loop is done. */
  #prepareSoon(): void {
    if (this.#closed || this.#spare !== undefined || this.#preparing !== undefined) return;
    this.#preparing = setImmediate(() => {
      this.#preparing = undefined;
      if (this.#closed || this.#spare !== undefined) return;
      try {
        this.#spare = this.#prepare();
      } catch {
        // Out of memory or descriptors now: the next accept() tries again (and reports it).
      }
    });
    this.#preparing.unref();
  }

  /** Whether the listening socket keeps the event loop alive (default yes). */
  setRef(ref: boolean): void {
    this.#rendezvous.setRef(ref);
  }

  /** Stops listening and removes the socket file; accepted ends stay open. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#preparing !== undefined) clearImmediate(this.#preparing);
    this.#preparing = undefined;
    const spare = this.#spare;
    this.#spare = undefined;
    if (spare !== undefined) {
      loadNative().shmUnmap(spare.region);
      for (const fd of [spare.fd, spare.listenerWake, spare.connectorWake]) closeSync(fd);
    }
    return this.#rendezvous.close();
  }
}

/** Connects to an ShmListener at `path`; resolves once the region is mapped. */
export async function connectShm(path: string, options: ShmOptions = {}): Promise<ShmEnd> {
  checkTrust(options.trust);
  checkWait(options.wait);
  checkSleeper(options.sleeper);
  const native = loadNative();
  const connection = await connectRendezvous(path, rendezvousOptions(options));
  let fds: number[] = [];
  try {
    const message = await connection.receive();
    fds = message.fds;
    const words = message.data.length === HELLO_WORDS * 4 ? new Uint32Array(message.data.slice().buffer) : undefined;
    if (words === undefined || words[0] !== HELLO_MAGIC) {
      throw new TransportError(
        "EPROTOCOL",
        `the listener at ${path} sent ${message.data.length} bytes and ${fds.length} fds: not an shm hello`,
      );
    }
    const [, version, capacity, , off0, off1, regionBytes] = words as unknown as number[];
    if (version !== HELLO_VERSION) {
      throw new TransportError(
        "EPROTOCOL",
        `the listener at ${path} speaks shm version ${version}, not ${HELLO_VERSION}`,
      );
    }
    const [fd, wakeFd] = fds;
    if (fds.length !== 2 || fd === undefined || wakeFd === undefined) {
      throw new TransportError(
        "EPROTOCOL",
        `the listener at ${path} sent ${fds.length} fds with its hello, not 2 (region, wake socket)`,
      );
    }
    try {
      native.wakeCheck(wakeFd);
    } catch (err) {
      throw new TransportError(
        "EPROTOCOL",
        `the listener at ${path} sent a bad wake socket: ${(err as Error).message}`,
      );
    }
    const ring = ringBytes(capacityOrFail(capacity, path));
    const size = native.shmSize(fd);
    if (off0 !== 0 || off1 !== ring || regionBytes !== 2 * ring || size !== regionBytes) {
      throw new TransportError(
        "EPROTOCOL",
        `the listener at ${path} describes rings at ${off0} and ${off1} in ${regionBytes} bytes; the region has ${size}`,
      );
    }
    const region = native.shmMap(fd, regionBytes);
    try {
      const toConnector = attachRing(region, 0, capacity as number);
      const toListener = attachRing(region, ring, capacity as number);
      const end = new ShmEnd(region, toConnector, toListener, connection, options, "connector", wakeFd);
      fds = [fd]; // the wake socket is the end's now
      return end;
    } catch (err) {
      native.shmUnmap(region);
      if (err instanceof RingError) throw new TransportError("EPROTOCOL", err.message, { cause: err });
      throw err;
    }
  } catch (err) {
    connection.destroy();
    throw err;
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

function capacityOrFail(capacity: number | undefined, path: string): number {
  try {
    checkCapacity(capacity ?? 0);
    return capacity as number;
  } catch {
    throw new TransportError("EPROTOCOL", `the listener at ${path} announced a ring of ${capacity} bytes`);
  }
}

function rendezvousOptions(options: ShmOptions): { allowUids?: readonly number[]; timeoutMs?: number } {
  return {
    ...(options.allowUids !== undefined ? { allowUids: options.allowUids } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };
}
