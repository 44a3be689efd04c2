/**
 * `fable-io/net`: node:net's createServer, connect/createConnection, Server and Socket over fable
 * connections, so node:http, undici and ws run on fable transports unchanged:
 *
 *     import { createServer, connect } from "fable-io/net";
 *     createServer((s) => s.pipe(s)).listen("shm:///run/user/1000/echo.sock");
 *     const socket = connect("shm:///run/user/1000/echo.sock", () => socket.write("hi"));
 *
 * Addresses are fable URIs (`shm:///path`, `unix:///path`, `tcp://host:port`) or node:net's
 * (`{ port, host }` is the tcp transport, `{ path }` unix unless `transport: "shm"`). These speak
 * fable's protocols: a fable-io/net client talks to a fable-io/net server, never to a plain
 * node:net one. Other schemes (`xio://`) need a connector or listener passed per socket or
 * server (connector.ts).
 */
import { Server, type ServerOptions } from "./server.js";
import { Socket, type SocketConnectOptions, type SocketOptions } from "./socket.js";

export { isIP, isIPv4, isIPv6 } from "node:net";
export { InvalidAddressError, UnsupportedAddressError, type Endpoint, type PathTransport } from "./address.js";
export {
  type CompatListener,
  type Connected,
  type ConnectOptions,
  type Connector,
  defaultConnector,
  defaultListen,
  type Listen,
  type PeerAddress,
  type TransportOptions,
} from "./connector.js";
export { Server, type ListenOptions, type ServerOptions } from "./server.js";
export { Socket, type SocketConnectOptions, type SocketOptions } from "./socket.js";
/** node:net's old name for Socket. */
export { Socket as Stream } from "./socket.js";

export function createServer(connectionListener?: (socket: Socket) => void): Server;
export function createServer(options?: ServerOptions, connectionListener?: (socket: Socket) => void): Server;
export function createServer(
  options?: ServerOptions | ((socket: Socket) => void),
  connectionListener?: (socket: Socket) => void,
): Server {
  return typeof options === "function" ? new Server(options) : new Server(options, connectionListener);
}

export type NetConnectOptions = SocketOptions & SocketConnectOptions;

/** A new Socket, connecting: node:net's connect(options | port[, host] | path[, listener]), or a fable URI. */
export function connect(options: NetConnectOptions, connectListener?: () => void): Socket;
export function connect(port: number, host?: string, connectListener?: () => void): Socket;
export function connect(port: number, connectListener?: () => void): Socket;
export function connect(address: string, connectListener?: () => void): Socket;
export function connect(...args: unknown[]): Socket {
  const [first] = args;
  const options = first !== null && typeof first === "object" ? (first as NetConnectOptions) : {};
  const socket = new Socket(options);
  return (socket.connect as (...a: unknown[]) => Socket)(...args);
}

export const createConnection = connect;
