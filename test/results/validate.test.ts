/**
 * `fable results validate` and the guard of `fable results add`: crafted bad files (unknown keys, private
 * data, names that would escape the database, markup, impossible figures, unknown methods) are each
 * rejected with a problem naming the file, the field and what is wrong; a bad file is never added and
 * nothing else in the database changes.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { addResults } from "../../src/results/db.js";
import { relativePathOf } from "../../src/results/layout.js";
import { InvalidResultError, type ProblemCode } from "../../src/results/problems.js";
import { summarize, thin, throughputWindows } from "../../src/bench/statistics.js";
import { checkResultText } from "../../src/results/validate.js";
import { runFable, scratchDir } from "../kit/cli.js";
import { crafted, snapshot, validDoc, writeJson } from "./fixtures.js";

type Expect = [code: ProblemCode, pointer: string, message: RegExp];

function problemsOf(doc: unknown, words: string[] = []) {
  return checkResultText(JSON.stringify(doc), "crafted.json", { privateWords: words }).problems;
}

/** The document has exactly the expected problems (code, pointer, message), in any order. */
function expectProblems(doc: unknown, expected: Expect[], words: string[] = []): void {
  const problems = problemsOf(doc, words);
  const got = problems.map((p) => `${p.code} ${p.pointer}: ${p.detail}`);
  for (const [code, pointer, message] of expected) {
    const match = problems.find((p) => p.code === code && p.pointer === pointer && message.test(p.detail));
    assert.ok(match, `expected ${code} at ${pointer} matching ${message}; got:\n${got.join("\n")}`);
    assert.match(match.message, /^crafted\.json: /, "every problem names the file");
  }
  assert.equal(problems.length, expected.length, `unexpected problems:\n${got.join("\n")}`);
}

describe("results validate: crafted files", () => {
  it("accepts a valid document with no problem", () => {
    assert.deepEqual(problemsOf(validDoc()), []);
  });

  it("reports every unknown key, each at its pointer", () => {
    expectProblems(
      crafted({
        "/hostname": "box",
        "/machine/serial": "X",
        "/runs/1/user": "me",
        "/machine/environment/cpu/microcode": "0xf0",
      }),
      [
        ["EUNKNOWNKEY", "/hostname", /unknown key "hostname".*allow-listed/],
        ["EUNKNOWNKEY", "/machine/serial", /unknown key "serial"/],
        ["EUNKNOWNKEY", "/machine/environment/cpu/microcode", /unknown key "microcode"/],
        ["EUNKNOWNKEY", "/runs/1/user", /unknown key "user"/],
      ],
    );
  });

  it("rejects private data in any string, masked in the message", () => {
    const cases: [string, unknown, RegExp][] = [
      ["/machine/environment/cpu/model", "Intel Xeon on build-07.corp.example.com", /a hostname/],
      ["/machine/environment/cpu/model", "CPU of alice-laptop.local", /a hostname/],
      ["/runs/0/params/note", "peer at 192.168.1.20:4000", /an IPv4 address/],
      ["/runs/0/params/note", "bound to fe80::1ff:fe23:4567:890a", /an IPv6 address/],
      ["/runs/0/params/note", "nic 00:1a:2b:3c:4d:5e", /a MAC address/],
      ["/runs/0/params/note", "ask alice@example.org", /an e-mail address/],
      ["/runs/0/params/note", "samples in /home/alice/fable", /a home directory path/],
      ["/runs/0/params/note", "run from /Users/bob", /a home directory path/],
      ["/runs/0/params/note", "built in /root/work", /a home directory path/],
      ["/machine/environment/cpu/model", "Example CPU SN C02XK0ABJG5H", /a serial-number-like string/],
      ["/runs/0/params/note", "board 4c4c4544-0042-3510-8058-b4c04f564d32", /a UUID/],
    ];
    for (const [pointer, value, message] of cases) {
      const problems = problemsOf(crafted({ [pointer]: value }));
      assert.equal(problems.length, 1, `${JSON.stringify(value)}: ${problems.map((p) => p.message).join("; ")}`);
      const [p] = problems;
      assert.equal(p?.code, "EPRIVATE");
      assert.equal(p?.pointer, pointer);
      assert.match(p?.detail ?? "", message);
      assert.match(p?.detail ?? "", /never hold private data/);
      // The message shows a few characters, never the whole value.
      assert.ok(!(p?.message ?? "").includes(String(value).split(" ").pop() ?? "?"), p?.message);
    }
    // A key can hold private data too, and this machine's own hostname and user name are looked for.
    expectProblems(
      crafted({ "/runs/0/params/alice_example_org": 1, "/runs/1/params/who": "ran by gandalf" }, validDoc()),
      [["EPRIVATE", "/runs/1/params/who", /this machine's hostname or user name/]],
      ["gandalf"],
    );
  });

  it("does not mistake ordinary values for private data", () => {
    const fine = crafted({
      "/machine/environment/kernel/release": "2.6.32-131.12.1.mc.ug.1.el6.x86_64",
      "/machine/environment/runtime/v8": "11.3.244.8-node.38",
      "/machine/environment/cpu/model": "[ec2-c1.xlarge] Intel(R) Xeon(R) CPU E5410 @ 2.33GHz",
      "/runs/0/params/message": "Uint8Array, copied by structured clone",
      "/runs/1/params/peer": "127.0.0.1:40000 and ::1",
      "/runs/2/params/node": "v20.20.2",
    });
    assert.deepEqual(
      problemsOf(fine).map((p) => p.message),
      [],
    );
  });

  it("rejects HTML, script and control characters", () => {
    expectProblems(crafted({ "/machine/environment/cpu/model": "<script>alert(1)</script>" }), [
      ["EMARKUP", "/machine/environment/cpu/model", /an HTML tag.*plain text only/],
    ]);
    expectProblems(crafted({ "/runs/0/params/link": "javascript:alert(1)" }), [
      ["EMARKUP", "/runs/0/params/link", /a javascript: URL/],
    ]);
    expectProblems(crafted({ "/runs/0/params/note": "fine\u202etxt.exe" }), [
      ["EMARKUP", "/runs/0/params/note", /a control or bidi character/],
    ]);
    expectProblems(crafted({ "/runs/0/params/<img src=x onerror=alert(1)>": 1 }), [
      ["EMARKUP", "/runs/0/params/<img src=x onerror=alert(1)>", /the key holds an HTML tag/],
      ["ESCHEMA", "/runs/0/params", /must match pattern/],
    ]);
  });

  it("rejects every name used for a database path that could escape it", () => {
    expectProblems(crafted({ "/machine/id": "../../x" }), [["ESCHEMA", "/machine/id", /must match pattern/]]);
    expectProblems(crafted({ "/machine/arch": "../x" }), [["ESCHEMA", "/machine/arch", /must match pattern/]]);
    expectProblems(crafted({ "/machine/arch": "x..y" }), [
      ["EPATH", "/machine/arch", /cannot name a database directory \(arch\)/],
    ]);
    expectProblems(crafted({ "/createdAt": "../../../2026-11-20" }), [["ESCHEMA", "/createdAt", /must match pattern/]]);
    // The CPU slug is made of letters, digits and dashes only: a model cannot make it climb.
    const doc = validDoc();
    doc.machine.environment.cpu.model = "../../../etc/passwd";
    assert.deepEqual(problemsOf(doc), []);
    // Behind the schema, the path builder refuses any component outside its pattern.
    const place = { schema: "1", arch: "x64", cpuSlug: "intel-xeon", machineId8: "a1b2c3d4", date: "2026-11-20" };
    for (const [component, value] of [
      ["machineId8", "../../x"],
      ["cpuSlug", "../x"],
      ["cpuSlug", "a/b"],
      ["arch", ".."],
      ["arch", "x64/.."],
      ["date", "2026-11-20/../.."],
      ["schema", "1/.."],
    ] as const) {
      assert.throws(
        () => relativePathOf({ ...place, [component]: value }, "0123456789ab"),
        /cannot name a database path/,
      );
    }
    assert.throws(() => relativePathOf(place, "../../../x"), /cannot name a database path/);
  });

  it("rejects impossible statistics, topology and throughput", () => {
    const run1 = validDoc().runs[1];
    assert.ok(run1?.status === "ok");
    expectProblems(crafted({ "/runs/1/stats/p90": run1.stats.p50 - 1 }), [
      ["ESTATS", "/runs/1/stats/p90", /below p50.*in order/],
    ]);
    expectProblems(crafted({ "/runs/1/stats/mean": run1.stats.max * 2 }), [
      ["ESTATS", "/runs/1/stats/mean", /outside \[min/],
    ]);
    expectProblems(crafted({ "/runs/1/stats/n": 7 }), [
      ["ESTATS", "/runs/1/stats/n", /differs from the 10 samples/],
      ["ESTATS", "/runs/1/iterations", /10 iterations but 7 round trips/],
    ]);
    expectProblems(crafted({ "/runs/1/cpus": [0, 5] }), [
      ["ETOPOLOGY", "/runs/1/cpus/1", /cpu5 is not in the machine's topology/],
    ]);
    expectProblems(crafted({ "/runs/1/placement": "cross-package" }), [
      ["ETOPOLOGY", "/runs/1/placement", /"shared-l3" in the topology, not "cross-package"/],
    ]);
    const partial = validDoc();
    partial.runs.splice(3, 1);
    expectProblems(partial, [["ETOPOLOGY", "/config/pairs", /matrix of pipe at 64 B has 3 pairs, not 2 x 2/]]);
    expectProblems(crafted({ "/runs/4/rate/bytesPerSecond": 2e12 }), [
      ["ETHROUGHPUT", "/runs/4/rate/bytesPerSecond", /above the physical bound of 1 TB\/s/],
      ["ETHROUGHPUT", "/runs/4/rate/bytesPerSecond", /disagrees with 128 messages of 4096 B/],
      ["ETHROUGHPUT", "/runs/4/rate/messagesPerSecond", /disagree with 2000000000000 B\/s/],
    ]);
    expectProblems(crafted({ "/createdAt": "2026-02-30T10:00:00Z" }), [["EDATE", "/createdAt", /not a real date/]]);
    expectProblems(crafted({ "/createdAt": "2999-01-01T00:00:00Z" }), [["EDATE", "/createdAt", /in the future/]]);
  });

  it("rejects unknown suites, mechanisms and method versions", () => {
    expectProblems(crafted({ "/suite/version": "99.0.0" }), [["ESUITE", "/suite/version", /newer than this fable/]]);
    expectProblems(crafted({ "/benchmarks/pipe/method": "1.2.0" }), [
      ["EMETHOD", "/benchmarks/pipe/method", /method 1\.2\.0 of pipe is not one this fable knows \(1\.1\.x, 1\.0\.x\)/],
    ]);
    expectProblems(crafted({ "/benchmarks/pipe/method": "1.0.7" }), []); // PATCH keeps figures comparable
    expectProblems(crafted({ "/benchmarks/teleport": { method: "1.0.0", probe: "engine" } }), [
      ["EMETHOD", "/benchmarks/teleport", /no mechanism "teleport"/],
    ]);
    expectProblems(crafted({ "/benchmarks/pipe/probe": "node" }), [
      ["EMETHOD", "/benchmarks/pipe/probe", /engine probe, not "node"/],
    ]);
    expectProblems(crafted({ "/runs/0/mechanism": "unix" }), [
      ["EMETHOD", "/runs/0/mechanism", /"unix" is not listed in benchmarks/],
      ["ETOPOLOGY", "/config/pairs", /matrix of pipe at 64 B has 3 pairs/],
      ["ETOPOLOGY", "/config/pairs", /matrix of unix at 64 B has 1 pairs/],
    ]);
    // A converted ipc-bench result has a legacy object (and no fable runs).
    expectProblems(crafted({ "/suite/name": "ipc-bench" }), [["ESCHEMA", "", /must have required property 'legacy'/]]);
  });

  it("throughput statistics of windows from method 1.1; a file of method 1.0 (batch rates) still validates", () => {
    // validDoc's throughput run is a method 1.0 run: statistics of batch rates, no window.
    assert.deepEqual(problemsOf(validDoc()), []);
    const doc = validDoc();
    doc.benchmarks["pipe"] = { method: "1.1.0", probe: "engine" };
    const run = doc.runs[4];
    assert.ok(run?.status === "ok" && run.mode === "throughput");
    // 4000 batches of 16 x 4 KiB over 8 ms (a reader that sleeps, then drains nine batches): eight windows.
    const batches = Array.from({ length: 4000 }, (_, i) => (i % 10 === 0 ? 18_200 : 200));
    const windows = throughputWindows(batches, run.batchMessages * run.size);
    run.stats = summarize(windows.rates);
    run.statsWindowNs = windows.windowNs;
    run.iterations = batches.length * run.batchMessages;
    run.elapsedNs = batches.reduce((a, b) => a + b, 0);
    run.rate = {
      bytesPerSecond: (run.iterations * run.size * 1e9) / run.elapsedNs,
      messagesPerSecond: (run.iterations * 1e9) / run.elapsedNs,
    };
    run.samples = { values: thin(batches, 1000), of: batches.length };
    assert.equal(run.stats.n, 8);
    assert.deepEqual(problemsOf(doc), []);
    expectProblems(crafted({ "/runs/4/statsWindowNs": undefined }, doc), [
      ["ESCHEMA", "/runs/4/statsWindowNs", /method 1\.1 or later states its statistics window/],
    ]);
    expectProblems(crafted({ "/runs/4/statsWindowNs": windows.windowNs / 2 }, doc), [
      ["ESTATS", "/runs/4/statsWindowNs", /8 windows of .* ns: shorter than 1000000 ns/],
      ["ESTATS", "/runs/4/stats/n", /8 windows of .* do not cover the .* ns measured/],
    ]);
    // Per-batch statistics under a 1.1 method: their mean is not the phase's rate.
    const perBatch = summarize(batches.map((ns) => (run.batchMessages * run.size * 1e9) / ns));
    expectProblems(crafted({ "/runs/4/stats": perBatch }, doc), [
      ["ESTATS", "/runs/4/stats/mean", /the windows' mean .* is not the phase's rate/],
      ["ESTATS", "/runs/4/stats/n", /4000 windows of .* do not cover/],
    ]);
    expectProblems(crafted({ "/runs/4/iterations": run.iterations + 1 }, doc), [
      ["ESTATS", "/runs/4/iterations", /64001 messages are not the 4000 batches of 16/],
    ]);
    // A window on a method 1.0 run is refused: its statistics are batch rates.
    expectProblems(crafted({ "/runs/4/statsWindowNs": 1e6 }), [
      ["ESCHEMA", "/runs/4/statsWindowNs", /of method 1\.0\.0 has no statistics windows/],
    ]);
    // The physical bound still holds for windows.
    expectProblems(crafted({ "/runs/4/stats/max": 2e12 }, doc), [
      ["ETHROUGHPUT", "/runs/4/stats/max", /above the physical bound of 1 TB\/s/],
    ]);
  });

  it("names what is not JSON or of an unknown format version", () => {
    const [notJson] = checkResultText("{nope", "x.json").problems;
    assert.equal(notJson?.code, "EJSON");
    assert.match(notJson?.message ?? "", /^x\.json: \(document\): not JSON/);
    expectProblems(crafted({ "/schema": 2 }), [["EVERSION", "/schema", /newer than this fable reads/]]);
  });
});

describe("results add: a bad file changes nothing", () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = scratchDir("validate")));
  after(() => cleanup());

  const bad: Record<string, Record<string, unknown>> = {
    "unknown-key": crafted({ "/machine/hostname": "box" }),
    hostname: crafted({ "/machine/environment/cpu/model": "CPU of db1.prod.example.net" }),
    ip: crafted({ "/runs/0/params/peer": "10.1.2.3" }),
    mac: crafted({ "/runs/0/params/nic": "aa-bb-cc-dd-ee-ff" }),
    email: crafted({ "/runs/0/params/owner": "bob@example.com" }),
    "home-path": crafted({ "/runs/0/params/dir": "/home/bob" }),
    serial: crafted({ "/runs/0/params/board": "PF2ABC123XYZ9" }),
    "traversal-id": crafted({ "/machine/id": "../../x" }),
    "traversal-arch": crafted({ "/machine/arch": "../../x" }),
    "traversal-arch-dots": crafted({ "/machine/arch": "x..y" }),
    script: crafted({ "/machine/environment/cpu/model": '<script>alert("x")</script>' }),
  };

  it("each crafted file is refused with its problem, and the database is unchanged", () => {
    const db = join(dir, "db");
    const good = writeJson(dir, "good.json", validDoc());
    const [first] = addResults(db, [good]);
    assert.equal(first?.outcome, "added");
    const before = snapshot(db);
    for (const [name, doc] of Object.entries(bad)) {
      const file = writeJson(dir, `${name}.json`, doc);
      assert.throws(
        () => addResults(db, [file]),
        (err: unknown) => {
          assert.ok(err instanceof InvalidResultError, String(err));
          assert.ok(err.problems.length >= 1);
          assert.ok(err.problems.every((p) => p.file === file));
          assert.match(err.message, new RegExp(`${name}\\.json: /`));
          return true;
        },
        name,
      );
      assert.deepEqual(snapshot(db), before, `${name} changed the database`);
    }
    // A good file beside a bad one is not added either: all or nothing.
    const other = validDoc();
    other.createdAt = "2026-11-21T10:00:00Z";
    const goodToo = writeJson(dir, "good-too.json", other);
    assert.throws(() => addResults(db, [goodToo, join(dir, "email.json")]), InvalidResultError);
    assert.deepEqual(snapshot(db), before);
  });

  it("the CLI prints every problem with file and field, exits 1, and adds nothing", async () => {
    const db = join(dir, "cli-db");
    mkdirSync(db);
    const files = ["unknown-key", "email", "traversal-id", "script"].map((n) =>
      writeJson(dir, `cli-${n}.json`, bad[n]),
    );
    const validate = await runFable(["results", "validate", ...files]);
    assert.equal(validate.code, 1, validate.stderr);
    assert.match(validate.stderr, /cli-unknown-key\.json: \/machine\/hostname: unknown key "hostname"/);
    assert.match(validate.stderr, /cli-email\.json: \/runs\/0\/params\/owner: the value holds an e-mail address/);
    assert.match(validate.stderr, /cli-traversal-id\.json: \/machine\/id: must match pattern/);
    assert.match(validate.stderr, /cli-script\.json: \/machine\/environment\/cpu\/model: the value holds an HTML tag/);
    assert.match(validate.stdout, /4 file\(s\): 0 valid, 4 with problems/);
    const add = await runFable(["results", "add", "--db", db, ...files]);
    assert.equal(add.code, 1);
    assert.match(add.stderr, /nothing was added/);
    assert.deepEqual(snapshot(db), {});
  });
});
