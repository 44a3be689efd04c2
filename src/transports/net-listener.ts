/**
 * Listening and connecting for the socket transports (unix, tcp): a `net` server whose accepted
 * connections become transport ends, queued until accept() takes them, and a connect that
 * resolves once the socket is connected. Both sides allow half-open sockets: an end's close()
 * ends its output and still drains the input (see stream-end.ts).
 */
import net from "node:net";
import { FableError } from "../errors.js";
import { Deque, internalServer, Waiters } from "./common.js";
import { StreamEnd, type StreamEndOptions } from "./stream-end.js";
import { TransportError, type TransportEnd } from "./transport.js";

/** Connections accepted by the kernel but not yet by accept(); more are refused (destroyed). */
const MAX_UNACCEPTED = 128;

export interface TransportListener<Address> {
  /** Where peers connect (the bound address: a port 0 request shows the port chosen). */
  readonly address: Address;
  /** The next incoming connection as a transport end; rejects with ECLOSED once the listener closes. */
  accept(): Promise<TransportEnd>;
  /** Stops listening (a unix socket file is removed) and drops connections not yet accepted; accepted ends live on. */
  close(): Promise<void>;
  /** Whether the listening socket keeps the event loop alive (default yes), like net.Server's ref()/unref(). */
  setRef(ref: boolean): void;
}

type SocketKind = "unix" | "tcp" | "tls";

/** How a socket transport other than plain net makes its server and sockets (tls). */
export interface SocketLayer {
  createServer(): net.Server;
  /** The server event of a connection ready for records. */
  readonly connectionEvent: string;
  connect(): net.Socket;
  /** The socket event once it is ready for records. */
  readonly connectEvent: string;
}

export async function listenNet<Address>(
  kind: SocketKind,
  label: string,
  listen: net.ListenOptions,
  options: StreamEndOptions,
  address: (server: net.Server) => Address,
  prepare: (socket: net.Socket) => void = () => {},
  layer?: Omit<SocketLayer, "connect" | "connectEvent">,
): Promise<TransportListener<Address>> {
  const server = internalServer(layer?.createServer() ?? net.createServer({ allowHalfOpen: true }));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // exclusive: in a node:cluster worker, its own socket (not one the primary holds and hands out).
    server.listen({ ...listen, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code ?? "ELISTEN";
    const hint = code === "EADDRINUSE" ? ": something listens there already, or a stale socket file is left" : "";
    throw new FableError(code, `cannot listen on ${label}: ${(error as Error).message}${hint}`, { cause: error });
  });
  return new NetListener(
    kind,
    label,
    server,
    options,
    address(server),
    prepare,
    layer?.connectionEvent ?? "connection",
  );
}

class NetListener<Address> implements TransportListener<Address> {
  private readonly unaccepted = new Deque<TransportEnd>();
  private readonly acceptors = new Waiters();
  private closed = false;

  constructor(
    kind: SocketKind,
    private readonly label: string,
    private readonly server: net.Server,
    options: StreamEndOptions,
    readonly address: Address,
    prepare: (socket: net.Socket) => void,
    connectionEvent: string,
  ) {
    server.on(connectionEvent, (socket: net.Socket) => {
      if (this.unaccepted.length >= MAX_UNACCEPTED) {
        socket.destroy();
        return;
      }
      prepare(socket);
      this.unaccepted.push(new StreamEnd({ kind, label, input: socket, output: socket, options }));
      this.acceptors.resolveAll();
    });
    // After listening, errors belong to single connections, which their ends report.
    server.on("error", () => {});
  }

  async accept(): Promise<TransportEnd> {
    for (;;) {
      if (this.closed) throw new TransportError("ECLOSED", `${this.label}: accept() on a closed listener`);
      const end = this.unaccepted.shift();
      if (end !== undefined) return end;
      await this.acceptors.wait();
    }
  }

  setRef(ref: boolean): void {
    if (ref) this.server.ref();
    else this.server.unref();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    // The listening handle closes now; the server's callback would wait for every accepted connection.
    this.server.close(() => {});
    for (let end = this.unaccepted.shift(); end !== undefined; end = this.unaccepted.shift()) end.destroy();
    // (An error, with its stack, only for someone waiting: a switch's endpoint closes just as its path starts.)
    if (this.acceptors.size > 0) {
      this.acceptors.rejectAll(new TransportError("ECLOSED", `${this.label}: the listener was closed`));
    }
    return Promise.resolve();
  }
}

export function connectNet(
  kind: SocketKind,
  label: string,
  connect: net.NetConnectOpts,
  options: StreamEndOptions,
  prepare: (socket: net.Socket) => void = () => {},
  layer?: Pick<SocketLayer, "connect" | "connectEvent">,
): Promise<TransportEnd> {
  return new Promise((resolve, reject) => {
    const socket = layer?.connect() ?? net.connect({ ...connect, allowHalfOpen: true });
    const failed = (error: NodeJS.ErrnoException): void => {
      const code = error.code ?? error.name;
      reject(
        new TransportError("EPEER", `cannot connect to ${label} (${code}): is a fable end listening there?`, {
          cause: error,
        }),
      );
    };
    socket.once("error", failed);
    socket.once(layer?.connectEvent ?? "connect", () => {
      socket.off("error", failed);
      prepare(socket);
      resolve(new StreamEnd({ kind, label, input: socket, output: socket, options }));
    });
  });
}
