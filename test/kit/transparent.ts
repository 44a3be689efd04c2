/**
 * Processes for transparent-mode tests: a fixture program started through `fable run` (or plainly),
 * read line by line (its JSON lines), written to, and killed in cleanup.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./cli.js";
import { FABLE_BIN } from "./daemon.js";

export const fixture = (name: string): string => join(repoRoot, "test", "fixtures", "transparent", name);

export interface Proc {
  readonly child: ChildProcess;
  /** The next line of stdout that is JSON. */
  json(): Promise<Record<string, unknown>>;
  send(line: string): void;
  stderr(): string;
  exit(): Promise<number | null>;
  kill(): Promise<void>;
}

export function start(args: readonly string[], env: NodeJS.ProcessEnv, viaFable: boolean): Proc {
  const argv = viaFable ? [FABLE_BIN, "run", "--", process.execPath, ...args] : [...args];
  const child = spawn(process.execPath, argv, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const lines: string[] = [];
  const waiting: (() => void)[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const w of waiting.splice(0)) w();
  });
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    for (let i = out.indexOf("\n"); i >= 0; i = out.indexOf("\n")) {
      lines.push(out.slice(0, i));
      out = out.slice(i + 1);
    }
    for (const w of waiting.splice(0)) w();
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d));
  return {
    child,
    async json() {
      for (;;) {
        const line = lines.shift();
        if (line !== undefined) {
          if (line.startsWith("{")) return JSON.parse(line) as Record<string, unknown>;
          continue;
        }
        if (done) throw new Error(`${args.join(" ")} exited (${child.exitCode}) before printing; stderr:\n${err}`);
        await new Promise<void>((r) => waiting.push(r));
      }
    },
    send: (line) => void child.stdin?.write(`${line}\n`),
    stderr: () => err,
    exit: () => exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
