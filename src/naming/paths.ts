/**
 * Where the per-user fable daemon lives (XDG base directories), shared by its clients and itself.
 *
 * - runtime directory (control socket, pid file, listeners' rendezvous directories):
 *   $FABLE_RUNTIME_DIR, else $XDG_RUNTIME_DIR/fable, else /tmp/fable-<uid>. It must be a real
 *   directory (not a symlink) owned by the daemon's uid with no access for group or others (0700):
 *   anything else could let another user plant or read the socket, so it is refused (EUNSAFEDIR).
 * - state directory (the daemon's log): $FABLE_STATE_DIR, else $XDG_STATE_HOME/fable, else
 *   ~/.local/state/fable.
 *
 * Tests isolate themselves by passing their own directories (or setting the variables).
 */
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { FableError } from "../errors.js";

/** A directory the daemon would use is unsafe (wrong owner, group/other access, a symlink). */
export class UnsafeDirectoryError extends FableError {
  constructor(message: string) {
    super("EUNSAFEDIR", message);
  }
}

export interface DaemonPaths {
  readonly runtimeDir: string;
  readonly stateDir: string;
}

export function myUid(): number {
  return process.getuid?.() ?? 0;
}

/** The paths from the environment (see the module comment). */
export function daemonPaths(env: NodeJS.ProcessEnv = process.env): DaemonPaths {
  const runtimeDir =
    nonEmpty(env.FABLE_RUNTIME_DIR) ??
    (nonEmpty(env.XDG_RUNTIME_DIR) !== undefined ? join(env.XDG_RUNTIME_DIR as string, "fable") : undefined) ??
    join("/tmp", `fable-${myUid()}`);
  const stateDir =
    nonEmpty(env.FABLE_STATE_DIR) ??
    (nonEmpty(env.XDG_STATE_HOME) !== undefined ? join(env.XDG_STATE_HOME as string, "fable") : undefined) ??
    join(homedir(), ".local", "state", "fable");
  return { runtimeDir, stateDir };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

export const controlSocket = (p: DaemonPaths): string => join(p.runtimeDir, "daemon.sock");
export const pidFile = (p: DaemonPaths): string => join(p.runtimeDir, "daemon.pid");
export const logFile = (p: DaemonPaths): string => join(p.stateDir, "daemon.log");

/**
 * The abstract unix socket a running daemon holds for its runtime directory: binding it is atomic
 * and the kernel releases it when the daemon dies, so racing starters end with one daemon.
 */
export function lockAddress(p: DaemonPaths, uid: number = myUid()): string {
  const digest = createHash("sha256").update(p.runtimeDir).digest("hex").slice(0, 24);
  return `\0fable-daemon-${uid}-${digest}`;
}

/** Creates `dir` (0700) if missing and checks it is safe for `uid` to keep sockets in. */
export function ensurePrivateDir(dir: string, uid: number = myUid()): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkPrivateDir(dir, uid);
}

export function checkPrivateDir(dir: string, uid: number = myUid()): void {
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new UnsafeDirectoryError(`${dir} is not a directory (a symlink or a file)`);
  if (st.uid !== uid) {
    throw new UnsafeDirectoryError(
      `${dir} belongs to uid ${st.uid}, not ${uid}: refusing to use it for the fable daemon`,
    );
  }
  if ((st.mode & 0o077) !== 0) {
    throw new UnsafeDirectoryError(
      `${dir} has mode ${(st.mode & 0o777).toString(8)}: group and others must have no access (chmod 700 ${dir})`,
    );
  }
}
