/**
 * The README's examples (```ts example blocks) run as written: each is compiled with TypeScript,
 * written inside the package (so `import ... from "fable-io"` resolves to this checkout), and run.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import ts from "typescript";
import { repoRoot } from "../kit/cli.js";

const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
const examples = [...readme.matchAll(/```ts example\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
const written: string[] = [];
after(() => written.forEach((f) => rmSync(f, { force: true })));

describe("README examples", () => {
  it("has examples", () => assert.ok(examples.length >= 2));

  for (const [i, source] of examples.entries()) {
    it(`example ${i + 1} runs and prints what its comments say`, () => {
      const js = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      const file = join(repoRoot, "dist", `readme-example-${process.pid}-${i}.mjs`);
      written.push(file);
      writeFileSync(file, js);
      const run = spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 30_000 });
      assert.equal(run.status, 0, run.stderr);
      // Each `console.log(...); // expected` comment names what that line prints, in order.
      const expected = [...source.matchAll(/console\.log\(.*\);\s*\/\/\s*(.*)$/gm)].map((m) =>
        (m[1] ?? "").replace(/, then .*$/, "").trim(),
      );
      const printed = run.stdout.trim().split("\n");
      assert.deepEqual(printed, expected);
    });
  }
});
