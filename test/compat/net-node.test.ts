/**
 * The net conformance suite against node:net itself, over unix sockets and TCP loopback: what
 * fable-io/net must match.
 */
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { netConformance } from "./net-conformance.js";

let unique = 0;
const socketPath = (): string => join(tmpdir(), `fable-net-node-${process.pid}-${unique++}.sock`);

netConformance({
  name: "node:net over unix sockets",
  net,
  listenArgs: () => [socketPath()],
  connectOptions: (server) => ({ path: server.address() as string }),
  refused: () => ({ options: { path: socketPath() }, code: "ENOENT" }),
  reset: false,
  childModule: "node:net",
  ipAddresses: false,
});

netConformance({
  name: "node:net over TCP loopback",
  net,
  listenArgs: () => [0, "127.0.0.1"],
  connectOptions: (server) => ({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port }),
  // Port 1 (tcpmux) is never served on a test machine.
  refused: () => ({ options: { host: "127.0.0.1", port: 1 }, code: "ECONNREFUSED" }),
  reset: true,
  childModule: "node:net",
  ipAddresses: true,
});
