/**
 * The native addon's surface, declared once (the addon is C in src/native/addon/addon.c).
 * Nothing here runs: src/native/load.ts loads the addon and hands out this type.
 * The addon exposes only what JavaScript cannot do; all logic stays in TypeScript.
 */

export interface NativeCapabilities {
  /** memfd_create with size sealing. */
  readonly memfd: boolean;
  /** futex wait/wake on shared (non-private) mappings. */
  readonly futex: boolean;
  /** Per-thread CPU affinity (sched_setaffinity) and sched_getcpu. */
  readonly affinity: boolean;
  /** fdWatch: this thread runs a libuv event loop that N-API hands out. */
  readonly fdWatch: boolean;
}

export type FutexWaitResult = "woken" | "not-equal" | "timed-out" | "interrupted";

/**
 * Memory holding a futex word: an ArrayBuffer (e.g. one made by shmMap), or a TypedArray, which
 * may view a SharedArrayBuffer (N-API in Node 20 takes no SharedArrayBuffer itself). A view's
 * byteOffset arguments count from the view's start.
 */
export type FutexMemory = ArrayBuffer | Int32Array | Uint32Array | Uint8Array;

/** Why a waiter's sleep ended: the word changed before it slept, it was woken (maybe spuriously),
 * its time ran out, or the page is gone (EFAULT: unmapped under it). */
export type WaiterResult = "woken" | "not-equal" | "timed-out" | "fault";

/**
 * A native thread that sleeps on one shared 32-bit word on behalf of the JS thread (see
 * {@link NativeAddon.waiterCreate}). Not a libuv thread-pool thread.
 */
export interface Waiter {
  /**
   * Starts one sleep: the thread does FUTEX_WAIT while the word equals `expected`, for at most
   * `timeoutMs` (negative: no limit), then calls the callback once on the JS thread. While armed
   * the waiter keeps the event loop alive. Throws EARG when already armed (until its callback has
   * run) or closed.
   */
  arm(expected: number, timeoutMs: number): void;
  /** True from arm() until the callback runs (false once closed). */
  readonly armed: boolean;
  /**
   * Stops and joins the thread; a pending callback is dropped. Idempotent; also done at env
   * teardown (process or worker exit) and when the waiter is garbage-collected. Close it before
   * unmapping the memory; if the pages vanish first the thread still ends (within 200 ms).
   */
  close(): void;
}

/** A message received from a unix socket with the file descriptors it carried (SCM_RIGHTS). */
export interface ReceivedFds {
  /** The bytes read: empty (and no fds) means end of stream. */
  readonly data: Uint8Array;
  /** Received descriptors, close-on-exec; the caller owns them (close with fs.closeSync). */
  readonly fds: number[];
}

/**
 * Bits of fd readiness (the values are libuv's UV_READABLE, UV_WRITABLE, UV_DISCONNECT). `error`
 * (POLLERR) comes only from fdPoll: a watcher reports it as an Error instead.
 */
export interface FdEvents {
  readonly readable: 1;
  readonly writable: 2;
  /** The peer hung up (POLLRDHUP; a pipe's POLLHUP once its data has been read). */
  readonly disconnect: 4;
  readonly error: 16;
}

/**
 * A libuv poll handle (uv_poll_t) on one fd, on the calling thread's event loop (see
 * {@link NativeAddon.fdWatch}). Level-triggered: while started and the fd is ready, the callback
 * runs once per loop iteration; stop it (update(0)) or close it once it has told you.
 */
export interface FdWatcher {
  /**
   * Watches for `events` (fdEvents.readable | fdEvents.writable; a hang-up is always reported), or
   * stops watching with 0. Throws EARG once closed.
   */
  update(events: number): void;
  /** True while started: then it keeps the event loop alive and the GC does not take it. */
  readonly active: boolean;
  /** Whether the watcher, while started, keeps the event loop alive (default true). */
  setRef(ref: boolean): void;
  /** Stops for good: no callback runs after this. Idempotent; also done at worker or process teardown. */
  close(): void;
}

/**
 * A watcher's callback: `events` holds the ready bits of {@link FdEvents} (readable, writable,
 * disconnect), or `error` is set (events 0) and the watcher has stopped. The error's message names
 * the fd; its `code` is libuv's error name (libuv reports POLLERR as EBADF).
 */
export type FdWatchCallback = (error: (Error & { code: string }) | null, events: number) => void;

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export interface NativeAddon {
  readonly capabilities: NativeCapabilities;

  /**
   * Pins to exactly these CPUs: the calling thread ("thread", the default), or every thread of this
   * process ("process": each entry of /proc/self/task, so V8's and libuv's helper threads too).
   * Throws an Error whose message names the CPU list and the errno.
   */
  setAffinity(cpus: readonly number[], scope?: "thread" | "process"): void;
  /** CPUs the calling thread may run on. */
  getAffinity(): number[];
  /** CPU the calling thread runs on right now. */
  getCpu(): number;
  /** Number of CPUs configured on this machine (sysconf _SC_NPROCESSORS_CONF). */
  cpuCount(): number;

  /**
   * Creates an anonymous shared-memory region of `size` bytes (memfd_create, then sealed so it
   * can neither grow nor shrink). Returns its file descriptor; close it with fs.closeSync.
   */
  shmCreate(name: string, size: number): number;
  /** Size in bytes of the region behind `fd` (fstat). */
  shmSize(fd: number): number;
  /** Maps `size` bytes of `fd` shared, read-write, as an external ArrayBuffer. */
  shmMap(fd: number, size: number): ArrayBuffer;
  /** Unmaps a buffer made by shmMap now (it is detached: byteLength becomes 0). Idempotent. */
  shmUnmap(buffer: ArrayBuffer): void;

  /**
   * Blocks the calling thread while the 32-bit word at `byteOffset` equals `expected`
   * (FUTEX_WAIT on a shared mapping), for at most `timeoutMs` (negative: no limit).
   */
  futexWait(buffer: FutexMemory, byteOffset: number, expected: number, timeoutMs: number): FutexWaitResult;
  /** Wakes up to `count` waiters on the word at `byteOffset`. Returns how many were woken. */
  futexWake(buffer: FutexMemory, byteOffset: number, count: number): number;

  /**
   * Creates a {@link Waiter} on the 32-bit word at `byteOffset` of `memory` (4-byte aligned). Its
   * thread starts now and sleeps on a private condition until armed; the memory is kept alive
   * while the waiter lives.
   */
  waiterCreate(memory: FutexMemory, byteOffset: number, callback: (result: WaiterResult) => void): Waiter;

  /**
   * Sends `data` (at least one byte) with the descriptors `fds` (at most 16) over the connected
   * unix stream socket `socketFd` (sendmsg, SCM_RIGHTS, non-blocking). Returns the bytes sent.
   * Throws with code "EAGAIN" when the socket buffer is full. The fds stay open here.
   * The fd of a Node net.Socket over a unix socket is `socket._handle.fd` (undocumented but
   * stable); pause the socket first so libuv does not read (and drop) what the peer sends.
   */
  sendFds(socketFd: number, fds: readonly number[], data: Uint8Array): number;
  /**
   * Receives one message of at most `maxBytes` bytes and at most `maxFds` descriptors (recvmsg,
   * non-blocking). Returns null when nothing is there yet. Too many descriptors: all are closed
   * and it throws.
   */
  recvFds(socketFd: number, maxFds: number, maxBytes: number): ReceivedFds | null;
  /** Credentials of the process at the other end of a unix socket (SO_PEERCRED, taken at connect). */
  peerCredentials(socketFd: number): PeerCredentials;

  /** The readiness bits fdWatch and fdPoll use. */
  readonly fdEvents: FdEvents;
  /**
   * Watches `fd` for readiness on this thread's event loop (libuv's uv_poll_t: epoll, no thread),
   * started at once unless `events` is 0. The fd must be one epoll takes (socket, pipe, FIFO,
   * terminal): a regular file is EARG (EPERM), an fd that is not open EARG (EBADF), an fd this loop
   * already watches EARG (EEXIST). libuv makes the fd non-blocking (O_NONBLOCK). Never watch an fd
   * Node itself reads or writes (a net.Socket's, process.stdin's): libuv allows one watcher per fd
   * per loop. Close the watcher before closing the fd.
   */
  fdWatch(fd: number, events: number, callback: FdWatchCallback): FdWatcher;
  /**
   * The readiness of `fd` right now (poll(2) with a zero timeout): the {@link FdEvents} bits that
   * hold, of `events` plus disconnect and error. Throws EARG when the fd is not open.
   */
  fdPoll(fd: number, events: number): number;

  /**
   * A connected AF_UNIX datagram socketpair [a, b], non-blocking and close-on-exec: a ring side's
   * wake socket (src/ring/wake-socket.ts). The two ends are separate open file descriptions.
   */
  wakePair(): [number, number];
  /** Sends one byte with MSG_DONTWAIT: 0, or the errno (EAGAIN: the queue is full, a wake-up is queued). */
  wakeSend(fd: number): number;
  /** Reads every queued datagram with MSG_DONTWAIT (at most 1024); returns how many. */
  wakeDrain(fd: number): number;
  /** Throws EARG unless `fd` is an AF_UNIX datagram socket. */
  wakeCheck(fd: number): void;
}
