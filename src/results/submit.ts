/**
 * `fable results submit`: prepares a contribution to a shared results repository, locally. It finds the
 * database's results that the clone's HEAD does not have, prints exactly what they hold (every file, its
 * hash, and a full account of its content), asks, and only on a yes creates a new branch with one commit
 * adding them. It never pushes, never touches the clone's working tree, index or current branch (the commit
 * is built with git plumbing in a temporary index), and never commits a file that does not validate.
 * Without a terminal to ask on, it refuses unless the caller said yes beforehand (`--yes`).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { FableError, UsageError } from "../errors.js";
import { readDatabase, prepare, type Prepared } from "./db.js";
import { describe, oneLine } from "./describe.js";
import { InvalidResultError } from "./problems.js";
import { localPrivateWords } from "./scan.js";

export interface SubmitOptions {
  db: string;
  repo: string;
  /** Branch to create; default results/<today>-<n> (the first free n). */
  branch?: string;
  print: (line: string) => void;
  /** Asked once, after everything to be shared was printed. */
  confirm: (question: string) => Promise<boolean>;
  /** Extra environment for git (tests set an identity). */
  gitEnv?: NodeJS.ProcessEnv;
}

export type SubmitOutcome =
  | { kind: "nothing" }
  | { kind: "declined"; files: string[] }
  | { kind: "committed"; files: string[]; branch: string; commit: string };

export class SubmitError extends FableError {}

function git(repo: string, args: string[], options: { input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): string {
  try {
    return execFileSync("git", ["-C", repo, ...args], {
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.input === undefined ? {} : { input: options.input }),
      env: { ...process.env, ...options.env },
      maxBuffer: 1 << 30,
    });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? "").trim();
    throw new SubmitError("EGIT", `git ${args[0]} in ${repo} failed: ${stderr || (err as Error).message}`);
  }
}

/** The blob id git gives these bytes (SHA-1 of "blob <size>\0" + bytes). */
function gitBlobId(bytes: Buffer): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

/** Asks on the terminal; refuses when there is none. */
export async function confirmOnTty(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new UsageError(
      "no terminal to ask whether to commit: nothing was committed (re-run with --yes to commit without asking)",
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

export async function submitResults(o: SubmitOptions): Promise<SubmitOutcome> {
  const repo = resolve(o.repo);
  const env = o.gitEnv ?? {};
  if (git(repo, ["rev-parse", "--is-inside-work-tree"]).trim() !== "true") {
    throw new SubmitError("EGIT", `${repo} is not a git clone's working tree`);
  }
  let head: string | null = null;
  try {
    head = git(repo, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).trim();
  } catch {
    head = null; // An empty clone: the commit will be its first.
  }

  const checked = readDatabase(o.db, { privateWords: localPrivateWords() });
  const problems = checked.flatMap((c) => c.problems);
  if (problems.length > 0) throw new InvalidResultError(problems);
  const prepared = checked.map((c) => {
    if (c.doc === null) throw new SubmitError("EINVALIDRESULT", `${c.file} is not a result`);
    const p = prepare(c.doc, c.file);
    // The stored bytes are what is committed: they must be the canonical ones.
    if (readFileSync(c.file, "utf8") !== p.text) {
      throw new SubmitError(
        "EPATH",
        `${c.file} is not in canonical form (edited by hand?): re-add it with \`fable results add\``,
      );
    }
    return p;
  });

  const inBase = new Map<string, string>();
  if (head !== null) {
    for (const line of git(repo, ["ls-tree", "-r", "--full-tree", head, "--", "results"]).split("\n")) {
      const m = /^\d+ blob ([0-9a-f]+)\t(.+)$/.exec(line);
      if (m?.[1] !== undefined && m[2] !== undefined) inBase.set(m[2], m[1]);
    }
  }
  const fresh: Prepared[] = [];
  for (const p of prepared) {
    const there = inBase.get(p.relativePath);
    if (there === undefined) fresh.push(p);
    else if (there !== gitBlobId(Buffer.from(p.text))) {
      throw new SubmitError(
        "ECOLLISION",
        `${p.relativePath} is in the repository with different content; nothing was committed`,
      );
    }
  }
  if (fresh.length === 0) {
    o.print(`nothing to submit: the ${prepared.length} result(s) of ${o.db} are all in ${repo} already`);
    return { kind: "nothing" };
  }

  const branch = o.branch ?? freeBranch(repo);
  try {
    git(repo, ["check-ref-format", "--branch", branch]);
  } catch {
    throw new UsageError(`"${branch}" is not a valid branch name`);
  }
  if (branchExists(repo, branch))
    throw new UsageError(`branch ${branch} already exists in ${repo}: choose another with --branch`);

  o.print(`These ${fresh.length} result file(s) would be committed to a new branch "${branch}" of ${repo}.`);
  o.print("This is everything they hold. Nothing is pushed: sharing is a separate `git push` by you.");
  for (const p of fresh) {
    o.print("");
    o.print(`${p.relativePath}  (${Buffer.byteLength(p.text)} bytes, sha256 ${p.sha256})`);
    o.print(`  ${oneLine(p.doc)}`);
    for (const line of describe(p.doc)) o.print(line);
  }
  o.print("");
  const files = fresh.map((p) => p.relativePath);
  if (!(await o.confirm(`Commit these ${fresh.length} file(s) to branch ${branch}?`))) {
    o.print("nothing was committed");
    return { kind: "declined", files };
  }

  const commit = commitFiles(repo, head, branch, fresh, env);
  o.print(`committed ${fresh.length} file(s) as ${commit.slice(0, 12)} on branch ${branch} of ${repo}`);
  o.print(`nothing was pushed; to share them: git -C ${repo} push <remote> ${branch}, then open a pull request`);
  return { kind: "committed", files, branch, commit };
}

function branchExists(repo: string, branch: string): boolean {
  try {
    git(repo, ["show-ref", "--verify", "--quiet", `refs/heads/${branch}`]);
    return true;
  } catch {
    return false;
  }
}

function freeBranch(repo: string): string {
  for (let n = 1; ; n++) {
    const name = `results/${today()}-${n}`;
    if (!branchExists(repo, name)) return name;
  }
}

/** One commit on a new branch, built in a temporary index: the clone's own index and files are untouched. */
function commitFiles(
  repo: string,
  head: string | null,
  branch: string,
  files: readonly Prepared[],
  env: NodeJS.ProcessEnv,
): string {
  const dir = mkdtempSync(join(tmpdir(), "fable-submit-"));
  const indexEnv = { ...env, GIT_INDEX_FILE: join(dir, "index") };
  try {
    git(repo, head === null ? ["read-tree", "--empty"] : ["read-tree", head], { env: indexEnv });
    for (const f of files) {
      const blob = git(repo, ["hash-object", "-w", "--stdin"], { input: f.text, env: indexEnv }).trim();
      git(repo, ["update-index", "--add", "--cacheinfo", `100644,${blob},${f.relativePath}`], { env: indexEnv });
    }
    const tree = git(repo, ["write-tree"], { env: indexEnv }).trim();
    const machines = [...new Set(files.map((f) => f.doc.machine.id.slice(0, 8)))];
    const message =
      `results: add ${files.length} run${files.length === 1 ? "" : "s"} of ${machines.length} machine${machines.length === 1 ? "" : "s"}\n\n` +
      files.map((f) => `${f.relativePath}\n  ${oneLine(f.doc)}`).join("\n") +
      "\n";
    const parents = head === null ? [] : ["-p", head];
    const commit = git(repo, ["commit-tree", tree, ...parents, "-F", "-"], { input: message, env: indexEnv }).trim();
    git(repo, ["branch", branch, commit], { env });
    return commit;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
