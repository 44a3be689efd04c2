/**
 * The net conformance suite against node:net itself in transparent mode (what `fable run` gives a
 * program), with a real daemon: the suite's servers register their addresses, so its clients talk
 * to them over fable, and must behave as node:net does over TCP and unix sockets (net-node.test.ts).
 * Run both ways transparent connections go (one test file each, as the mode is per process):
 * - native (net-transparent-native.test.ts, the default): the daemon picks unix for node:net
 *   sockets, and both ends are node:net's own sockets on one unix connection (native-stream.ts);
 *   a unix socket has no reset, so resetAndDestroy() is not asked to give the peer ECONNRESET;
 * - emulated (net-transparent.test.ts, FABLE_TRANSPARENT_NATIVE=0): net.connect() gives a
 *   fable-io/net Socket and `new net.Socket().connect()` the application's own socket carried over
 *   one (adopted-socket.ts), over the daemon's choice (shm).
 */
import { existsSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before } from "node:test";
import { installTransparentMode } from "../../src/compat/transparent.js";
import { Daemon } from "../../src/daemon/server.js";
import { tcpAddressName, unixAddressName } from "../../src/naming/address-names.js";
import { repoRoot } from "../kit/cli.js";
import { eventually, isolatedPaths, startDaemon } from "../kit/daemon.js";
import { ShmOnlySelector } from "../kit/shm-only-selector.js";
import { netConformance } from "./net-conformance.js";

export function transparentConformance(mode: "native" | "emulated" | "mixed"): void {
  const iso = isolatedPaths(`net-transparent-${mode}`);
  // This process and the suite's children reach this daemon only, in this mode.
  Object.assign(process.env, iso.env, { FABLE_TRANSPARENT_NATIVE: mode === "emulated" ? "0" : "1" });
  if (!installTransparentMode()) throw new Error("transparent mode did not install");
  let daemon: { stop(): Promise<void> } | undefined;
  before(async () => {
    if (mode === "mixed") {
      const d = await Daemon.start({ paths: iso.paths, selector: new ShmOnlySelector() });
      daemon = { stop: () => d.close() };
    } else {
      daemon = await startDaemon(iso);
    }
  });
  after(async () => {
    await daemon?.stop();
    iso.cleanup();
  });

  /** A listening server's address is served over fable once its marker is there. */
  async function registered(server: net.Server): Promise<void> {
    const a = server.address();
    if (a === null) throw new Error("not listening");
    const name = typeof a === "string" ? unixAddressName(a) : tcpAddressName(a.address, a.port);
    const marker = join(iso.paths.runtimeDir, "addr", name.replaceAll("/", "+"));
    await eventually(`${name} registered`, async () => (existsSync(marker) ? true : undefined));
  }

  let unique = 0;
  const socketPath = (): string => join(tmpdir(), `fable-net-transparent-${process.pid}-${unique++}.sock`);
  const childModule = pathToFileURL(join(repoRoot, "test", "fixtures", "transparent", "net-transparent.mjs")).href;

  netConformance({
    name: `node:net in transparent mode (${mode}), TCP addresses`,
    net,
    listenArgs: () => [0, "127.0.0.1"],
    listened: registered,
    connectOptions: (server) => ({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port }),
    refused: () => ({ options: { host: "127.0.0.1", port: 1 }, code: "ECONNREFUSED" }),
    reset: mode !== "native",
    childModule,
    // Emulated: each connection is a shm one (see net-fable.test.ts).
    concurrent: 50,
    ipAddresses: true,
  });

  netConformance({
    name: `node:net in transparent mode (${mode}), unix paths`,
    net,
    listenArgs: () => [socketPath()],
    listened: registered,
    connectOptions: (server) => ({ path: server.address() as string }),
    refused: () => ({ options: { path: socketPath() }, code: "ENOENT" }),
    reset: mode !== "native",
    childModule,
    concurrent: 50,
    ipAddresses: false,
  });
}
