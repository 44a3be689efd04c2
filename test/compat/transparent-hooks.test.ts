/**
 * Transparent mode must not slow an application's own promises: in Node 20 an AsyncLocalStorage
 * (which transparent mode once used to tell fable's sockets from the application's) puts an init
 * hook on every promise of the process. A real program under `fable run`, with a real daemon,
 * serves and fetches over fable, then reports whether any init hook exists.
 */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { DaemonClient } from "../../src/naming/daemon-client.js";
import { type DaemonProcess, eventually, type Isolated, isolatedPaths, startDaemon } from "../kit/daemon.js";
import { fixture, start } from "../kit/transparent.js";

let iso: Isolated;
let daemon: DaemonProcess;
let client: DaemonClient;

before(async () => {
  iso = isolatedPaths("transparent-hooks");
  daemon = await startDaemon(iso);
  client = new DaemonClient({ paths: iso.paths, autostart: false });
});

after(async () => {
  client.close();
  await daemon.stop();
  iso.cleanup();
});

it("transparent mode puts no async hook on the application's promises", async () => {
  const p = start(["--expose-internals", fixture("hooks-probe.mjs")], iso.env, true);
  try {
    const out = await p.json();
    assert.equal(out.body, "ok");
    assert.equal(out.registered, true, "the server never registered");
    // It really went over fable: the daemon saw a transparent flow from this process.
    await eventually("a transparent flow of the probe", async () =>
      (await client.request({ type: "flows" })).flows.some((f) => f.transparent === true) ? true : undefined,
    );
    assert.equal(out.before, false, "an init hook existed before any connection");
    assert.equal(out.after, false, "transparent mode left an init hook on every promise");
  } finally {
    await p.kill();
  }
});
