/**
 * Every results verb, run as the real `fable` command (a child process of bin/fable.js), over a corpus of
 * hostile documents and archives: each refuses with a typed error and its exit code, prints no stack trace,
 * writes nothing outside its output, and adds nothing to the database.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { canonicalJson } from "../../src/results/canonical.js";
import { prepare } from "../../src/results/db.js";
import { runFable, scratchDir, type CliResult } from "../kit/cli.js";
import { hostileArchives, hostileDocuments } from "../kit/hostile-results.js";
import { snapshot, validDoc } from "./fixtures.js";

const STACK_TRACE = /^\s+at .+:\d+:\d+\)?$|RangeError|TypeError|SyntaxError|ReferenceError|node:internal/m;

function clean(r: CliResult, codes: readonly number[], what: string): void {
  assert.doesNotMatch(r.stdout + r.stderr, STACK_TRACE, `${what}: a stack trace\n${r.stderr}`);
  assert.ok(codes.includes(r.code ?? -1), `${what}: exit ${r.code}\n${r.stderr}`);
}

let dir: string;
let cleanup: () => void;
const documents: string[] = [];
const archives: string[] = [];
before(() => {
  ({ dir, cleanup } = scratchDir("hostile-cli"));
  mkdirSync(join(dir, "docs"));
  mkdirSync(join(dir, "archives"));
  for (const [name, data] of Object.entries(hostileDocuments(canonicalJson(validDoc())))) {
    documents.push(join(dir, "docs", name));
    writeFileSync(join(dir, "docs", name), data);
  }
  for (const [name, data] of Object.entries(hostileArchives())) {
    archives.push(join(dir, "archives", name));
    writeFileSync(join(dir, "archives", name), data);
  }
});
after(() => cleanup());

describe("every verb over the hostile corpus", () => {
  it("validate refuses each file (exit 1) and names its problem", async () => {
    const r = await runFable(["results", "validate", ...documents]);
    clean(r, [1], "validate");
    assert.match(r.stdout, new RegExp(`${documents.length} file\\(s\\): 0 valid, ${documents.length} with problems`));
  });

  it("add refuses the files (exit 1), naming each, and the database stays empty", async () => {
    const db = join(dir, "db-add");
    const r = await runFable(["results", "add", "--db", db, ...documents]);
    clean(r, [1], "add");
    assert.match(r.stderr, new RegExp(`nothing was added: \\d+ problem\\(s\\) in ${documents.length} file\\(s\\)`));
    assert.deepEqual(snapshot(db), {});
  });

  it("import-legacy refuses each archive (exit 1) and writes nothing anywhere", async () => {
    const out = join(dir, "imported");
    const before = snapshot(dir);
    const r = await runFable(["results", "import-legacy", "--out", out, ...archives]);
    clean(r, [1], "import-legacy");
    assert.match(r.stdout, new RegExp(`0 of ${archives.length} imported`));
    assert.equal(r.stderr.match(/not imported/g)?.length, archives.length);
    assert.deepEqual(snapshot(dir), before);
    assert.deepEqual(
      readdirSync("/tmp").filter((n) => n.startsWith("pwned")),
      [],
    );
  });

  it("report refuses each file out of shape as a usage error (exit 2), and renders the others escaped", async () => {
    let refused = 0;
    const runs = new Map<string, Promise<CliResult>>();
    // Two at a time: each is a process start, and this machine has two CPUs.
    // One file per way of failing (each report is a process start of a second or more).
    const chosen = ["deep-arrays", "long-param", "huge-number", "bom", "invalid-utf8", "duplicate-key", "not-json"];
    const some = documents.filter(
      (f) => chosen.some((c) => f.endsWith(`/${c}.json`)) || /\/(constructor|markup)\.json$/.test(f),
    );
    assert.equal(some.length, chosen.length + 2);
    for (const [i, file] of some.entries()) {
      const out = join(dir, `report-${i}.html`);
      runs.set(out, runFable(["report", "-o", out, file]));
      if (runs.size % 2 === 0) await Promise.all(runs.values());
    }
    for (const [i, [out, run]] of [...runs].entries()) {
      const file = some[i] ?? "";
      const r = await run;
      clean(r, [0, 2], `report ${file}`);
      if (r.code === 2) {
        refused++;
        assert.match(r.stderr, /not a readable fable result/);
        assert.throws(() => readFileSync(out));
      } else {
        // In shape but with markup, private data or an unknown mechanism: the report escapes every string.
        assert.doesNotMatch(readFileSync(out, "utf8"), /<script>alert/);
      }
    }
    assert.equal(refused, chosen.length);
  });

  it("site leaves out every hostile file of a database (named in its notes) and builds from the rest", async () => {
    const db = join(dir, "db-site");
    const good = prepare(validDoc(), "valid");
    const place = join(db, ...good.relativePath.split("/"));
    mkdirSync(join(place, ".."), { recursive: true });
    writeFileSync(place, good.text);
    for (const file of documents) writeFileSync(join(place, "..", `x-${file.split("/").pop()}`), readFileSync(file));
    symlinkSync("/etc/passwd", join(place, "..", "link.json"));
    const r = await runFable(["results", "site", db, join(dir, "site")]);
    clean(r, [0], "site");
    assert.match(r.stdout, /site: \d+ pages for 1 machines \(1 results\)/);
    assert.equal(r.stderr.match(/left out/g)?.length, documents.length);

    // submit refuses the same database as a whole, and commits nothing.
    const repo = join(dir, "repo");
    execFileSync("git", ["init", "-q", repo]);
    const s = await runFable(["results", "submit", "--repo", repo, "--db", db, "--yes"]);
    clean(s, [1], "submit");
    assert.match(s.stderr, /problems? in \d+ result files?/);
    assert.equal(execFileSync("git", ["-C", repo, "branch", "--list"], { encoding: "utf8" }), "");
  });
});
