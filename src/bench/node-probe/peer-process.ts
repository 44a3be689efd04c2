/**
 * Starts side B as a separate Node process (peer.js beside this file) with the default child_process
 * IPC channel (JSON serialization). The probe's stdout stays clean: the peer's stdout and stderr are
 * kept (the last few KiB) to explain an EPEER.
 *
 * A single-shot probe forks a peer per test and kills it on every path. A serving probe (serve.ts)
 * keeps its peer: after a test that succeeded, the peer is reset (peer.ts) and waits, unreferenced,
 * for the next test; after a failed test, or a reset that left something behind or took too long,
 * it is killed like a single-shot peer and the next test forks a fresh one. Tests that hand the peer
 * an extra pipe (it belongs to one test) or ask for a fresh one always fork a new peer.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { PeerConfig } from "./control.js";
import { ProbeError } from "./errors.js";
import type { Supervisor } from "./supervisor.js";

const OUTPUT_TAIL_CHARS = 2000;
/** A reset peer that has not said it is idle by then is killed. */
const RESET_LIMIT_MS = 2_000;

export interface ForkOptions {
  /** Also give the peer a pipe (a unix socket pair, as libuv makes them) as its fd 4. */
  readonly extraPipe?: boolean;
  /** A fresh peer even in a serving probe: side B keeps process-wide state that outlives a test. */
  readonly fresh?: boolean;
}

function startPeer(argument: string, options: ForkOptions): ChildProcess {
  const script = fileURLToPath(new URL("./peer.js", import.meta.url));
  return fork(script, [argument], {
    serialization: "json",
    stdio: options.extraPipe === true ? ["ignore", "pipe", "pipe", "ipc", "pipe"] : ["ignore", "pipe", "pipe", "ipc"],
    // The probe's own Node flags (a profiler, a test runner's) are not the peer's business.
    execArgv: [],
  });
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.connected;
}

/** Event loop references of a peer: an idle pooled peer keeps nothing alive and counts as no handle. */
function reference(child: ChildProcess, on: boolean): void {
  const handles = [child, child.channel, child.stdout, child.stderr] as Array<{ ref?(): void; unref?(): void } | null>;
  for (const h of handles) (on ? h?.ref : h?.unref)?.call(h);
}

/** The serving probe's one warm peer, or none. */
class PeerPool {
  enabled = false;
  private idle: ChildProcess | undefined;
  private resetting: Promise<void> = Promise.resolve();

  /** A warm peer if there is one (already told to start `config`), else undefined. */
  take(config: PeerConfig): ChildProcess | undefined {
    const child = this.idle;
    this.idle = undefined;
    if (child === undefined || !running(child)) return undefined;
    reference(child, true);
    child.send({ t: "start", config });
    return child;
  }

  /** After a test that succeeded: reset the peer and keep it if it comes back clean, else kill it. */
  giveBack(child: ChildProcess): void {
    this.resetting = new Promise<void>((resolve) => {
      const done = (keep: boolean): void => {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
        if (keep && running(child) && this.idle === undefined) {
          reference(child, false);
          this.idle = child;
        } else if (running(child)) {
          child.kill("SIGKILL");
        }
        resolve();
      };
      const onMessage = (msg: unknown): void => {
        const m = msg as { t?: unknown; left?: unknown } | null;
        if (typeof m === "object" && m !== null && m.t === "idle") done(m.left === "");
      };
      const onExit = (): void => done(false);
      const timer = setTimeout(() => done(false), RESET_LIMIT_MS);
      child.on("message", onMessage);
      child.on("exit", onExit);
      child.send({ t: "reset" });
    });
  }

  /** Resolves once the last peer given back is idle or killed, so the next test starts on a quiet machine. */
  quiet(): Promise<void> {
    return this.resetting;
  }
}

export const peerPool = new PeerPool();

export function forkPeer(
  config: PeerConfig,
  sup: Supervisor,
  onMessage: (msg: unknown) => void,
  options: ForkOptions = {},
): ChildProcess {
  const poolable = peerPool.enabled && options.extraPipe !== true && options.fresh !== true;
  let child = poolable ? peerPool.take(config) : undefined;
  if (child === undefined) {
    child = startPeer(poolable ? "--serve" : JSON.stringify(config), options);
    if (poolable) {
      child.send({ t: "start", config }); // sent once the channel is up
      // While pooled between tests nobody else listens: an error then must not take the probe down.
      child.on("error", () => undefined);
    }
  }
  const peer = child;
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
  };
  const message = sup.guard(onMessage);
  const error = (err: Error): void => sup.fail(new ProbeError("EPEER", `side B (pid ${peer.pid}): ${err.message}`));
  const exit = (code: number | null, signal: NodeJS.Signals | null): void =>
    sup.peerLost(() => {
      const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
      const said = output.trim();
      return `side B (pid ${peer.pid}) ${how} before the test ended${said ? `; it said: ${said}` : ""}`;
    });
  peer.stdout?.on("data", keep);
  peer.stderr?.on("data", keep);
  peer.on("message", message);
  peer.on("error", error);
  peer.on("exit", exit);
  sup.onCleanup(() => {
    peer.stdout?.off("data", keep);
    peer.stderr?.off("data", keep);
    peer.off("message", message);
    peer.off("error", error);
    peer.off("exit", exit);
    if (poolable && !sup.hasFailed && running(peer)) peerPool.giveBack(peer);
    else if (peer.exitCode === null && peer.signalCode === null) peer.kill("SIGKILL");
  });
  return peer;
}
