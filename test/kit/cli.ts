/** Runs the real `fable` command (bin/fable.js) in a child process and collects what it printed. */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const repoRoot = resolve(import.meta.dirname, "..", "..", "..");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `fable bench` keeps a copy of its result in the user's data dir: tests give it a directory of their
 * own (removed when the test process exits) unless they pass FABLE_DATA_DIR themselves.
 */
let isolatedDataDir: string | undefined;
function testDataDir(): string {
  if (isolatedDataDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "fable-data-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    isolatedDataDir = dir;
  }
  return isolatedDataDir;
}

export function runFable(args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd = repoRoot): Promise<CliResult> {
  const child = spawn(process.execPath, [join(repoRoot, "bin", "fable.js"), ...args], {
    cwd,
    env: { ...process.env, FABLE_DATA_DIR: testDataDir(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return new Promise((resolvePromise, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** A fresh directory for one test file; remove it with the returned cleanup. */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `fable-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
