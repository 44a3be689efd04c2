/**
 * A real `fable bench --quick` result of this project's test machine (a 2-vCPU KVM guest), cut to nine runs
 * of different kinds with sixteen samples each, so that tests mutate what the bench really writes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ResultFile } from "../../src/bench/result.js";
import { repoRoot } from "../kit/cli.js";

export function realQuickResult(): ResultFile {
  return JSON.parse(
    readFileSync(join(repoRoot, "test", "results", "data", "real-quick-trimmed.json"), "utf8"),
  ) as ResultFile;
}
