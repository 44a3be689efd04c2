import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readEnvironment } from "../../src/bench/environment.js";
import { hardwareKey, modelWithoutClock } from "../../src/bench/machine.js";
import { parseResult, type ResultFile, ResultFormatError, validateResult } from "../../src/bench/result.js";
import { summarize } from "../../src/bench/statistics.js";
import { readTopology } from "../../src/bench/topology.js";

function validDoc(): ResultFile {
  const topology = readTopology();
  const environment = readEnvironment();
  return {
    schema: 1,
    createdAt: "2026-11-22T10:00:00Z",
    suite: { name: "fable-io", version: "0.1.0", commit: null, dirty: null, engine: "1.0.0" },
    machine: {
      id: "0123456789abcdef0123456789abcdef",
      hardwareKey: hardwareKey("x64", topology, environment),
      arch: "x64",
      topology,
      environment,
    },
    config: { quick: true, budgetMs: 100, warmupMs: 20, pairs: "representative", sizes: [64], modes: ["latency"] },
    benchmarks: { pipe: { method: "1.0.0", probe: "engine" } },
    runs: [
      {
        mechanism: "pipe",
        mode: "latency",
        size: 64,
        cpus: [0, 1],
        placement: "shared-l3",
        numaDistance: null,
        status: "ok",
        unit: "ns",
        stats: summarize([10_000, 11_000, 12_000]),
        iterations: 3,
        warmupIterations: 1,
        elapsedNs: 33_000,
        batchMessages: 1,
        clock: { source: "tsc", hz: 2.6e9, overheadNs: 9 },
        pinning: { verified: true, observed: [0, 1] },
        flags: ["budget-exhausted"],
        samples: { values: [10_000, 11_000, 12_000], of: 3 },
        params: { pipes: 2 },
      },
      {
        mechanism: "pipe",
        mode: "latency",
        size: 64,
        cpus: [1, 0],
        placement: "shared-l3",
        numaDistance: null,
        status: "failed",
        error: { code: "ESEQUENCE", message: "expected 3, received 4" },
      },
    ],
  };
}

function rejects(mutate: (doc: Record<string, unknown>) => void, field: RegExp, message?: RegExp): void {
  const doc = JSON.parse(JSON.stringify(validDoc())) as Record<string, unknown>;
  mutate(doc);
  assert.throws(
    () => parseResult(JSON.stringify(doc)),
    (err: unknown) => {
      assert.ok(err instanceof ResultFormatError, String(err));
      assert.equal(err.code, "ERESULTFORMAT");
      assert.match(err.field, field);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

describe("result file", () => {
  it("accepts a valid document with ok and failed runs", () => {
    const doc = validDoc();
    assert.deepEqual(parseResult(JSON.stringify(doc)), doc);
  });

  it("rejects unknown keys anywhere, naming the field", () => {
    rejects((d) => (d["hostname"] = "box"), /^\/$/, /unknown key "hostname"/);
    rejects((d) => ((d["machine"] as Record<string, unknown>)["serial"] = "X"), /^\/machine$/, /unknown key "serial"/);
    rejects(
      (d) => (((d["machine"] as Record<string, unknown>)["environment"] as Record<string, unknown>)["hostname"] = "b"),
      /environment/,
    );
    rejects(
      (d) => (((d["runs"] as Record<string, unknown>[])[0] as Record<string, unknown>)["user"] = "me"),
      /^\/runs\/0/,
    );
  });

  it("rejects out-of-shape values, naming the field", () => {
    rejects((d) => ((d["machine"] as Record<string, unknown>)["id"] = "not-hex"), /^\/machine\/id$/);
    rejects(
      (d) => (((d["runs"] as Record<string, unknown>[])[0] as Record<string, unknown>)["mode"] = "sideways"),
      /^\/runs\/0/,
    );
    rejects((d) => ((d["suite"] as Record<string, unknown>)["commit"] = "abc"), /^\/suite\/commit$/);
    rejects(
      (d) =>
        ((
          ((d["machine"] as Record<string, unknown>)["environment"] as Record<string, unknown>)["kernel"] as Record<
            string,
            unknown
          >
        )["release"] = "6.1 host=alice's box"),
      /kernel\/release/,
    );
  });

  it("refuses versions it does not know and text that is not JSON", () => {
    rejects((d) => (d["schema"] = 99), /^\/schema$/, /newer than this fable reads/);
    rejects((d) => (d["schema"] = "1"), /^\/schema$/);
    assert.throws(() => parseResult("{nope"), { code: "ERESULTFORMAT", message: /not JSON/ });
    assert.throws(() => parseResult("[]"), { code: "ERESULTFORMAT", message: /not a JSON object/ });
  });

  it("validateResult returns the same object when valid", () => {
    const doc = validDoc();
    assert.equal(validateResult(doc), doc);
  });

  it("hardware key ignores clock speed but not the CPU model", () => {
    assert.equal(modelWithoutClock("Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz"), "Intel(R) Xeon(R) CPU E5-2670 0");
    const t = readTopology();
    const e = readEnvironment();
    const fast = { ...e, cpu: { ...e.cpu, model: "Example CPU @ 3.00GHz" } };
    const slow = { ...e, cpu: { ...e.cpu, model: "Example CPU @ 2.00GHz" } };
    const other = { ...e, cpu: { ...e.cpu, model: "Other CPU @ 2.00GHz" } };
    assert.equal(hardwareKey("x64", t, fast), hardwareKey("x64", t, slow));
    assert.notEqual(hardwareKey("x64", t, fast), hardwareKey("x64", t, other));
    assert.match(hardwareKey("x64", t, e), /^[0-9a-f]{16}$/);
  });
});
