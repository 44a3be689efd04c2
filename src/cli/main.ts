/**
 * `fable`: the command line. One file per verb; this file only wires them together and maps
 * errors to exit codes: 0 done, 1 failed at run time, 2 bad command line, 3 done but some tests failed.
 */
import { Command, CommanderError } from "commander";
import { suiteInfo } from "../bench/machine.js";
import { FableError, UsageError } from "../errors.js";
import { registerBench } from "./bench.js";
import { registerDaemon } from "./daemon.js";
import { registerExplain } from "./explain.js";
import { registerFlows } from "./flows.js";
import { registerNames } from "./names.js";
import { registerReconfigure } from "./reconfigure.js";
import { registerReport } from "./report.js";
import { registerResults } from "./results.js";
import { registerRun } from "./run.js";

export const EXIT = { ok: 0, failed: 1, usage: 2, testsFailed: 3 } as const;

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command("fable")
    .description("Reconfigurable I/O channels, and the IPC benchmark behind them")
    .version(suiteInfo().version)
    .exitOverride()
    .showHelpAfterError("(run `fable --help` for usage)")
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  let exitCode: number = EXIT.ok;
  registerBench(program, (code) => (exitCode = code));
  registerReport(program);
  registerResults(program, (code) => (exitCode = code));
  registerDaemon(program, (code) => (exitCode = code));
  registerNames(program);
  registerFlows(program);
  registerExplain(program);
  registerRun(program, (code) => (exitCode = code));
  registerReconfigure(program);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are printed by commander and end with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`fable: ${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof FableError) {
      process.stderr.write(`fable: ${err.message} [${err.code}]\n`);
      return EXIT.failed;
    }
    throw err;
  }
  return exitCode;
}

process.exitCode = await main(process.argv.slice(2));
