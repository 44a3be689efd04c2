/**
 * The results database: content-addressed paths, one file per run, never rewritten, atomic writes that
 * cannot clobber, and no path outside the database, whatever the documents say.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { canonicalJson, sha256 } from "../../src/results/canonical.js";
import {
  addResults,
  DatabaseError,
  inside,
  prepare,
  readDatabase,
  store,
  validatePaths,
} from "../../src/results/db.js";
import { parseRelativePath } from "../../src/results/layout.js";
import { runFable, scratchDir } from "../kit/cli.js";
import { snapshot, validDoc, writeJson } from "./fixtures.js";

describe("results database", () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = scratchDir("db")));
  after(() => cleanup());

  it("stores a run at results/<schema>/<arch>/<cpu-slug>/<id8>/<date>-<hash12>.json, in canonical form", () => {
    const db = join(dir, "layout");
    const file = writeJson(dir, "one.json", validDoc());
    const [added] = addResults(db, [file]);
    assert.ok(added !== undefined);
    assert.equal(added.outcome, "added");
    const text = readFileSync(added.path, "utf8");
    const hash = sha256(text);
    assert.equal(added.relativePath, `results/1/x64/example-e1234/a1b2c3d4/2026-11-20-${hash.slice(0, 12)}.json`);
    assert.equal(text, canonicalJson(validDoc()));
    assert.deepEqual(JSON.parse(text), validDoc());
    assert.deepEqual(parseRelativePath(added.relativePath)?.hash12, hash.slice(0, 12));
    // Nothing but the result: no temporary file is left behind.
    assert.deepEqual(readdirSync(join(db, "results/1/x64/example-e1234/a1b2c3d4")), [
      `2026-11-20-${hash.slice(0, 12)}.json`,
    ]);
    assert.equal(readDatabase(db).length, 1);
  });

  it("the same run again is already present, whatever its key order and spacing; the file is not touched", () => {
    const db = join(dir, "again");
    const [first] = addResults(db, [writeJson(dir, "a.json", validDoc())]);
    assert.ok(first !== undefined);
    const mtime = statSync(first.path).mtimeMs;
    // Same document, keys in another order, other whitespace.
    const reordered = Object.fromEntries(Object.entries(validDoc()).reverse());
    const path = join(dir, "b.json");
    writeFileSync(path, JSON.stringify(reordered));
    const [second] = addResults(db, [path]);
    assert.equal(second?.outcome, "already present");
    assert.equal(second?.path, first.path);
    assert.equal(statSync(first.path).mtimeMs, mtime);
    assert.equal(Object.keys(snapshot(db)).length, 1);
  });

  it("different content never takes an existing path: the path holds the hash, and a collision is refused", () => {
    // By construction: the path is a function of the canonical bytes through their SHA-256.
    const paths = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const doc = validDoc();
      doc.config.budgetMs = 100 + i;
      const p = prepare(doc, `doc${i}`);
      assert.equal(p.relativePath.slice(-17, -5), sha256(p.text).slice(0, 12));
      paths.add(p.relativePath);
    }
    assert.equal(paths.size, 200);
    // And in fact: different bytes planted at a document's path (a 48-bit prefix collision) are never overwritten.
    const db = join(dir, "collision");
    const p = prepare(validDoc(), "planted");
    const target = inside(db, p.relativePath);
    mkdirSync(join(target, ".."), { recursive: true });
    writeFileSync(target, "something else\n");
    assert.throws(
      () => store(db, [p]),
      (err: unknown) => err instanceof DatabaseError && err.code === "ECOLLISION",
    );
    assert.equal(readFileSync(target, "utf8"), "something else\n");
  });

  it("never writes outside the database: relative escapes and symlinked directories are refused", () => {
    const db = join(dir, "escape");
    mkdirSync(db);
    for (const bad of ["../x.json", "results/../../x.json", "/etc/x.json", "results/1/../../../x"]) {
      assert.throws(() => inside(db, bad), /outside the database/, bad);
    }
    // A results/ directory that is a symlink to elsewhere: the write would land outside.
    const elsewhere = join(dir, "elsewhere");
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(db, "results"));
    const file = writeJson(dir, "sym.json", validDoc());
    assert.throws(() => addResults(db, [file]), /outside the database/);
    assert.deepEqual(snapshot(elsewhere), {});
  });

  it("validate reports a file edited or moved by hand inside a database", () => {
    const db = join(dir, "edited");
    const [added] = addResults(db, [writeJson(dir, "e.json", validDoc())]);
    assert.ok(added !== undefined);
    const doc = validDoc();
    doc.config.budgetMs = 301;
    writeFileSync(added.path, canonicalJson(doc));
    const [checked] = validatePaths([db]);
    assert.equal(checked?.problems[0]?.code, "EPATH");
    assert.match(
      checked?.problems[0]?.detail ?? "",
      /belongs at results\/1\/x64\/example-e1234\/a1b2c3d4\/2026-11-20-[0-9a-f]{12}\.json, not/,
    );
  });

  it("the CLI adds, says already present, validates the database, and refuses two outputs for one import", async () => {
    const db = join(dir, "cli");
    const file = writeJson(dir, "cli.json", validDoc());
    const add = await runFable(["results", "add", "--db", db, file]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /^added +results\/1\/x64\/example-e1234\/a1b2c3d4\/2026-11-20-[0-9a-f]{12}\.json/m);
    const again = await runFable(["results", "add", file], { FABLE_DB: db });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^already present/m);
    const validate = await runFable(["results", "validate", "--db", db]);
    assert.equal(validate.code, 0, validate.stderr);
    assert.match(validate.stdout, /1 file\(s\): 1 valid, 0 with problems/);
    const both = await runFable(["results", "import-legacy", "--db", db, "--out", dir, "x.tar.gz"]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --db or --out, not both/);
    assert.ok(!existsSync(join(dir, "x.json")));
  });
});
