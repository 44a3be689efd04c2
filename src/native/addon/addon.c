// fable's N-API addon: only what JavaScript cannot do itself. Declared in src/native/native.ts,
// loaded by src/native/load.ts. Every failure throws an Error whose message names the call, the
// argument and the errno text, with `code` set to "ESYSCALL" or "EARG".
#include <node_api.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#include <uv.h>

#define MAX_CPUS 4096

static void throw_code(napi_env env, const char* code, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static void throw_code(napi_env env, const char* code, const char* fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_throw_error(env, code, msg);
}

#define CHECK_NAPI(env, call)                                   \
  do {                                                          \
    if ((call) != napi_ok) {                                    \
      bool pending = false;                                     \
      napi_is_exception_pending((env), &pending);               \
      if (!pending) throw_code((env), "EARG", "N-API call failed: %s", #call); \
      return NULL;                                              \
    }                                                           \
  } while (0)

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv, size_t* argc_out) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  if (argc_out) *argc_out = argc;
  return true;
}

static bool get_int64(napi_env env, napi_value v, const char* what, int64_t* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) {
    throw_code(env, "EARG", "%s must be a number", what);
    return false;
  }
  double d;
  napi_get_value_double(env, v, &d);
  if (d != (double)(int64_t)d) {
    throw_code(env, "EARG", "%s must be an integer, got %g", what, d);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

// ---- CPU affinity -------------------------------------------------------------------------

static bool cpuset_from_array(napi_env env, napi_value arr, cpu_set_t* set, char* listbuf, size_t listlen) {
  bool is_array = false;
  napi_is_array(env, arr, &is_array);
  if (!is_array) {
    throw_code(env, "EARG", "setAffinity: cpus must be an array of CPU numbers");
    return false;
  }
  uint32_t n;
  napi_get_array_length(env, arr, &n);
  if (n == 0) {
    throw_code(env, "EARG", "setAffinity: cpus is empty");
    return false;
  }
  CPU_ZERO(set);
  size_t used = 0;
  listbuf[0] = '\0';
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, arr, i, &e);
    int64_t cpu;
    if (!get_int64(env, e, "setAffinity: each cpu", &cpu)) return false;
    if (cpu < 0 || cpu >= MAX_CPUS) {
      throw_code(env, "EARG", "setAffinity: CPU %lld is out of range 0..%d", (long long)cpu, MAX_CPUS - 1);
      return false;
    }
    CPU_SET((int)cpu, set);
    if (used < listlen) used += (size_t)snprintf(listbuf + used, listlen - used, "%s%lld", i ? "," : "", (long long)cpu);
  }
  return true;
}

static napi_value set_affinity(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, NULL)) return NULL;
  cpu_set_t set;
  char list[256];
  if (!cpuset_from_array(env, argv[0], &set, list, sizeof list)) return NULL;

  bool process_scope = false;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t == napi_string) {
    char scope[16];
    size_t len;
    napi_get_value_string_utf8(env, argv[1], scope, sizeof scope, &len);
    if (strcmp(scope, "process") == 0) {
      process_scope = true;
    } else if (strcmp(scope, "thread") != 0) {
      throw_code(env, "EARG", "setAffinity: scope must be \"thread\" or \"process\", got \"%s\"", scope);
      return NULL;
    }
  } else if (t != napi_undefined) {
    throw_code(env, "EARG", "setAffinity: scope must be \"thread\" or \"process\"");
    return NULL;
  }

  if (!process_scope) {
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      throw_code(env, "ESYSCALL", "sched_setaffinity([%s]) failed: %s (does that CPU exist and is it online?)", list,
                 strerror(errno));
      return NULL;
    }
    return NULL;
  }

  // Every thread of the process: V8's and libuv's helpers were started before any JS ran.
  // Our own thread goes first so a bad CPU list fails before anything has moved.
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    throw_code(env, "ESYSCALL", "sched_setaffinity([%s]) failed: %s (does that CPU exist and is it online?)", list,
               strerror(errno));
    return NULL;
  }
  DIR* dir = opendir("/proc/self/task");
  if (dir == NULL) {
    throw_code(env, "ESYSCALL", "opendir(/proc/self/task) failed: %s", strerror(errno));
    return NULL;
  }
  struct dirent* d;
  int failed_tid = 0, failed_errno = 0;
  while ((d = readdir(dir)) != NULL) {
    if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
    pid_t tid = (pid_t)strtol(d->d_name, NULL, 10);
    // A thread may exit between readdir and the call: ESRCH is not a failure.
    if (sched_setaffinity(tid, sizeof set, &set) != 0 && errno != ESRCH && failed_tid == 0) {
      failed_tid = tid;
      failed_errno = errno;
    }
  }
  closedir(dir);
  if (failed_tid != 0) {
    throw_code(env, "ESYSCALL", "sched_setaffinity(thread %d, [%s]) failed: %s", failed_tid, list,
               strerror(failed_errno));
  }
  return NULL;
}

static napi_value get_affinity(napi_env env, napi_callback_info info) {
  (void)info;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    throw_code(env, "ESYSCALL", "sched_getaffinity failed: %s", strerror(errno));
    return NULL;
  }
  napi_value arr;
  CHECK_NAPI(env, napi_create_array(env, &arr));
  uint32_t n = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (CPU_ISSET(cpu, &set)) napi_set_element(env, arr, n++, make_int(env, cpu));
  }
  return arr;
}

static napi_value get_cpu(napi_env env, napi_callback_info info) {
  (void)info;
  int cpu = sched_getcpu();
  if (cpu < 0) {
    throw_code(env, "ESYSCALL", "sched_getcpu failed: %s", strerror(errno));
    return NULL;
  }
  return make_int(env, cpu);
}

static napi_value cpu_count(napi_env env, napi_callback_info info) {
  (void)info;
  return make_int(env, sysconf(_SC_NPROCESSORS_CONF));
}

// ---- shared memory ------------------------------------------------------------------------

static napi_value shm_create(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, NULL)) return NULL;
  char name[200];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    throw_code(env, "EARG", "shmCreate: name must be a string");
    return NULL;
  }
  int64_t size;
  if (!get_int64(env, argv[1], "shmCreate: size", &size)) return NULL;
  if (size <= 0 || size > ((int64_t)1 << 40)) {
    throw_code(env, "EARG", "shmCreate: size %lld is out of range 1..2^40 bytes", (long long)size);
    return NULL;
  }
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    throw_code(env, "ESYSCALL", "memfd_create(\"%s\") failed: %s", name, strerror(errno));
    return NULL;
  }
  if (ftruncate(fd, (off_t)size) != 0) {
    int e = errno;
    close(fd);
    throw_code(env, "ESYSCALL", "ftruncate(memfd, %lld) failed: %s", (long long)size, strerror(e));
    return NULL;
  }
  // A peer that receives this fd can neither shrink it under our mapping (SIGBUS) nor grow it.
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    int e = errno;
    close(fd);
    throw_code(env, "ESYSCALL", "sealing memfd failed: %s", strerror(e));
    return NULL;
  }
  return make_int(env, fd);
}

static napi_value shm_size(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, NULL)) return NULL;
  int64_t fd;
  if (!get_int64(env, argv[0], "shmSize: fd", &fd)) return NULL;
  struct stat st;
  if (fstat((int)fd, &st) != 0) {
    throw_code(env, "ESYSCALL", "fstat(fd %lld) failed: %s", (long long)fd, strerror(errno));
    return NULL;
  }
  return make_int(env, (int64_t)st.st_size);
}

// Each mapping remembers its length so unmap (explicit, or by the GC) knows what to release.
typedef struct {
  void* addr;
  size_t len;
} mapping_t;

static void finalize_mapping(napi_env env, void* data, void* hint) {
  (void)env;
  (void)data;
  mapping_t* m = hint;
  if (m->addr != NULL) munmap(m->addr, m->len);
  free(m);
}

static napi_value shm_map(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, NULL)) return NULL;
  int64_t fd, size;
  if (!get_int64(env, argv[0], "shmMap: fd", &fd)) return NULL;
  if (!get_int64(env, argv[1], "shmMap: size", &size)) return NULL;
  struct stat st;
  if (fstat((int)fd, &st) != 0) {
    throw_code(env, "ESYSCALL", "shmMap: fstat(fd %lld) failed: %s", (long long)fd, strerror(errno));
    return NULL;
  }
  // Mapping past the end of the file would fault (SIGBUS) on first touch.
  if (size <= 0 || size > (int64_t)st.st_size) {
    throw_code(env, "EARG", "shmMap: size %lld is out of range 1..%lld (the region's size)", (long long)size,
               (long long)st.st_size);
    return NULL;
  }
  void* addr = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
  if (addr == MAP_FAILED) {
    throw_code(env, "ESYSCALL", "mmap(fd %lld, %lld bytes) failed: %s", (long long)fd, (long long)size,
               strerror(errno));
    return NULL;
  }
  mapping_t* m = malloc(sizeof *m);
  if (m == NULL) {
    munmap(addr, (size_t)size);
    throw_code(env, "ESYSCALL", "shmMap: out of memory");
    return NULL;
  }
  m->addr = addr;
  m->len = (size_t)size;
  napi_value ab;
  napi_status s = napi_create_external_arraybuffer(env, addr, (size_t)size, finalize_mapping, m, &ab);
  if (s != napi_ok) {
    munmap(addr, (size_t)size);
    free(m);
    throw_code(env, "ESYSCALL", "napi_create_external_arraybuffer failed (status %d)", (int)s);
    return NULL;
  }
  // Keep the mapping record reachable from the buffer for explicit unmap.
  napi_wrap(env, ab, m, NULL, NULL, NULL);
  return ab;
}

static napi_value shm_unmap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, NULL)) return NULL;
  bool is_ab = false;
  napi_is_arraybuffer(env, argv[0], &is_ab);
  if (!is_ab) {
    throw_code(env, "EARG", "shmUnmap: argument must be an ArrayBuffer made by shmMap");
    return NULL;
  }
  mapping_t* m = NULL;
  if (napi_unwrap(env, argv[0], (void**)&m) != napi_ok || m == NULL) {
    throw_code(env, "EARG", "shmUnmap: this ArrayBuffer was not made by shmMap");
    return NULL;
  }
  if (m->addr == NULL) return NULL;  // already unmapped
  // Detach first so no JS view can reach the pages after they are gone.
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) {
    throw_code(env, "ESYSCALL", "shmUnmap: could not detach the ArrayBuffer");
    return NULL;
  }
  munmap(m->addr, m->len);
  m->addr = NULL;
  return NULL;
}

// ---- futex --------------------------------------------------------------------------------

// The bytes behind an ArrayBuffer, or behind a TypedArray (which may view a SharedArrayBuffer:
// N-API in Node 20 cannot take a SharedArrayBuffer itself, but it gives a view's data pointer).
static bool memory_of(napi_env env, napi_value v, const char* fn, char** data, size_t* len) {
  bool is = false;
  napi_is_arraybuffer(env, v, &is);
  if (is) {
    void* d;
    if (napi_get_arraybuffer_info(env, v, &d, len) != napi_ok) goto bad;
    *data = d;
    return true;
  }
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type type;
    size_t n;
    void* d;
    if (napi_get_typedarray_info(env, v, &type, &n, &d, NULL, NULL) != napi_ok) goto bad;
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: break;
    }
    *data = d;
    *len = n * elem;
    return true;
  }
bad:
  throw_code(env, "EARG", "%s: first argument must be an ArrayBuffer or a TypedArray (e.g. over a SharedArrayBuffer)", fn);
  return false;
}

static bool word_at(napi_env env, napi_value ab, napi_value off, const char* fn, uint32_t** out) {
  char* data;
  size_t len;
  if (!memory_of(env, ab, fn, &data, &len)) return false;
  int64_t o;
  if (!get_int64(env, off, "byteOffset", &o)) return false;
  if (data == NULL || o < 0 || (o & 3) != 0 || (uint64_t)o + 4 > len || ((uintptr_t)(data + o) & 3) != 0) {
    throw_code(env, "EARG", "%s: byteOffset %lld must be 4-byte aligned and within the %zu-byte buffer", fn,
               (long long)o, len);
    return false;
  }
  *out = (uint32_t*)(data + o);
  return true;
}

static napi_value futex_wait(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv, NULL)) return NULL;
  uint32_t* word;
  if (!word_at(env, argv[0], argv[1], "futexWait", &word)) return NULL;
  int64_t expected, timeout_ms;
  if (!get_int64(env, argv[2], "futexWait: expected", &expected)) return NULL;
  if (!get_int64(env, argv[3], "futexWait: timeoutMs", &timeout_ms)) return NULL;
  struct timespec ts, *tsp = NULL;
  if (timeout_ms >= 0) {
    ts.tv_sec = (time_t)(timeout_ms / 1000);
    ts.tv_nsec = (long)((timeout_ms % 1000) * 1000000);
    tsp = &ts;
  }
  // Shared (non-private) futex: the waker may be another process mapping the same pages.
  long r = syscall(SYS_futex, word, FUTEX_WAIT, (uint32_t)expected, tsp, NULL, 0);
  const char* result = "woken";
  if (r != 0) {
    if (errno == EAGAIN) result = "not-equal";
    else if (errno == ETIMEDOUT) result = "timed-out";
    else if (errno == EINTR) result = "interrupted";
    else {
      throw_code(env, "ESYSCALL", "futex(FUTEX_WAIT) failed: %s", strerror(errno));
      return NULL;
    }
  }
  napi_value s;
  napi_create_string_utf8(env, result, NAPI_AUTO_LENGTH, &s);
  return s;
}

static napi_value futex_wake(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, NULL)) return NULL;
  uint32_t* word;
  if (!word_at(env, argv[0], argv[1], "futexWake", &word)) return NULL;
  int64_t count;
  if (!get_int64(env, argv[2], "futexWake: count", &count)) return NULL;
  if (count < 1 || count > INT_MAX) {
    throw_code(env, "EARG", "futexWake: count %lld must be 1..%d", (long long)count, INT_MAX);
    return NULL;
  }
  long r = syscall(SYS_futex, word, FUTEX_WAKE, (int)count, NULL, NULL, 0);
  if (r < 0) {
    throw_code(env, "ESYSCALL", "futex(FUTEX_WAKE) failed: %s", strerror(errno));
    return NULL;
  }
  return make_int(env, r);
}

// ---- waiter: a native thread that sleeps on a shared word and calls back into JS ----------
//
// One thread per waiter, started once and reused. While idle it sleeps on a private condition
// variable; arm(expected, timeoutMs) hands it one FUTEX_WAIT on the shared word, after which it
// queues one call of the JS callback through a thread-safe function and goes idle again. It never
// uses the libuv thread pool. The thread-safe function is ref'd only while armed, so an armed
// waiter keeps the event loop alive (a process waiting for data does not exit) and an idle one
// does not. The FUTEX_WAIT runs in slices so that close() is prompt even if the word's pages
// were unmapped under it (a FUTEX_WAKE cannot reach a waiter on an unmapped page).
//
// Ownership: the JS wrapper and the thread-safe function each hold one reference; the struct is
// freed when both are gone (both finalizers run on the JS thread). close() stops and joins the
// thread; it runs explicitly, from the wrapper's finalizer (GC), or from the env cleanup hook
// (worker or process teardown), whichever comes first.

#define WAITER_SLICE_MS 200
#define WAITER_STACK_BYTES (64 * 1024)

enum { WAITER_IDLE, WAITER_ARMED, WAITER_FIRED };

typedef struct {
  napi_env env;
  napi_threadsafe_function tsfn;
  napi_ref memory_ref;  // keeps the buffer (and so the mapping or SAB) alive while the thread may touch it
  uint32_t* word;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  // Under mu:
  int state;
  uint32_t expected;
  int64_t timeout_ms;
  const char* result;
  // Read by the thread without the lock.
  atomic_int stopping;
  // JS thread only:
  bool closed, tsfn_alive, tsfn_refed, hook_added;
  int owners;
} waiter_t;

static void waiter_release_owner(waiter_t* w) {
  if (--w->owners > 0) return;
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Sleeps while *word == expected. Returns why it stopped; NULL when close() stopped it.
static const char* waiter_sleep(waiter_t* w, uint32_t expected, int64_t timeout_ms) {
  int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : INT64_MAX;
  for (;;) {
    if (atomic_load(&w->stopping)) return NULL;
    int64_t left = deadline == INT64_MAX ? WAITER_SLICE_MS : deadline - now_ms();
    if (left <= 0) return "timed-out";
    if (left > WAITER_SLICE_MS) left = WAITER_SLICE_MS;
    struct timespec ts = {(time_t)(left / 1000), (long)((left % 1000) * 1000000)};
    long r = syscall(SYS_futex, w->word, FUTEX_WAIT, expected, &ts, NULL, 0);
    if (r == 0) return "woken";
    if (errno == EAGAIN) return "not-equal";
    if (errno == EINTR || errno == ETIMEDOUT) continue;
    return "fault";  // EFAULT: the page is gone; the JS side finds out why
  }
}

static void* waiter_main(void* arg) {
  waiter_t* w = arg;
  for (;;) {
    pthread_mutex_lock(&w->mu);
    while (w->state != WAITER_ARMED && !atomic_load(&w->stopping)) pthread_cond_wait(&w->cv, &w->mu);
    uint32_t expected = w->expected;
    int64_t timeout_ms = w->timeout_ms;
    pthread_mutex_unlock(&w->mu);
    if (atomic_load(&w->stopping)) break;
    const char* result = waiter_sleep(w, expected, timeout_ms);
    if (result == NULL) break;
    pthread_mutex_lock(&w->mu);
    w->state = WAITER_FIRED;
    w->result = result;
    pthread_mutex_unlock(&w->mu);
    // Unlimited queue and non-blocking: this never waits on the JS thread (which may be joining us).
    napi_call_threadsafe_function(w->tsfn, NULL, napi_tsfn_nonblocking);
  }
  return NULL;
}

static void waiter_unref(waiter_t* w) {
  if (w->tsfn_refed && w->tsfn_alive) napi_unref_threadsafe_function(w->env, w->tsfn);
  w->tsfn_refed = false;
}

static void waiter_cleanup_hook(void* arg);

static void waiter_close(waiter_t* w) {
  if (w->closed) return;
  w->closed = true;
  pthread_mutex_lock(&w->mu);
  atomic_store(&w->stopping, 1);
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  // Wake the thread out of FUTEX_WAIT. Other sleepers on the word wake too: every user of a
  // futex word re-checks its condition, so a spurious wake-up costs them one loop. EFAULT (the
  // page is unmapped) is harmless: the slice timeout ends that wait.
  syscall(SYS_futex, w->word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
  pthread_join(w->thread, NULL);
  waiter_unref(w);
  if (w->tsfn_alive) napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
  if (w->memory_ref != NULL) {
    napi_delete_reference(w->env, w->memory_ref);
    w->memory_ref = NULL;
  }
  if (w->hook_added) {
    w->hook_added = false;
    napi_remove_env_cleanup_hook(w->env, waiter_cleanup_hook, w);
  }
}

static void waiter_cleanup_hook(void* arg) {
  waiter_t* w = arg;
  w->hook_added = false;  // Node removes a hook as it runs it
  waiter_close(w);
}

static void waiter_call_js(napi_env env, napi_value callback, void* context, void* data) {
  (void)data;
  waiter_t* w = context;
  if (env == NULL || w->closed) return;
  pthread_mutex_lock(&w->mu);
  const char* result = w->result;
  w->state = WAITER_IDLE;
  pthread_mutex_unlock(&w->mu);
  waiter_unref(w);
  napi_value undefined, arg;
  napi_get_undefined(env, &undefined);
  napi_create_string_utf8(env, result, NAPI_AUTO_LENGTH, &arg);
  // An exception thrown by the callback is reported by Node as uncaught.
  napi_call_function(env, undefined, callback, 1, &arg, NULL);
}

static void waiter_tsfn_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  waiter_t* w = data;
  w->tsfn_alive = false;
  w->tsfn_refed = false;
  waiter_release_owner(w);
}

static void waiter_wrapper_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  waiter_t* w = data;
  waiter_close(w);
  waiter_release_owner(w);
}

// A method's arguments (missing ones undefined) and the native struct wrapped in `this`.
static void* this_wrapped(napi_env env, napi_callback_info info, size_t want, napi_value* argv, const char* what) {
  size_t argc = want;
  napi_value self;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  void* data = NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    throw_code(env, "EARG", "%s method called on an object that is not one", what);
    return NULL;
  }
  return data;
}

static waiter_t* this_waiter(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  return this_wrapped(env, info, want, argv, "Waiter");
}

static napi_value waiter_arm(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  waiter_t* w = this_waiter(env, info, 2, argv);
  if (w == NULL) return NULL;
  int64_t expected, timeout_ms;
  if (!get_int64(env, argv[0], "Waiter.arm: expected", &expected)) return NULL;
  if (!get_int64(env, argv[1], "Waiter.arm: timeoutMs", &timeout_ms)) return NULL;
  if (expected < INT32_MIN || expected > UINT32_MAX) {
    throw_code(env, "EARG", "Waiter.arm: expected %lld is not a 32-bit value", (long long)expected);
    return NULL;
  }
  if (w->closed) {
    throw_code(env, "EARG", "Waiter.arm: the waiter is closed");
    return NULL;
  }
  pthread_mutex_lock(&w->mu);
  int state = w->state;
  if (state == WAITER_IDLE) {
    w->state = WAITER_ARMED;
    w->expected = (uint32_t)expected;
    w->timeout_ms = timeout_ms;
    pthread_cond_signal(&w->cv);
  }
  pthread_mutex_unlock(&w->mu);
  if (state != WAITER_IDLE) {
    throw_code(env, "EARG", "Waiter.arm: already armed (wait for the callback before arming again)");
    return NULL;
  }
  if (!w->tsfn_refed && w->tsfn_alive) {
    napi_ref_threadsafe_function(env, w->tsfn);
    w->tsfn_refed = true;
  }
  return NULL;
}

static napi_value waiter_close_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  waiter_t* w = this_waiter(env, info, 0, argv);
  if (w == NULL) return NULL;
  waiter_close(w);
  return NULL;
}

static napi_value waiter_armed_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  waiter_t* w = this_waiter(env, info, 0, argv);
  if (w == NULL) return NULL;
  pthread_mutex_lock(&w->mu);
  bool armed = !w->closed && w->state != WAITER_IDLE;
  pthread_mutex_unlock(&w->mu);
  napi_value r;
  napi_get_boolean(env, armed, &r);
  return r;
}

// new Waiter(memory, byteOffset, callback): only reached through waiterCreate.
static napi_value waiter_construct(napi_env env, napi_callback_info info) {
  napi_value argv[3], self;
  size_t argc = 3;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  for (size_t i = argc; i < 3; i++) napi_get_undefined(env, &argv[i]);
  uint32_t* word;
  if (!word_at(env, argv[0], argv[1], "waiterCreate", &word)) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_function) {
    throw_code(env, "EARG", "waiterCreate: callback must be a function");
    return NULL;
  }
  waiter_t* w = calloc(1, sizeof *w);
  if (w == NULL) {
    throw_code(env, "ESYSCALL", "waiterCreate: out of memory");
    return NULL;
  }
  w->env = env;
  w->word = word;
  w->state = WAITER_IDLE;
  atomic_init(&w->stopping, 0);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);

  napi_value name;
  napi_create_string_utf8(env, "fable-waiter", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, w, waiter_tsfn_finalize, w, waiter_call_js,
                                      &w->tsfn) != napi_ok) {
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    throw_code(env, "ESYSCALL", "waiterCreate: napi_create_threadsafe_function failed");
    return NULL;
  }
  w->tsfn_alive = true;
  w->owners = 1;  // the thread-safe function
  napi_unref_threadsafe_function(env, w->tsfn);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, WAITER_STACK_BYTES);
  int e = pthread_create(&w->thread, &attr, waiter_main, w);
  pthread_attr_destroy(&attr);
  if (e != 0) {
    w->closed = true;
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);  // its finalizer frees w
    throw_code(env, "ESYSCALL", "waiterCreate: pthread_create failed: %s", strerror(e));
    return NULL;
  }
  napi_create_reference(env, argv[0], 1, &w->memory_ref);
  if (napi_wrap(env, self, w, waiter_wrapper_finalize, NULL, NULL) != napi_ok) {
    waiter_close(w);
    throw_code(env, "ESYSCALL", "waiterCreate: napi_wrap failed");
    return NULL;
  }
  w->owners++;  // the wrapper
  if (napi_add_env_cleanup_hook(env, waiter_cleanup_hook, w) == napi_ok) w->hook_added = true;
  return self;
}

typedef struct {
  napi_ref waiter_class;
  napi_ref fdwatch_class;
} instance_t;

static void instance_finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  instance_t* inst = data;
  napi_delete_reference(env, inst->waiter_class);
  napi_delete_reference(env, inst->fdwatch_class);
  free(inst);
}

// `new` on one of the module's classes (kept in instance_t, not exported) with the call's 3 arguments.
static napi_value construct3(napi_env env, napi_callback_info info, size_t class_offset) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, NULL)) return NULL;
  instance_t* inst;
  napi_value cls, obj;
  CHECK_NAPI(env, napi_get_instance_data(env, (void**)&inst));
  CHECK_NAPI(env, napi_get_reference_value(env, *(napi_ref*)((char*)inst + class_offset), &cls));
  if (napi_new_instance(env, cls, 3, argv, &obj) != napi_ok) return NULL;
  return obj;
}

static napi_value waiter_create(napi_env env, napi_callback_info info) {
  return construct3(env, info, offsetof(instance_t, waiter_class));
}

// ---- unix sockets: fd passing and peer credentials -----------------------------------------

#define MAX_PASSED_FDS 16

static bool get_fd(napi_env env, napi_value v, const char* what, int* out) {
  int64_t fd;
  if (!get_int64(env, v, what, &fd)) return false;
  if (fd < 0 || fd > INT_MAX) {
    throw_code(env, "EARG", "%s %lld is not a file descriptor", what, (long long)fd);
    return false;
  }
  *out = (int)fd;
  return true;
}

static napi_value send_fds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, NULL)) return NULL;
  int sock;
  if (!get_fd(env, argv[0], "sendFds: socketFd", &sock)) return NULL;
  bool is_array = false;
  napi_is_array(env, argv[1], &is_array);
  if (!is_array) {
    throw_code(env, "EARG", "sendFds: fds must be an array of file descriptors");
    return NULL;
  }
  uint32_t n;
  napi_get_array_length(env, argv[1], &n);
  if (n > MAX_PASSED_FDS) {
    throw_code(env, "EARG", "sendFds: %u fds is more than the %d one message may carry", n, MAX_PASSED_FDS);
    return NULL;
  }
  int fds[MAX_PASSED_FDS];
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, argv[1], i, &e);
    if (!get_fd(env, e, "sendFds: each fd", &fds[i])) return NULL;
  }
  bool is_ta = false;
  napi_is_typedarray(env, argv[2], &is_ta);
  void* data = NULL;
  size_t len = 0;
  if (is_ta) {
    napi_typedarray_type type;
    napi_get_typedarray_info(env, argv[2], &type, &len, &data, NULL, NULL);
    if (type != napi_uint8_array) is_ta = false;
  }
  if (!is_ta || len == 0) {
    // A stream socket carries ancillary data only together with at least one byte.
    throw_code(env, "EARG", "sendFds: data must be a non-empty Uint8Array");
    return NULL;
  }
  struct iovec iov = {data, len};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (n > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
  }
  ssize_t r;
  do r = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    throw_code(env, errno == EAGAIN ? "EAGAIN" : "ESYSCALL", "sendmsg(fd %d, %u fds, %zu bytes) failed: %s", sock, n,
               len, strerror(errno));
    return NULL;
  }
  return make_int(env, r);
}

static napi_value recv_fds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, NULL)) return NULL;
  int sock;
  int64_t max_fds, max_bytes;
  if (!get_fd(env, argv[0], "recvFds: socketFd", &sock)) return NULL;
  if (!get_int64(env, argv[1], "recvFds: maxFds", &max_fds)) return NULL;
  if (!get_int64(env, argv[2], "recvFds: maxBytes", &max_bytes)) return NULL;
  if (max_fds < 0 || max_fds > MAX_PASSED_FDS || max_bytes < 1 || max_bytes > (1 << 20)) {
    throw_code(env, "EARG", "recvFds: maxFds %lld must be 0..%d and maxBytes %lld 1..1048576", (long long)max_fds,
               MAX_PASSED_FDS, (long long)max_bytes);
    return NULL;
  }
  napi_value ab;
  void* data;
  CHECK_NAPI(env, napi_create_arraybuffer(env, (size_t)max_bytes, &data, &ab));
  struct iovec iov = {data, (size_t)max_bytes};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
  } control;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN) {
      napi_value nul;
      napi_get_null(env, &nul);
      return nul;
    }
    throw_code(env, "ESYSCALL", "recvmsg(fd %d) failed: %s", sock, strerror(errno));
    return NULL;
  }
  int fds[MAX_PASSED_FDS];
  int nfds = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (nfds < MAX_PASSED_FDS) fds[nfds++] = fd;
      else close(fd);
    }
  }
  if ((msg.msg_flags & MSG_CTRUNC) || nfds > max_fds) {
    for (int i = 0; i < nfds; i++) close(fds[i]);
    throw_code(env, "ESYSCALL", "recvmsg(fd %d): the peer sent more than %lld fds (all closed)", sock,
               (long long)max_fds);
    return NULL;
  }
  napi_value result, bytes, list;
  CHECK_NAPI(env, napi_create_object(env, &result));
  CHECK_NAPI(env, napi_create_typedarray(env, napi_uint8_array, (size_t)r, ab, 0, &bytes));
  CHECK_NAPI(env, napi_create_array_with_length(env, (size_t)nfds, &list));
  for (int i = 0; i < nfds; i++) napi_set_element(env, list, (uint32_t)i, make_int(env, fds[i]));
  napi_set_named_property(env, result, "data", bytes);
  napi_set_named_property(env, result, "fds", list);
  return result;
}

static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, NULL)) return NULL;
  int sock;
  if (!get_fd(env, argv[0], "peerCredentials: socketFd", &sock)) return NULL;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    throw_code(env, "ESYSCALL", "getsockopt(fd %d, SO_PEERCRED) failed: %s", sock, strerror(errno));
    return NULL;
  }
  napi_value r;
  CHECK_NAPI(env, napi_create_object(env, &r));
  napi_set_named_property(env, r, "pid", make_int(env, cred.pid));
  napi_set_named_property(env, r, "uid", make_int(env, cred.uid));
  napi_set_named_property(env, r, "gid", make_int(env, cred.gid));
  return r;
}

// ---- fd readiness: a libuv poll handle on the calling thread's event loop -----------------
//
// fdWatch(fd, events, callback) puts one fd into the event loop's own epoll set (uv_poll_t), so
// readiness arrives as an ordinary loop callback: no thread, no thread pool. UV_DISCONNECT is
// always asked for, so a hang-up is reported whatever the caller watches. Level-triggered: while
// started and ready, the callback runs on every loop iteration until the caller stops the watcher
// (update(0)) or closes it. A started handle is active, so it keeps the loop alive as a reading
// socket does, and its wrapper is then held strongly so the GC cannot take a watcher that may
// still call back. Stopped or closed, it keeps nothing alive. The callback is a property of the
// wrapper, not held from C: a stopped watcher that JS no longer reaches (even if its callback's
// closure refers to it) is collected, and its finalizer closes the handle.
//
// Ownership: the JS wrapper and the uv handle each own the struct; it is freed when both are
// gone (the wrapper's finalizer; the handle's close callback, which libuv runs on a later loop
// iteration). Worker or process teardown runs the async cleanup hook, which closes the handle;
// the close callback removes the hook, which tells Node the handle is gone before it closes the
// loop (a loop closed with a handle still open aborts the process).

#define FD_ERROR 16  // fdPoll only: POLLERR (a watcher reports it as an error instead)

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref self;  // the wrapper (holding the callback): strong while started, weak otherwise
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  int fd;
  bool started, closed;
  int owners;
} fdwatch_t;

static void fdwatch_release_owner(fdwatch_t* w) {
  if (--w->owners == 0) free(w);
}

static void fdwatch_set_started(fdwatch_t* w, bool started) {
  if (w->started == started) return;
  w->started = started;
  if (started) napi_reference_ref(w->env, w->self, NULL);
  else napi_reference_unref(w->env, w->self, NULL);
}

static void fdwatch_closed_cb(uv_handle_t* h) {
  fdwatch_t* w = h->data;
  // Cancels the cleanup hook, or, if teardown already ran it, tells Node this handle is gone.
  if (w->cleanup != NULL) napi_remove_async_cleanup_hook(w->cleanup);
  w->cleanup = NULL;
  fdwatch_release_owner(w);
}

static void fdwatch_close(fdwatch_t* w) {
  if (w->closed) return;
  fdwatch_set_started(w, false);
  w->closed = true;
  // uv_close stops the handle at once: no poll callback runs after this.
  uv_close((uv_handle_t*)&w->handle, fdwatch_closed_cb);
  napi_async_destroy(w->env, w->async);
  w->async = NULL;
}

static void fdwatch_cleanup_hook(napi_async_cleanup_hook_handle handle, void* arg) {
  (void)handle;
  fdwatch_close(arg);
}

static void fdwatch_finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  fdwatch_t* w = data;
  fdwatch_close(w);
  napi_delete_reference(env, w->self);
  w->self = NULL;
  fdwatch_release_owner(w);
}

static void fdwatch_on_poll(uv_poll_t* h, int status, int events) {
  fdwatch_t* w = h->data;
  if (w->closed) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self, argv[2], cb, recv, result;
  // Started, so the wrapper is strongly held; this local handle keeps it if we stop below.
  napi_get_reference_value(env, w->self, &self);
  napi_get_named_property(env, self, "callback", &cb);
  if (status < 0) {
    fdwatch_set_started(w, false);  // libuv has stopped the handle itself
    char msg[300];
    // libuv reports POLLERR as UV_EBADF: say so, or the message would claim the fd is not open.
    snprintf(msg, sizeof msg, "fd %d: polling failed: %s%s", w->fd, uv_strerror(status),
             status == UV_EBADF ? " (POLLERR: an error on the fd, e.g. the read end of its pipe was closed)" : "");
    napi_value code, text;
    napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, code, text, &argv[0]);
    argv[1] = make_int(env, 0);
  } else {
    napi_get_null(env, &argv[0]);
    argv[1] = make_int(env, events & (UV_READABLE | UV_WRITABLE | UV_DISCONNECT));
  }
  napi_get_global(env, &recv);  // make_callback wants an object as `this`
  // make_callback, not call_function: it runs the microtasks (promise reactions) the callback queued.
  if (napi_make_callback(env, w->async, recv, cb, 2, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);  // reported as uncaught, as a throwing event handler would be
  }
  napi_close_handle_scope(env, scope);
}

static bool get_fd_events(napi_env env, napi_value v, const char* what, int* out) {
  int64_t e;
  if (!get_int64(env, v, what, &e)) return false;
  if (e < 0 || e > (UV_READABLE | UV_WRITABLE)) {
    throw_code(env, "EARG", "%s must combine fdEvents.readable (%d) and fdEvents.writable (%d), got %lld", what,
               UV_READABLE, UV_WRITABLE, (long long)e);
    return false;
  }
  *out = (int)e;
  return true;
}

static fdwatch_t* this_fdwatch(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  return this_wrapped(env, info, want, argv, "FdWatcher");
}

static bool fdwatch_start(napi_env env, fdwatch_t* w, int events) {
  if (events == 0) {
    uv_poll_stop(&w->handle);
    fdwatch_set_started(w, false);
    return true;
  }
  int r = uv_poll_start(&w->handle, events | UV_DISCONNECT, fdwatch_on_poll);
  if (r != 0) {
    throw_code(env, "ESYSCALL", "uv_poll_start(fd %d) failed: %s (%s)", w->fd, uv_strerror(r), uv_err_name(r));
    return false;
  }
  fdwatch_set_started(w, true);
  return true;
}

static napi_value fdwatch_update(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  fdwatch_t* w = this_fdwatch(env, info, 1, argv);
  if (w == NULL) return NULL;
  int events;
  if (!get_fd_events(env, argv[0], "FdWatcher.update: events", &events)) return NULL;
  if (w->closed) {
    throw_code(env, "EARG", "FdWatcher.update: the watcher of fd %d is closed", w->fd);
    return NULL;
  }
  fdwatch_start(env, w, events);
  return NULL;
}

// setRef(ref): whether a started watcher keeps the event loop alive (uv_ref / uv_unref).
static napi_value fdwatch_set_ref(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  fdwatch_t* w = this_fdwatch(env, info, 1, argv);
  if (w == NULL) return NULL;
  bool ref;
  if (napi_get_value_bool(env, argv[0], &ref) != napi_ok) {
    throw_code(env, "EARG", "FdWatcher.setRef: ref must be a boolean");
    return NULL;
  }
  if (w->closed) return NULL;
  if (ref) uv_ref((uv_handle_t*)&w->handle);
  else uv_unref((uv_handle_t*)&w->handle);
  return NULL;
}

static napi_value fdwatch_close_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  fdwatch_t* w = this_fdwatch(env, info, 0, argv);
  if (w != NULL) fdwatch_close(w);
  return NULL;
}

static napi_value fdwatch_active_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  fdwatch_t* w = this_fdwatch(env, info, 0, argv);
  if (w == NULL) return NULL;
  napi_value r;
  napi_get_boolean(env, w->started, &r);
  return r;
}

static const char* fdwatch_hint(int err) {
  switch (err) {
    case UV_EBADF: return ": the fd is not open";
    case UV_EPERM: return ": epoll takes sockets, pipes, FIFOs and terminals, not regular files or directories";
    case UV_EEXIST:
      return ": this event loop already watches it (a Node stream or another watcher); one watcher per fd";
    default: return "";
  }
}

// new FdWatcher(fd, events, callback): only reached through fdWatch.
static napi_value fdwatch_construct(napi_env env, napi_callback_info info) {
  napi_value argv[3], self;
  size_t argc = 3;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  for (size_t i = argc; i < 3; i++) napi_get_undefined(env, &argv[i]);
  int fd, events;
  if (!get_fd(env, argv[0], "fdWatch: fd", &fd)) return NULL;
  if (!get_fd_events(env, argv[1], "fdWatch: events", &events)) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_function) {
    throw_code(env, "EARG", "fdWatch: callback must be a function");
    return NULL;
  }
  uv_loop_t* loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) {
    throw_code(env, "ESYSCALL", "fdWatch: this thread has no libuv event loop");
    return NULL;
  }
  fdwatch_t* w = calloc(1, sizeof *w);
  if (w == NULL) {
    throw_code(env, "ESYSCALL", "fdWatch: out of memory");
    return NULL;
  }
  // Also makes the fd non-blocking (O_NONBLOCK on the open file description).
  int r = uv_poll_init(loop, &w->handle, fd);
  if (r != 0) {
    free(w);  // uv_poll_init registers nothing with the loop when it fails
    throw_code(env, r == UV_EBADF || r == UV_EPERM || r == UV_EEXIST ? "EARG" : "ESYSCALL",
               "fdWatch: fd %d cannot be watched: %s (%s)%s", fd, uv_strerror(r), uv_err_name(r), fdwatch_hint(r));
    return NULL;
  }
  w->handle.data = w;
  w->env = env;
  w->fd = fd;
  w->owners = 1;  // the handle, until its close callback
  napi_value name;
  napi_create_string_utf8(env, "fable:fdWatch", NAPI_AUTO_LENGTH, &name);
  napi_property_descriptor callback = {"callback", NULL, NULL, NULL, NULL, argv[2], napi_default, NULL};
  if (napi_define_properties(env, self, 1, &callback) != napi_ok ||
      napi_async_init(env, NULL, name, &w->async) != napi_ok ||
      napi_wrap(env, self, w, fdwatch_finalize, NULL, NULL) != napi_ok) {
    fdwatch_close(w);
    throw_code(env, "ESYSCALL", "fdWatch: setting up the watcher of fd %d failed", fd);
    return NULL;
  }
  w->owners++;  // the wrapper
  napi_create_reference(env, self, 0, &w->self);
  napi_add_async_cleanup_hook(env, fdwatch_cleanup_hook, w, &w->cleanup);
  if (!fdwatch_start(env, w, events)) {
    fdwatch_close(w);
    return NULL;
  }
  return self;
}

static napi_value fd_watch(napi_env env, napi_callback_info info) {
  return construct3(env, info, offsetof(instance_t, fdwatch_class));
}

// poll(2) with a zero timeout: the readiness of one fd right now, without the event loop.
static napi_value fd_poll(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, NULL)) return NULL;
  int fd, events;
  if (!get_fd(env, argv[0], "fdPoll: fd", &fd)) return NULL;
  if (!get_fd_events(env, argv[1], "fdPoll: events", &events)) return NULL;
  struct pollfd p = {fd, POLLRDHUP, 0};
  if (events & UV_READABLE) p.events |= POLLIN;
  if (events & UV_WRITABLE) p.events |= POLLOUT;
  int r;
  do r = poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    throw_code(env, "ESYSCALL", "poll(fd %d) failed: %s", fd, strerror(errno));
    return NULL;
  }
  if (p.revents & POLLNVAL) {
    throw_code(env, "EARG", "fdPoll: fd %d is not open", fd);
    return NULL;
  }
  int out = 0;
  if (p.revents & POLLIN) out |= UV_READABLE;
  if (p.revents & POLLOUT) out |= UV_WRITABLE;
  // As libuv reports it: a pipe's hang-up (POLLHUP) counts once its data has been read.
  if ((p.revents & POLLRDHUP) || ((p.revents & POLLHUP) && !(p.revents & POLLIN))) out |= UV_DISCONNECT;
  if (p.revents & POLLERR) out |= FD_ERROR;
  return make_int(env, out);
}

// ---- wake sockets: one end's doorbell for the other (src/ring/wake-socket.ts) ---------------
//
// A sleeping ring side watches its own end of a datagram socketpair in the event loop; its peer
// rings by sending one byte to the other end. Sockets, not an eventfd or a pipe: the two ends of
// a socketpair are separate open file descriptions, and MSG_DONTWAIT makes every send and recv
// non-blocking whatever a hostile peer does to the flags of the description it holds (an eventfd
// passed to a peer shares one description: the peer could make our read block the event loop).

// wakePair(): [a, b], a connected AF_UNIX datagram socketpair, non-blocking and close-on-exec.
static napi_value wake_pair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    throw_code(env, "ESYSCALL", "wakePair: socketpair failed: %s", strerror(errno));
    return NULL;
  }
  napi_value r;
  napi_create_array_with_length(env, 2, &r);
  napi_set_element(env, r, 0, make_int(env, sv[0]));
  napi_set_element(env, r, 1, make_int(env, sv[1]));
  return r;
}

// wakeSend(fd): sends one byte; 0, or the errno. A full queue (EAGAIN) already holds a wake-up;
// a gone peer (ECONNREFUSED, EPIPE) is noticed through the liveness channel, not here.
static napi_value wake_send(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, NULL)) return NULL;
  int fd;
  if (!get_fd(env, argv[0], "wakeSend: fd", &fd)) return NULL;
  static const char one = 1;
  ssize_t r;
  do r = send(fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);

  return make_int(env, r < 0 ? errno : 0);
}

// wakeDrain(fd): reads every queued datagram (at most 1024), never blocking; returns how many.
// recvmmsg takes up to 16 per system call: the usual single byte costs one call, not a second
// one to learn the queue is empty.
static napi_value wake_drain(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, NULL)) return NULL;
  int fd;
  if (!get_fd(env, argv[0], "wakeDrain: fd", &fd)) return NULL;
  enum { BATCH = 16 };
  char buf[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = &buf[i];
    iov[i].iov_len = 1;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int n = 0;
  while (n < 1024) {
    int r = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // EAGAIN: drained (anything else: nothing more to read either)
    n += r;
    if (r < BATCH) break;
  }
  return make_int(env, n);
}

// wakeCheck(fd): throws EARG unless fd is an AF_UNIX datagram socket (what a peer must pass).
static napi_value wake_check(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, NULL)) return NULL;
  int fd;
  if (!get_fd(env, argv[0], "wakeCheck: fd", &fd)) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    throw_code(env, "EARG", "wakeCheck: fd %d: %s", fd, strerror(errno));
    return NULL;
  }
  int type = 0, domain = 0;
  socklen_t len = sizeof type;
  bool ok = S_ISSOCK(st.st_mode) && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM;
  len = sizeof domain;
  ok = ok && getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
  if (!ok) {
    throw_code(env, "EARG", "wakeCheck: fd %d is not a unix datagram socket (mode 0%o, type %d, domain %d)", fd,
               (unsigned)st.st_mode, type, domain);
    return NULL;
  }
  return NULL;
}

static napi_value fd_events(napi_env env) {
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "readable", make_int(env, UV_READABLE));
  napi_set_named_property(env, o, "writable", make_int(env, UV_WRITABLE));
  napi_set_named_property(env, o, "disconnect", make_int(env, UV_DISCONNECT));
  napi_set_named_property(env, o, "error", make_int(env, FD_ERROR));
  napi_object_freeze(env, o);
  return o;
}

// ---- module -------------------------------------------------------------------------------

static napi_value capabilities(napi_env env) {
  napi_value caps, t, f;
  napi_create_object(env, &caps);
  napi_get_boolean(env, true, &t);
  napi_get_boolean(env, false, &f);
  // Probe memfd for real: old kernels and some sandboxes refuse it.
  int fd = memfd_create("fable-probe", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd >= 0) close(fd);
  napi_set_named_property(env, caps, "memfd", fd >= 0 ? t : f);
  long r = syscall(SYS_futex, NULL, FUTEX_WAKE, 1, NULL, NULL, 0);
  // A NULL futex address gives EFAULT where futex exists, ENOSYS where it does not.
  napi_set_named_property(env, caps, "futex", (r >= 0 || errno != ENOSYS) ? t : f);
  cpu_set_t set;
  napi_set_named_property(env, caps, "affinity",
                          (sched_getaffinity(0, sizeof set, &set) == 0 && sched_getcpu() >= 0) ? t : f);
  // fdWatch needs the thread's libuv loop, which N-API hands out only where Node runs one.
  uv_loop_t* loop = NULL;
  bool has_loop = napi_get_uv_event_loop(env, &loop) == napi_ok && loop != NULL;
  napi_set_named_property(env, caps, "fdWatch", has_loop ? t : f);
  napi_object_freeze(env, caps);
  return caps;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor waiter_methods[] = {
      {"arm", NULL, waiter_arm, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, waiter_close_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"armed", NULL, NULL, waiter_armed_js, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value waiter_class;
  CHECK_NAPI(env, napi_define_class(env, "Waiter", NAPI_AUTO_LENGTH, waiter_construct, NULL,
                                    sizeof waiter_methods / sizeof waiter_methods[0], waiter_methods, &waiter_class));
  napi_property_descriptor fdwatch_methods[] = {
      {"update", NULL, fdwatch_update, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, fdwatch_close_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"setRef", NULL, fdwatch_set_ref, NULL, NULL, NULL, napi_default_method, NULL},
      {"active", NULL, NULL, fdwatch_active_js, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value fdwatch_class;
  CHECK_NAPI(env, napi_define_class(env, "FdWatcher", NAPI_AUTO_LENGTH, fdwatch_construct, NULL,
                                    sizeof fdwatch_methods / sizeof fdwatch_methods[0], fdwatch_methods,
                                    &fdwatch_class));
  instance_t* inst = calloc(1, sizeof *inst);
  if (inst == NULL) return NULL;
  napi_create_reference(env, waiter_class, 1, &inst->waiter_class);
  napi_create_reference(env, fdwatch_class, 1, &inst->fdwatch_class);
  napi_set_instance_data(env, inst, instance_finalize, NULL);

  napi_property_descriptor props[] = {
      {"setAffinity", NULL, set_affinity, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getAffinity", NULL, get_affinity, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getCpu", NULL, get_cpu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cpuCount", NULL, cpu_count, NULL, NULL, NULL, napi_enumerable, NULL},
      {"shmCreate", NULL, shm_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"shmSize", NULL, shm_size, NULL, NULL, NULL, napi_enumerable, NULL},
      {"shmMap", NULL, shm_map, NULL, NULL, NULL, napi_enumerable, NULL},
      {"shmUnmap", NULL, shm_unmap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futexWait", NULL, futex_wait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futexWake", NULL, futex_wake, NULL, NULL, NULL, napi_enumerable, NULL},
      {"waiterCreate", NULL, waiter_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendFds", NULL, send_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvFds", NULL, recv_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerCredentials", NULL, peer_credentials, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fdWatch", NULL, fd_watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fdPoll", NULL, fd_poll, NULL, NULL, NULL, napi_enumerable, NULL},
      {"wakePair", NULL, wake_pair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"wakeSend", NULL, wake_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"wakeDrain", NULL, wake_drain, NULL, NULL, NULL, napi_enumerable, NULL},
      {"wakeCheck", NULL, wake_check, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fdEvents", NULL, NULL, NULL, NULL, fd_events(env), napi_enumerable, NULL},
      {"capabilities", NULL, NULL, NULL, NULL, capabilities(env), napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
