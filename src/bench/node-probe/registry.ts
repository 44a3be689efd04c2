/** The Node probe's mechanisms, in the order `--list` reports them. */
import { childIpc } from "./child-ipc.js";
import { FABLE_VARIANTS, fableChannel } from "./fable-channel.js";
import type { Mechanism } from "./mechanism.js";
import { netStream } from "./net-stream.js";
import { workerPostMessage } from "./worker-postmessage.js";
import { zeromq } from "./zeromq.js";

export const MECHANISMS: readonly Mechanism[] = [
  netStream("unix"),
  netStream("tcp"),
  workerPostMessage,
  childIpc,
  zeromq("ipc"),
  zeromq("inproc"),
  ...FABLE_VARIANTS.map(fableChannel),
];

export function findMechanism(name: string): Mechanism | undefined {
  return MECHANISMS.find((m) => m.name === name);
}
