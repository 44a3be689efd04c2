/*
 * The engine's clock: ticks of the invariant TSC (x86-64, calibrated against
 * CLOCK_MONOTONIC_RAW) or nanoseconds of CLOCK_MONOTONIC_RAW elsewhere. Hot loops store raw
 * ticks; the supervisor converts them to nanoseconds once, at the end.
 */
#ifndef FABLE_CLOCK_H
#define FABLE_CLOCK_H

#include <stdint.h>
#include <time.h>

struct clock_info {
  int tsc;            /* 1: ticks are TSC cycles; 0: ticks are CLOCK_MONOTONIC_RAW ns */
  double hz;          /* ticks per second */
  double ns_per_tick;
  double overhead_ns; /* smallest back-to-back reading difference */
};

extern struct clock_info clk;

/* Decides the source, calibrates and measures the overhead (~25 ms); later calls do nothing. */
void clock_init(void);

static inline uint64_t clk_gettime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
/* lfence keeps the read from moving before earlier instructions (e.g. the load that ended a wait). */
static inline uint64_t clk_rdtsc(void) {
  uint32_t lo, hi;
  __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
  return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t clk_now(void) { return clk.tsc ? clk_rdtsc() : clk_gettime_ns(); }
#else
static inline uint64_t clk_now(void) { return clk_gettime_ns(); }
#endif

static inline uint64_t clk_ms_to_ticks(uint64_t ms) { return (uint64_t)((double)ms * 1e6 / clk.ns_per_tick); }
static inline double clk_ticks_to_ns(uint64_t ticks) { return (double)ticks * clk.ns_per_tick; }

#endif
