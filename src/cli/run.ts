/**
 * `fable run [--off] -- <command> [args...]`: runs a command with transparent mode on for every
 * Node process in its tree (NODE_OPTIONS gains `--import <fable-io/register>`, which children
 * inherit), so unmodified servers and clients talk over fable where both ends are in it (see
 * compat/transparent.ts). The command's exit code is fable's; a command killed by a signal exits
 * 128 + the signal's number, as a shell reports it. SIGINT, SIGTERM and SIGHUP are passed on.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Command } from "commander";
import { UsageError } from "../errors.js";

const REGISTER = fileURLToPath(new URL("../compat/register.js", import.meta.url));

/** NODE_OPTIONS with the register import added (once). */
export function transparentNodeOptions(existing: string | undefined): string {
  const flag = `--import=${pathToFileURL(REGISTER).href}`;
  const before = existing?.trim() ?? "";
  if (before.split(/\s+/).includes(flag)) return before;
  return before === "" ? flag : `${before} ${flag}`;
}

export function registerRun(program: Command, setExit: (code: number) => void): void {
  program
    .command("run")
    .description("run a command with Node's sockets in transparent mode (servers and clients over fable)")
    .argument("<command>", "the program to run")
    .argument("[args...]", "its arguments (put -- before the command)")
    .option("--off", "run it with transparent mode off (FABLE_TRANSPARENT=0), to compare")
    .action(async (command: string, args: string[], flags: { off?: boolean }) => {
      const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: transparentNodeOptions(process.env.NODE_OPTIONS) };
      if (flags.off === true) env.FABLE_TRANSPARENT = "0";
      const child = spawn(command, args, { stdio: "inherit", env });
      const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
      const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
      for (const s of signals) process.on(s, forward);
      try {
        const code = await new Promise<number>((resolve, reject) => {
          child.once("error", (err: NodeJS.ErrnoException) =>
            reject(err.code === "ENOENT" ? new UsageError(`fable run: no such command: ${command}`) : (err as Error)),
          );
          child.once("exit", (status, signal) =>
            resolve(status ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0))),
          );
        });
        setExit(code);
      } finally {
        for (const s of signals) process.off(s, forward);
      }
    });
}
