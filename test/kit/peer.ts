/**
 * Runs one transport end in another Node process (peer-child.ts), so tests can cross a real
 * process boundary and kill the peer for real (SIGKILL). The child opens its end by calling
 * `spec.export(...spec.args)` from `spec.module` and echoes every record back unchanged.
 *
 *     const peer = await startPeer({ module: transportModule("unix"), export: "connectUnix", args: [path] });
 *     const end = await listener.accept();
 *     ...
 *     await peer.kill();            // SIGKILL; the local end must fail with EPEER
 *
 * With `pipe: true` the child gets a duplex pipe (a libuv socket pair) on fd 4 (PIPE_FD), and the
 * parent's side is `peer.pipe`. The child's stdout and stderr are kept to explain failures.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type net from "node:net";
import { fileURLToPath } from "node:url";

export interface PeerSpec {
  /** A module the child imports: an absolute path or file: URL (see transportModule). */
  readonly module: string;
  /** The name of its export that opens the end; it may return a promise. */
  readonly export: string;
  /** JSON-serialisable arguments for it. */
  readonly args: readonly unknown[];
}

export type PeerCommand = { readonly cmd: "close" } | { readonly cmd: "destroy" };

export type PeerEvent =
  | { readonly event: "ready" }
  | { readonly event: "ended"; readonly echoed: number }
  | { readonly event: "closed"; readonly echoed: number }
  | { readonly event: "failed"; readonly code: string; readonly message: string };

/** The fd of the child's pipe when startPeer was asked for one. */
export const PIPE_FD = 4;

/** The compiled module of a transport of ours, for PeerSpec.module. */
export function transportModule(file: string): string {
  return new URL(`../../src/transports/${file}.js`, import.meta.url).href;
}

export interface PeerProcess {
  readonly pid: number;
  /** The parent's side of the child's fd 4, when started with `pipe: true`. */
  readonly pipe: net.Socket | undefined;
  /** Resolves with the next event of this kind; rejects if the child fails or exits first. */
  waitFor<K extends PeerEvent["event"]>(event: K): Promise<Extract<PeerEvent, { event: K }>>;
  send(command: PeerCommand): void;
  /** SIGKILL, resolved once the child is gone. */
  kill(): Promise<void>;
  /** What the child printed (the last few KiB). */
  output(): string;
}

const OUTPUT_TAIL_CHARS = 4000;
const READY_TIMEOUT_MS = 20_000;

export async function startPeer(spec: PeerSpec, options: { pipe?: boolean } = {}): Promise<PeerProcess> {
  const script = fileURLToPath(new URL("./peer-child.js", import.meta.url));
  const stdio: ("ignore" | "pipe" | "ipc")[] = ["ignore", "pipe", "pipe", "ipc"];
  if (options.pipe === true) stdio.push("pipe");
  const child = spawn(process.execPath, [script, JSON.stringify(spec)], { stdio, serialization: "json" });
  const peer = new Peer(child, options.pipe === true ? (child.stdio[PIPE_FD] as net.Socket) : undefined);
  const timer = setTimeout(() => void peer.kill(), READY_TIMEOUT_MS);
  try {
    await peer.waitFor("ready");
  } catch (error) {
    await peer.kill();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return peer;
}

class Peer implements PeerProcess {
  readonly pid: number;
  private readonly events: PeerEvent[] = [];
  private waiters: (() => void)[] = [];
  private tail = "";
  private exit: string | undefined;
  private readonly exited: Promise<void>;

  constructor(
    private readonly child: ChildProcess,
    readonly pipe: net.Socket | undefined,
  ) {
    this.pid = child.pid ?? -1;
    const keep = (chunk: Buffer): void => {
      this.tail = (this.tail + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    child.on("message", (msg: PeerEvent) => {
      this.events.push(msg);
      this.wake();
    });
    // The parent's side of the pipe fails when the child dies; the transport end reports that.
    pipe?.on("error", () => {});
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.exit = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
        this.wake();
        resolve();
      });
      child.on("error", (error) => {
        this.exit = `could not run: ${error.message}`;
        this.wake();
        resolve();
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  async waitFor<K extends PeerEvent["event"]>(event: K): Promise<Extract<PeerEvent, { event: K }>> {
    for (;;) {
      const i = this.events.findIndex((e) => e.event === event || e.event === "failed");
      if (i >= 0) {
        const found = this.events.splice(i, 1)[0] as PeerEvent;
        if (found.event === event) return found as Extract<PeerEvent, { event: K }>;
        const f = found as Extract<PeerEvent, { event: "failed" }>;
        throw new Error(`peer ${this.pid} failed (${f.code}) waiting for "${event}": ${f.message}${this.said()}`);
      }
      if (this.exit !== undefined) throw new Error(`peer ${this.pid} ${this.exit} before "${event}"${this.said()}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  send(command: PeerCommand): void {
    this.child.send(command);
  }

  async kill(): Promise<void> {
    if (this.exit === undefined) this.child.kill("SIGKILL");
    await this.exited;
  }

  output(): string {
    return this.tail;
  }

  private said(): string {
    const t = this.tail.trim();
    return t === "" ? "" : `; it said: ${t}`;
  }
}
