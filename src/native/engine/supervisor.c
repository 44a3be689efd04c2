/*
 * The supervisor: builds the channel, forks side A and side B, waits for both without waking
 * (sigtimedwait on SIGCHLD), and reports. It kills and reaps the other side as soon as one side
 * fails, kills both when the test overruns its hard deadline (warm-up + budget + 15 s), and
 * never leaves a child behind: the sides also die with it (PR_SET_PDEATHSIG).
 *
 * Each side pins itself with sched_setaffinity, checks sched_getcpu() at the start and at the
 * end, builds its private buffers and faults in every page it will touch, then meets the other
 * at a futex barrier before the first message.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "report.h"
#include "serve.h"
#include "sync.h"

#define DEADLINE_SLACK_MS 5000

static const char *side_name(int role) { return role == ROLE_A ? "side A" : "side B"; }

/* 1 online, 0 not online, -1 unknown. `list` receives the kernel's list of online CPUs. */
static int cpu_online(int cpu, char *list, size_t len) {
  FILE *f = fopen("/sys/devices/system/cpu/online", "r");
  if (!f) return -1;
  int ok = fgets(list, (int)len, f) != NULL;
  fclose(f);
  if (!ok) return -1;
  list[strcspn(list, "\n")] = 0;
  for (const char *p = list; *p;) {
    char *end;
    long lo = strtol(p, &end, 10), hi = lo;
    if (end == p) return -1;
    if (*end == '-') {
      p = end + 1;
      hi = strtol(p, &end, 10);
      if (end == p) return -1;
    }
    if (cpu >= lo && cpu <= hi) return 1;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return -1;
  }
  return 0;
}

static int pin_start(struct run *r) {
  int cpu = r->cfg.cpu[r->role];
  size_t setsize = CPU_ALLOC_SIZE(cpu + 1);
  cpu_set_t *set = CPU_ALLOC(cpu + 1);
  if (!set) return fail(r, E_SYSCALL, "CPU_ALLOC(%d) failed", cpu + 1);
  CPU_ZERO_S(setsize, set);
  CPU_SET_S(cpu, setsize, set);
  int rc = sched_setaffinity(0, setsize, set);
  int saved = errno;
  CPU_FREE(set);
  if (rc)
    return fail(r, E_PINNING,
                "cannot pin to CPU %d: %s (the CPU does not exist, is offline, or is outside this process's "
                "allowed CPUs)",
                cpu, strerror(saved));
  int now = sched_getcpu();
  r->sh->side[r->role].cpu_start = now;
  if (now != cpu) return fail(r, E_PINNING, "pinned to CPU %d but runs on CPU %d", cpu, now);
  return 0;
}

static int pin_end(struct run *r) {
  int cpu = r->cfg.cpu[r->role], now = sched_getcpu();
  r->sh->side[r->role].cpu_end = now;
  if (now != cpu) return fail(r, E_PINNING, "pinned to CPU %d but ended the test on CPU %d", cpu, now);
  r->sh->side[r->role].pinned = 1;
  return 0;
}

static int barrier(struct run *r) {
  _Atomic uint32_t *ready = &r->sh->ready;
  uint32_t n = atomic_fetch_add(ready, 1) + 1;
  if (n >= 2) {
    futex_wake(ready, INT_MAX);
    return 0;
  }
  uint64_t since = 0;
  while ((n = atomic_load(ready)) < 2)
    if (futex_wait_bounded(r, ready, n, &since, "the other side to start")) return -1;
  return 0;
}

static void __attribute__((noreturn)) side_main(struct run *r, enum role role, pid_t parent) {
  r->role = role;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(3);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_IGN);

  int measuring = (r->cfg.mode == MODE_LATENCY) == (role == ROLE_A);
  int ok = pin_start(r) == 0 && (r->ref = alloc_buffer(r, r->msg_size)) != NULL;
  if (ok) fill_reference(r->ref, r->msg_size);
  ok = ok && (!measuring || prefault(r->samples, r->cfg.max_samples * sizeof(uint64_t)) == 0);
  ok = ok && r->cfg.mech->side_init(r) == 0;
  ok = ok && barrier(r) == 0;
  ok = ok && r->cfg.mech->side_run(r) == 0;
  ok = ok && pin_end(r) == 0;
  if (!ok) atomic_store(&r->sh->failed[role], 1);
  _exit(ok ? 0 : 3);
}

static int write_samples(struct run *r) {
  int fd = open(r->cfg.samples_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail(r, E_SYSCALL, "cannot open --samples-out %s: %s", r->cfg.samples_out, strerror(errno));
  double buf[4096];
  uint64_t n = r->sh->nsamples;
  for (uint64_t i = 0; i < n;) {
    size_t k = 0;
    for (; k < sizeof buf / sizeof buf[0] && i < n; k++, i++) {
      buf[k] = clk_ticks_to_ns(r->samples[i]);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      uint64_t bits;
      memcpy(&bits, &buf[k], 8);
      bits = __builtin_bswap64(bits);
      memcpy(&buf[k], &bits, 8);
#endif
    }
    const uint8_t *p = (const uint8_t *)buf;
    size_t left = k * sizeof buf[0];
    while (left) {
      ssize_t w = write(fd, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        int saved = errno;
        close(fd);
        return fail(r, E_SYSCALL, "writing --samples-out %s failed: %s", r->cfg.samples_out, strerror(saved));
      }
      p += w;
      left -= (size_t)w;
    }
  }
  if (close(fd)) return fail(r, E_SYSCALL, "closing --samples-out %s failed: %s", r->cfg.samples_out, strerror(errno));
  return 0;
}

/* A side's own report beats its peer's EPEER; otherwise the earliest report wins. */
static const struct engine_error *pick_error(const struct shared *sh) {
  const struct engine_error *best = NULL;
  for (int s = ROLE_A; s <= ROLE_SUPERVISOR; s++) {
    const struct engine_error *e = &sh->side[s].error;
    if (e->code == E_NONE) continue;
    if (!best) {
      best = e;
      continue;
    }
    int rank_e = e->code == E_PEER, rank_b = best->code == E_PEER;
    if (rank_e < rank_b || (rank_e == rank_b && e->when < best->when)) best = e;
  }
  return best;
}

static void describe_exit(char *buf, size_t len, int role, int cpu, int status) {
  if (WIFSIGNALED(status))
    snprintf(buf, len, "%s (CPU %d) died: killed by signal %d (%s)", side_name(role), cpu, WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else
    snprintf(buf, len, "%s (CPU %d) exited with status %d without reporting an error", side_name(role), cpu,
             WEXITSTATUS(status));
}

static int fatal_before_run(struct run *r) {
  r->cfg.mech->teardown(r);
  return report_failure(&r->cfg, pick_error(r->sh));
}

int supervise(const struct config *cfg) {
  struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) {
    struct engine_error e = {.code = E_SYSCALL};
    snprintf(e.message, sizeof e.message, "mmap of the shared report failed: %s", strerror(errno));
    return report_failure(cfg, &e);
  }
  struct run r = {.cfg = *cfg, .role = ROLE_SUPERVISOR, .sh = sh, .msg_size = cfg->size};
  char online[256];
  for (int s = 0; s < 2; s++) {
    if (cpu_online(cfg->cpu[s], online, sizeof online) == 0) {
      fail(&r, E_PINNING, "CPU %d (%s) does not exist or is offline; online CPUs: %s", cfg->cpu[s], side_name(s),
           online);
      return report_failure(cfg, pick_error(sh));
    }
  }
  clock_init();
  r.timeout_ticks = clk_ms_to_ticks(HARD_TIMEOUT_MS);

  param_str(&r, "verify", "sequence words + full pattern");
  r.samples = served_samples(cfg->max_samples);
  if (!r.samples && !(r.samples = map_shared(&r, cfg->max_samples * sizeof(uint64_t))))
    return report_failure(cfg, pick_error(sh));
  if (cfg->mech->setup(&r)) return fatal_before_run(&r);

  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  fflush(NULL);
  pid_t parent = getpid(), pid[2] = {-1, -1};
  for (int s = 0; s < 2; s++) {
    pid[s] = fork();
    if (pid[s] == 0) side_main(&r, (enum role)s, parent);
    if (pid[s] < 0) {
      fail_errno(&r, E_SYSCALL, "fork");
      if (s == 1) {
        kill(pid[0], SIGKILL);
        waitpid(pid[0], NULL, 0);
      }
      return fatal_before_run(&r);
    }
  }
  cfg->mech->teardown(&r); /* the sides hold their own ends now */

  uint64_t deadline = clk_gettime_ns() + (cfg->warmup_ms + cfg->budget_ms + HARD_TIMEOUT_MS + DEADLINE_SLACK_MS) * 1000000ull;
  int status[2] = {0, 0}, alive[2] = {1, 1}, killed[2] = {0, 0}, timed_out = 0;
  while (alive[0] || alive[1]) {
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
      int s = p == pid[0] ? 0 : p == pid[1] ? 1 : -1;
      if (s < 0) continue;
      alive[s] = 0;
      status[s] = st;
      int clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
      if (!clean && alive[1 - s]) {
        kill(pid[1 - s], SIGKILL);
        killed[1 - s] = 1;
      }
    }
    if (!alive[0] && !alive[1]) break;
    uint64_t now = clk_gettime_ns();
    if (now >= deadline) {
      timed_out = 1;
      for (int s = 0; s < 2; s++)
        if (alive[s]) {
          kill(pid[s], SIGKILL);
          killed[s] = 1;
          waitpid(pid[s], &status[s], 0);
          alive[s] = 0;
        }
      break;
    }
    uint64_t left = deadline - now;
    struct timespec ts = {(time_t)(left / 1000000000ull), (long)(left % 1000000000ull)};
    sigtimedwait(&chld, NULL, &ts);
  }

  int clean = !timed_out && sh->done;
  for (int s = 0; s < 2; s++) clean = clean && WIFEXITED(status[s]) && WEXITSTATUS(status[s]) == 0;
  if (clean && cfg->samples_out && write_samples(&r)) clean = 0;
  if (clean) {
    report_success(&r);
    return 0;
  }

  /* A side's own report explains the failure, unless it only saw its peer vanish. */
  const struct engine_error *e = pick_error(sh);
  struct engine_error own = {.code = E_NONE};
  if (!e || e->code == E_PEER) {
    for (int s = 0; s < 2 && own.code == E_NONE; s++) {
      int reported = WIFEXITED(status[s]) && (WEXITSTATUS(status[s]) == 0 || WEXITSTATUS(status[s]) == 3);
      if (!killed[s] && !reported) {
        own.code = E_PEER;
        describe_exit(own.message, sizeof own.message, s, cfg->cpu[s], status[s]);
      }
    }
    if (own.code == E_NONE && timed_out) {
      own.code = E_TIMEOUT;
      snprintf(own.message, sizeof own.message,
               "the test did not finish within %" PRIu64 " ms (warm-up + budget + %d ms); both sides were killed",
               cfg->warmup_ms + cfg->budget_ms + HARD_TIMEOUT_MS + DEADLINE_SLACK_MS,
               HARD_TIMEOUT_MS + DEADLINE_SLACK_MS);
    }
    if (own.code == E_NONE && !e) {
      own.code = E_PEER;
      snprintf(own.message, sizeof own.message, "the measuring side exited without results");
    }
    if (own.code != E_NONE) e = &own;
  }
  return report_failure(cfg, e);
}
