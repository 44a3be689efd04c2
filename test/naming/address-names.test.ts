/** Names of addresses (transparent mode): every one is a valid xio:// name, and distinct addresses stay distinct. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isAddressName, tcpAddressName, unixAddressName } from "../../src/naming/address-names.js";
import { parseUri } from "../../src/naming/uri.js";

test("address names: TCP and unix addresses map to valid names in the .addr/ tree", () => {
  const cases: [string, string][] = [
    [tcpAddressName("127.0.0.1", 8080), ".addr/tcp/127.0.0.1/8080"],
    [tcpAddressName("::", 80), ".addr/tcp/__/80"],
    [tcpAddressName("::1", 443), ".addr/tcp/__1/443"],
    [tcpAddressName("fe80::1%eth0", 1), ".addr/tcp/fe80__1_eth0/1"],
    [unixAddressName("/run/app/http.sock"), ".addr/unix/run/app/http.sock"],
  ];
  for (const [name, expected] of cases) {
    assert.equal(name, expected);
    assert.deepEqual(parseUri(`xio://${name}`), { scheme: "xio", name });
    assert.ok(isAddressName(name));
  }
  assert.ok(!isAddressName("app/cache"));
});

test("address names: a path that is no valid name, or too long for one, is named by its digest", () => {
  const odd = unixAddressName("/tmp/a b.sock");
  const long = unixAddressName(`/tmp/${"x".repeat(300)}.sock`);
  const dots = unixAddressName("/tmp/../tmp/./..x.sock");
  for (const name of [odd, long]) {
    assert.match(name, /^\.addr\/unix-sha256\/[0-9a-f]{32}$/);
    assert.deepEqual(parseUri(`xio://${name}`), { scheme: "xio", name });
  }
  assert.notEqual(odd, long);
  assert.notEqual(odd, unixAddressName("/tmp/a  b.sock"));
  // Made absolute and normalised first: the same socket has one name.
  assert.equal(dots, ".addr/unix/tmp/..x.sock");
});
