/*
 * Error reporting. Each process keeps the first error it meets in its slot of the shared
 * report and raises its `failed` flag so that a waiting peer gives up promptly (EPEER).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "engine.h"
#include "sync.h"

static const char *const code_names[] = {
    [E_NONE] = "ENONE",         [E_USAGE] = "EUSAGE",     [E_PINNING] = "EPINNING",
    [E_SEQUENCE] = "ESEQUENCE", [E_PAYLOAD] = "EPAYLOAD", [E_UNSUPPORTED] = "EUNSUPPORTED",
    [E_SYSCALL] = "ESYSCALL",   [E_TIMEOUT] = "ETIMEOUT", [E_PEER] = "EPEER",
};

const char *err_code_name(int code) {
  if (code < 0 || (size_t)code >= sizeof code_names / sizeof code_names[0]) return "ESYSCALL";
  return code_names[code];
}

static const char *role_name(enum role role) {
  return role == ROLE_A ? "side A" : role == ROLE_B ? "side B" : "supervisor";
}

static int vfail(struct run *r, int code, int has_seq, uint64_t expected, uint64_t received, const char *fmt,
                 va_list ap) {
  struct engine_error *e = &r->sh->side[r->role].error;
  if (e->code != E_NONE) return -1;
  char text[sizeof e->message - 16];
  vsnprintf(text, sizeof text, fmt, ap);
  if (r->role == ROLE_SUPERVISOR)
    snprintf(e->message, sizeof e->message, "%s", text);
  else
    snprintf(e->message, sizeof e->message, "%s: %s", role_name(r->role), text);
  e->has_seq = has_seq;
  e->expected = expected;
  e->received = received;
  e->when = clk_now();
  e->code = code;
  if (r->role != ROLE_SUPERVISOR) atomic_store(&r->sh->failed[r->role], 1);
  return -1;
}

int fail(struct run *r, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(r, code, 0, 0, 0, fmt, ap);
  va_end(ap);
  return -1;
}

int fail_seq(struct run *r, uint64_t expected, uint64_t received, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(r, E_SEQUENCE, 1, expected, received, fmt, ap);
  va_end(ap);
  return -1;
}

int fail_errno(struct run *r, int code, const char *what) {
  int saved = errno;
  return fail(r, code, "%s failed: %s (errno %d)", what, strerror(saved), saved);
}

int wait_check(struct run *r, uint64_t *since, const char *what) {
  if (r->role == ROLE_A || r->role == ROLE_B) {
    if (atomic_load_explicit(&r->sh->failed[1 - r->role], memory_order_relaxed))
      return fail(r, E_PEER, "the peer failed while this side waited for %s", what);
  }
  uint64_t now = clk_now();
  if (*since == 0) {
    *since = now;
    return 0;
  }
  if (now - *since > r->timeout_ticks)
    return fail(r, E_TIMEOUT, "no progress for %d ms while waiting for %s", HARD_TIMEOUT_MS, what);
  return 0;
}
