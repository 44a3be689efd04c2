/*
 * The bench engine's shared vocabulary: the configuration of one test, the memory the three
 * processes share, errors, params, and the interface every mechanism implements.
 *
 * One invocation runs one test. The supervisor (the process started by the orchestrator) parses
 * the arguments, calibrates the clock, lets the mechanism build its channel, then forks side A
 * (initiator / writer, pinned to the first CPU) and side B (echoer / reader, pinned to the
 * second). The sides report through `struct shared`, mapped before the fork; the supervisor
 * waits for both, picks the error that explains a failure, and prints one JSON object
 * (src/bench/probe.ts is the contract).
 */
#ifndef FABLE_ENGINE_H
#define FABLE_ENGINE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ENGINE_VERSION "0.1.0"

#define CACHE_LINE 64

#define DEFAULT_BUDGET_MS 500
#define DEFAULT_WARMUP_MS 100
#define DEFAULT_MAX_SAMPLES 2000000
#define MIN_SIZE 8
#define MAX_SIZE (64u << 20)
#define MAX_MAX_SAMPLES 100000000ull
/* Largest --corrupt-at: far below the 61 bits of a message number. */
#define SEQ_LIMIT (1ull << 40)

/* A wait that makes no progress for this long fails with ETIMEOUT. */
#define HARD_TIMEOUT_MS 10000

enum mode { MODE_LATENCY = 1, MODE_THROUGHPUT = 2 };
enum role { ROLE_A = 0, ROLE_B = 1, ROLE_SUPERVISOR = 2 };

enum err_code {
  E_NONE = 0,
  E_USAGE,
  E_PINNING,
  E_SEQUENCE,
  E_PAYLOAD,
  E_UNSUPPORTED,
  E_SYSCALL,
  E_TIMEOUT,
  E_PEER,
};

struct mechanism;

struct config {
  const struct mechanism *mech;
  enum mode mode;
  uint64_t size;
  int cpu[2];
  uint64_t budget_ms;
  uint64_t warmup_ms;
  uint64_t max_samples;
  const char *samples_out; /* NULL: do not write samples */
  uint64_t corrupt_at;     /* UINT64_MAX: never */
};

struct engine_error {
  int code;
  int has_seq;
  uint64_t expected, received;
  uint64_t when; /* clock ticks, to tell which side failed first */
  char message[320];
};

enum param_type { PARAM_INT, PARAM_NUM, PARAM_STR, PARAM_BOOL };

struct param {
  char key[32];
  int type;
  int64_t i;
  double d;
  char s[64];
};

#define MAX_PARAMS 16

/* What one process (A, B or the supervisor) reports. */
struct side_report {
  struct engine_error error;
  int pinned;            /* on its CPU at the start and at the end */
  int cpu_start, cpu_end;
  int nparams;
  struct param params[MAX_PARAMS];
};

/* Mapped MAP_SHARED before the fork; written by the sides, read by the supervisor. */
struct shared {
  _Alignas(CACHE_LINE) _Atomic uint32_t ready;      /* start barrier (futex word) */
  _Alignas(CACHE_LINE) _Atomic uint32_t failed[2];  /* a side has reported an error */
  _Alignas(CACHE_LINE) _Atomic uint32_t reader_full; /* throughput: B recorded max samples */
  _Alignas(CACHE_LINE) struct side_report side[3];
  /* Results, written by the measuring side (A for latency, B for throughput). */
  uint64_t iterations;
  uint64_t warmup_iterations;
  uint64_t elapsed_ticks;
  uint64_t nsamples;
  uint64_t batch;
  /* The measuring side has stored the results (futex word: throughput A waits for B). */
  _Alignas(CACHE_LINE) _Atomic uint32_t done;
};

/* Everything one process knows about the test. */
struct run {
  struct config cfg;
  enum role role;
  struct shared *sh;
  uint64_t *samples;   /* shared, cfg.max_samples entries of clock ticks */
  uint64_t msg_size;   /* bytes per message on the wire (cfg.size, or 8 for the floors) */
  uint8_t *ref;        /* the reference message: the pattern every message carries */
  uint64_t timeout_ticks;
};

/*
 * A mechanism: `setup` runs in the supervisor before the fork and builds the channel (fds,
 * shared memory); `side_init` runs in each side after pinning (close the peer's ends, map,
 * prefault); `side_run` runs the measurement through the harness; `teardown` runs in the
 * supervisor right after the fork (it must close every fd so that EOF and EPIPE reach the
 * sides) and may be called again at exit.
 */
struct mechanism {
  const char *name;
  unsigned modes; /* bit mask of enum mode */
  int (*setup)(struct run *r);
  int (*side_init)(struct run *r);
  int (*side_run)(struct run *r);
  void (*teardown)(struct run *r);
};

extern const struct mechanism *const mechanisms[];
extern const size_t mechanism_count;
const struct mechanism *mechanism_find(const char *name);

/* errors.c: the first error a process reports is the one kept. All return -1. */
int fail(struct run *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4), cold));
int fail_seq(struct run *r, uint64_t expected, uint64_t received, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), cold));
int fail_errno(struct run *r, int code, const char *what) __attribute__((cold));
const char *err_code_name(int code);

/* params.c */
void param_int(struct run *r, const char *key, int64_t v);
void param_num(struct run *r, const char *key, double v);
void param_str(struct run *r, const char *key, const char *v);
void param_bool(struct run *r, const char *key, int v);

/* util.c */
void *map_shared(struct run *r, size_t len);
void *map_private(struct run *r, size_t len);
int prefault(void *p, size_t len);
void *alloc_buffer(struct run *r, size_t len);
uint64_t next_pow2(uint64_t v);
uint64_t align_up(uint64_t v, uint64_t a);
void fill_reference(uint8_t *buf, size_t len);

#endif
