/*
 * shmem-pipe (the paper's shmem_pipe): messages travel in a shared-memory region, and only
 * their extents {offset, length} travel through a pipe. The writer allocates space in the
 * region in FIFO order, writes the message there and write()s its 8-byte extent. The reader
 * read()s as many extents as are waiting (up to 4 KiB of them per call), reads each message
 * ("unsafe": in place; "safe": copied to private memory first), and hands the space back
 * through a second pipe, coalescing neighbouring extents and writing them once more than an
 * eighth of the region has been consumed. The writer reads returned space only when the region
 * is full.
 *
 * Region: max(2 MiB, next power of two >= 4 messages), messages 64-byte aligned; a message that
 * does not fit before the end of the region starts at offset 0 (the tail is skipped).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "harness.h"

#define SP_REGION_DEFAULT (2u << 20)
#define SP_ALIGN 64u
#define SP_EXTENT_BUFFER 4096u
#define SP_MAX_RETURNS 64u

struct extent {
  uint32_t base, len;
};

static struct {
  int to_reader[2], to_writer[2];
  uint8_t *region;
  uint64_t size;
} sp = {{-1, -1}, {-1, -1}, NULL, 0};

struct sp_writer {
  int fd, ret_fd;
  uint8_t *region;
  uint64_t size, mask, slot;
  uint64_t alloc, freed; /* positions, in bytes since the start */
  const uint8_t *ref;
  uint64_t n;
  uint32_t have;
  uint8_t buf[SP_EXTENT_BUFFER];
};

struct sp_reader {
  int fd, ret_fd;
  uint8_t *region;
  uint64_t size, slot;
  uint8_t *priv;
  uint64_t n;
  uint32_t have, used;
  struct extent cur;
  uint32_t nret;
  uint64_t pending, flush_at;
  struct extent ret[SP_MAX_RETURNS];
  uint8_t buf[SP_EXTENT_BUFFER];
};

static struct sp_writer spw;
static struct sp_reader spr;

static void sp_teardown(struct run *r) {
  (void)r;
  for (int i = 0; i < 2; i++) {
    fd_close(&sp.to_reader[i]);
    fd_close(&sp.to_writer[i]);
  }
}

static int sp_setup(struct run *r, const char *read_mode) {
  uint64_t slot = align_up(r->msg_size, SP_ALIGN);
  sp.size = next_pow2(4 * slot);
  if (sp.size < SP_REGION_DEFAULT) sp.size = SP_REGION_DEFAULT;
  if (sp.size > (1ull << 31)) return fail(r, E_USAGE, "a %" PRIu64 "-byte message needs a region over 2 GiB", r->msg_size);
  if (!(sp.region = map_shared(r, sp.size))) return -1;
  if (pipe2(sp.to_reader, O_CLOEXEC) || pipe2(sp.to_writer, O_CLOEXEC)) return fail_errno(r, E_SYSCALL, "pipe");
  param_int(r, "regionBytes", (int64_t)sp.size);
  param_int(r, "returnBatchBytes", (int64_t)(sp.size / 8));
  int sz = fcntl(sp.to_reader[0], F_GETPIPE_SZ);
  if (sz > 0) param_int(r, "pipeBytes", sz);
  param_str(r, "read", read_mode);
  return 0;
}

static int sp_safe_setup(struct run *r) { return sp_setup(r, "copy to private memory, then verify"); }
static int sp_unsafe_setup(struct run *r) { return sp_setup(r, "verify in place"); }

static int sp_side_init(struct run *r) {
  prefault(sp.region, sp.size);
  if (r->role == ROLE_A) {
    fd_close(&sp.to_reader[0]);
    fd_close(&sp.to_writer[1]);
    spw.fd = sp.to_reader[1];
    spw.ret_fd = sp.to_writer[0];
    spw.region = sp.region;
    spw.size = sp.size;
    spw.mask = sp.size - 1;
    spw.slot = align_up(r->msg_size, SP_ALIGN);
    spw.ref = r->ref;
    spw.n = r->msg_size;
  } else {
    fd_close(&sp.to_reader[1]);
    fd_close(&sp.to_writer[0]);
    spr.fd = sp.to_reader[0];
    spr.ret_fd = sp.to_writer[1];
    spr.region = sp.region;
    spr.size = sp.size;
    spr.slot = align_up(r->msg_size, SP_ALIGN);
    spr.n = r->msg_size;
    spr.flush_at = sp.size / 8;
    if (!(spr.priv = alloc_buffer(r, r->msg_size))) return -1;
  }
  return 0;
}

/* Writer: blocks until the reader hands space back, then frees it. */
static int sp_collect(struct run *r, struct sp_writer *w) {
  ssize_t k;
  do k = read(w->ret_fd, w->buf + w->have, sizeof w->buf - w->have);
  while (k < 0 && errno == EINTR);
  if (k <= 0) return fd_failed(r, "read of returned extents", k);
  w->have += (uint32_t)k;
  uint32_t at = 0;
  for (; at + sizeof(struct extent) <= w->have; at += sizeof(struct extent)) {
    struct extent e;
    memcpy(&e, w->buf + at, sizeof e);
    uint64_t f = w->freed & w->mask;
    if (e.base != f) {
      if (e.base != 0 || f == 0)
        return fail(r, E_PAYLOAD, "returned extent at %u does not follow the free position %" PRIu64, e.base, f);
      w->freed += w->size - f; /* the skipped tail of the region */
    }
    w->freed += e.len;
    if (w->freed > w->alloc) return fail(r, E_PAYLOAD, "the reader returned more space than was sent");
  }
  memmove(w->buf, w->buf + at, w->have - at);
  w->have -= at;
  return 0;
}

static int sp_send(struct run *r, void *tx, uint64_t word) {
  struct sp_writer *w = tx;
  uint64_t off = w->alloc & w->mask;
  uint64_t skip = w->size - off < w->slot ? w->size - off : 0;
  while (unlikely(w->alloc + skip + w->slot - w->freed > w->size))
    if (sp_collect(r, w)) return -1;
  w->alloc += skip;
  off = w->alloc & w->mask;
  msg_fill(w->region + off, w->ref, w->n, word);
  struct extent e = {(uint32_t)off, (uint32_t)w->n};
  if (fd_write_all(r, w->fd, &e, sizeof e, "write of an extent")) return -1;
  w->alloc += w->slot;
  return 0;
}

static int sp_fill(struct run *r, struct sp_reader *rd) {
  memmove(rd->buf, rd->buf + rd->used, rd->have - rd->used);
  rd->have -= rd->used;
  rd->used = 0;
  while (rd->have < sizeof(struct extent)) {
    ssize_t k = read(rd->fd, rd->buf + rd->have, sizeof rd->buf - rd->have);
    if (k > 0)
      rd->have += (uint32_t)k;
    else if (!(k < 0 && errno == EINTR))
      return fd_failed(r, "read of extents", k);
  }
  return 0;
}

static ALWAYS_INLINE const uint8_t *sp_recv(struct run *r, void *rx, const int safe) {
  struct sp_reader *rd = rx;
  if (unlikely(rd->have - rd->used < sizeof(struct extent)) && sp_fill(r, rd)) return NULL;
  struct extent e;
  memcpy(&e, rd->buf + rd->used, sizeof e);
  if (unlikely(e.len != rd->n || e.base % SP_ALIGN || e.base > rd->size - rd->slot)) {
    fail(r, E_PAYLOAD, "bad extent {base %u, len %u} for %" PRIu64 "-byte messages in a %" PRIu64 "-byte region",
         e.base, e.len, rd->n, rd->size);
    return NULL;
  }
  rd->cur = e;
  const uint8_t *m = rd->region + e.base;
  if (safe) {
    memcpy(rd->priv, m, rd->n);
    m = rd->priv;
  }
  return m;
}

static int sp_release(struct run *r, void *rx) {
  struct sp_reader *rd = rx;
  rd->used += sizeof(struct extent);
  uint32_t len = (uint32_t)rd->slot;
  struct extent *last = rd->nret ? &rd->ret[rd->nret - 1] : NULL;
  if (last && last->base + last->len == rd->cur.base)
    last->len += len;
  else
    rd->ret[rd->nret++] = (struct extent){rd->cur.base, len};
  rd->pending += len;
  if (rd->pending > rd->flush_at || rd->nret == SP_MAX_RETURNS) {
    if (fd_write_all(r, rd->ret_fd, rd->ret, rd->nret * sizeof(struct extent), "write of returned extents")) return -1;
    rd->nret = 0;
    rd->pending = 0;
  }
  return 0;
}

static const uint8_t *sp_recv_safe(struct run *r, void *rx) { return sp_recv(r, rx, 1); }
static const uint8_t *sp_recv_unsafe(struct run *r, void *rx) { return sp_recv(r, rx, 0); }

static const struct chan_ops sp_safe_ops = {sp_send, sp_recv_safe, sp_release, 0};
static const struct chan_ops sp_unsafe_ops = {sp_send, sp_recv_unsafe, sp_release, 0};

static int sp_safe_run(struct run *r) { return harness_run(r, &sp_safe_ops, &spw, &spr); }
static int sp_unsafe_run(struct run *r) { return harness_run(r, &sp_unsafe_ops, &spw, &spr); }

const struct mechanism mech_shmem_pipe_safe = {"shmem-pipe-safe", MODE_THROUGHPUT, sp_safe_setup,
                                               sp_side_init,      sp_safe_run,     sp_teardown};
const struct mechanism mech_shmem_pipe_unsafe = {"shmem-pipe-unsafe", MODE_THROUGHPUT, sp_unsafe_setup,
                                                 sp_side_init,        sp_unsafe_run,   sp_teardown};
