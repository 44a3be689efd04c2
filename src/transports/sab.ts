/**
 * The `sab` transport: two threads of one process (the main thread and a worker, or two
 * workers) share a SharedArrayBuffer holding two rings of DESIGN.md "Ring protocol" (src/ring/),
 * one per direction.
 *
 *     const { end, peer } = createSab({ wait: "adaptive" });
 *     const worker = new Worker(url, { workerData: peer, transferList: [peer.port] });
 *     // in the worker: const end = openSab(workerData);
 *
 * Liveness: the two ends hold the two ports of a MessageChannel (unref'd: they keep no thread
 * alive). A port closes when its thread ends, however it ends; a close without an orderly close
 * in the rings means the peer died (EPEER).
 *
 * Waiting: as shm ("spin", "block", "adaptive"; default "adaptive"). A sleeping side sleeps on
 * Atomics.waitAsync by default (`sleeper: "atomics"`, pure JavaScript; a ref'd timer keeps the
 * event loop alive meanwhile, which Atomics.waitAsync does not), or on the addon's native waiter
 * thread (`sleeper: "futex"`). Measured (64 B round trips, both sides "block", main thread and
 * worker on CPUs 0 and 1 of a 2-vCPU KVM guest): 104-114 us with atomics, 99-102 us with futex,
 * the same within this machine's noise, so the default needs no addon. The sleeping flag says
 * which one a side uses, so the waker always makes the right call, whatever the other side chose.
 */
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { UsageError } from "../errors.js";
import type { RingError } from "../ring/errors.js";
import { attachRing, checkCapacity, initRing, ringBytes, W_EPOCH } from "../ring/layout.js";
import { type SleeperKind, WAIT_STRATEGIES, type WaitStrategy } from "../ring/wait.js";
import { checkTrust } from "./common.js";
import { RingTransportEnd } from "./ring-end.js";
import { TransportError, type Trust } from "./transport.js";

export interface SabOptions {
  readonly trust?: Trust;
  /** How this end waits for records and for space (default "adaptive"). */
  readonly wait?: WaitStrategy;
  /** What a sleeping side sleeps on (default "atomics"). */
  readonly sleeper?: SleeperKind;
  readonly spinBudgetUs?: number;
  readonly spinSliceUs?: number;
  /** createSab: bytes of each ring, a power of two (default 1 MiB). */
  readonly ringBytes?: number;
  /** createSab: the epoch written into both rings (default 0). */
  readonly epoch?: number;
}

/** What the other thread needs to open its end: post it with `transferList: [peer.port]`. */
export interface SabPeerInit {
  readonly version: 1;
  readonly buffer: SharedArrayBuffer;
  readonly ringBytes: number;
  readonly port: MessagePort;
}

export const DEFAULT_SAB_RING_BYTES = 1024 * 1024;

export class SabEnd extends RingTransportEnd {
  readonly kind = "sab" as const;
  readonly ringBytes: number;
  readonly epoch: number;
  readonly #port: MessagePort;

  /** @internal: made by createSab() and openSab(). */
  constructor(buffer: SharedArrayBuffer, capacity: number, side: 0 | 1, port: MessagePort, options: SabOptions) {
    const ring = ringBytes(capacity);
    // Ring 0 carries the creator's records, ring 1 the opener's. The creator's buffer is new (zeros).
    const epoch = (options.epoch ?? 0) >>> 0;
    const first = side === 0 ? initRing(buffer, 0, capacity, epoch, true) : attachRing(buffer, 0, capacity);
    const second = side === 0 ? initRing(buffer, ring, capacity, epoch, true) : attachRing(buffer, ring, capacity);
    super(side === 0 ? second : first, side === 0 ? first : second, {
      trust: checkTrust(options.trust),
      label: `sab (${side === 0 ? "creator" : "opener"})`,
      wait: {
        strategy: checkWait(options.wait),
        sleeper: options.sleeper ?? "atomics",
        ...(options.spinBudgetUs !== undefined ? { spinBudgetUs: options.spinBudgetUs } : {}),
        ...(options.spinSliceUs !== undefined ? { spinSliceUs: options.spinSliceUs } : {}),
      },
    });
    this.ringBytes = capacity;
    this.epoch = first.words[W_EPOCH] ?? 0;
    this.#port = port;
    port.on("close", () => this.peerGone("its thread's port closed"));
    port.unref();
  }

  protected release(): void {
    // The rings already say closed or aborted; the port's close is the liveness signal.
    this.#port.close();
  }
}

function checkWait(wait: WaitStrategy | undefined): WaitStrategy {
  if (wait === undefined) return "adaptive";
  if (!WAIT_STRATEGIES.includes(wait)) {
    throw new UsageError(`wait must be one of ${WAIT_STRATEGIES.join(", ")}, not ${JSON.stringify(wait)}`);
  }
  return wait;
}

/** Creates the shared memory and this thread's end; hand `peer` to the other thread. */
export function createSab(options: SabOptions = {}): { end: SabEnd; peer: SabPeerInit } {
  const capacity = options.ringBytes ?? DEFAULT_SAB_RING_BYTES;
  try {
    checkCapacity(capacity);
  } catch (err) {
    throw new UsageError(`ringBytes: ${(err as RingError).message}`);
  }
  const buffer = new SharedArrayBuffer(2 * ringBytes(capacity));
  const { port1, port2 } = new MessageChannel();
  const end = new SabEnd(buffer, capacity, 0, port1, options);
  return { end, peer: { version: 1, buffer, ringBytes: capacity, port: port2 } };
}

/** Opens the other thread's end from what createSab() gave. */
export function openSab(peer: SabPeerInit, options: SabOptions = {}): SabEnd {
  if (
    peer === null ||
    typeof peer !== "object" ||
    peer.version !== 1 ||
    !(peer.buffer instanceof SharedArrayBuffer) ||
    typeof peer.ringBytes !== "number" ||
    peer.buffer.byteLength !== 2 * ringBytes(peer.ringBytes)
  ) {
    throw new UsageError("openSab: pass the `peer` object createSab() returned (posted with its port transferred)");
  }
  try {
    return new SabEnd(peer.buffer, peer.ringBytes, 1, peer.port, options);
  } catch (err) {
    throw new TransportError("EPROTOCOL", `openSab: ${(err as Error).message}`, { cause: err });
  }
}
