/**
 * fable-io's public entry point: connections and the transports under them. Minimal on purpose;
 * everything else (the bench, the results database) is reached through the `fable` command.
 */
export { FableError, UsageError } from "./errors.js";
export { BufferStateError, NoSpaceError, type ReadBuffer, type WriteBuffer } from "./channel/buffers.js";
export { Connection, ConnectionClosedError, type ConnectionOptions, openReconfigurable } from "./channel/connection.js";
export {
  DrainTimeoutError,
  ReconfigureError,
  ResumeError,
  type ReconfigureOptions,
  type SwitchEvent,
} from "./channel/reconfigure.js";
export type { PathKind, PathSpec } from "./channel/paths.js";
export {
  type ConnectionPollItem,
  type FdPollItem,
  poll,
  Poller,
  type PollEvent,
  type PollItem,
  type PollOptions,
  type PollResult,
} from "./channel/poll.js";
export {
  type InRecord,
  RECORD_FIRST,
  RECORD_LAST,
  TransportError,
  type TransportEnd,
  type TransportKind,
  type Trust,
} from "./transports/transport.js";
export { memoryPair, type MemoryOptions } from "./transports/memory.js";
export { connectUnix, listenUnix, type UnixAddress } from "./transports/unix.js";
export { connectTcp, listenTcp, type TcpAddress } from "./transports/tcp.js";
export { connectTls, listenTls, type TlsCredentials, type TlsOptions } from "./transports/tls.js";
export { pipeFromFds, pipeFromStreams, pipePair } from "./transports/pipe.js";
export type { TransportListener } from "./transports/net-listener.js";
export type { StreamEndOptions } from "./transports/stream-end.js";
export { connectShm, ShmListener, type ShmOptions } from "./transports/shm.js";
export { createSab, openSab, type SabOptions, type SabPeerInit } from "./transports/sab.js";
export { type FableUri, formatUri, parseUri, UriError } from "./naming/uri.js";
export {
  AddressInUseError,
  connect,
  connectionFlow,
  type ConnectOptions,
  type FlowInfo,
  listen,
  Listener,
  type ListenOptions,
  NoTransportError,
  reconfigureFlow,
} from "./naming/api.js";
export { DaemonClient, type DaemonClientOptions } from "./naming/daemon-client.js";
export {
  DaemonError,
  type FlowEvent,
  type FlowTransport,
  type PathChoice,
  type SwitchReason,
} from "./naming/protocol.js";
export { type DaemonPaths, daemonPaths, UnsafeDirectoryError } from "./naming/paths.js";
export type { ConnectionStats } from "./channel/connection.js";
