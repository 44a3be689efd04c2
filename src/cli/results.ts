/**
 * `fable results`: the results database. Subcommands:
 *
 *   add <files...>                 validate, then store each run at its content-addressed path (all or none)
 *   validate [paths...]            check files and directories (default: the database); exit 1 on any problem
 *   import-legacy <paths...>       convert original ipc-bench archives (or resolve/) into the database or a folder
 *   site <db> <out>                build the static site of a database
 *   submit --repo <clone>          prepare a branch and a commit of new results in a clone; never pushes
 *
 * The database is --db, else $FABLE_DB, else ./fable-db. Exit codes: 0 done, 1 a problem (printed, nothing
 * changed), 2 bad command line.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { canonicalJson } from "../results/canonical.js";
import { addDocuments, addResults, type Added, defaultDb, validatePaths } from "../results/db.js";
import { importLegacy, type LegacyDocument } from "../results/legacy/import.js";
import { InvalidResultError } from "../results/problems.js";
import { localPrivateWords } from "../results/scan.js";
import { buildSite } from "../results/site/build.js";
import { confirmOnTty, submitResults } from "../results/submit.js";
import { checkResultText } from "../results/validate.js";

const out = (line: string) => process.stdout.write(line + "\n");
const err = (line: string) => process.stderr.write(line + "\n");

function printAdded(added: readonly Added[]): void {
  for (const a of added)
    out(`${a.outcome === "added" ? "added          " : "already present"}  ${a.relativePath}  (${a.source})`);
}

function printProblems(e: InvalidResultError): void {
  for (const p of e.problems) err(p.message);
}

export function registerResults(program: Command, setExit: (code: number) => void): void {
  const results = program
    .command("results")
    .description("the results database: add, validate, import-legacy, site, submit")
    .showHelpAfterError();
  const dbOption = "results database directory (default $FABLE_DB or ./fable-db)";

  results
    .command("add")
    .description("validate result files and add each run to the database (all or none; never rewrites a file)")
    .argument("<files...>", "result files")
    .option("--db <dir>", dbOption)
    .action((files: string[], flags: { db?: string }) => {
      try {
        printAdded(addResults(flags.db ?? defaultDb(), files, { privateWords: localPrivateWords() }));
      } catch (e) {
        if (!(e instanceof InvalidResultError)) throw e;
        printProblems(e);
        err(
          `nothing was added: ${e.problems.length} problem(s) in ${new Set(e.problems.map((p) => p.file)).size} file(s)`,
        );
        setExit(1);
      }
    });

  results
    .command("validate")
    .description("check result files and directories (recursively): schema, methods, sanity, privacy")
    .argument("[paths...]", "files or directories (default: the database)")
    .option("--db <dir>", dbOption)
    .action((paths: string[], flags: { db?: string }) => {
      const targets = paths.length > 0 ? paths : [flags.db ?? defaultDb()];
      for (const t of targets) if (!existsSync(t)) throw new UsageError(`${t}: no such file or directory`);
      const checked = validatePaths(targets, { privateWords: localPrivateWords() });
      const bad = checked.filter((c) => c.problems.length > 0);
      for (const c of bad) for (const p of c.problems) err(p.message);
      out(`${checked.length} file(s): ${checked.length - bad.length} valid, ${bad.length} with problems`);
      if (bad.length > 0) setExit(1);
    });

  results
    .command("import-legacy")
    .description("convert original ipc-bench results (archives .tar.gz, extracted runs, or the paper's resolve/)")
    .argument("<paths...>", "archives or directories")
    .option("--db <dir>", dbOption)
    .option("--out <dir>", "write the converted documents to this folder instead of a database")
    .option("--machines-from <dir>", "for resolve/: the folder of contributed archives (default ../results)")
    .action(async (paths: string[], flags: { db?: string; out?: string; machinesFrom?: string }) => {
      if (flags.db !== undefined && flags.out !== undefined) throw new UsageError("give --db or --out, not both");
      let failed = 0;
      const docs: LegacyDocument[] = [];
      for (const path of paths) {
        try {
          const imported = await importLegacy(
            path,
            flags.machinesFrom === undefined ? {} : { machinesFrom: flags.machinesFrom },
          );
          for (const note of imported.notes) err(`note: ${note}`);
          docs.push(...imported.docs);
        } catch (e) {
          failed++;
          err(`${path}: not imported: ${(e as Error).message}`);
        }
      }
      try {
        if (flags.out !== undefined) writeDocuments(flags.out, docs);
        else printAdded(addDocuments(flags.db ?? defaultDb(), docs));
      } catch (e) {
        if (!(e instanceof InvalidResultError)) throw e;
        printProblems(e);
        err("nothing was written");
        setExit(1);
        return;
      }
      out(`${paths.length - failed} of ${paths.length} imported (${docs.length} result documents), ${failed} failed`);
      if (failed > 0) setExit(1);
    });

  results
    .command("site")
    .description("build the static site of a results database: machines, reports, comparisons, series")
    .argument("<db>", "results database directory")
    .argument("<out>", "output directory (created; must be empty or absent)")
    .action((db: string, outDir: string) => {
      const site = buildSite(db, outDir);
      for (const note of site.notes) err(`note: ${note}`);
      out(`site: ${site.pages} pages for ${site.machines} machines (${site.results} results) in ${outDir}`);
      out(`open ${join(outDir, "index.html")}`);
    });

  results
    .command("submit")
    .description("prepare a branch and a commit of new results in a local clone of a results repository")
    .requiredOption("--repo <dir>", "local clone of the results repository")
    .option("--db <dir>", dbOption)
    .option("--branch <name>", "branch to create (default results/<date>-<n>)")
    .option("--yes", "do not ask (for scripts)", false)
    .action(async (flags: { repo: string; db?: string; branch?: string; yes: boolean }) => {
      const outcome = await submitResults({
        db: flags.db ?? defaultDb(),
        repo: flags.repo,
        ...(flags.branch === undefined ? {} : { branch: flags.branch }),
        print: out,
        confirm: flags.yes ? async () => true : confirmOnTty,
      });
      if (outcome.kind === "declined") setExit(1);
    });
}

/** Writes converted documents to a folder as <source>.json, validated, never overwriting. */
function writeDocuments(dir: string, docs: readonly LegacyDocument[]): void {
  const texts = docs.map((d) => ({
    d,
    text: canonicalJson(d.doc),
    name: `${d.source.replace(/[^A-Za-z0-9_.-]+/g, "-")}.json`,
  }));
  const problems = texts.flatMap(({ d, text }) => checkResultText(text, d.source).problems);
  if (problems.length > 0) throw new InvalidResultError(problems);
  mkdirSync(dir, { recursive: true });
  for (const { text, name } of texts) {
    const path = join(dir, name);
    try {
      writeFileSync(path, text, { flag: "wx" });
      out(`wrote ${path}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      if (readFileSync(path, "utf8") !== text) {
        throw new UsageError(`${path} exists with other content; it is never overwritten: choose another --out`);
      }
      out(`already present ${path}`);
    }
  }
}
