/**
 * Where this user's bench results live, for the daemon's transport selection: the data directory
 * ($FABLE_DATA_DIR, else $XDG_DATA_HOME/fable, else ~/.local/share/fable), results under `results/`.
 *
 * Promises: a kept result is written whole (a temporary file, then a hard link to its final name) and
 * never overwrites another; a reader of the directory sees complete files only. Reading the directory
 * never throws for one bad file: each file is either a valid result (of any format version this fable
 * reads) or is reported with the reason it was skipped.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { FableError } from "../errors.js";
import { readResult, type ResultFile } from "./result.js";

/** fable's data dir: $FABLE_DATA_DIR, else $XDG_DATA_HOME/fable, else ~/.local/share/fable. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env["FABLE_DATA_DIR"]) return env["FABLE_DATA_DIR"];
  const base = env["XDG_DATA_HOME"] || join(homedir(), ".local", "share");
  return join(base, "fable");
}

/** The directory of kept bench results. */
export function resultsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dataDir(env), "results");
}

/** A result could not be kept in the data directory. */
export class KeepResultError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("EKEEPRESULT", message, options);
  }
}

/** The file name a result is kept under: its creation time (sorts by age) and a hash of its content. */
export function keptName(text: string, createdAt: string): string {
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 12);
  return `${createdAt.replace(/:/g, "-")}-${hash}.json`;
}

/**
 * Keeps a copy of a result in `dir` (default: this user's results dir) and returns its path. The
 * same result kept twice is the same file (the name holds a hash of the content), so it is not an
 * error; a different file under that name is never replaced.
 */
export function keepResult(doc: ResultFile, dir: string = resultsDir()): string {
  const text = JSON.stringify(doc, null, 1) + "\n";
  const path = join(dir, keptName(text, doc.createdAt));
  const temp = join(dir, `.keeping-${process.pid}-${randomBytes(6).toString("hex")}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(temp, "wx", 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // link() fails with EEXIST instead of replacing: what is kept is never overwritten.
    linkSync(temp, path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== "EEXIST") {
      throw new KeepResultError(`cannot keep the result in ${dir}: ${(cause as Error).message}`, { cause });
    }
    // The name holds a hash of the content: the same bytes there mean this very result is kept.
    if (readFileSync(path, "utf8") !== text) {
      throw new KeepResultError(`${path} exists with other content; kept results are never overwritten`);
    }
  } finally {
    rmSync(temp, { force: true });
  }
  return path;
}

export interface StoredResult {
  readonly path: string;
  readonly doc: ResultFile;
}

export interface SkippedFile {
  readonly path: string;
  readonly reason: string;
}

/**
 * Reads every `*.json` in `dir`: the valid results (migrated to the current format) and the files
 * skipped, each with why. A missing directory is an empty one. `cache` (path -> result) lets a caller
 * that rescans skip files it has already read: kept results are never rewritten.
 */
export function readStoredResults(
  dir: string,
  cache: Map<string, StoredResult | SkippedFile> = new Map(),
): { results: StoredResult[]; skipped: SkippedFile[] } {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json") && !n.startsWith("."));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return { results: [], skipped: [] };
    return { results: [], skipped: [{ path: dir, reason: `cannot list: ${(cause as Error).message}` }] };
  }
  const results: StoredResult[] = [];
  const skipped: SkippedFile[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    let entry = cache.get(path);
    if (entry === undefined) {
      try {
        entry = { path, doc: readResult(path) };
      } catch (cause) {
        entry = { path, reason: (cause as Error).message };
      }
      cache.set(path, entry);
    }
    if ("doc" in entry) results.push(entry);
    else skipped.push(entry);
  }
  return { results, skipped };
}
