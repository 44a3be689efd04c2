/*
 * `fable-engine --serve`: the bench runs hundreds of short tests, and a fresh engine pays ~25 ms of
 * TSC calibration and the allocation of a 16 MB samples region every time. A serving engine pays
 * them once: it calibrates, maps and populates the region of DEFAULT_MAX_SAMPLES samples, then
 * runs each request in a fresh child (fork), which inherits both and runs exactly the single-shot
 * path (main.c), so no state of one test (fds, mappings, a mechanism's statics) reaches the next.
 *
 * Protocol: one request per stdin line, the single-shot arguments separated by tabs; one answer
 * per request on stdout, the single-shot JSON object on one line. The child's output goes through
 * a pipe, so an answer is always one whole line: a child that dies without one is answered with an
 * EPEER failure here. A child dies with the server (PR_SET_PDEATHSIG), and its sides die with it.
 */
#include "serve.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "json.h"

#define MAX_ARGS 64
#define MAX_ANSWER (1u << 20)

static uint64_t *region;
static uint64_t region_count;

uint64_t *served_samples(uint64_t count) { return region && count <= region_count ? region : NULL; }

static void answer_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void answer_failure(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct json j;
  json_init(&j, stdout);
  json_object_begin(&j);
  json_key(&j, "ok");
  json_bool(&j, 0);
  json_key(&j, "probe");
  json_string(&j, "engine");
  json_key(&j, "error");
  json_object_begin(&j);
  json_key(&j, "code");
  json_string(&j, "EPEER");
  json_key(&j, "message");
  json_string(&j, msg);
  json_object_end(&j);
  json_object_end(&j);
  fputc('\n', stdout);
  fflush(stdout);
}

/* Runs one request in a child; forwards its one-line answer, or answers for it. */
static void run_request(int (*run)(int, char **), char *line) {
  char *argv[MAX_ARGS + 2];
  int argc = 0;
  argv[argc++] = "fable-engine";
  for (char *save = NULL, *tok = strtok_r(line, "\t", &save); tok; tok = strtok_r(NULL, "\t", &save)) {
    if (argc > MAX_ARGS) {
      answer_failure("the request has more than %d arguments", MAX_ARGS);
      return;
    }
    argv[argc++] = tok;
  }
  argv[argc] = NULL;

  int out[2];
  if (pipe(out)) {
    answer_failure("pipe for a test's answer failed: %s", strerror(errno));
    return;
  }
  fflush(NULL);
  pid_t parent = getpid(), pid = fork();
  if (pid < 0) {
    answer_failure("fork of a test failed: %s", strerror(errno));
    close(out[0]);
    close(out[1]);
    return;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(3);
    close(out[0]);
    if (dup2(out[1], STDOUT_FILENO) < 0) _exit(3);
    close(out[1]);
    int code = run(argc, argv);
    fflush(stdout);
    _exit(code);
  }
  close(out[1]);
  static char buf[MAX_ANSWER];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(out[0], buf + len, sizeof buf - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == sizeof buf - 1) break;
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  buf[len] = 0;
  char *nl = memchr(buf, '\n', len);
  if (len > 0 && nl == buf + len - 1 && buf[0] == '{') {
    fwrite(buf, 1, len, stdout);
    fflush(stdout);
  } else if (WIFSIGNALED(status)) {
    answer_failure("the engine's test process died: killed by signal %d (%s)", WTERMSIG(status),
                   strsignal(WTERMSIG(status)));
  } else {
    answer_failure("the engine's test process exited with status %d without one answer line (%zu bytes)",
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1, len);
  }
}

int serve(int (*run)(int argc, char **argv)) {
  signal(SIGPIPE, SIG_IGN);
  clock_init();
  size_t bytes = DEFAULT_MAX_SAMPLES * sizeof(uint64_t);
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  /* Without the region each test maps its own, as a single-shot engine does. */
  if (p != MAP_FAILED && prefault(p, bytes) == 0) {
    region = p;
    region_count = DEFAULT_MAX_SAMPLES;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    if (n > 0 && line[n - 1] == '\n') line[--n] = 0;
    if (n == 0) continue;
    run_request(run, line);
  }
  free(line);
  return 0;
}
