/*
 * fable-engine: the native bench engine. One invocation runs one test of one IPC mechanism
 * between two processes pinned to two CPUs and prints one JSON object (src/bench/probe.ts).
 *
 *   fable-engine --mechanism NAME --mode latency|throughput --size BYTES --cpus A,B
 *                [--budget-ms 500] [--warmup-ms 100] [--max-samples 2000000]
 *                [--samples-out PATH] [--corrupt-at N]
 *   fable-engine --list | --version
 *   fable-engine --serve     one test per stdin line (serve.c), for a whole bench run
 *
 * Exit codes: 0 the test ran, 3 it failed (reason in "error"), 2 bad arguments (EUSAGE).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "serve.h"

struct options {
  const char *mechanism, *mode, *size, *cpus, *budget_ms, *warmup_ms, *max_samples, *samples_out, *corrupt_at;
};

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (!s || !*s) return -1;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int parse_cpus(const char *s, int cpu[2]) {
  char a[32], b[32];
  const char *comma = s ? strchr(s, ',') : NULL;
  if (!comma || (size_t)(comma - s) >= sizeof a || strlen(comma + 1) >= sizeof b) return -1;
  memcpy(a, s, (size_t)(comma - s));
  a[comma - s] = 0;
  strcpy(b, comma + 1);
  uint64_t x, y;
  if (parse_u64(a, 0, 1u << 20, &x) || parse_u64(b, 0, 1u << 20, &y)) return -1;
  cpu[0] = (int)x;
  cpu[1] = (int)y;
  return 0;
}

static const char **option_slot(struct options *o, const char *name) {
  static const struct {
    const char *name;
    size_t offset;
  } table[] = {
      {"mechanism", offsetof(struct options, mechanism)},     {"mode", offsetof(struct options, mode)},
      {"size", offsetof(struct options, size)},               {"cpus", offsetof(struct options, cpus)},
      {"budget-ms", offsetof(struct options, budget_ms)},     {"warmup-ms", offsetof(struct options, warmup_ms)},
      {"max-samples", offsetof(struct options, max_samples)}, {"samples-out", offsetof(struct options, samples_out)},
      {"corrupt-at", offsetof(struct options, corrupt_at)},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(table[i].name, name) == 0) return (const char **)((char *)o + table[i].offset);
  return NULL;
}

static void print_help(void) {
  fputs("usage: fable-engine --mechanism NAME --mode latency|throughput --size BYTES --cpus A,B\n"
        "                    [--budget-ms 500] [--warmup-ms 100] [--max-samples 2000000]\n"
        "                    [--samples-out PATH] [--corrupt-at N]\n"
        "       fable-engine --list | --version\n"
        "       fable-engine --serve   (one test per line of tab-separated arguments on stdin)\n",
        stdout);
}

int run_invocation(int argc, char **argv) {
  struct options o = {0};
  struct config cfg = {
      .budget_ms = DEFAULT_BUDGET_MS,
      .warmup_ms = DEFAULT_WARMUP_MS,
      .max_samples = DEFAULT_MAX_SAMPLES,
      .corrupt_at = UINT64_MAX,
  };
  int list = 0, version = 0;
  char name[32];

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--list") == 0) {
      list = 1;
      continue;
    }
    if (strcmp(arg, "--version") == 0) {
      version = 1;
      continue;
    }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      print_help();
      return 0;
    }
    if (strncmp(arg, "--", 2) != 0) return report_usage(NULL, "unexpected argument '%s'; see --help", arg);
    const char *eq = strchr(arg, '='), *value;
    size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (len >= sizeof name) return report_usage(NULL, "unknown option '%s'; see --help", arg);
    memcpy(name, arg + 2, len);
    name[len] = 0;
    const char **slot = option_slot(&o, name);
    if (!slot) return report_usage(NULL, "unknown option '--%s'; see --help", name);
    if (eq)
      value = eq + 1;
    else if (i + 1 < argc)
      value = argv[++i];
    else
      return report_usage(NULL, "option --%s needs a value", name);
    *slot = value;
  }
  if (version) {
    report_version();
    return 0;
  }
  if (list) {
    report_list();
    return 0;
  }

  if (!o.mechanism) return report_usage(NULL, "missing --mechanism (--list prints the mechanisms)");
  cfg.mech = mechanism_find(o.mechanism);
  if (!cfg.mech) return report_usage(NULL, "unknown mechanism '%s' (--list prints the mechanisms)", o.mechanism);
  char modes[32];
  snprintf(modes, sizeof modes, "%s%s%s", cfg.mech->modes & MODE_LATENCY ? "latency" : "",
           cfg.mech->modes == (MODE_LATENCY | MODE_THROUGHPUT) ? ", " : "",
           cfg.mech->modes & MODE_THROUGHPUT ? "throughput" : "");
  if (!o.mode) return report_usage(&cfg, "missing --mode (modes of %s: %s)", cfg.mech->name, modes);
  if (strcmp(o.mode, "latency") == 0)
    cfg.mode = MODE_LATENCY;
  else if (strcmp(o.mode, "throughput") == 0)
    cfg.mode = MODE_THROUGHPUT;
  else
    return report_usage(&cfg, "--mode must be latency or throughput, not '%s'", o.mode);
  if (!(cfg.mech->modes & cfg.mode))
    return report_usage(&cfg, "mechanism %s has no %s mode; its modes: %s", cfg.mech->name, o.mode, modes);
  if (parse_u64(o.size, MIN_SIZE, MAX_SIZE, &cfg.size))
    return report_usage(&cfg,
                        "--size must be an integer from %d to %u (every message carries a 64-bit sequence number), "
                        "not '%s'",
                        MIN_SIZE, MAX_SIZE, o.size ? o.size : "(missing)");
  if (parse_cpus(o.cpus, cfg.cpu))
    return report_usage(&cfg, "--cpus must be two CPU numbers 'A,B' (A writes/initiates, B reads/echoes), not '%s'",
                        o.cpus ? o.cpus : "(missing)");
  if (o.budget_ms && parse_u64(o.budget_ms, 1, 86400000, &cfg.budget_ms))
    return report_usage(&cfg, "--budget-ms must be an integer from 1 to 86400000, not '%s'", o.budget_ms);
  if (o.warmup_ms && parse_u64(o.warmup_ms, 0, 86400000, &cfg.warmup_ms))
    return report_usage(&cfg, "--warmup-ms must be an integer from 0 to 86400000, not '%s'", o.warmup_ms);
  if (o.max_samples && parse_u64(o.max_samples, 1, MAX_MAX_SAMPLES, &cfg.max_samples))
    return report_usage(&cfg, "--max-samples must be an integer from 1 to %" PRIu64 ", not '%s'", (uint64_t)MAX_MAX_SAMPLES,
                        o.max_samples);
  if (o.corrupt_at && parse_u64(o.corrupt_at, 0, SEQ_LIMIT, &cfg.corrupt_at))
    return report_usage(&cfg, "--corrupt-at must be a message number from 0 to %" PRIu64 ", not '%s'",
                        (uint64_t)SEQ_LIMIT, o.corrupt_at);
  if (o.samples_out && !*o.samples_out) return report_usage(&cfg, "--samples-out needs a file path");
  cfg.samples_out = o.samples_out;
  return supervise(&cfg);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--serve") == 0) return serve(run_invocation);
  return run_invocation(argc, argv);
}
