import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createHash } from "node:crypto";
import { type ResultFile, validateResult } from "../../src/bench/result.js";
import { comparisonRows } from "../../src/results/report/compare.js";
import { classFigures, figureKey, focusPair, heatmapAxis, latencySeries } from "../../src/results/report/data.js";
import { heatmapChart, heatmapSet } from "../../src/results/report/heatmap.js";
import { escapeHtml, markup, trusted } from "../../src/results/report/html.js";
import {
  chartFileName,
  PNG_SIGNATURE,
  renderCharts,
  renderComparisonCharts,
  renderReport,
  svgToPng,
} from "../../src/results/report/index.js";
import { colorScale } from "../../src/results/report/scale.js";
import { svgDocument } from "../../src/results/report/svg.js";
import { runFable, scratchDir } from "../kit/cli.js";
import { craftedResult, craftedTopology, HOSTILE } from "./report-fixture.js";

const scratch = scratchDir("report");
after(() => scratch.cleanup());

const machine8 = { packages: 2, coresPerPackage: 2, threadsPerCore: 2 };

/** Every place the hostile text lands must be escaped: no raw tag, no attribute break-out. */
function assertNoInjection(markup: string, ownScripts: number): void {
  assert.equal(markup.match(/<script/g)?.length ?? 0, ownScripts, "only the report's own script");
  assert.doesNotMatch(markup, /<img/i);
  assert.ok(!markup.includes(HOSTILE), "the hostile text never appears unescaped");
  for (const m of markup.matchAll(/onerror/g)) {
    assert.equal(markup.slice((m.index ?? 0) - 14, m.index), "&lt;img src=x ", "onerror only inside escaped text");
  }
}

describe("report: escaping", () => {
  it("escapes the five characters that end text or a quoted attribute", () => {
    assert.equal(
      escapeHtml(`<a href="x" title='y'>&</a>`),
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
  });

  it("escapes every interpolated value of the html tag unless it is markup, arrays included", () => {
    const evil = `"><script>x</script>`;
    const out = markup`<p title="${evil}">${evil}${[evil, trusted("<b>ok</b>")]}${null}${false}${3.14159}</p>`.text;
    assert.equal(
      out,
      '<p title="&quot;&gt;&lt;script&gt;x&lt;/script&gt;">&quot;&gt;&lt;script&gt;x&lt;/script&gt;' +
        "&quot;&gt;&lt;script&gt;x&lt;/script&gt;<b>ok</b>3.14</p>",
    );
    assert.throws(() => markup`${Number.NaN}`, RangeError);
  });

  it("the crafted hostile document is a valid result: the schema lets these strings through", () => {
    const doc = craftedResult({ ...machine8, hostile: true, slowdown: 2 });
    assert.doesNotThrow(() => validateResult(JSON.parse(JSON.stringify(doc))));
    assert.equal(doc.machine.environment.cpu.model, HOSTILE);
  });

  it("escapes every free-text field in the page and in every chart", () => {
    const hostile = craftedResult({ ...machine8, hostile: true, slowdown: 2 });
    const page = renderReport([hostile, craftedResult(machine8)], { title: HOSTILE });
    assertNoInjection(page, 1);
    // The strings are shown, escaped: the CPU model, the error message, the parameters, the runtime.
    assert.ok(page.includes(escapeHtml(HOSTILE)));
    for (const chart of [...renderCharts(hostile), ...renderComparisonCharts([hostile, hostile])]) {
      assertNoInjection(chart.svg, 0);
    }
  });

  it("forbids every load and every script but its own in a Content-Security-Policy", () => {
    const page = renderReport([craftedResult(machine8)]);
    const csp = (/<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(page)?.[1] ?? "").replaceAll(
      "&#39;",
      "'",
    );
    assert.match(csp, /default-src 'none'/);
    const script = /<script>([\s\S]*?)<\/script>/.exec(page)?.[1] ?? "";
    const hash = createHash("sha256").update(script).digest("base64");
    assert.ok(csp.includes(`script-src 'sha256-${hash}'`), csp);
    assert.doesNotMatch(page, /(src|href)="(https?:)?\/\//, "no external resource");
  });
});

describe("report: heatmaps", () => {
  const doc = craftedResult(machine8);
  const axis = heatmapAxis(doc.machine.topology);

  it("orders the axes package > die > shared cache > core > SMT sibling, with boundaries between groups", () => {
    // Linux numbering: core k's threads are k and k + 4; cores 0, 1 in package 0, cores 2, 3 in package 1.
    assert.deepEqual(axis.cpus, [0, 4, 1, 5, 2, 6, 3, 7]);
    assert.deepEqual(axis.boundaries, [
      { index: 2, level: "core" },
      { index: 4, level: "package" },
      { index: 6, level: "core" },
    ]);
  });

  it("tells a last-level cache group apart from a core when a package has two", () => {
    const t = craftedTopology({ packages: 1, coresPerPackage: 4, threadsPerCore: 1 });
    // Split the L3 in two halves, as on a two-die package that reports no dies.
    t.caches = t.caches.filter((c) => c.level !== 3);
    t.caches.push({ level: 3, type: "unified", sizeBytes: 1 << 20, lineBytes: 64, ways: 16, cpus: [0, 1] });
    t.caches.push({ level: 3, type: "unified", sizeBytes: 1 << 20, lineBytes: 64, ways: 16, cpus: [2, 3] });
    assert.deepEqual(heatmapAxis(t).boundaries, [
      { index: 1, level: "core" },
      { index: 2, level: "cache" },
      { index: 3, level: "core" },
    ]);
  });

  it("draws cells row by row in axis order, boundaries where the groups change, min/median/max in the title", () => {
    const series = { mechanism: "cacheline", size: 64 };
    const scale = colorScale([10, 1e7]);
    const svg = svgDocument(heatmapChart(doc, series, axis, "cacheline", { scale, cellSize: 20 }), "t").text;
    const order = [...svg.matchAll(/<title>CPU (\d+) → CPU (\d+)/g)].map((m) => `${m[1]}-${m[2]}`);
    assert.deepEqual(
      order,
      axis.cpus.flatMap((a) => axis.cpus.map((b) => `${a}-${b}`)),
    );
    assert.equal(svg.match(/class="cell"/g)?.length, 64);
    // The package boundary lies after the fourth CPU (x = 30 + 4 * 20), the core ones after the second and sixth.
    assert.match(svg, /class="boundary boundary-package"\s+d="M110 58V218M30 138H190"/);
    assert.equal(svg.match(/boundary-core/g)?.length, 2);
    assert.match(svg, /class="stats"[^>]*>min \d+ ns · median \d+ ns · max \d+ ns</);
    // Both sides spinning on one CPU: the diagonal is marked, and left out of the title's figures.
    assert.equal(svg.match(/class="spin"/g)?.length, 8);
    assert.match(svg, /spin on one CPU \(8\): 4\.0 ms/);
  });

  it("draws a pair not run and a failed test distinctly", () => {
    const svg = svgDocument(
      heatmapChart(doc, { mechanism: "pipe", size: 64 }, axis, "pipe", { scale: colorScale([10, 1e7]) }),
      "t",
    ).text;
    assert.equal(svg.match(/class="cell-missing"/g)?.length, 1);
    assert.equal(svg.match(/class="cell-failed"/g)?.length, 1);
    assert.match(svg, /failed: EPEER side B: the peer is gone/);
    assert.match(svg, /not run \(1\)/);
  });

  it("puts every mechanism on one shared scale, and keeps each one's own scale for the switch", () => {
    const set = heatmapSet(doc, axis, latencySeries(doc), true);
    const [lo, hi] = set.shared.domain;
    assert.ok(lo < 100 && hi > 10_000, `shared domain ${lo}..${hi} spans cacheline to node-net-unix`);
    for (const c of set.charts) {
      assert.match(c.chart.body.text, /data-own="#[0-9a-f]{6}"/);
      assert.match(c.chart.body.text, /class="legend legend-own" display="none"/);
    }
  });
});

describe("report: figures", () => {
  const doc = craftedResult(machine8);

  it("stands for a class by the median of its pairs, and picks a pair of two cores for the distribution", () => {
    const figures = classFigures(doc, "latency");
    const cross = figures.get(figureKey("cacheline", 64, "cross-package"));
    assert.ok(cross !== undefined && cross.runs.length === 32);
    assert.ok(cross.value > (figures.get(figureKey("cacheline", 64, "shared-l3"))?.value ?? Infinity));
    assert.deepEqual(focusPair(doc), { cpus: [0, 1], placement: "shared-l3" });
  });

  it("compares results per mechanism, size and class, with the ratio to the first", () => {
    const rows = comparisonRows([doc, craftedResult({ ...machine8, slowdown: 2 })], "latency");
    const row = rows.find((r) => r.mechanism === "node-net-unix" && r.placement === "cross-package");
    assert.ok(row !== undefined);
    const [a, b] = row.values;
    assert.ok(a !== null && a !== undefined && b !== null && b !== undefined);
    assert.ok(Math.abs(b / a - 2) < 0.2, `ratio ${b / a}`);
    const page = renderReport([doc, craftedResult({ ...machine8, slowdown: 2 })]);
    assert.match(page, /<h2 id="compare">Comparison<\/h2>/);
    assert.match(page, /class="num ratio" style="background:#[0-9a-f]{6}">2\.\d\d×/);
  });

  it("draws the heatmaps of a converted ipc-bench result from its legacy runs", () => {
    const base = craftedResult({ packages: 1, coresPerPackage: 2, threadsPerCore: 1 });
    const legacy = {
      ...base,
      runs: [],
      legacy: {
        runs: [0, 1].flatMap((a) =>
          [0, 1].map((b) => ({
            mechanism: "mempipe",
            mode: "latency",
            size: 64,
            cpus: [a, b],
            placement: a === b ? "same-cpu" : "shared-l3",
            numaDistance: null,
            unit: "ns",
            stats: { mean: 1000 + 500 * a + 250 * b },
            source: "matrix",
            resolution: 1000,
            flags: [],
            params: {},
          })),
        ),
      },
    } as unknown as ResultFile;
    const svg = renderCharts(legacy).find((c) => c.name === "heatmap-mempipe")?.svg ?? "";
    assert.equal(svg.match(/class="cell"/g)?.length, 4);
    assert.match(svg, /min 1\.00 µs · median 1\.38 µs · max 1\.75 µs/);
  });

  it("names charts for files whatever a mechanism is called", () => {
    assert.equal(chartFileName("heatmap-../../etc/passwd"), "heatmap-etc-passwd");
    assert.equal(chartFileName("..."), "chart");
    const names = renderCharts(doc).map((c) => c.name);
    assert.deepEqual(names.slice(0, 2), ["topology", "heatmaps"]);
    for (const n of ["heatmap-cacheline", "throughput", "latency-cdf", "node-latency", "node-throughput"]) {
      assert.ok(names.includes(n), `${n} in ${names.join(", ")}`);
    }
  });
});

describe("report: PNG export", () => {
  it("renders a chart as a real PNG, with its text drawn", () => {
    const doc = craftedResult(machine8);
    const heatmap = renderCharts(doc).find((c) => c.name === "heatmap-cacheline");
    assert.ok(heatmap !== undefined);
    const png = svgToPng(heatmap.svg);
    assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
    assert.ok(png.length > 10_000, `${png.length} bytes`);
    // Text must render (a font was found): a page of text compresses far worse than the same page blank.
    const page = (body: string) =>
      `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="100" font-family="'DejaVu Sans'">${body}</svg>`;
    const blank = svgToPng(page(""));
    const text = svgToPng(page('<text x="10" y="40" font-size="20">fable: 242 ns, 1.2 GB/s</text>'));
    assert.ok(
      text.length > blank.length * 3,
      `text ${text.length} bytes, blank ${blank.length} bytes: is a font installed (fonts-dejavu-core)?`,
    );
  });
});

describe("fable report", () => {
  const env = { FABLE_CONFIG_DIR: join(scratch.dir, "config") };
  const a = join(scratch.dir, "a.json");
  const b = join(scratch.dir, "b.json");
  writeFileSync(a, JSON.stringify(craftedResult(machine8)));
  writeFileSync(b, JSON.stringify(craftedResult({ ...machine8, slowdown: 1.5 })));

  it("writes the report beside the result and prints its path; never overwrites without --force", async () => {
    const r = await runFable(["report", a], env);
    assert.equal(r.code, 0, r.stderr);
    const out = join(scratch.dir, "a.html");
    assert.equal(r.stdout.trim(), out);
    assert.match(readFileSync(out, "utf8"), /^<!DOCTYPE html>/);
    const again = await runFable(["report", a], env);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /a\.html exists; use --force to overwrite/);
    assert.equal((await runFable(["report", a, "--force"], env)).code, 0);
  });

  it("compares several results and writes each chart as PNG", async () => {
    const out = join(scratch.dir, "ab.html");
    const pngs = join(scratch.dir, "png");
    const r = await runFable(["report", a, b, "-o", out, "--png", pngs], env);
    assert.equal(r.code, 0, r.stderr);
    const files = readdirSync(pngs).sort();
    assert.ok(files.includes("compare-latency.png") && files.includes("a-heatmap-cacheline.png"), files.join());
    assert.ok(files.includes("b-throughput.png"));
    for (const f of files) {
      assert.deepEqual(readFileSync(join(pngs, f)).subarray(0, 8), PNG_SIGNATURE);
      assert.ok(statSync(join(pngs, f)).size > 2_000);
    }
    const printed = r.stdout.trim().split("\n");
    assert.equal(printed[0], out);
    assert.deepEqual(
      printed.slice(1).sort(),
      files.map((f) => join(pngs, f)),
    );
    assert.match(readFileSync(out, "utf8"), /Comparison/);
  });

  it("names a bad file and its field, exits 2, and writes nothing", async () => {
    const bad = join(scratch.dir, "bad.json");
    const doc = JSON.parse(readFileSync(a, "utf8")) as { machine: Record<string, unknown> };
    doc.machine["hostname"] = "box.example.org";
    writeFileSync(bad, JSON.stringify(doc));
    const out = join(scratch.dir, "never.html");
    const r = await runFable(["report", a, bad, "-o", out], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.json: not a readable fable result: \/machine: unknown key "hostname"/);
    assert.equal(existsSync(out), false);
    const missing = await runFable(["report", join(scratch.dir, "nope.json")], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.json: not a readable fable result: no such file/);
  });
});
