// fable's N-API addon: only what JavaScript cannot do itself. Declared in src/native/native.ts,
// loaded by src/native/load.ts. Every failure throws an Error whose message names the call, the
// argument and the errno text, with `code` set to "ESYSCALL" or "EARG".
#include <node_api.h>

#include <dirent.h>
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

static bool word_at(napi_env env, napi_value ab, napi_value off, const char* fn, uint32_t** out) {
  void* data;
  size_t len;
  bool is_ab = false;
  napi_is_arraybuffer(env, ab, &is_ab);
  if (!is_ab || napi_get_arraybuffer_info(env, ab, &data, &len) != napi_ok) {
    throw_code(env, "EARG", "%s: first argument must be an ArrayBuffer", fn);
    return false;
  }
  int64_t o;
  if (!get_int64(env, off, "byteOffset", &o)) return false;
  if (o < 0 || (o & 3) != 0 || (uint64_t)o + 4 > len) {
    throw_code(env, "EARG", "%s: byteOffset %lld must be 4-byte aligned and within the %zu-byte buffer", fn,
               (long long)o, len);
    return false;
  }
  *out = (uint32_t*)((char*)data + o);
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
  napi_object_freeze(env, caps);
  return caps;
}

static napi_value init(napi_env env, napi_value exports) {
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
      {"capabilities", NULL, NULL, NULL, NULL, capabilities(env), napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
