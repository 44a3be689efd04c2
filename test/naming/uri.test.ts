import assert from "node:assert/strict";
import { test } from "node:test";
import { formatUri, parseUri, UriError } from "../../src/naming/uri.js";

test("uri: each scheme parses into its typed form and formats back", () => {
  const cases = [
    ["xio://app/cache/0", { scheme: "xio", name: "app/cache/0" }],
    ["shm:///run/user/1000/cache.sock", { scheme: "shm", path: "/run/user/1000/cache.sock" }],
    ["unix:///tmp/x", { scheme: "unix", path: "/tmp/x" }],
    ["tcp://127.0.0.1:7000", { scheme: "tcp", host: "127.0.0.1", port: 7000 }],
    ["tcp://[::1]:0", { scheme: "tcp", host: "::1", port: 0 }],
    ["tcp://localhost:80", { scheme: "tcp", host: "localhost", port: 80 }],
    ["pipe://", { scheme: "pipe" }],
  ] as const;
  for (const [text, parsed] of cases) {
    assert.deepEqual(parseUri(text), parsed, text);
    assert.equal(formatUri(parseUri(text)), text);
  }
});

/** The error's caret line points at `index` in the quoted URI line above it. */
function caretColumn(err: UriError): { quoted: string; caret: number } {
  const lines = err.message.split("\n");
  return { quoted: lines[1] ?? "", caret: (lines[2] ?? "").indexOf("^") };
}

test("uri: a bad URI is a UriError (EURI) whose caret is under the first wrong character", () => {
  const cases: [string, number, RegExp][] = [
    ["http://x", 0, /scheme/],
    ["xio:/app", 3, /":\/\/"/],
    ["xio://", 6, /a name/],
    ["xio://app//cache", 10, /empty/],
    ["xio://app/ca che", 12, /only letters/],
    ["xio://app/../x", 10, /other than/],
    ["unix://relative/path", 7, /absolute path/],
    ["shm:///dir/", 10, /file name/],
    ["tcp://host", 10, /":" and a port/],
    ["tcp://host:12a", 13, /port number/],
    ["tcp://host:70000", 11, /at most 65535/],
    ["tcp://ho_st:1", 8, /host name/],
    ["tcp://[::1:5", 12, /"]"/],
    ["pipe://x", 7, /nothing after/],
  ];
  for (const [uri, index, reason] of cases) {
    assert.throws(
      () => parseUri(uri),
      (err: unknown) => {
        assert.ok(err instanceof UriError, uri);
        assert.equal(err.code, "EURI");
        assert.equal(err.index, index, uri);
        assert.match(err.message, reason);
        const { quoted, caret } = caretColumn(err);
        assert.equal(quoted.trim(), JSON.stringify(uri));
        // Two spaces of indent and the opening quote come before the URI's first character.
        assert.equal(caret, 3 + index, `${uri}: caret column`);
        return true;
      },
    );
  }
});

test("uri: names longer than 255 characters and paths over sun_path are refused", () => {
  assert.throws(() => parseUri(`xio://${"a".repeat(256)}`), UriError);
  assert.doesNotThrow(() => parseUri(`xio://${"a".repeat(255)}`));
  assert.throws(() => parseUri(`unix:///${"p".repeat(120)}`), /107 bytes/);
});
