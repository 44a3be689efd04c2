/**
 * Every string, array and open object (a map of keys) the result schema accepts has a cap, and each cap is
 * within the generic limits (src/results/limits.ts) that are checked before parsing, so a document the
 * schema accepts is never refused by the limits. A field added without a cap fails here.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { RESULT_LIMITS } from "../../src/results/limits.js";
import { checkResultText } from "../../src/results/validate.js";
import { repoRoot } from "../kit/cli.js";
import { validDoc } from "./fixtures.js";

type Schema = Record<string, unknown>;

const schema = JSON.parse(readFileSync(join(repoRoot, "schema", "result-v1.schema.json"), "utf8")) as Schema;

/** Every subschema with its JSON pointer in the schema file. */
function subschemas(root: Schema): { at: string; node: Schema }[] {
  const out: { at: string; node: Schema }[] = [];
  const stack: { at: string; node: unknown }[] = [{ at: "", node: root }];
  for (let e = stack.pop(); e !== undefined; e = stack.pop()) {
    const { at, node } = e;
    if (Array.isArray(node)) node.forEach((n, i) => stack.push({ at: `${at}/${i}`, node: n }));
    else if (typeof node === "object" && node !== null) {
      out.push({ at, node: node as Schema });
      for (const [k, v] of Object.entries(node))
        if (k !== "enum" && k !== "const") stack.push({ at: `${at}/${k}`, node: v });
    }
  }
  return out;
}

const types = (node: Schema): string[] =>
  typeof node["type"] === "string" ? [node["type"]] : Array.isArray(node["type"]) ? (node["type"] as string[]) : [];

describe("the result schema's caps", () => {
  const nodes = subschemas(schema);

  it("every string has a maxLength within the limit of any string", () => {
    const strings = nodes.filter(({ node }) => types(node).includes("string"));
    assert.ok(strings.length > 10);
    for (const { at, node } of strings) {
      const cap = node["maxLength"];
      assert.equal(typeof cap, "number", `${at}: a string without maxLength`);
      assert.ok((cap as number) <= RESULT_LIMITS.stringLength, `${at}: maxLength ${String(cap)}`);
    }
  });

  it("every key of an open object has a maxLength within the limit of any key, and the object a maxProperties", () => {
    const maps = nodes.filter(({ node }) => typeof node["additionalProperties"] === "object");
    assert.ok(maps.length >= 3);
    for (const { at, node } of maps) {
      const cap = node["maxProperties"];
      assert.equal(typeof cap, "number", `${at}: an open object without maxProperties`);
      assert.ok((cap as number) <= RESULT_LIMITS.objectKeys, `${at}: maxProperties ${String(cap)}`);
      const names = node["propertyNames"] as Schema | undefined;
      assert.ok(names !== undefined, `${at}: an open object without propertyNames`);
      const ref = typeof names["$ref"] === "string" ? names["$ref"].split("/").pop() : undefined;
      const keyCap = (ref === undefined ? names : ((schema["definitions"] as Schema)[ref] as Schema))["maxLength"];
      assert.equal(typeof keyCap, "number", `${at}: keys without maxLength`);
      assert.ok((keyCap as number) <= RESULT_LIMITS.keyLength, `${at}: keys of maxLength ${String(keyCap)}`);
    }
  });

  it("every array has a maxItems within the limit of any array", () => {
    const arrays = nodes.filter(({ node }) => types(node).includes("array"));
    assert.ok(arrays.length > 10);
    for (const { at, node } of arrays) {
      const cap = node["maxItems"];
      assert.equal(typeof cap, "number", `${at}: an array without maxItems`);
      assert.ok((cap as number) <= RESULT_LIMITS.arrayItems, `${at}: maxItems ${String(cap)}`);
    }
  });

  it("a document at its fields' caps passes the limits (they never refuse what the schema accepts)", () => {
    const doc = validDoc();
    doc.runs.forEach((r) => {
      if (r.status === "ok") r.params["note"] = "n".repeat(200);
    });
    doc.machine.environment.cpu.model = "m".repeat(200);
    const problems = checkResultText(JSON.stringify(doc), "caps.json").problems;
    assert.deepEqual(
      problems.filter((p) => p.code === "ELIMIT"),
      [],
    );
  });
});
