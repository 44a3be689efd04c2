/*
 * Waiting: spinning with a pause hint, and futexes on shared (not process-private) memory.
 * Every wait is bounded: after the fast path fails, a cold check runs every 1024 spins (or at
 * every futex timeout) and ends the wait with EPEER when the peer has reported a failure, or
 * ETIMEOUT after HARD_TIMEOUT_MS without progress. The fast path reads no clock.
 */
#ifndef FABLE_SYNC_H
#define FABLE_SYNC_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

static inline long futex_wait(_Atomic uint32_t *addr, uint32_t expected, const struct timespec *timeout) {
  return syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, expected, timeout, NULL, 0);
}

static inline long futex_wake(_Atomic uint32_t *addr, int n) {
  return syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* The cold part of every wait; *since is 0 on the first call of a wait. 0: keep waiting. */
int wait_check(struct run *r, uint64_t *since, const char *what);

/* Spins until `cond` holds; evaluates to 0, or -1 with the error reported. */
#define SPIN_UNTIL(r, cond, what)                                   \
  ({                                                                \
    int spin_rc_ = 0;                                               \
    if (!(cond)) {                                                  \
      uint64_t spin_since_ = 0;                                     \
      unsigned spin_n_ = 0;                                         \
      for (;;) {                                                    \
        cpu_relax();                                                \
        if (cond) break;                                            \
        if (unlikely((++spin_n_ & 1023u) == 0) &&                   \
            (spin_rc_ = wait_check((r), &spin_since_, (what))) != 0) \
          break;                                                    \
      }                                                             \
    }                                                               \
    spin_rc_;                                                       \
  })

/*
 * Sleeps in FUTEX_WAIT while *addr == expected, one second at a time. Returns 0 when woken or
 * when the value differs (the caller re-checks its condition), -1 on failure (reported).
 */
static inline int futex_wait_bounded(struct run *r, _Atomic uint32_t *addr, uint32_t expected, uint64_t *since,
                                     const char *what) {
  static const struct timespec one_second = {1, 0};
  long rc = futex_wait(addr, expected, &one_second);
  if (rc == 0) return 0;
  if (errno == EAGAIN || errno == EINTR) return 0;
  if (errno == ETIMEDOUT) return wait_check(r, since, what);
  return fail_errno(r, E_SYSCALL, "futex wait");
}

#endif
