/**
 * `fable report <result files...>`: one self-contained HTML report of one or more results (a comparison
 * when there are several), and with `--png <dir>` each heatmap and chart as a PNG for sharing. Output files
 * are never overwritten without `--force`; a result file that cannot be read or is not valid is named with
 * the field at fault, and nothing is written.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import type { Command } from "commander";
import { parseResult, type ResultFile } from "../bench/result.js";
import { FableError, UsageError } from "../errors.js";
import { readResultText } from "../results/validate.js";
import { renderCharts, renderComparisonCharts, renderReport, resultLetter, svgToPng } from "../results/report/index.js";

interface ReportFlags {
  out?: string;
  png?: string;
  title?: string;
  force: boolean;
}

/** The report beside a result file: same directory, same name, .html. */
export function reportPathFor(resultPath: string): string {
  const ext = extname(resultPath);
  return join(dirname(resultPath), `${basename(resultPath, ext === ".json" ? ext : "")}.html`);
}

/**
 * Reads result files within the results database's limits (size, depth, lengths: results/limits.ts); the
 * first bad one is a UsageError naming the file (and the field, for a bad document).
 */
export function readResults(paths: readonly string[]): ResultFile[] {
  return paths.map((path) => {
    const read = readResultText(path);
    if ("problem" in read) {
      const { pointer, detail } = read.problem;
      const reason = existsSync(path) ? `${pointer === "" ? "(document)" : pointer}: ${detail}` : "no such file";
      throw new UsageError(`${path}: not a readable fable result: ${reason}`);
    }
    try {
      return parseResult(read.text, path);
    } catch (err) {
      const reason =
        err instanceof FableError
          ? err.message
          : ((err as NodeJS.ErrnoException).code ?? "") === "ENOENT"
            ? "no such file"
            : (err as Error).message;
      throw new UsageError(`${path}: not a readable fable result: ${reason}`, { cause: err });
    }
  });
}

function refuseExisting(paths: readonly string[], force: boolean): void {
  if (force) return;
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length > 0) {
    throw new UsageError(`${existing.join(", ")} exist${existing.length === 1 ? "s" : ""}; use --force to overwrite`);
  }
}

/** Writes the HTML report; refuses to overwrite unless `force`. Returns the path written. */
export function writeReport(
  docs: readonly ResultFile[],
  out: string,
  options: { force?: boolean; title?: string } = {},
): string {
  const html = renderReport(docs, options.title === undefined ? {} : { title: options.title });
  refuseExisting([out], options.force ?? false);
  try {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, html, { flag: options.force ? "w" : "wx" });
  } catch (cause) {
    throw new UsageError(`cannot write the report to ${out}: ${(cause as Error).message}`, { cause });
  }
  return out;
}

/** The charts as PNG files: <name>.png for one result; <letter>-<name>.png and compare-*.png for several. */
export function pngCharts(docs: readonly ResultFile[]): { file: string; svg: string }[] {
  if (docs.length === 1) return renderCharts(docs[0] as ResultFile).map((c) => ({ file: `${c.name}.png`, svg: c.svg }));
  return [
    ...renderComparisonCharts(docs).map((c) => ({ file: `${c.name}.png`, svg: c.svg })),
    ...docs.flatMap((doc, i) =>
      renderCharts(doc).map((c) => ({ file: `${resultLetter(i).toLowerCase()}-${c.name}.png`, svg: c.svg })),
    ),
  ];
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("write a self-contained HTML report of one or more result files (a comparison when several)")
    .argument("<results...>", "result files written by fable bench")
    .option("-o, --out <file>", "the HTML file (default: beside the first result, same name, .html)")
    .option("--png <dir>", "also write each heatmap and chart as a PNG into this directory")
    .option("--title <text>", "the page title")
    .option("--force", "overwrite existing output files", false)
    .action((paths: string[], flags: ReportFlags) => {
      const docs = readResults(paths);
      const first = paths[0] ?? "report.json";
      const out =
        flags.out ??
        (docs.length === 1 ? reportPathFor(first) : reportPathFor(first).replace(/\.html$/, "-compared.html"));
      const pngs =
        flags.png === undefined ? [] : pngCharts(docs).map((c) => ({ ...c, path: join(flags.png ?? ".", c.file) }));
      refuseExisting([out, ...pngs.map((p) => p.path)], flags.force);

      const written = [
        writeReport(docs, out, { force: flags.force, ...(flags.title === undefined ? {} : { title: flags.title }) }),
      ];
      if (flags.png !== undefined) {
        try {
          mkdirSync(flags.png, { recursive: true });
        } catch (cause) {
          throw new UsageError(`cannot create the PNG directory ${flags.png}: ${(cause as Error).message}`, { cause });
        }
        for (const p of pngs) {
          writeFileSync(p.path, svgToPng(p.svg), { flag: flags.force ? "w" : "wx" });
          written.push(p.path);
        }
      }
      process.stdout.write(written.join("\n") + "\n");
    });
}
