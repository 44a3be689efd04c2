import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CaError, issueLeaf, leaves, loadLeaf, rotateCa } from "../../src/daemon/tls-ca.js";

const root = mkdtempSync(join(tmpdir(), "fable-ca-test-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** True when `leaf` was signed by one of the certificates in `bundle`. */
function chains(leaf: string, bundle: string): boolean {
  const cert = new X509Certificate(leaf);
  return bundle
    .split(/(?=-----BEGIN CERTIFICATE-----)/)
    .some((ca) => cert.checkIssued(new X509Certificate(ca)) && cert.verify(new X509Certificate(ca).publicKey));
}

describe("tls CA", () => {
  it("keeps its directory 0700 and every file 0600; leaves are for both server and client", () => {
    const dir = join(root, "a");
    const leaf = issueLeaf(dir, "daemon");
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const f of readdirSync(dir)) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    const cert = new X509Certificate(leaf.cert);
    assert.ok(chains(leaf.cert, leaf.ca));
    assert.equal(cert.ca, false);
    assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.deepEqual(leaves(dir), ["daemon"]);
    assert.deepEqual(loadLeaf(dir, "daemon"), leaf);
  });

  it("rotates: new leaves chain to the new CA, and the bundle still trusts the old one", () => {
    const dir = join(root, "b");
    const before = issueLeaf(dir, "x");
    rotateCa(dir);
    const afterRotation = loadLeaf(dir, "x");
    assert.notEqual(afterRotation.cert, before.cert);
    assert.ok(chains(afterRotation.cert, afterRotation.ca));
    assert.ok(chains(before.cert, afterRotation.ca), "a leaf of the previous CA still verifies");
    assert.ok(!chains(afterRotation.cert, before.ca), "the old bundle does not know the new CA");
  });

  it("refuses leaf names that are not plain file names", () => {
    assert.throws(() => issueLeaf(join(root, "c"), "../evil"), CaError);
    assert.throws(() => loadLeaf(join(root, "c"), "missing"), { code: "ECA" });
  });
});
