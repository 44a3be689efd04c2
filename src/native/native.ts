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
}

export type FutexWaitResult = "woken" | "not-equal" | "timed-out" | "interrupted";

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
  futexWait(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): FutexWaitResult;
  /** Wakes up to `count` waiters on the word at `byteOffset`. Returns how many were woken. */
  futexWake(buffer: ArrayBuffer, byteOffset: number, count: number): number;
}
