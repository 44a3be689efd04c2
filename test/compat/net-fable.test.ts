/**
 * The net conformance suite against fable-io/net over shared memory, unix and tcp transports: it
 * must behave as node:net does in net-node.test.ts.
 */
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as fableNet from "../../src/compat/net.js";
import { netConformance } from "./net-conformance.js";

let unique = 0;
const socketPath = (): string => join(tmpdir(), `fable-net-fable-${process.pid}-${unique++}.sock`);
const impl = fableNet as unknown as Pick<typeof net, "createServer" | "connect" | "Socket">;
const childModule = pathToFileURL(join(import.meta.dirname, "../../src/compat/net.js")).href;

netConformance({
  name: "fable-io/net over shm",
  net: impl,
  listenArgs: () => [`shm://${socketPath()}`],
  connectOptions: (server) => ({ uri: `shm://${server.address() as string}` }),
  refused: () => ({ options: { uri: `shm://${socketPath()}` }, code: "ENOENT" }),
  reset: true,
  childModule,
  // Each shm connection maps a new region, zeroes its rings and starts waiter threads: far more
  // setup than a socket, so fewer at once here (200 ran past the rendezvous's 5 s on a loaded 2-vCPU guest).
  concurrent: 50,
  ipAddresses: false,
});

netConformance({
  name: "fable-io/net over unix",
  net: impl,
  listenArgs: () => [socketPath()],
  connectOptions: (server) => ({ path: server.address() as string }),
  refused: () => ({ options: { path: socketPath() }, code: "ENOENT" }),
  reset: true,
  childModule,
  ipAddresses: false,
});

netConformance({
  name: "fable-io/net over tcp",
  net: impl,
  listenArgs: () => [0, "127.0.0.1"],
  connectOptions: (server) => ({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port }),
  refused: () => ({ options: { host: "127.0.0.1", port: 1 }, code: "ECONNREFUSED" }),
  reset: true,
  childModule,
  ipAddresses: true,
});
