/*
 * vmsplice-coop (the paper's vmsplice_coop_pipe): the writer writes each message into its own
 * private buffer region and vmsplice()s it into a pipe, so the pipe references the writer's
 * pages instead of copying them; the reader read()s the message out of the pipe (the one
 * copy). Because the pipe holds references, the writer must not overwrite a message the reader
 * has not consumed yet: the two cooperate through a back-channel pipe on which the reader
 * reports how many messages it has consumed, once per half region (the original reported per
 * 1 MiB of a 2 MiB region). The writer reads reports only when its region is full.
 *
 * Region: slots of the message size rounded up to 64 bytes, max(2, 2 MiB / slot) of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdio.h"
#include "harness.h"

#define VS_REGION_DEFAULT (2u << 20)
#define VS_SLOT_ALIGN 64u

static struct {
  int data[2], ack[2];
  uint64_t slot, nslots, ack_every;
} vs = {{-1, -1}, {-1, -1}, 0, 0, 0};

struct vs_writer {
  int fd, ack_fd;
  uint8_t *region;
  uint64_t slot, nslots, idx;
  uint64_t sent, acked;
  const uint8_t *ref;
  uint64_t n;
  uint64_t acks[512];
};

struct vs_reader {
  int fd, ack_fd;
  uint8_t *priv;
  uint64_t n;
  uint64_t consumed, ack_every, until_ack;
};

static struct vs_writer vsw;
static struct vs_reader vsr;

static void vs_teardown(struct run *r) {
  (void)r;
  for (int i = 0; i < 2; i++) {
    fd_close(&vs.data[i]);
    fd_close(&vs.ack[i]);
  }
}

static int vs_setup(struct run *r) {
  vs.slot = align_up(r->msg_size, VS_SLOT_ALIGN);
  vs.nslots = VS_REGION_DEFAULT / vs.slot;
  if (vs.nslots < 2) vs.nslots = 2;
  vs.ack_every = vs.nslots / 2;
  if (pipe2(vs.data, O_CLOEXEC) || pipe2(vs.ack, O_CLOEXEC)) return fail_errno(r, E_SYSCALL, "pipe");
  param_int(r, "regionBytes", (int64_t)(vs.slot * vs.nslots));
  param_int(r, "ackEveryMessages", (int64_t)vs.ack_every);
  int sz = fcntl(vs.data[0], F_GETPIPE_SZ);
  if (sz > 0) param_int(r, "pipeBytes", sz);
  param_str(r, "read", "read() into private memory, then verify");
  return 0;
}

static int vs_side_init(struct run *r) {
  if (r->role == ROLE_A) {
    fd_close(&vs.data[0]);
    fd_close(&vs.ack[1]);
    vsw.fd = vs.data[1];
    vsw.ack_fd = vs.ack[0];
    vsw.slot = vs.slot;
    vsw.nslots = vs.nslots;
    vsw.ref = r->ref;
    vsw.n = r->msg_size;
    if (!(vsw.region = map_private(r, vs.slot * vs.nslots))) return -1;
  } else {
    fd_close(&vs.data[1]);
    fd_close(&vs.ack[0]);
    vsr.fd = vs.data[0];
    vsr.ack_fd = vs.ack[1];
    vsr.n = r->msg_size;
    vsr.ack_every = vsr.until_ack = vs.ack_every;
    if (!(vsr.priv = alloc_buffer(r, r->msg_size))) return -1;
  }
  return 0;
}

/* Writer: blocks until the reader reports enough consumed messages to free a slot. */
static int vs_wait_ack(struct run *r, struct vs_writer *w) {
  while (w->sent - w->acked >= w->nslots) {
    ssize_t k = read(w->ack_fd, w->acks, sizeof w->acks);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return fd_failed(r, "read of consumption reports", k);
    if (k % 8) return fail(r, E_PAYLOAD, "consumption report of %zd bytes is not a whole number of counts", k);
    uint64_t last = w->acks[k / 8 - 1];
    if (last < w->acked || last > w->sent)
      return fail(r, E_PAYLOAD, "reader reported %" PRIu64 " messages consumed; %" PRIu64 " were sent", last, w->sent);
    w->acked = last;
  }
  return 0;
}

static int vs_send(struct run *r, void *tx, uint64_t word) {
  struct vs_writer *w = tx;
  if (unlikely(w->sent - w->acked >= w->nslots) && vs_wait_ack(r, w)) return -1;
  uint8_t *p = w->region + w->idx * w->slot;
  if (++w->idx == w->nslots) w->idx = 0;
  msg_fill(p, w->ref, w->n, word);
  struct iovec iov = {p, w->n};
  while (iov.iov_len) {
    ssize_t k = vmsplice(w->fd, &iov, 1, 0);
    if (likely(k > 0)) {
      iov.iov_base = (uint8_t *)iov.iov_base + k;
      iov.iov_len -= (size_t)k;
    } else if (!(k < 0 && errno == EINTR)) {
      if (k < 0 && (errno == ENOSYS || errno == EINVAL))
        return fail(r, E_UNSUPPORTED, "vmsplice is not available here: %s", strerror(errno));
      return fd_failed(r, "vmsplice", k);
    }
  }
  w->sent++;
  return 0;
}

static const uint8_t *vs_recv(struct run *r, void *rx) {
  struct vs_reader *rd = rx;
  return fd_read_all(r, rd->fd, rd->priv, rd->n, "read") ? NULL : rd->priv;
}

static int vs_release(struct run *r, void *rx) {
  struct vs_reader *rd = rx;
  rd->consumed++;
  if (--rd->until_ack) return 0;
  rd->until_ack = rd->ack_every;
  return fd_write_all(r, rd->ack_fd, &rd->consumed, sizeof rd->consumed, "write of a consumption report");
}

static const struct chan_ops vs_ops = {vs_send, vs_recv, vs_release, 0};

static int vs_run(struct run *r) { return harness_run(r, &vs_ops, &vsw, &vsr); }

const struct mechanism mech_vmsplice_coop = {"vmsplice-coop", MODE_THROUGHPUT, vs_setup, vs_side_init, vs_run,
                                             vs_teardown};
