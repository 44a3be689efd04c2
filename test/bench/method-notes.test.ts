/**
 * Method notes: every native mechanism says in one paragraph what one iteration does and how it differs from
 * the original ipc-bench's mechanism of that name; every mechanism of the original's imported data is
 * covered by a note; and the results site's comparison shows them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { METHOD_NOTES, methodNotesFor } from "../../src/bench/method-notes.js";
import { MECHANISMS } from "../../src/bench/mechanisms.js";
import { LEGACY_MECHANISMS } from "../../src/results/methods.js";
import { comparePage, machinesOf } from "../../src/results/site/pages.js";
import { validDoc } from "../results/fixtures.js";

describe("method notes", () => {
  it("every engine mechanism has one paragraph: one iteration, then the original", () => {
    const engine = MECHANISMS.filter((m) => m.probe === "engine").map((m) => m.name);
    assert.deepEqual(Object.keys(METHOD_NOTES).sort(), [...engine].sort());
    for (const [name, note] of Object.entries(METHOD_NOTES)) {
      assert.match(note.text, /^(One iteration|As \S+)/, name);
      assert.match(note.text, /original/, name);
      assert.ok(!note.text.includes("\n"), `${name}: one paragraph`);
      for (const o of note.original) assert.ok(LEGACY_MECHANISMS.includes(o), `${name}: ${o} is not a legacy name`);
    }
  });

  it("every mechanism of the original's data is explained by a note", () => {
    for (const legacy of LEGACY_MECHANISMS) assert.ok(methodNotesFor(legacy).length > 0, legacy);
    // The original's mempipe latency moved flags, not records: its counterpart is cacheline.
    assert.deepEqual(
      methodNotesFor("mempipe").map((n) => n.mechanism),
      ["cacheline"],
    );
    assert.deepEqual(
      methodNotesFor("mempipe-unsafe").map((n) => n.mechanism),
      ["mempipe-futex-unsafe"],
    );
  });

  it("the site's comparison prints the note under the mechanism's tables", () => {
    const html = comparePage(machinesOf([{ doc: validDoc(), file: "results/1/x.json" }]));
    const pipe = METHOD_NOTES["pipe"]?.text ?? "?";
    assert.ok(html.includes(pipe.slice(0, 60)), "pipe's note is on the page");
    assert.match(html, /class="method-note small"><strong>fable-io pipe<\/strong>/);
  });
});
