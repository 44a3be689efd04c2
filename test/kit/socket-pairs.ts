/**
 * Conformance fixtures for the socket transports (unix, tcp): a connected pair in this process, a
 * pair whose far end is an echoing child process (peer.ts), and a raw socket facing an accepted
 * end (for hostile-peer tests). Each fixture's cleanup closes what it opened.
 */
import { once } from "node:events";
import type net from "node:net";
import type { StreamEndOptions } from "../../src/transports/stream-end.js";
import type { TransportListener } from "../../src/transports/net-listener.js";
import type { TransportEnd, Trust } from "../../src/transports/transport.js";
import { type EndPair, type HostileConnection, inProcessPair, type RemotePair } from "../transports/conformance.js";
import { startPeer, transportModule } from "./peer.js";

export interface SocketFixtures<Address> {
  listen(options: StreamEndOptions): Promise<TransportListener<Address>>;
  connect(address: Address, options: StreamEndOptions): Promise<TransportEnd>;
  /** A raw socket to the address. */
  raw(address: Address): net.Socket;
  /** The transport module and export the child uses to connect, and its arguments. */
  peer: {
    readonly file: string;
    readonly export: string;
    args(address: Address, options: StreamEndOptions): unknown[];
  };
}

export function socketPairs<Address>(f: SocketFixtures<Address>): {
  pair: (config: { trust: Trust }) => Promise<EndPair>;
  remote: (config: { trust: Trust }) => Promise<RemotePair>;
  hostile: () => Promise<HostileConnection>;
} {
  return {
    async pair({ trust }) {
      const listener = await f.listen({ trust });
      const [b, a] = await Promise.all([f.connect(listener.address, { trust }), listener.accept()]);
      return inProcessPair(a, b, () => listener.close());
    },

    async remote({ trust }) {
      const listener = await f.listen({ trust });
      const accepted = listener.accept();
      const peer = await startPeer({
        module: transportModule(f.peer.file),
        export: f.peer.export,
        args: f.peer.args(listener.address, { trust }),
      });
      const end = await accepted;
      return {
        end,
        peer,
        async cleanup() {
          await peer.kill();
          end.destroy();
          await listener.close();
        },
      };
    },

    async hostile() {
      const listener = await f.listen({ trust: "untrusted" });
      const socket = f.raw(listener.address);
      socket.on("error", () => {});
      socket.resume();
      const cut = new Promise<void>((resolve) => {
        socket.once("end", resolve);
        socket.once("close", resolve);
      });
      await once(socket, "connect");
      const end = await listener.accept();
      return {
        end,
        write: (bytes) => void socket.write(bytes),
        finish: () => void socket.end(),
        cut,
        async cleanup() {
          socket.destroy();
          end.destroy();
          await listener.close();
        },
      };
    },
  };
}
