/**
 * The unknown-key walk (src/results/unknown-keys.ts) finds exactly the keys ajv reports as outside the
 * allow-list when it collects every error: on a fable result and a converted ipc-bench result with an
 * unknown key added to every object they hold (maps included, where a key is allowed), and on each run
 * shape (ok, failed) of the schema's if/then/else.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import { resultSchema } from "../../src/bench/result.js";
import { importArchive } from "../../src/results/legacy/import.js";
import { pointerOf } from "../../src/results/problems.js";
import { unknownKeys } from "../../src/results/unknown-keys.js";
import { checkResultText } from "../../src/results/validate.js";
import { repoRoot } from "../kit/cli.js";
import { validDoc } from "./fixtures.js";

const everyError = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(resultSchema());

/** The unknown keys ajv reports, as pointers. */
function ajvUnknownKeys(doc: unknown): string[] {
  everyError(doc);
  return (everyError.errors ?? [])
    .filter((e) => e.keyword === "additionalProperties")
    .map((e) => `${e.instancePath}${pointerOf([String(e.params["additionalProperty"])])}`)
    .sort();
}

function walkUnknownKeys(doc: unknown): string[] {
  const { found, more } = unknownKeys(resultSchema(), doc, 100_000);
  assert.equal(more, 0);
  return found.map(({ at, key }) => pointerOf([...at, key])).sort();
}

/** Adds the key `name` to every object of the document; returns how many. */
function addEverywhere(doc: unknown, name: string): number {
  let added = 0;
  const stack: unknown[] = [doc];
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    if (Array.isArray(v)) stack.push(...(v as unknown[]));
    else if (typeof v === "object" && v !== null) {
      stack.push(...Object.values(v));
      (v as Record<string, unknown>)[name] = { nested: true };
      added++;
    }
  }
  return added;
}

describe("unknown keys: one walk along the schema agrees with ajv", () => {
  it("a fable result with a key added to every object", () => {
    const doc = validDoc() as unknown as { runs: Record<string, unknown>[] };
    // A failed run takes the schema's else branch.
    doc.runs.push({ ...doc.runs[0], status: "failed", error: { code: "EPIPE", message: "closed" } });
    for (const k of ["unit", "stats", "iterations", "warmupIterations", "elapsedNs", "batchMessages"]) {
      delete doc.runs.at(-1)?.[k];
    }
    for (const k of ["clock", "pinning", "flags", "samples", "params", "rate"]) delete doc.runs.at(-1)?.[k];
    const clean = walkUnknownKeys(doc);
    assert.deepEqual(clean, []);
    assert.deepEqual(ajvUnknownKeys(doc), []);
    const added = addEverywhere(doc, "zzUnknown");
    const walked = walkUnknownKeys(doc);
    assert.ok(walked.length > 20, `${walked.length} unknown keys of ${added} added`);
    assert.deepEqual(walked, ajvUnknownKeys(doc));
    // Validation reports them all, each at its pointer, and then the first problem of another kind: a key
    // added to the benchmarks map is not unknown there, but not a method and probe either.
    const problems = checkResultText(JSON.stringify(doc), "u.json").problems;
    const unknown = problems.filter((p) => p.code === "EUNKNOWNKEY").map((p) => p.pointer);
    assert.deepEqual(unknown.sort(), walked);
    const others = problems.filter((p) => p.code !== "EUNKNOWNKEY").map((p) => `${p.code} ${p.pointer}`);
    assert.deepEqual(others, ["ESCHEMA /benchmarks"]);
  });

  it("a converted ipc-bench result with a key added to every object", async () => {
    const imported = await importArchive(join(repoRoot, "test", "fixtures", "legacy", "results", "tmpEK9Ldo.tar.gz"));
    const doc = JSON.parse(JSON.stringify(imported.docs[0]?.doc)) as unknown;
    assert.deepEqual(walkUnknownKeys(doc), []);
    addEverywhere(doc, "zzUnknown");
    const walked = walkUnknownKeys(doc);
    assert.ok(walked.some((w) => w.startsWith("/legacy/runs/0/")));
    assert.deepEqual(walked, ajvUnknownKeys(doc));
  });

  it("past the limit, the rest are counted", () => {
    const doc = validDoc() as unknown as Record<string, unknown>;
    for (let i = 0; i < 30; i++) doc[`extra${i}`] = i;
    const { found, more } = unknownKeys(resultSchema(), doc, 10);
    assert.equal(found.length, 10);
    assert.equal(more, 20);
  });
});
