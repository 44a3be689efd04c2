/**
 * What one iteration of each native (engine) mechanism does, and how it differs from the original ipc-bench's
 * mechanism of the same name (avsm/ipc-bench, 2011-2012; its results are imported as suite "ipc-bench"), so
 * that a reader putting legacy and new figures side by side knows which are comparable. One paragraph each;
 * the results site prints them beside its comparisons. A note describes the mechanism's current method: when
 * the method changes, the note changes with it.
 *
 * What every engine mechanism shares, and the original did otherwise:
 * - a message is `size` bytes: a 64-bit sequence number at both ends and a fixed pattern between, and the
 *   reader checks every byte and the number of every message; the original filled a message with one byte
 *   (the iteration count) and, when run with -v (as its throughput script did), compared it with `repe scasq`;
 * - a test runs for a time budget after a discarded warm-up; the original ran a fixed count with no warm-up;
 * - latency: side A times every round trip with the TSC (a distribution); the original timed the whole loop
 *   with gettimeofday (a mean per iteration, printed in whole microseconds), or each iteration with -t;
 * - throughput: the reader times the stream (the headline is bytes over the measured phase); the original's
 *   writer timed the whole loop, the wait for the reader's last acknowledgement included.
 */

export interface MethodNote {
  /** The original's mechanisms (as legacy import names them) that figures of this one are set beside. */
  readonly original: readonly string[];
  /** One paragraph: one iteration, then what differs from the original. */
  readonly text: string;
}

const STREAM = (what: string, original: string) =>
  `One iteration: the writer write()s the whole message (its sequence words stamped into a prepared pattern) to ${what}; the reader read()s exactly that many bytes into a private buffer and checks them all; in latency mode it then writes the same message back. The original's ${original} did the same system calls on the same kind of ${what}, so these figures are comparable with its figures of the same name: what differs is the common method above (the full check of every message, a time budget, per-round-trip TSC timing).`;

const MEMPIPE = (wait: string, read: string, original: string) =>
  `One iteration (throughput): the writer waits for space in a 2 MiB ring, writes a record (a 16-byte header {length, flags, sequence} followed inline by the message, padded to 16 bytes), clears the next record's header and publishes the length with a release store${wait}; the reader waits for the length, ${read}, and hands space back in bulk every eighth of the ring (params.readerWaits counts the records it found unpublished: it had caught up with the writer and was reading lines the writer was filling, since a record shares its lines with its neighbours' headers). In latency mode each side sends one record through its own ring (two rings). The original's ${original} also used a ring of 2 MiB, but each message had a whole 64-byte header line and was rounded up to 64 bytes, and the reader acknowledged every message by clearing its header. So the throughputs measure the same quantity (payload bytes per second one way) with different record layouts and acknowledgements, and the original's checker (repe scasq) capped it at large messages; the original's mempipe latency (mempipe_lat) moved no message at all, only two flag words, and compares with cacheline, not with this mechanism.`;

const FUTEX_WAIT =
  ", and makes a FUTEX_WAKE call only when the reader's sleeping flag is set (the reader sleeps on that flag when the ring is empty)";
const SPIN_WAIT = " (the reader busy-waits with a pause hint)";
const IN_PLACE = "checks the message where it lies in the ring (unsafe: the writer could still change it)";
const COPIED = "copies the message to private memory and checks it there (safe)";

export const METHOD_NOTES: Readonly<Record<string, MethodNote>> = {
  cacheline: {
    original: ["mempipe"],
    text: "One iteration: side A writes a 64-bit sequence word alone on its cache line; side B spins until it sees it, checks it and writes it back with an echo bit; A spins until the echo arrives. One round trip moves the line to B and back, and no payload moves (the word is the message). The original's mempipe_lat did the same with two flag words on separate lines and timed two round trips per iteration; legacy import halves them, so its mempipe latency per round trip compares with this mechanism (not with fable's mempipe-*, which moves records).",
  },
  "futex-wake": {
    original: [],
    text: "One iteration: A stores the sequence word, bumps a 32-bit generation word and calls FUTEX_WAKE; B, asleep in FUTEX_WAIT on that word, wakes, checks the sequence word and wakes A the same way: a round trip is two wake-ups (wakes that found the peer not yet asleep are counted in params). The original had a futex latency test (futex_lat), but it is not in the data it published, so there is nothing to compare with.",
  },
  "mempipe-spin-unsafe": {
    original: ["mempipe-spin-unsafe"],
    text: MEMPIPE(SPIN_WAIT, IN_PLACE, "mempipe_spin_thr read in place (mempipe-spin-unsafe)"),
  },
  "mempipe-spin-safe": {
    original: ["mempipe-spin-safe"],
    text: MEMPIPE(SPIN_WAIT, COPIED, "mempipe_spin_thr copying out (mempipe-spin-safe)"),
  },
  "mempipe-futex-unsafe": {
    original: ["mempipe-unsafe"],
    text: MEMPIPE(FUTEX_WAIT, IN_PLACE, "mempipe_thr (futex) read in place (mempipe-unsafe)"),
  },
  "mempipe-futex-safe": {
    original: ["mempipe-safe"],
    text: MEMPIPE(FUTEX_WAIT, COPIED, "mempipe_thr (futex) copying out (mempipe-safe)"),
  },
  "shmem-pipe-unsafe": {
    original: ["shmem-pipe-unsafe"],
    text: "One iteration: the writer allocates the message's space in a shared region (FIFO, 64-byte aligned), writes the message there and write()s its 8-byte extent {offset, length} into a pipe; the reader read()s the waiting extents (up to 4 KiB of them per call), checks each message in place in the region, and returns freed space through a second pipe, coalesced, once an eighth of the region is consumed. The original's shmem_pipe_thr had the same design (extents through a pipe, space returned through another); its figures measure the same quantity, but its allocator, its batching of returned space and its checker were its own, so expect differences that are not the machine's.",
  },
  "shmem-pipe-safe": {
    original: ["shmem-pipe-safe"],
    text: "As shmem-pipe-unsafe, but the reader copies each message to private memory before checking it. The original's shmem_pipe_thr copying out (its read_in_place 0) is the counterpart; the same caveats apply (allocator, batching and checker differ).",
  },
  "vmsplice-coop": {
    original: ["vmsplice-coop"],
    text: "One iteration: the writer writes the message into its next slot of a private 2 MiB region and vmsplice()s it into a pipe, so the pipe refers to the writer's pages; the reader read()s the message out (the one copy) and checks it, and reports how many messages it has consumed through a back-channel pipe once per half region, so the writer reuses only consumed slots. The original's vmsplice_coop_pipe_thr cooperated the same way (a report per 1 MiB of a 2 MiB region), so the figures are comparable but for the common method above.",
  },
  pipe: { original: ["pipe"], text: STREAM("a pipe (one per direction)", "pipe_lat and pipe_thr") },
  unix: { original: ["unix"], text: STREAM("a unix-domain stream socket", "unix_lat and unix_thr") },
  tcp: { original: ["tcp"], text: STREAM("a loopback TCP connection with Nagle on", "tcp_lat and tcp_thr") },
  "tcp-nodelay": {
    original: ["tcp-nodelay"],
    text: STREAM("a loopback TCP connection with TCP_NODELAY", "tcp_nodelay_lat and tcp_nodelay_thr"),
  },
};

/** The notes to show beside figures of a mechanism: its own, or those of fable's mechanisms compared with it. */
export function methodNotesFor(mechanism: string): { mechanism: string; note: MethodNote }[] {
  return Object.entries(METHOD_NOTES)
    .filter(([name, note]) => name === mechanism || note.original.includes(mechanism))
    .map(([name, note]) => ({ mechanism: name, note }));
}
