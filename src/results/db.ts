/**
 * A results database: a git-friendly directory of result files, one per run, at content-addressed paths
 * (layout.ts). Adding is all or nothing: every file is validated first, and if any has a problem nothing
 * is written. A file is never rewritten: the same document again is "already present" (its bytes are
 * compared, not only its name), and a different document can never take an existing path (the path holds
 * its hash; a 48-bit prefix collision is detected and refused). Each file is written to a temporary name
 * in its directory, flushed, then linked to its final name, which fails if the name exists, so a reader
 * never sees half a file and two writers never overwrite each other.
 */
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { FableError } from "../errors.js";
import type { ResultFile } from "../bench/result.js";
import { canonicalize, sha256 } from "./canonical.js";
import { parseRelativePath, placeOf, relativePathOf } from "./layout.js";
import { InvalidResultError, ResultProblem } from "./problems.js";
import { type Checked, checkResultFile, checkResultText, type ValidateOptions } from "./validate.js";

/** The default database: $FABLE_DB, else ./fable-db. */
export function defaultDb(env: NodeJS.ProcessEnv = process.env): string {
  return env["FABLE_DB"] || "fable-db";
}

/** A database path would leave the database, or a different file already holds a result's path. */
export class DatabaseError extends FableError {}

export interface Prepared {
  /** Where the document came from (a file name). */
  source: string;
  doc: ResultFile;
  /** The canonical bytes and their hash. */
  text: string;
  sha256: string;
  /** Relative to the database root, "/"-separated. */
  relativePath: string;
}

/** The canonical bytes and database path of a valid document. */
export function prepare(doc: ResultFile, source: string): Prepared {
  const { text, sha256: hash } = canonicalize(doc);
  return { source, doc, text, sha256: hash, relativePath: relativePathOf(placeOf(doc), hash.slice(0, 12)) };
}

/** The absolute path of a database-relative path, refusing any that would leave the database. */
export function inside(db: string, relativePath: string): string {
  const segments = relativePath.split("/");
  if (segments.some((s) => s === "" || s === "." || s === ".." || s.includes("\\"))) {
    throw new DatabaseError(
      "EPATH",
      `${relativePath} would be outside the database ${resolve(db)} (not a plain relative path)`,
    );
  }
  const root = resolve(db);
  const full = resolve(root, ...relativePath.split("/"));
  const rel = relative(root, full);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel) || rel.split(sep).includes("..")) {
    throw new DatabaseError("EPATH", `${relativePath} would be outside the database ${root}`);
  }
  return full;
}

export type AddOutcome = "added" | "already present";

export interface Added extends Prepared {
  outcome: AddOutcome;
  path: string;
}

function readIfExists(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Writes bytes at `path` unless something is there: temp file, fsync, link (no clobber), unlink temp. */
function writeNew(path: string, text: string): boolean {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const temp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
  const fd = openSync(temp, "wx", 0o644);
  try {
    const bytes = Buffer.from(text, "utf8");
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    unlinkSync(temp);
    try {
      const dfd = openSync(dir, "r");
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // Directories cannot be fsynced on every platform; the link is done either way.
    }
  }
}

/** Follows symlinks of the part of `path` that exists and checks it is still under the database root. */
function checkRealInside(db: string, path: string): void {
  const root = realpathSync(resolve(db));
  let existing = dirname(path);
  while (!isDirectory(existing)) existing = dirname(existing);
  const real = realpathSync(existing);
  const rel = relative(root, real);
  if (rel.startsWith("..") || isAbsolute(rel)) {
    throw new DatabaseError("EPATH", `${path} resolves to ${real}, outside the database ${root} (a symlink?)`);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Stores prepared documents in the database. For each: "already present" if the same bytes are at its
 * path; an error if different bytes are (a hash prefix collision: nothing is overwritten); else "added".
 */
export function store(db: string, prepared: readonly Prepared[]): Added[] {
  mkdirSync(db, { recursive: true });
  const out: Added[] = [];
  for (const p of prepared) {
    const path = inside(db, p.relativePath);
    checkRealInside(db, path);
    const outcome = place(path, p);
    out.push({ ...p, outcome, path });
  }
  return out;
}

function place(path: string, p: Prepared): AddOutcome {
  const compare = (): AddOutcome => {
    const existing = readIfExists(path);
    if (existing === null) throw new DatabaseError("EPATH", `${path} vanished while being added`);
    if (sha256(existing) === p.sha256) return "already present";
    throw new DatabaseError(
      "ECOLLISION",
      `${path} holds a different document whose hash shares the 12 hex digits of ${p.source}'s; nothing was overwritten: report this`,
    );
  };
  if (readIfExists(path) !== null) return compare();
  return writeNew(path, p.text) ? "added" : compare();
}

/**
 * Validates every file, then adds them all, or none if any has a problem (then InvalidResultError lists
 * every problem of every file).
 */
export function addResults(db: string, files: readonly string[], options: ValidateOptions = {}): Added[] {
  const checked = files.map((f) => checkResultFile(f, options));
  const problems = checked.flatMap((c) => c.problems);
  if (problems.length > 0) throw new InvalidResultError(problems);
  return store(
    db,
    checked.map((c) => prepare(c.doc as ResultFile, c.file)),
  );
}

/** Adds documents produced in memory (legacy import) after validating their canonical text. */
export function addDocuments(
  db: string,
  docs: readonly { doc: ResultFile; source: string }[],
  options: ValidateOptions = {},
): Added[] {
  const prepared = docs.map(({ doc, source }) => prepare(doc, source));
  const problems = prepared.flatMap((p) => checkResultText(p.text, p.source, options).problems);
  if (problems.length > 0) throw new InvalidResultError(problems);
  return store(db, prepared);
}

/** Every .json file under a directory (or the file itself), sorted; dot files and dot directories skipped. */
export function jsonFilesUnder(path: string): string[] {
  const st = statSync(path);
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const full = join(path, entry.name);
    if (entry.isDirectory()) out.push(...jsonFilesUnder(full));
    else if (entry.isFile() && entry.name.endsWith(".json")) out.push(full);
  }
  return out.sort();
}

/**
 * Validates files and directories (recursively). A file inside a database's `results/` tree must also be
 * at the path its content gives (a file moved or edited by hand is reported).
 */
export function validatePaths(paths: readonly string[], options: ValidateOptions = {}): Checked[] {
  const out: Checked[] = [];
  for (const path of paths) {
    for (const file of jsonFilesUnder(path)) {
      const checked = checkResultFile(file, options);
      if (checked.doc !== null && checked.problems.length === 0)
        checked.problems.push(...checkPlace(file, checked.doc));
      out.push(checked);
    }
  }
  return out;
}

/** If the file sits in a database layout, its place must be the one its content gives. */
function checkPlace(file: string, doc: ResultFile): ResultProblem[] {
  const parts = resolve(file).split(sep);
  const at = parts.lastIndexOf("results");
  if (at < 0 || parts.length - at !== 6) return [];
  const relativePath = parts.slice(at).join("/");
  if (parseRelativePath(relativePath) === null) return [];
  const expected = prepare(doc, file).relativePath;
  if (expected === relativePath) return [];
  return [
    new ResultProblem(
      "EPATH",
      file,
      "",
      `in a results database this document belongs at ${expected}, not ${relativePath} (edited or moved by hand?)`,
    ),
  ];
}

/** Every result of a database, validated; problems are reported, not thrown. */
export function readDatabase(db: string, options: ValidateOptions = {}): Checked[] {
  const root = join(db, "results");
  try {
    statSync(root);
  } catch {
    throw new DatabaseError("ENODB", `${db} is not a results database (no results/ directory): add results first`);
  }
  return validatePaths([root], options);
}
