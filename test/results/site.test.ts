/**
 * The static site's pages as functions of documents: every string from a result file is escaped, even in
 * documents that would never pass validation, and a series never mixes method MINOR versions.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ResultFile } from "../../src/bench/result.js";
import { addResults } from "../../src/results/db.js";
import { seriesOf } from "../../src/results/site/figures.js";
import { buildSite, renderSite } from "../../src/results/site/build.js";
import { runFable, scratchDir } from "../kit/cli.js";
import { validDoc, writeJson } from "./fixtures.js";

const SCRIPT = '<script>alert("xss")</script>';

/** A document full of markup where text goes (it would fail validation; the site must not trust that). */
function hostile(): ResultFile {
  const doc = validDoc();
  doc.machine.environment.cpu.model = `${SCRIPT} CPU`;
  doc.machine.environment.cpu.vendor = "<img src=x onerror=alert(1)>";
  doc.machine.environment.kernel.release = '"><svg onload=alert(2)>';
  doc.machine.environment.virtualization = { hypervisor: true, vendor: "</td><script>alert(3)</script>" };
  doc.machine.environment.os = { id: "<b>os</b>", versionId: "1" };
  doc.suite.version = "<i>0.1.0</i>";
  doc.createdAt = `2026-11-20T10:00:00Z${SCRIPT}`;
  doc.benchmarks = { [`pipe${SCRIPT}`]: { method: "1.0.0", probe: "engine" } };
  for (const run of doc.runs) {
    run.mechanism = `pipe${SCRIPT}`;
    if (run.status === "ok") run.params = { note: SCRIPT, [`k${SCRIPT}`]: 1 };
  }
  return doc;
}

describe("results site: pages", () => {
  it("escapes every string from a result file", () => {
    const pages = renderSite([{ doc: hostile(), file: `results/1/x64/${SCRIPT}.json` }]);
    assert.ok(pages.size >= 5);
    for (const [path, html] of pages) {
      assert.ok(!html.includes(SCRIPT), `${path} holds the raw script`);
      assert.ok(!/<script>alert|<img src=x|<svg onload|<b>os<\/b>|<i>0\.1\.0/.test(html), `${path} holds raw markup`);
    }
    const index = pages.get("index.html") ?? "";
    assert.match(index, /&lt;script&gt;alert\(&quot;xss&quot;\)&lt;\/script&gt; CPU/);
    // No page may run a script at all: the policy allows none.
    for (const html of pages.values())
      assert.match(html, /Content-Security-Policy" content="default-src &#39;none&#39;|default-src 'none'/);
  });

  it("a series is one mechanism at one method MAJOR.MINOR: other MINOR versions start their own", () => {
    const at = (method: string, date: string): ResultFile => {
      const d = validDoc();
      d.benchmarks = { pipe: { method, probe: "engine" } };
      d.createdAt = date;
      return d;
    };
    const series = seriesOf([
      at("1.0.0", "2026-01-01T00:00:00Z"),
      at("1.0.3", "2026-02-01T00:00:00Z"),
      at("1.1.0", "2026-03-01T00:00:00Z"),
      at("2.0.0", "2026-04-01T00:00:00Z"),
    ]);
    assert.deepEqual(
      series.map((s) => [s.key, new Set(s.points.map((p) => p.doc.benchmarks["pipe"]?.method))]),
      [
        ["fable-io pipe 1.0", new Set(["1.0.0", "1.0.3"])],
        ["fable-io pipe 1.1", new Set(["1.1.0"])],
        ["fable-io pipe 2.0", new Set(["2.0.0"])],
      ],
    );
    for (const s of series) {
      const minors = new Set(
        s.points.map((p) => (p.doc.benchmarks["pipe"]?.method ?? "").split(".").slice(0, 2).join(".")),
      );
      assert.equal(minors.size, 1, s.key);
    }
  });
});

describe("results site: build", () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = scratchDir("site")));
  after(() => cleanup());

  it("builds index, machine pages, comparison, series and the paper page from a database", async () => {
    const db = join(dir, "db");
    const second = validDoc();
    second.createdAt = "2026-11-21T09:00:00Z";
    addResults(db, [writeJson(dir, "a.json", validDoc()), writeJson(dir, "b.json", second)]);
    const out = join(dir, "site");
    const cli = await runFable(["results", "site", db, out]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /site: 5 pages for 1 machines \(2 results\)/);
    assert.deepEqual(readdirSync(out).sort(), ["compare.html", "index.html", "machines", "paper.html", "series.html"]);
    const machine = readFileSync(join(out, "machines", "a1b2c3d4.html"), "utf8");
    assert.match(machine, /Example\(R\) CPU E1234/);
    assert.match(machine, /2 result\(s\)/);
    assert.match(machine, /<svg/); // the report's charts
    assert.match(readFileSync(join(out, "paper.html"), "utf8"), /not in this database/);
    // The site is never written over old pages.
    assert.throws(() => buildSite(db, out), /not empty/);
    assert.ok(existsSync(join(out, "index.html")));
  });
});
