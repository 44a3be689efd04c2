/**
 * The test kit's fable daemon: isolated directories per test (never the user's real ones) and a
 * real `fable daemon run` process started on them, stopped and waited for in cleanup.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
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
  const paths = { runtimeDir: join(root, "run"), stateDir: join(root, "state") };
  for (const dir of [paths.runtimeDir, paths.stateDir]) {
    mkdirSync(dir, { mode: 0o700 });
    if (owner !== undefined) {
      // chown the way the test's other user would own its own directories.
      spawnSyncChown(owner, dir);
    }
  }
  return {
    paths,
    env: { FABLE_RUNTIME_DIR: paths.runtimeDir, FABLE_STATE_DIR: paths.stateDir, FABLE_NO_AUTOSTART: "1" },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

import { chownSync } from "node:fs";
function spawnSyncChown(owner: { uid: number; gid: number }, dir: string): void {
  chownSync(dir, owner.uid, owner.gid);
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
