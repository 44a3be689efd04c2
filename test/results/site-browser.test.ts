/**
 * End to end, in headless Chromium: the site built from every legacy ipc-bench archive, the paper's data and
 * a result measured on this machine now loads (index, machine pages, the paper's figures) in under 3 s, with
 * no console error, and shows its charts. Screenshots go to test-output/ (CI keeps them).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import type { ResultFile } from "../../src/bench/result.js";
import { addDocuments, addResults } from "../../src/results/db.js";
import { importLegacy, type LegacyDocument } from "../../src/results/legacy/import.js";
import { buildSite } from "../../src/results/site/build.js";
import { BROWSER_SKIP, type Browser, launchBrowser, type PageRecord, TEST_OUTPUT_DIR } from "../kit/browser.js";
import { runFable, scratchDir } from "../kit/cli.js";
import { cleanupLegacyArchives, legacyArchives, legacyMachinesDir, legacyResolveDir } from "../kit/legacy.js";

const archives = legacyArchives();
const LOAD_BUDGET_MS = 3000;

describe("results site in Chromium", { skip: BROWSER_SKIP }, () => {
  let dir: string;
  let cleanup: () => void;
  let site: string;
  let ours: ResultFile;
  let paperNative: string;
  let browser: Browser;

  before(async () => {
    ({ dir, cleanup } = scratchDir("site-browser"));
    const db = join(dir, "db");
    // This machine's result, measured now (a short suite: every kind of probe, little time).
    const file = join(dir, "self", "result.json");
    const bench = await runFable([
      "bench",
      "--quick",
      "-m",
      "cacheline,pipe,unix,mempipe-spin-safe,node-worker-postmessage",
      "--budget-ms",
      "40",
      "--warmup-ms",
      "5",
      "--out",
      file,
    ]);
    assert.ok(bench.code === 0 || bench.code === 3, bench.stderr);
    ours = JSON.parse(readFileSync(file, "utf8")) as ResultFile;
    addResults(db, [file]);
    const machinesFrom = legacyMachinesDir();
    const legacy: LegacyDocument[] = [];
    for (const path of [...archives, legacyResolveDir()])
      legacy.push(...(await importLegacy(path, { machinesFrom })).docs);
    addDocuments(db, legacy);
    const native = legacy.find((d) => d.doc.legacy?.variant === "48native");
    paperNative = native?.doc.machine.id.slice(0, 8) ?? "";
    site = join(dir, "site");
    const built = buildSite(db, site);
    assert.equal(built.results, legacy.length + 1);
    assert.deepEqual(built.notes, []);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    cleanup();
    await cleanupLegacyArchives();
  });

  /** Opens a page, saves its screenshot (the first screen only for the long tables), checks errors and time. */
  async function load(path: string, screenshot: string, whole = true): Promise<{ page: PageRecord; ms: number }> {
    const started = Date.now();
    const page = await browser.open(pathToFileURL(join(site, path)).href);
    const ms = Date.now() - started;
    if (whole) await page.screenshot(screenshot);
    else await page.page.screenshot({ path: join(TEST_OUTPUT_DIR, `${screenshot}.png`) });
    assert.deepEqual(page.consoleErrors, [], `${path}: console errors`);
    assert.deepEqual(page.pageErrors, [], `${path}: page errors`);
    assert.deepEqual(page.failedRequests, [], `${path}: failed requests`);
    assert.ok(ms < LOAD_BUDGET_MS, `${path} took ${ms} ms to load (budget ${LOAD_BUDGET_MS} ms)`);
    return { page, ms };
  }

  it("the machines index loads quickly and lists every machine, legacy beside today's", async () => {
    const { page } = await load("index.html", "site-index");
    const rows = await page.page.locator("tbody tr").count();
    // Each archive's machine, the paper's (at least one), and this one.
    assert.ok(rows >= archives.length + 2, `${rows} machines listed`);
    assert.ok((await page.page.locator(".tag.legacy").count()) >= archives.length + 1);
    const first = await page.page.locator("tbody tr").first().textContent();
    assert.match(first ?? "", new RegExp(ours.machine.id.slice(0, 8)));
  });

  it("this machine's page loads quickly with its report's heatmaps", async () => {
    const { page } = await load(`machines/${ours.machine.id.slice(0, 8)}.html`, "site-machine-this");
    assert.ok((await page.page.locator("svg").count()) > 0);
    assert.match((await page.page.locator("nav.fable-site-nav").textContent()) ?? "", /Machines/);
  });

  it("the paper's native machine page and the paper's figures load quickly", async () => {
    const { page } = await load(`machines/${paperNative}.html`, "site-machine-paper-native");
    assert.ok((await page.page.locator("svg").count()) > 0);
    const paper = await load("paper.html", "site-paper");
    // Figure 3: four mechanisms in three environments; Figure 4: a chart per message size.
    assert.equal(await paper.page.page.locator("figure svg[aria-label*='·']").count(), 12);
    assert.equal(await paper.page.page.locator("figure svg[aria-label^='Throughput']").count(), 3);
  });

  it("the comparison and the series load", async () => {
    await load("compare.html", "site-compare", false);
    await load("series.html", "site-series", false);
  });
});
