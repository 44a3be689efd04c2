import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { configDir, machineId, suiteInfo } from "../../src/bench/machine.js";
import { scrubText } from "../../src/bench/privacy.js";

const dir = mkdtempSync(join(tmpdir(), "fable-machine-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("machine identity", () => {
  it("makes a random id once, keeps it private to the user, and reuses it", () => {
    const config = join(dir, "a");
    const id = machineId(config);
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal(machineId(config), id);
    assert.equal(statSync(join(config, "bench-id")).mode & 0o777, 0o600);
    assert.notEqual(machineId(join(dir, "b")), id, "two config dirs, two random ids");
  });

  it("refuses an id file that was tampered with instead of silently replacing it", () => {
    const config = join(dir, "c");
    machineId(config);
    writeFileSync(join(config, "bench-id"), "my-hostname\n");
    assert.throws(() => machineId(config), { code: "ECONFIG", message: /bench-id does not hold/ });
    assert.equal(readFileSync(join(config, "bench-id"), "utf8"), "my-hostname\n");
  });

  it("finds the config dir from FABLE_CONFIG_DIR, then XDG_CONFIG_HOME", () => {
    assert.equal(configDir({ FABLE_CONFIG_DIR: "/x/y" }), "/x/y");
    assert.equal(configDir({ XDG_CONFIG_HOME: "/cfg" }), "/cfg/fable");
  });

  it("knows the suite's version and, in a checkout, its commit", () => {
    const s = suiteInfo();
    assert.match(s.version, /^\d+\.\d+\.\d+$/);
    if (s.commit !== null) assert.match(s.commit, /^[0-9a-f]{40}$/);
  });

  it("scrubs the home directory from free text", () => {
    const home = process.env["HOME"] ?? "/root";
    assert.equal(scrubText(`cannot open ${home}/x`).includes(home + "/"), false);
  });
});
