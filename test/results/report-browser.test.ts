/**
 * End to end: real `fable bench` results, their reports opened in headless Chromium. Checks that the
 * heatmaps and charts render with data, that nothing logs an error or loads anything but the page itself,
 * and saves full-page screenshots into test-output/ (kept by CI as artifacts).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { readResult, type ResultFile } from "../../src/bench/result.js";
import { latencySeries } from "../../src/results/report/data.js";
import { renderReport } from "../../src/results/report/index.js";
import { BROWSER_SKIP, type Browser, launchBrowser, type PageRecord, TEST_OUTPUT_DIR } from "../kit/browser.js";
import { runFable, scratchDir } from "../kit/cli.js";
import { craftedResult } from "./report-fixture.js";

const scratch = scratchDir("report-browser");
const env = { FABLE_CONFIG_DIR: join(scratch.dir, "config") };
const MECHANISMS = "cacheline,pipe,mempipe-spin-safe,node-net-unix";
const QUICK = ["--quick", "-m", MECHANISMS, "--budget-ms", "40", "--warmup-ms", "10", "--no-progress"];

let browser: Browser;
const first = join(scratch.dir, "first.json");
const second = join(scratch.dir, "second.json");
let docs: ResultFile[] = [];

/** Exit 0, or 3 when some tests failed: with a 40 ms budget a slow probe may fail, and that is in the result. */
function assertBenchDone(r: { code: number | null; stderr: string }): void {
  assert.ok(r.code === 0 || r.code === 3, `fable bench exited ${r.code}: ${r.stderr}`);
}

before(async () => {
  if (BROWSER_SKIP === false) browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  scratch.cleanup();
});

// The page's DOM as far as these checks read it, inside page.evaluate (the compiler's lib has no DOM).
interface DomElement {
  getAttribute(name: string): string | null;
  textContent: string | null;
}
declare const document: { querySelectorAll(selector: string): Iterable<DomElement> };

interface PageFacts {
  heatmaps: number;
  cells: number;
  statsTitles: string[];
  legendText: string;
  bars: number;
  cdfLines: number;
  headlines: string[];
  dots: number;
  images: number;
}

async function facts(record: PageRecord): Promise<PageFacts> {
  return record.page.evaluate(() => {
    const all = (selector: string) => [...document.querySelectorAll(selector)];
    return {
      heatmaps: all("svg.heatmap").length,
      cells: all("svg.heatmap rect.cell[fill]").filter((r) => /^#[0-9a-f]{6}$/.test(r.getAttribute("fill") ?? ""))
        .length,
      statsTitles: all("svg.heatmap text.stats").map((t) => t.textContent ?? ""),
      legendText: all(".shared-legend text")
        .map((t) => t.textContent ?? "")
        .join(" "),
      bars: all("rect.bar").length,
      cdfLines: all("path.cdf").length,
      headlines: all("text.headline").map((t) => t.textContent ?? ""),
      dots: all("circle.dot").length,
      images: all("img").length,
    };
  });
}

function assertClean(record: PageRecord, url: string): void {
  assert.deepEqual(record.consoleErrors, [], "no console errors");
  assert.deepEqual(record.pageErrors, [], "no page errors");
  assert.deepEqual(record.failedRequests, [], "no failed requests");
  assert.deepEqual(record.requests, [url], "no request but the page itself");
}

describe("report in Chromium", { skip: BROWSER_SKIP }, () => {
  it("fable bench writes a report beside its result and prints its path (--no-report skips it)", async () => {
    const a = await runFable(["bench", ...QUICK, "--out", first], env);
    assertBenchDone(a);
    const html = first.replace(/\.json$/, ".html");
    assert.match(a.stderr, new RegExp(`^report: ${html.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
    assert.ok(existsSync(html));
    const b = await runFable(["bench", ...QUICK, "--no-report", "--out", second], env);
    assertBenchDone(b);
    assert.equal(existsSync(second.replace(/\.json$/, ".html")), false);
    assert.doesNotMatch(b.stderr, /^report:/m);
    docs = [readResult(first), readResult(second)];
  });

  it("shows a real result's heatmaps and charts with data, offline and without errors", async () => {
    const url = pathToFileURL(first.replace(/\.json$/, ".html")).href;
    const record = await browser.open(url);
    const f = await facts(record);
    const doc = docs[0] as ResultFile;
    const series = latencySeries(doc);
    assert.equal(f.heatmaps, series.length, "one heatmap per latency mechanism");
    assert.ok(series.length >= 3, series.map((s) => s.mechanism).join());
    const okLatency = doc.runs.filter((r) => r.status === "ok" && r.mode === "latency").length;
    assert.equal(f.cells, okLatency, "one coloured cell per successful latency test");
    for (const t of f.statsTitles)
      assert.match(t, /^min [\d.]+ (ns|µs|ms) · median [\d.]+ (ns|µs|ms) · max [\d.]+ (ns|µs|ms)$/);
    assert.match(f.legendText, /\d+ (ns|µs)/);
    assert.ok(f.bars > 0, "throughput bars");
    assert.ok(f.cdfLines >= 3, "a distribution per mechanism");
    assert.ok(
      f.headlines.some((h) => h.startsWith("Node's best")),
      f.headlines.join(" | "),
    );
    assert.equal(f.images, 0);
    assertClean(record, url);
    const shot = await record.screenshot("report-single");
    assert.ok(existsSync(shot));

    // The colour-scale switch gives every heatmap its own scale, and back.
    const firstCell = record.page.locator("svg.heatmap rect.cell").first();
    const shared = await firstCell.getAttribute("fill");
    const own = await firstCell.getAttribute("data-own");
    await record.page.click('button[data-scale="own"]');
    assert.equal(await firstCell.getAttribute("fill"), own);
    assert.equal(await record.page.locator(".legend-own").first().getAttribute("display"), null);
    await record.screenshot("report-single-own-scale");
    await record.page.click('button[data-scale="shared"]');
    assert.equal(await firstCell.getAttribute("fill"), shared);
    assertClean(record, url);
  });

  it("compares two real results side by side", async () => {
    const out = join(scratch.dir, "compare.html");
    const r = await runFable(["report", first, second, "-o", out], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), out);
    const url = pathToFileURL(out).href;
    const record = await browser.open(url);
    const f = await facts(record);
    assert.ok(f.dots > 0, "comparison dots");
    assert.ok((await record.page.locator("table.compare tbody tr").count()) > 0);
    assert.equal(f.heatmaps, latencySeries(docs[0] as ResultFile).length + latencySeries(docs[1] as ResultFile).length);
    assertClean(record, url);
    await record.screenshot("report-compare");
  });

  it("keeps a crafted hostile result inert, and draws an 8-CPU machine's groups", async () => {
    const hostile = craftedResult({ packages: 2, coresPerPackage: 2, threadsPerCore: 2, hostile: true });
    const out = join(scratch.dir, "crafted.html");
    writeFileSync(out, renderReport([hostile]));
    const url = pathToFileURL(out).href;
    const record = await browser.open(url);
    const dialogs: string[] = [];
    record.page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const f = await facts(record);
    assert.equal(f.images, 0, "no injected element");
    assert.equal(await record.page.locator("script").count(), 1);
    assert.equal(f.heatmaps, 4);
    assert.equal(await record.page.locator("svg.heatmap .boundary-package").count(), 4);
    assert.ok((await record.page.locator("text=alert(1)").count()) > 0, "the hostile text is shown as text");
    assert.deepEqual(dialogs, []);
    assertClean(record, url);
    await record.screenshot("report-crafted-8cpu");
  });

  it("saved its screenshots in test-output/", () => {
    const shots = readdirSync(TEST_OUTPUT_DIR);
    for (const name of ["report-single.png", "report-compare.png", "report-crafted-8cpu.png"]) {
      assert.ok(shots.includes(name), `${name} in ${shots.join(", ")}`);
    }
  });
});
