/**
 * `fable results site <db> <out>`: a static site of a results database, plain HTML files that work from
 * the file system or any web server, with no script and no network: index.html (the machines),
 * machines/<id8>.html (a machine's results and report), compare.html, series.html, paper.html.
 *
 * Only results that validate are published; a file with problems is left out and named in the notes.
 * The output directory must be absent or empty: the site is rebuilt whole, never merged into old pages.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { UsageError } from "../../errors.js";
import type { ResultFile } from "../../bench/result.js";
import { readDatabase } from "../db.js";
import {
  comparePage,
  indexPage,
  machinePage,
  machinePath,
  machinesOf,
  paperPage,
  seriesPage,
  type SiteEntry,
} from "./pages.js";

/** Every page of the site, by path relative to its root. Pure: the caller writes them. */
export function renderSite(entries: readonly SiteEntry[]): Map<string, string> {
  const machines = machinesOf(entries);
  const pages = new Map<string, string>();
  pages.set("index.html", indexPage(machines));
  for (const m of machines) pages.set(machinePath(m), machinePage(m));
  pages.set("compare.html", comparePage(machines));
  pages.set("series.html", seriesPage(entries, machines));
  pages.set("paper.html", paperPage(entries));
  return pages;
}

export interface BuiltSite {
  pages: number;
  machines: number;
  results: number;
  notes: string[];
}

export function buildSite(db: string, out: string): BuiltSite {
  if (existsSync(out) && readdirSync(out).length > 0) {
    throw new UsageError(`${out} is not empty: the site is written into an empty or new directory`);
  }
  const notes: string[] = [];
  const entries: SiteEntry[] = [];
  for (const checked of readDatabase(db)) {
    if (checked.doc === null || checked.problems.length > 0) {
      notes.push(
        `${checked.file}: left out, ${checked.problems.length} problem(s): ${checked.problems[0]?.detail ?? ""}`,
      );
      continue;
    }
    entries.push({ doc: checked.doc as ResultFile, file: relative(db, checked.file).split(sep).join("/") });
  }
  const pages = renderSite(entries);
  for (const [path, html] of pages) {
    const full = join(out, ...path.split("/"));
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, html, { flag: "wx" });
  }
  return { pages: pages.size, machines: machinesOf(entries).length, results: entries.length, notes };
}
