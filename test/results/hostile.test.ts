/**
 * The results database under hostile contributions, one test per reported defect and per limit: deep
 * nesting is refused (not a RangeError), a long string costs time linear in its length, a gzip bomb is
 * refused after inflating little, and every refusal names the limit and the JSON pointer.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RESULT_LIMITS } from "../../src/results/limits.js";
import { scanDocument } from "../../src/results/scan.js";
import { checkResultFile, checkResultText } from "../../src/results/validate.js";
import { repoRoot, runFable, scratchDir } from "../kit/cli.js";
import { deepArrays, deepObjects, gzipBomb, tarHeader, tarMember, tarOf } from "../kit/hostile-results.js";
import { crafted, snapshot, validDoc } from "./fixtures.js";

/** Output of a crash: a stack frame line or an uncaught error's name. */
const STACK_TRACE = /^\s+at .+\(?.*:\d+:\d+\)?$|RangeError|TypeError|SyntaxError|ReferenceError/m;

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = scratchDir("hostile")));
after(() => cleanup());

describe("deep nesting (defect: RangeError in the scan's recursive walk)", () => {
  const arrays = deepArrays(100_000);
  const underMachine = `{"schema":1,"machine":${deepObjects(50_000)}}`;

  it("the scan walks any depth without recursion", () => {
    assert.deepEqual(scanDocument(JSON.parse(arrays), "deep.json"), []);
    const problems = scanDocument(JSON.parse(underMachine), "deep.json", {});
    assert.deepEqual(problems, []);
  });

  it("validation refuses them before parsing, naming the depth limit and where it was exceeded", () => {
    const a = checkResultText(arrays, "arrays.json");
    assert.equal(a.problems.length, 1);
    assert.equal(a.problems[0]?.code, "ELIMIT");
    assert.equal(a.problems[0]?.pointer, "/0".repeat(RESULT_LIMITS.depth));
    assert.match(a.problems[0]?.detail ?? "", /nested deeper than the limit of 32 levels \(depth\)/);
    const o = checkResultText(underMachine, "objects.json");
    assert.equal(o.problems[0]?.code, "ELIMIT");
    assert.equal(o.problems[0]?.pointer, "/machine" + "/a".repeat(RESULT_LIMITS.depth - 1));
  });

  it("`validate` and `add` print the refusal and exit 1, with no stack trace", async () => {
    const a = join(dir, "arrays.json");
    const o = join(dir, "objects.json");
    writeFileSync(a, arrays);
    writeFileSync(o, underMachine);
    const db = join(dir, "db");
    for (const args of [
      ["results", "validate", a, o],
      ["results", "add", "--db", db, a, o],
    ]) {
      const r = await runFable(args);
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, STACK_TRACE);
      assert.match(r.stderr, /arrays\.json: \/0\/0.*the limit of 32 levels \(depth\).*\[ELIMIT\]/);
      assert.match(r.stderr, /objects\.json: \/machine\/a\/a.*\[ELIMIT\]/);
    }
    assert.deepEqual(snapshot(db), {});
  });
});

describe("long strings (defect: quadratic privacy scan)", () => {
  // Each family defeated one of the old patterns: letters and digits (e-mail's unanchored local part,
  // serials), dotted labels (hostnames), "<" and spaces (the markup pattern's two \s*).
  const families: Record<string, (n: number) => string> = {
    letters: (n) => "a".repeat(n),
    "letters and digits": (n) => "a1".repeat(n / 2),
    "dotted labels": (n) => "a.".repeat(n / 2),
    digits: (n) => "1".repeat(n),
    "a tag's opening and spaces": (n) => "<" + " ".repeat(n - 1),
    "javascript without a colon": (n) => "javascript ".repeat(n / 11),
  };

  // In a child process, so that a scan that never ends (before the fix: hours at this length) is stopped;
  // the guard is far above the time the scan takes, so it never decides on noise.
  it("a 1,000,000-character string of each family is scanned (linear time)", () => {
    const scan = join(repoRoot, "dist", "src", "results", "scan.js");
    const script = `
      const { scanString } = await import(${JSON.stringify(scan)});
      const families = { ${Object.entries(families)
        .map(([name, make]) => `${JSON.stringify(name)}: ${make.toString()}`)
        .join(", ")} };
      const counts = {};
      for (const [name, make] of Object.entries(families)) counts[name] = scanString(make(1e6), "f", "/x").length;
      console.log(JSON.stringify(counts));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.signal, null, "the scan did not finish within 120 s");
    assert.equal(r.status, 0, r.stderr);
    const counts = JSON.parse(r.stdout) as Record<string, number>;
    assert.deepEqual(Object.keys(counts), Object.keys(families));
    for (const [name, count] of Object.entries(counts)) assert.ok(count <= 21, `${name}: ${count} problems`);
  });

  it("validation refuses a string over the limit, naming the limit and the pointer", () => {
    const doc = crafted({ "/runs/0/params/x": "a".repeat(1_000_000) });
    const c = checkResultText(JSON.stringify(doc), "long.json");
    assert.equal(c.problems.length, 1);
    assert.equal(c.problems[0]?.code, "ELIMIT");
    assert.equal(c.problems[0]?.pointer, "/runs/0/params/x");
    assert.match(c.problems[0]?.detail ?? "", /a string is longer than the limit of 4096 characters \(stringLength\)/);
  });

  it("a string within the limit but over its field's cap is a schema problem at its pointer", () => {
    const doc = crafted({ "/runs/4/params/wait": "a".repeat(201) });
    const c = checkResultText(JSON.stringify(doc), "long.json");
    assert.deepEqual(
      c.problems.map((p) => [p.code, p.pointer]),
      [["ESCHEMA", "/runs/4/params/wait"]],
    );
  });
});

describe("gzip bombs (defect: inflated to 512 MiB before refusal)", () => {
  /** Imports an archive in a child process; returns its error and its peak memory (maxRSS, KiB). */
  function importInChild(path: string): { error: string; maxRssKiB: number } {
    const importer = join(repoRoot, "dist", "src", "results", "legacy", "import.js");
    const script = `
      const { importArchive } = await import(${JSON.stringify(importer)});
      let error = "none";
      try { await importArchive(${JSON.stringify(path)}); } catch (e) { error = e.code + " " + e.message; }
      console.log(JSON.stringify({ error, maxRssKiB: process.resourceUsage().maxRSS }));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { error: string; maxRssKiB: number };
  }
  // Before the fix each of these inflated 512 MiB (peak memory 575 MiB) before it was refused.
  const MAX_RSS_KIB = 200 * 1024;

  it("2 GiB of zeros in a 2 MB .tar.gz stops at the end-of-archive block, in little memory", () => {
    const path = join(dir, "tmpZeros1.tar.gz");
    writeFileSync(path, gzipBomb(Buffer.alloc(0), 2048));
    const { error, maxRssKiB } = importInChild(path);
    assert.match(error, /^ELEGACY .*no logs\/uname in the archive/);
    assert.ok(maxRssKiB < MAX_RSS_KIB, `peak memory ${maxRssKiB} KiB`);
  });

  it("a member declaring 2 GiB is refused at its header, naming the member limit", () => {
    const path = join(dir, "tmpBomb01.tar.gz");
    writeFileSync(path, gzipBomb(tarHeader("tmp/tmpBomb01/logs/uname", 2 ** 31 - 1), 2048));
    const { error, maxRssKiB } = importInChild(path);
    assert.match(error, /^ELEGACY .*logs\/uname.*2147483647 bytes: over the limit of 1048576 bytes per member/);
    assert.ok(maxRssKiB < MAX_RSS_KIB, `peak memory ${maxRssKiB} KiB`);
  });

  it("members that add up past the archive's limit are refused there", () => {
    const members = Array.from({ length: 80 }, (_, i) => tarMember(`tmp/t/results/f${i}`, Buffer.alloc(1 << 20, 1)));
    const path = join(dir, "tmpMany01.tar.gz");
    writeFileSync(path, gzipBomb(tarOf(members), 0));
    const { error, maxRssKiB } = importInChild(path);
    assert.match(error, /^ELEGACY .*over the limit of 67108864 bytes inflated/);
    assert.ok(maxRssKiB < MAX_RSS_KIB + 64 * 1024, `peak memory ${maxRssKiB} KiB`);
  });
});

describe("other limits", () => {
  it("a file over the size limit is refused unread", () => {
    const path = join(dir, "huge.json");
    writeFileSync(path, Buffer.alloc(RESULT_LIMITS.fileBytes + 1, 0x20));
    const c = checkResultFile(path);
    assert.equal(c.problems[0]?.code, "ELIMIT");
    assert.match(c.problems[0]?.detail ?? "", /16777217 bytes, more than the limit of 16777216 bytes \(fileBytes\)/);
  });

  it("duplicate keys, non-finite numbers, byte order marks and invalid UTF-8 are refused by name", () => {
    const text = JSON.stringify(validDoc());
    const dup = text.replace('"schema":1,', '"schema":1,"schema":1,');
    assert.match(checkResultText(dup, "d").problems[0]?.message ?? "", /\/schema: the key "schema" appears twice/);
    const inf = text.replace(/"elapsedNs":\d+/, '"elapsedNs":1e999');
    assert.match(checkResultText(inf, "i").problems[0]?.message ?? "", /\/runs\/0\/elapsedNs: 1e999 is beyond/);
    assert.match(checkResultText("\ufeff" + text, "b").problems[0]?.message ?? "", /byte order mark/);
    const path = join(dir, "latin1.json");
    writeFileSync(path, Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0xff, 0x7d])]));
    assert.match(checkResultFile(path).problems[0]?.message ?? "", /not UTF-8 text/);
  });

  it("objects and arrays past the limit of one file are refused where the limit is reached", () => {
    assert.equal(RESULT_LIMITS.containers, 1_000_000);
    // The outer array and ten of 99,999 empty arrays (100,000 each): one over, at the last.
    const group = (k: number) => `[${Array(k).fill("[]").join(",")}]`;
    const c = checkResultText(`[${Array(10).fill(group(99_999)).join(",")}]`, "many.json");
    assert.equal(c.problems.length, 1);
    assert.equal(c.problems[0]?.code, "ELIMIT");
    assert.equal(c.problems[0]?.pointer, "/9/99998");
    assert.match(c.problems[0]?.detail ?? "", /more than the limit of 1000000 objects and arrays \(containers\)/);
    // One fewer is within the limit (and then refused as not a result).
    const within = checkResultText(`[${[...Array(9).fill(group(99_999)), group(99_998)].join(",")}]`, "many.json");
    assert.match(within.problems[0]?.message ?? "", /not a JSON object/);
  });

  it("a lone surrogate is refused as not Unicode text", () => {
    const doc = crafted({ "/runs/4/params/wait": "blocking\ud800" });
    const c = checkResultText(JSON.stringify(doc), "s");
    assert.ok(c.problems.some((p) => p.code === "EMARKUP" && p.pointer === "/runs/4/params/wait"));
  });
});
