/**
 * Test kit: the legacy ipc-bench results archives (real machines, 2012-2016) extracted for tests.
 *
 * The archives live outside the repository (see PROVENANCE.md there); FABLE_LEGACY_DIR points at the
 * folder holding `results/`, by default the team's shared data next to the checkout. When it is
 * absent, {@link legacyArchives} returns [] and tests should skip with {@link LEGACY_SKIP_REASON}.
 * Each archive is extracted once per process into its own directory under os.tmpdir();
 * {@link cleanupLegacyArchives} removes them all (call it from `after()`).
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

const ARCHIVE_SUFFIX = ".tar.gz";

/** The folder holding the legacy data's `results/` and `PROVENANCE.md`. */
export const LEGACY_DIR =
  process.env["FABLE_LEGACY_DIR"] ??
  resolve(import.meta.dirname, "..", "..", "..", "..", "shared", "data", "legacy-ipc-bench");

const RESULTS_DIR = join(LEGACY_DIR, "results");

export const LEGACY_SKIP_REASON = `no legacy ipc-bench archives at ${RESULTS_DIR} (set FABLE_LEGACY_DIR)`;

/** The archive files (absolute paths), sorted; [] when the data is not there. */
export function legacyArchives(): string[] {
  if (!existsSync(RESULTS_DIR)) return [];
  return readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith(ARCHIVE_SUFFIX))
    .sort()
    .map((f) => join(RESULTS_DIR, f));
}

/** An archive's id: "tmpfCBrYh" for ".../tmpfCBrYh.tar.gz". */
export function legacyArchiveId(nameOrPath: string): string {
  const base = basename(nameOrPath);
  return base.endsWith(ARCHIVE_SUFFIX) ? base.slice(0, -ARCHIVE_SUFFIX.length) : base;
}

/** What to extract: everything, or only `logs/` (machine facts; a fifth of the time, without the results). */
export type LegacyPart = "all" | "logs";

const extracted = new Map<string, Promise<string>>();
const tempDirs: string[] = [];

async function extract(archive: string, id: string, part: LegacyPart): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `fable-legacy-${id}-`));
  tempDirs.push(dir);
  const members = part === "logs" ? ["--wildcards", `tmp/${id}/logs/*`] : [];
  await run("tar", ["-xzf", archive, "-C", dir, "--no-same-owner", "--no-same-permissions", ...members]);
  // The archives hold tmp/<id>/{logs,results}.
  const root = join(dir, "tmp", id);
  if (!existsSync(join(root, "logs"))) throw new Error(`${archive}: no tmp/${id}/logs inside`);
  return root;
}

/**
 * Extracts the archive (by id, file name or path from {@link legacyArchives}) and returns the
 * directory holding its `logs/` (and `results/` unless only the logs were asked for).
 * Extracts each archive once per process and part; a full extraction also serves "logs".
 */
export function extractLegacyArchive(name: string, part: LegacyPart = "all"): Promise<string> {
  const id = legacyArchiveId(name);
  const archive = legacyArchives().find((a) => legacyArchiveId(a) === id);
  if (archive === undefined) return Promise.reject(new Error(`no legacy archive "${name}" in ${RESULTS_DIR}`));
  let root = extracted.get(`${id}/all`) ?? extracted.get(`${id}/${part}`);
  if (root === undefined) {
    root = extract(archive, id, part);
    extracted.set(`${id}/${part}`, root);
  }
  return root;
}

/** Removes every directory this process extracted into. */
export async function cleanupLegacyArchives(): Promise<void> {
  const dirs = tempDirs.splice(0);
  extracted.clear();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}
