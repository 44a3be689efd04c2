/**
 * Fuzzing the results database: seeded mutations of real result documents (deep nesting, long strings,
 * huge numbers, `__proto__` and `constructor` keys, duplicate keys, byte order marks, invalid UTF-8, lone
 * surrogates, NaN-like strings, control characters, markup in every string field, truncation, flipped
 * bytes), and hostile legacy archives (traversal, links, devices, bombs, truncation, duplicate members).
 *
 * Nothing may throw; a document is added only when it has no problem, and then it validates again from
 * the database; nothing is written outside the database; memory stays bounded. The slowest input of each
 * kind is reported. 100,000 documents per run by default; FABLE_FUZZ_LONG=1 runs ten times more, and
 * FABLE_FUZZ_SEED repeats a run (the seed is printed).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { canonicalJson } from "../../src/results/canonical.js";
import { prepare, store } from "../../src/results/db.js";
import { importArchive } from "../../src/results/legacy/import.js";
import { checkResultBytes, checkResultFile } from "../../src/results/validate.js";
import { checkLimits, measureLimits } from "../../src/results/limits.js";
import { FableError } from "../../src/errors.js";
import { scratchDir } from "../kit/cli.js";
import { deepArrays, gzipBomb, seededRandom, tarHeader, tarMember, tarOf } from "../kit/hostile-results.js";
import { snapshot, validDoc } from "./fixtures.js";
import { realQuickResult } from "./real-result.js";

const LONG = process.env["FABLE_FUZZ_LONG"] === "1";
const SEED = Number(process.env["FABLE_FUZZ_SEED"] ?? Date.now() % 2 ** 31);
const DOCUMENTS = LONG ? 1_000_000 : 100_000;
const ARCHIVES = LONG ? 10_000 : 1_000;
/** Peak memory allowed for the whole run (the test process starts at about 100 MB). */
const MAX_RSS = 768 * 1024 * 1024;

type Random = () => number;
const pick = <T>(r: Random, list: readonly T[]): T => list[Math.floor(r() * list.length)] as T;

/** Positions of every string value ("...") after a key in a pretty-printed document: cheap targets. */
function stringValues(text: string): [number, number][] {
  const out: [number, number][] = [];
  for (const m of text.matchAll(/": "((?:[^"\\]|\\.)*)"/g)) out.push([m.index + 4, m.index + 4 + (m[1]?.length ?? 0)]);
  return out;
}

function numberValues(text: string): [number, number][] {
  const out: [number, number][] = [];
  for (const m of text.matchAll(/(?<=[:[,]\s*)-?\d[\d.eE+-]*/g)) out.push([m.index, m.index + m[0].length]);
  return out;
}

const splice = (text: string, [from, to]: [number, number], by: string) => text.slice(0, from) + by + text.slice(to);

const MARKUP = ["<script>alert(1)</script>", "<img src=x onerror=a>", "javascript:alert(1)", "</title>", "<!--"];
const NAN_LIKE = ['"NaN"', '"Infinity"', '"-Infinity"', '"1e999"', "-0", '"0x10"', '"1_000"', "null", "true"];
const KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "__defineGetter__"];

interface Base {
  text: string;
  strings: [number, number][];
  numbers: [number, number][];
  objects: number[];
}

/** Each kind makes one hostile document from a base (text or bytes). */
const KINDS: Record<string, (r: Random, b: Base) => string | Buffer> = {
  "deep nesting": (r, b) => splice(b.text, pick(r, b.numbers), deepArrays(33 + Math.floor(r() * 5000))),
  "long string": (r, b) => splice(b.text, pick(r, b.strings), "x".repeat(200 + Math.floor(r() * 20_000))),
  "huge number": (r, b) =>
    splice(b.text, pick(r, b.numbers), pick(r, ["1e999", "-1e400", "9".repeat(70), "1e308", "-0.0e-999"])),
  "prototype keys": (r, b) => {
    const at = pick(r, b.objects);
    return b.text.slice(0, at + 1) + `"${pick(r, KEYS)}": {"polluted": true}, ` + b.text.slice(at + 1);
  },
  "duplicate key": (r, b) => {
    const at = pick(r, b.objects);
    const m = /^\{\s*("[^"]*":\s*[^,{[\]}]*),/.exec(b.text.slice(at));
    return m?.[1] === undefined ? b.text + "}" : b.text.slice(0, at + 1) + m[1] + "," + b.text.slice(at + 1);
  },
  "byte order mark": (_r, b) => "\ufeff" + b.text,
  "invalid UTF-8": (r, b) => {
    const bytes = Buffer.from(b.text);
    bytes[Math.floor(r() * bytes.length)] = pick(r, [0xff, 0xc3, 0x80, 0xed, 0xf8]);
    return bytes;
  },
  "lone surrogate": (r, b) => splice(b.text, pick(r, b.strings), pick(r, ["\\ud800", "a\\udfffb", "\\udc00\\ud800"])),
  "NaN-like": (r, b) => splice(b.text, pick(r, b.numbers), pick(r, NAN_LIKE)),
  "control character": (r, b) => {
    const code = pick(r, [0, 7, 8, 0x1b, 0x7f, 0x85, 0x2028, 0x202e, 0x2066]);
    const raw = r() < 0.5;
    return splice(
      b.text,
      pick(r, b.strings),
      `a${raw ? String.fromCharCode(code) : `\\u${code.toString(16).padStart(4, "0")}`}b`,
    );
  },
  markup: (r, b) => splice(b.text, pick(r, b.strings), pick(r, MARKUP).replaceAll('"', "'")),
  truncation: (r, b) => b.text.slice(0, Math.floor(r() * b.text.length)),
  "flipped byte": (r, b) => {
    const bytes = Buffer.from(b.text);
    bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
    return bytes;
  },
};

/** Kinds whose documents usually pass the limits and so are validated in full. */
const EXPENSIVE = new Set([
  "prototype keys",
  "lone surrogate",
  "NaN-like",
  "control character",
  "markup",
  "flipped byte",
]);

/** Archive kinds: each makes one .tar.gz. */
function archiveKinds(): Record<string, (r: Random) => Buffer> {
  const run = "tmp/tmpFuzzed/";
  const uname = tarMember(`${run}logs/uname`, "Linux 3.2.0 x86_64 x86_64 x86_64 GNU/Linux\n");
  const gz = (members: Buffer[]) => gzipBomb(tarOf(members), 0);
  const name = (r: Random) =>
    pick(r, ["../", "../../", "/", "logs/sys-cpu/../../", "logs/sys-cpu/./", "", "logs//"]) + pick(r, ["pwned", "x"]);
  return {
    traversal: (r) => gz([uname, tarMember(`${run}${name(r)}`, "x"), tarMember(`${run}logs/sys-cpu/${name(r)}`, "x")]),
    links: (r) =>
      gz([uname, tarMember(`${run}logs/cpuinfo`, "", pick(r, ["1", "2"]), pick(r, ["/etc/passwd", "../x"]))]),
    devices: (r) =>
      gz([uname, tarMember(`${run}logs/${pick(r, ["cpuinfo", "meminfo"])}`, "", pick(r, ["3", "4", "6"]))]),
    "declared bomb": (r) => gzipBomb(tarHeader(`${run}logs/uname`, 2 ** 20 + 1 + Math.floor(r() * 2 ** 33)), 4),
    "zeros bomb": (r) => gzipBomb(Buffer.alloc(0), 1 + Math.floor(r() * 256)),
    truncation: (r) => {
      const whole = gz([uname, tarMember(`${run}logs/cpuinfo`, "processor : 0\n".repeat(200))]);
      return whole.subarray(0, Math.floor(r() * whole.length));
    },
    "duplicate members": () => gz([uname, uname]),
    "flipped byte": (r) => {
      const whole = Buffer.from(gz([uname, tarMember(`${run}logs/cpuinfo`, "processor : 0\n".repeat(20))]));
      whole[Math.floor(r() * whole.length)] = Math.floor(r() * 256);
      return whole;
    },
  };
}

let dir: string;
let cleanup: () => void;
let shmDir: string;
before(() => {
  ({ dir, cleanup } = scratchDir("fuzz"));
  // The database of added documents in memory where there is /dev/shm: each is written with fsync, which on
  // a disk cost more than validating it.
  shmDir = existsSync("/dev/shm") ? mkdtempSync(join("/dev/shm", "fable-fuzz-")) : join(dir, "shm");
});
after(() => {
  cleanup();
  rmSync(shmDir, { recursive: true, force: true });
});

describe(`fuzzing the results database (seed ${SEED})`, () => {
  const slowest = new Map<string, { ms: number; index: number }>();
  const time = (kind: string, index: number, f: () => void) => {
    const start = performance.now();
    f();
    const ms = performance.now() - start;
    if (ms > (slowest.get(kind)?.ms ?? -1)) slowest.set(kind, { ms, index });
  };
  let peakRss = 0;
  const sampleMemory = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));

  it(`${DOCUMENTS} mutated documents: nothing throws, only documents without problems are added`, () => {
    const bases: Base[] = [canonicalJson(validDoc()), canonicalJson(realQuickResult())].map((text) => ({
      text,
      strings: stringValues(text),
      numbers: numberValues(text),
      objects: [...text.matchAll(/\{/g)].map((m) => m.index),
    }));
    const db = join(shmDir, "db");
    // Kinds that pass the limits run the whole validation (milliseconds each); the others are refused
    // in a fraction of that, so they are drawn more often: every kind still runs thousands of times.
    const kinds = Object.entries(KINDS).flatMap((k) => Array<typeof k>(EXPENSIVE.has(k[0]) ? 1 : 12).fill(k));
    const r = seededRandom(SEED);
    let added = 0;
    let refused = 0;
    let agreed = 0;
    for (let i = 0; i < DOCUMENTS; i++) {
      const [kind, make] = kinds[i % kinds.length] as [string, (r: Random, b: Base) => string | Buffer];
      const input = make(r, pick(r, bases));
      time(kind, i, () => {
        const checked = checkResultBytes(typeof input === "string" ? Buffer.from(input) : input, `fuzz-${i}.json`);
        if (checked.problems.length > 0 || checked.doc === null) {
          refused++;
          return;
        }
        const [stored] = store(db, [prepare(checked.doc, `fuzz-${i}`)]);
        assert.deepEqual(checkResultFile(stored?.path ?? "").problems, [], `${kind} #${i} was added but is invalid`);
        added++;
      });
      // The fast limits pass (every file) finds what the exact one (run to name it) finds, duplicate keys
      // aside (the parsed value's key count tells those); checked on a sample, as it costs two more passes.
      if (i % 16 === 0 && typeof input === "string") {
        const exact = checkLimits(input, "f");
        const twice = exact?.code === "EJSON";
        if (!twice) assert.equal(measureLimits(input, "f").problem?.message, exact?.message, `${kind} #${i}`);
        agreed++;
      }
      if (i % 1000 === 0) sampleMemory();
    }
    sampleMemory();
    console.log(`seed ${SEED}: ${DOCUMENTS} documents, ${refused} refused, ${added} added (valid)`);
    assert.ok(agreed > DOCUMENTS / 32);
    assert.equal(added + refused, DOCUMENTS);
    assert.ok(refused > DOCUMENTS / 2);
  });

  it(`${ARCHIVES} hostile archives: each refused with a typed error, nothing written outside`, async () => {
    const r = seededRandom(SEED + 1);
    const kinds = Object.entries(archiveKinds());
    const around = snapshot(dir);
    const tmpBefore = readdirSync("/tmp").filter((n) => n.includes("pwned")).length;
    writeFileSync(join(dir, "marker"), "");
    for (let i = 0; i < ARCHIVES; i++) {
      const [kind, make] = kinds[i % kinds.length] as [string, (r: Random) => Buffer];
      const path = join(dir, `tmpFuzz${i % 16}.tar.gz`);
      writeFileSync(path, make(r));
      const start = performance.now();
      await assert.rejects(importArchive(path), (err) => err instanceof FableError, `${kind} #${i}`);
      const ms = performance.now() - start;
      if (ms > (slowest.get(`archive: ${kind}`)?.ms ?? -1)) slowest.set(`archive: ${kind}`, { ms, index: i });
      if (i % 100 === 0) sampleMemory();
    }
    const now = snapshot(dir);
    for (const name of Object.keys(now)) {
      assert.ok(name in around || /^tmpFuzz\d+\.tar\.gz$|^marker$/.test(name), `${name} was written`);
    }
    assert.equal(readdirSync("/tmp").filter((n) => n.includes("pwned")).length, tmpBefore);
  });

  it("memory stayed bounded; the slowest input of each kind", () => {
    const lines = [...slowest].map(([kind, { ms, index }]) => `  ${kind}: ${ms.toFixed(1)} ms (#${index})`);
    console.log(
      `seed ${SEED}: peak memory ${(peakRss / 2 ** 20).toFixed(0)} MiB; slowest per kind:\n${lines.join("\n")}`,
    );
    assert.ok(peakRss < MAX_RSS, `peak memory ${peakRss} bytes`);
  });
});
