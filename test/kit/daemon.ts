/**
 * The test kit's fable daemon: isolated directories per test (never the user's real ones) and a
 * real `fable daemon run` process started on them, stopped and waited for in cleanup.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import type { DaemonPaths } from "../../src/naming/paths.js";
import { repoRoot } from "./cli.js";

export interface Isolated {
  readonly paths: DaemonPaths;
  /** Environment for a child process (and `fable`) that points at these directories only. */
  readonly env: NodeJS.ProcessEnv;
  cleanup(): void;
}

/** Fresh runtime and state directories (0700) under one temporary directory. */
export function isolatedPaths(prefix = "daemon", owner?: { uid: number; gid: number }): Isolated {
  const root = mkdtempSync(join(tmpdir(), `fable-${prefix}-`));
  chmodSync(root, 0o755);
  const paths = { runtimeDir: join(root, "run"), stateDir: join(root, "state"), dataDir: join(root, "data") };
  for (const dir of [paths.runtimeDir, paths.stateDir, paths.dataDir]) {
    mkdirSync(dir, { mode: 0o700 });
    // Another user's daemon needs directories of its own.
    if (owner !== undefined) chownSync(dir, owner.uid, owner.gid);
  }
  return {
    paths,
    // The data dir too: the daemon's selector must not read this machine's own bench results (the tests expect
    // the fixed order), nor calibrate in the background.
    env: {
      FABLE_RUNTIME_DIR: paths.runtimeDir,
      FABLE_STATE_DIR: paths.stateDir,
      FABLE_DATA_DIR: paths.dataDir,
      FABLE_CALIBRATION: "off",
      FABLE_NO_AUTOSTART: "1",
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<void>;
}

export const FABLE_BIN = join(repoRoot, "bin", "fable.js");

/** Starts `fable daemon run` on `iso` (as `as`, when given) and waits until it answers. */
export async function startDaemon(
  iso: Isolated,
  options: { args?: readonly string[]; as?: { uid: number; gid: number } } = {},
): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [FABLE_BIN, "daemon", "run", ...(options.args ?? [])], {
    env: { ...process.env, ...iso.env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.as !== undefined ? { uid: options.as.uid, gid: options.as.gid } : {}),
  });
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const client = new DaemonClient({
    paths: iso.paths,
    autostart: false,
    ...(options.as ? { daemonUid: options.as.uid } : {}),
  });
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`fable daemon exited with ${child.exitCode}: ${out}`);
      try {
        await client.request({ type: "status" });
        break;
      } catch (err) {
        if (i > 200) throw new Error(`fable daemon did not answer: ${String(err)}\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  } finally {
    client.close();
  }
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return { child, pid: child.pid ?? -1, output: () => out, kill: () => end("SIGKILL"), stop: () => end("SIGTERM") };
}

export interface ChildEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export interface NamingChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The next event of this kind (rejects on "failed" or exit). */
  next(event: string): Promise<ChildEvent>;
  send(message: object): void;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs test/kit/naming-child.ts with `spec` in a process of its own. */
export function namingChild(
  spec: object,
  env: NodeJS.ProcessEnv,
  as?: { uid: number; gid: number },
  options: { pipe?: boolean } = {},
): NamingChild {
  const script = join(repoRoot, "dist", "test", "kit", "naming-child.js");
  const child = spawn(process.execPath, [script, JSON.stringify(spec)], {
    env: { ...process.env, ...env },
    // With `pipe`, fd 3 is a pipe for pipe:// and the IPC channel moves to fd 4.
    stdio:
      options.pipe === true ? ["ignore", "inherit", "inherit", "pipe", "ipc"] : ["ignore", "inherit", "inherit", "ipc"],
    ...(as !== undefined ? { uid: as.uid, gid: as.gid } : {}),
  });
  const events: ChildEvent[] = [];
  const waiting: (() => void)[] = [];
  let exited = false;
  child.on("message", (m: ChildEvent) => {
    events.push(m);
    for (const w of waiting.splice(0)) w();
  });
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      for (const w of waiting.splice(0)) w();
      resolve();
    }),
  );
  return {
    child,
    pid: child.pid ?? -1,
    async next(event) {
      for (;;) {
        const i = events.findIndex((e) => e.event === event || e.event === "failed");
        if (i >= 0) {
          const [e] = events.splice(i, 1);
          if (e?.event === "failed")
            throw new Error(`child ${child.pid} failed: ${String(e.code)}: ${String(e.message)}`);
          return e as ChildEvent;
        }
        if (exited)
          throw new Error(`child ${child.pid} exited (${child.exitCode ?? child.signalCode}) before "${event}"`);
        await new Promise<void>((r) => waiting.push(r));
      }
    },
    send: (m) => void child.send(m),
    async kill(signal = "SIGKILL") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exit;
    },
  };
}

/** Polls `check` until it returns a value (not undefined), or fails after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
