/*
 * Clock source selection and calibration. The TSC is used only when it is invariant
 * (constant_tsc + nonstop_tsc in /proc/cpuinfo, or CPUID 0x80000007 EDX bit 8): then it ticks
 * at one rate on every CPU, and a sample taken across a migration or a sleep is still right.
 */
#include "clock.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

struct clock_info clk = {0, 1e9, 1.0, 0.0};

#if defined(__x86_64__)
static int cpuinfo_has_invariant_tsc(void) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return 0;
  char line[8192];
  int found = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "flags", 5) != 0) continue;
    found = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
    break;
  }
  fclose(f);
  return found;
}

static int cpuid_has_invariant_tsc(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u) return 0;
  if (!__get_cpuid(0x80000007u, &a, &b, &c, &d)) return 0;
  return (d >> 8) & 1;
}

/* One (tsc, ns) pair, taken where the two readings sit closest together. */
static void paired_reading(uint64_t *tsc, uint64_t *ns) {
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 16; i++) {
    uint64_t a = clk_rdtsc();
    uint64_t t = clk_gettime_ns();
    uint64_t b = clk_rdtsc();
    if (b - a < best) {
      best = b - a;
      *tsc = a + (b - a) / 2;
      *ns = t;
    }
  }
}
#endif

void clock_init(void) {
  static int done;
  /* A serving engine calibrates once; its test processes inherit the result. */
  if (done) return;
  done = 1;
#if defined(__x86_64__)
  if (cpuinfo_has_invariant_tsc() || cpuid_has_invariant_tsc()) {
    uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
    paired_reading(&t0, &n0);
    while (clk_gettime_ns() - n0 < 25000000ull) {
    }
    paired_reading(&t1, &n1);
    clk.tsc = 1;
    clk.hz = (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
    clk.ns_per_tick = 1e9 / clk.hz;
  }
#endif
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 2000; i++) {
    uint64_t a = clk_now();
    uint64_t b = clk_now();
    if (b - a < best) best = b - a;
  }
  clk.overhead_ns = clk_ticks_to_ns(best);
}
