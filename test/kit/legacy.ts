/**
 * Test kit: the legacy ipc-bench results archives (real machines, 2012-2016) for tests.
 *
 * By default the tests read the subset shipped in the repository, test/fixtures/legacy/ (its README says what
 * is there and why): ten unmodified archives in results/, the paper's resolve/ directory as one tarball, and
 * in trimmed/ repacks of ten large archives holding only what tests read (logs/, and for two the latency
 * matrices). So the legacy tests always run, on a fresh clone too. FABLE_LEGACY_DIR=<folder holding
 * results/ and resolve/> runs them over the whole original set instead (48 archives; the team's copy is
 * /work/shared/data/legacy-ipc-bench), which adds the whole-set checks ({@link LEGACY_FULL}).
 *
 * Each archive is extracted once per process into its own directory under os.tmpdir();
 * {@link cleanupLegacyArchives} removes them all (call it from `after()`).
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

const ARCHIVE_SUFFIX = ".tar.gz";

const FIXTURES = resolve(import.meta.dirname, "..", "..", "..", "test", "fixtures", "legacy");

/** True when FABLE_LEGACY_DIR points the tests at the whole original set rather than the shipped subset. */
export const LEGACY_FULL = process.env["FABLE_LEGACY_DIR"] !== undefined;

/** The folder holding `results/` and `PROVENANCE.md`: the whole set, or the shipped fixtures. */
export const LEGACY_DIR = resolve(process.env["FABLE_LEGACY_DIR"] ?? FIXTURES);

const RESULTS_DIR = join(LEGACY_DIR, "results");
/** Repacked archives (fixtures only): looked up after results/, never counted among the archives. */
const TRIMMED_DIR = join(FIXTURES, "trimmed");

if (!existsSync(RESULTS_DIR)) {
  throw new Error(
    `no legacy ipc-bench archives at ${RESULTS_DIR}: FABLE_LEGACY_DIR must name a folder holding results/ and resolve/`,
  );
}

function archivesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(ARCHIVE_SUFFIX))
    .sort()
    .map((f) => join(dir, f));
}

/** The unmodified contributed archives (absolute paths), sorted: 48 in the whole set, 10 in the fixtures. */
export function legacyArchives(): string[] {
  return archivesIn(RESULTS_DIR);
}

/**
 * Every archive whose logs/ tests can read: {@link legacyArchives}, plus in the fixtures the trimmed repacks
 * (their logs/ are the originals', byte for byte).
 */
export function legacyLogArchives(): string[] {
  return LEGACY_FULL ? legacyArchives() : [...legacyArchives(), ...archivesIn(TRIMMED_DIR)];
}

/** An archive's id: "tmpfCBrYh" for ".../tmpfCBrYh.tar.gz". */
export function legacyArchiveId(nameOrPath: string): string {
  const base = basename(nameOrPath);
  return base.endsWith(ARCHIVE_SUFFIX) ? base.slice(0, -ARCHIVE_SUFFIX.length) : base;
}

/** The path of an archive by id, from results/ or (fixtures) trimmed/. */
export function legacyArchivePath(name: string): string {
  const id = legacyArchiveId(name);
  const found = legacyLogArchives().find((a) => legacyArchiveId(a) === id);
  if (found === undefined) throw new Error(`no legacy archive "${name}" in ${RESULTS_DIR} or ${TRIMMED_DIR}`);
  return found;
}

/**
 * Where resolve/'s machine descriptions come from (`importResolve`'s `machinesFrom`): the whole set's results/,
 * or the trimmed repacks of tmpsbkFiM and tmpwlnFNM.
 */
export function legacyMachinesDir(): string {
  return LEGACY_FULL ? RESULTS_DIR : TRIMMED_DIR;
}

/** What to extract: everything, or only `logs/` (machine facts; a fifth of the time, without the results). */
export type LegacyPart = "all" | "logs";

const extracted = new Map<string, Promise<string>>();
const tempDirs: string[] = [];
let resolveDir: string | undefined;

/**
 * The paper's resolve/ directory: the whole set's, or the fixtures' tarball extracted (once per process,
 * synchronously so tests can use it while they are declared).
 */
export function legacyResolveDir(): string {
  if (LEGACY_FULL) return join(LEGACY_DIR, "resolve");
  if (resolveDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "fable-legacy-resolve-"));
    tempDirs.push(dir);
    execFileSync("tar", ["-xzf", join(FIXTURES, "resolve.tar.gz"), "-C", dir, "--no-same-owner"]);
    resolveDir = join(dir, "resolve");
  }
  return resolveDir;
}

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
 * Extracts the archive (by id, file name or path from {@link legacyLogArchives}) and returns the
 * directory holding its `logs/` (and `results/` unless only the logs were asked for).
 * Extracts each archive once per process and part; a full extraction also serves "logs".
 */
export function extractLegacyArchive(name: string, part: LegacyPart = "all"): Promise<string> {
  const id = legacyArchiveId(name);
  let archive: string;
  try {
    archive = legacyArchivePath(id);
  } catch (err) {
    return Promise.reject(err as Error);
  }
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
  resolveDir = undefined;
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}
