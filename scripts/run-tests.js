#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with Node's own test runner.
// Node 20's --test takes no globs, so the files are listed here. Extra arguments pass through
// (e.g. `npm test -- --test-name-pattern=topology`); a path argument narrows the files.
// The spec reporter ends with the failing tests, whole: a log cut to its tail (CI's) still names them.
import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..", "dist", "test");
const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith("--"));
const flags = args.filter((a) => a.startsWith("--"));
const files = readdirSync(root, { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".test.js"))
  .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  .map((f) => join(root, f))
  .sort();
if (files.length === 0) {
  console.error(`no test files under ${root} match ${filters.join(", ") || "*"}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    "--test",
    "--test-concurrency=1",
    ...(flags.some((f) => f.startsWith("--test-reporter")) ? [] : ["--test-reporter=spec"]),
    ...flags,
    ...files,
  ],
  {
    stdio: "inherit",
  },
);
process.exit(result.status ?? 1);
