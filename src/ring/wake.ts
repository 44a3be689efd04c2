/**
 * The waker's half of the sleep handshake: clear the peer's sleeping flag and make the wake call
 * its sleeper needs (a real futex for a native waiter thread, Atomics.notify for
 * Atomics.waitAsync, a byte to its wake socket). Called only after the caller read the flag as non-zero.
 */
import { loadNative } from "../native/load.js";
import type { NativeAddon } from "../native/native.js";
import { SLEEPING_ATOMICS, SLEEPING_FUTEX, SLEEPING_SOCKET } from "./layout.js";

let native: NativeAddon | undefined;

/**
 * Clears the flag at word `index` and wakes whoever sleeps on it. `wakeFd`: the sleeping end's
 * wake socket (the other end of it), for SLEEPING_SOCKET; -1 where the peer has none.
 */
export function wakeSleeper(words: Int32Array, index: number, wakeFd = -1): void {
  // Clearing before the wake call makes a FUTEX_WAIT that has not started yet fail (the word no
  // longer holds the value it waits for), so no wake-up is lost even when this one was meant for
  // an earlier sleep. Any other value is a peer's garbage: cleared, nothing to wake.
  const was = Atomics.exchange(words, index, 0);
  if (was === SLEEPING_FUTEX) (native ??= loadNative()).futexWake(words, index * 4, 1);
  else if (was === SLEEPING_ATOMICS) Atomics.notify(words, index, 1);
  else if (was === SLEEPING_SOCKET && wakeFd >= 0) (native ??= loadNative()).wakeSend(wakeFd);
}
