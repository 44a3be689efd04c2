/**
 * `fable results submit` against a temporary git repository: it shows everything first, commits only on a
 * yes (a prompt, or --yes), refuses without a terminal, builds the commit on a new branch without touching
 * the clone's checkout, and never pushes.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { addResults } from "../../src/results/db.js";
import { submitResults } from "../../src/results/submit.js";
import { runFable, scratchDir } from "../kit/cli.js";
import { validDoc, writeJson } from "./fixtures.js";

const IDENTITY = {
  GIT_AUTHOR_NAME: "Fable Test",
  GIT_AUTHOR_EMAIL: "test@fable.invalid",
  GIT_COMMITTER_NAME: "Fable Test",
  GIT_COMMITTER_EMAIL: "test@fable.invalid",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
};

function git(repo: string, ...args: string[]): string {
  return execFileSync("git", ["-C", repo, ...args], { encoding: "utf8", env: { ...process.env, ...IDENTITY } }).trim();
}

describe("results submit", () => {
  let dir: string;
  let cleanup: () => void;
  let repo: string;
  let db: string;
  before(() => {
    ({ dir, cleanup } = scratchDir("submit"));
    repo = join(dir, "clone");
    mkdirSync(repo);
    git(repo, "init", "-q", "-b", "main");
    writeFileSync(join(repo, "README.md"), "results\n");
    git(repo, "add", "README.md");
    git(repo, "commit", "-q", "-m", "start");
    writeFileSync(join(repo, "notes.txt"), "the user's own uncommitted work\n");
    db = join(dir, "db");
    const second = validDoc();
    second.createdAt = "2026-11-21T09:00:00Z";
    addResults(db, [writeJson(dir, "a.json", validDoc()), writeJson(dir, "b.json", second)]);
  });
  after(() => cleanup());

  it("without a terminal and without --yes, shows what would be shared and commits nothing", async () => {
    const r = await runFable(["results", "submit", "--db", db, "--repo", repo], IDENTITY);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /no terminal to ask whether to commit: nothing was committed \(re-run with --yes/);
    assert.match(
      r.stdout,
      /These 2 result file\(s\) would be committed to a new branch "results\/\d{4}-\d{2}-\d{2}-1"/,
    );
    assert.match(r.stdout, /every text value in the file:/);
    assert.match(r.stdout, /"Example\(R\) CPU E1234 @ 2\.00GHz"/);
    assert.match(
      r.stdout,
      /results\/1\/x64\/example-e1234\/a1b2c3d4\/2026-11-20-[0-9a-f]{12}\.json {2}\(\d+ bytes, sha256 [0-9a-f]{64}\)/,
    );
    assert.equal(git(repo, "branch", "--list"), "* main");
  });

  it("declined: nothing is committed", async () => {
    const printed: string[] = [];
    const outcome = await submitResults({
      db,
      repo,
      print: (l) => printed.push(l),
      confirm: async () => false,
      gitEnv: IDENTITY,
    });
    assert.equal(outcome.kind, "declined");
    assert.ok(printed.includes("nothing was committed"));
    assert.equal(git(repo, "branch", "--list"), "* main");
  });

  it("with --yes: one commit on a new branch, the checkout untouched, nothing pushed; then nothing new", async () => {
    const head = git(repo, "rev-parse", "HEAD");
    const r = await runFable(
      ["results", "submit", "--db", db, "--repo", repo, "--yes", "--branch", "results/test"],
      IDENTITY,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /committed 2 file\(s\) as [0-9a-f]{12} on branch results\/test/);
    assert.match(r.stdout, /nothing was pushed/);
    // The user's checkout: same branch, same HEAD, their uncommitted file still there, index clean.
    assert.equal(git(repo, "rev-parse", "--abbrev-ref", "HEAD"), "main");
    assert.equal(git(repo, "rev-parse", "HEAD"), head);
    assert.equal(readFileSync(join(repo, "notes.txt"), "utf8"), "the user's own uncommitted work\n");
    assert.equal(git(repo, "status", "--porcelain"), "?? notes.txt");
    // The branch: one commit on top of HEAD adding exactly the two results, byte for byte.
    assert.equal(git(repo, "rev-parse", "results/test~1"), head);
    const files = git(repo, "diff", "--name-only", head, "results/test").split("\n");
    assert.equal(files.length, 2);
    for (const f of files) {
      assert.match(f, /^results\/1\/x64\/example-e1234\/a1b2c3d4\/2026-11-2[01]-[0-9a-f]{12}\.json$/);
      assert.equal(git(repo, "show", `results/test:${f}`) + "\n", readFileSync(join(db, f), "utf8"));
    }
    assert.match(git(repo, "log", "-1", "--format=%B", "results/test"), /^results: add 2 runs of 1 machine/);
    assert.equal(git(repo, "remote"), "");
    // Once merged, there is nothing new to submit.
    git(repo, "merge", "-q", "--ff-only", "results/test");
    const again = await runFable(["results", "submit", "--db", db, "--repo", repo, "--yes"], IDENTITY);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to submit: the 2 result\(s\) of .* are all in/);
  });

  it("refuses an existing branch name and a database with a bad file", async () => {
    const other = validDoc();
    other.createdAt = "2026-11-22T09:00:00Z";
    addResults(db, [writeJson(dir, "c.json", other)]);
    const exists = await runFable(
      ["results", "submit", "--db", db, "--repo", repo, "--yes", "--branch", "results/test"],
      IDENTITY,
    );
    assert.equal(exists.code, 2);
    assert.match(exists.stderr, /branch results\/test already exists/);
    const bad = join(db, "results", "1", "x64", "example-e1234", "a1b2c3d4", "2026-11-23-000000000000.json");
    writeFileSync(bad, JSON.stringify({ ...validDoc(), hostname: "box" }));
    const r = await runFable(["results", "submit", "--db", db, "--repo", repo, "--yes"], IDENTITY);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown key "hostname"/);
    assert.equal(git(repo, "branch", "--list").split("\n").length, 2);
  });
});
