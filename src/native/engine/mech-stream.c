/*
 * Byte-stream mechanisms: tcp (loopback, Nagle on), tcp-nodelay, unix (AF_UNIX SOCK_STREAM)
 * and pipe (one pipe per direction). The supervisor builds the connection before the fork;
 * each side keeps its ends and closes the others, so a dead peer shows as EOF or EPIPE.
 *
 * The writer's message buffer holds the pattern; each send stamps the sequence words and
 * write()s the whole message (the kernel copies every byte). The reader read()s exactly one
 * message into a private buffer and the harness verifies it there.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fdio.h"
#include "harness.h"

enum stream_kind { STREAM_TCP, STREAM_TCP_NODELAY, STREAM_UNIX, STREAM_PIPE };

/* fd[ROLE_A] / fd[ROLE_B]: each side's ends; [0] is what it writes, [1] what it reads. */
static struct {
  enum stream_kind kind;
  int fd[2][2];
} st = {.fd = {{-1, -1}, {-1, -1}}};

struct stream_ep {
  int fd;
  uint8_t *buf;
  uint64_t n;
};

static struct stream_ep tx_ep, rx_ep;

static void stream_teardown(struct run *r) {
  (void)r;
  for (int s = 0; s < 2; s++) {
    if (st.fd[s][1] != st.fd[s][0]) fd_close(&st.fd[s][1]);
    st.fd[s][1] = -1;
    fd_close(&st.fd[s][0]);
  }
}

static int socket_timeouts(struct run *r, int fd) {
  struct timeval tv = {HARD_TIMEOUT_MS / 1000, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv))
    return fail_errno(r, E_SYSCALL, "setsockopt SO_RCVTIMEO/SO_SNDTIMEO");
  return 0;
}

static void socket_params(struct run *r, int fd) {
  int v;
  socklen_t len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len) == 0) param_int(r, "sndbufBytes", v);
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0) param_int(r, "rcvbufBytes", v);
}

static int tcp_pair(struct run *r, int nodelay, int out[2]) {
  int lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lst < 0) return fail_errno(r, E_SYSCALL, "socket(AF_INET)");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof addr;
  int rc = -1;
  out[0] = out[1] = -1;
  if (bind(lst, (struct sockaddr *)&addr, sizeof addr) || listen(lst, 1) ||
      getsockname(lst, (struct sockaddr *)&addr, &alen)) {
    fail_errno(r, E_SYSCALL, "listening on 127.0.0.1");
    goto out;
  }
  out[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (out[0] < 0 || connect(out[0], (struct sockaddr *)&addr, sizeof addr)) {
    fail_errno(r, E_SYSCALL, "connecting to 127.0.0.1");
    goto out;
  }
  out[1] = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
  if (out[1] < 0) {
    fail_errno(r, E_SYSCALL, "accept on 127.0.0.1");
    goto out;
  }
  int one = 1;
  for (int i = 0; i < 2 && nodelay; i++)
    if (setsockopt(out[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) {
      fail_errno(r, E_SYSCALL, "setsockopt TCP_NODELAY");
      goto out;
    }
  rc = 0;
out:
  close(lst);
  return rc;
}

static int stream_setup(struct run *r, enum stream_kind kind) {
  st.kind = kind;
  int pair[2];
  switch (kind) {
    case STREAM_TCP:
    case STREAM_TCP_NODELAY:
      if (tcp_pair(r, kind == STREAM_TCP_NODELAY, pair)) {
        fd_close(&pair[0]);
        fd_close(&pair[1]);
        return -1;
      }
      param_bool(r, "nodelay", kind == STREAM_TCP_NODELAY);
      param_str(r, "address", "127.0.0.1");
      break;
    case STREAM_UNIX:
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair)) return fail_errno(r, E_SYSCALL, "socketpair");
      break;
    case STREAM_PIPE: {
      int ab[2], ba[2] = {-1, -1};
      if (pipe2(ab, O_CLOEXEC)) return fail_errno(r, E_SYSCALL, "pipe");
      if (r->cfg.mode == MODE_LATENCY && pipe2(ba, O_CLOEXEC)) {
        close(ab[0]);
        close(ab[1]);
        return fail_errno(r, E_SYSCALL, "pipe");
      }
      st.fd[ROLE_A][0] = ab[1];
      st.fd[ROLE_B][1] = ab[0];
      st.fd[ROLE_B][0] = ba[1];
      st.fd[ROLE_A][1] = ba[0];
      int sz = fcntl(ab[0], F_GETPIPE_SZ);
      if (sz > 0) param_int(r, "pipeBytes", sz);
      param_int(r, "pipes", r->cfg.mode == MODE_LATENCY ? 2 : 1);
      return 0;
    }
  }
  st.fd[ROLE_A][0] = st.fd[ROLE_A][1] = pair[0];
  st.fd[ROLE_B][0] = st.fd[ROLE_B][1] = pair[1];
  if (socket_timeouts(r, pair[0]) || socket_timeouts(r, pair[1])) return -1;
  socket_params(r, pair[0]);
  return 0;
}

static int tcp_setup(struct run *r) { return stream_setup(r, STREAM_TCP); }
static int tcp_nodelay_setup(struct run *r) { return stream_setup(r, STREAM_TCP_NODELAY); }
static int unix_setup(struct run *r) { return stream_setup(r, STREAM_UNIX); }
static int pipe_setup(struct run *r) { return stream_setup(r, STREAM_PIPE); }

static int stream_side_init(struct run *r) {
  int peer = 1 - r->role;
  if (st.fd[peer][1] != st.fd[peer][0]) fd_close(&st.fd[peer][1]);
  st.fd[peer][1] = -1;
  fd_close(&st.fd[peer][0]);
  tx_ep = (struct stream_ep){st.fd[r->role][0], alloc_buffer(r, r->msg_size), r->msg_size};
  rx_ep = (struct stream_ep){st.fd[r->role][1], alloc_buffer(r, r->msg_size), r->msg_size};
  if (!tx_ep.buf || !rx_ep.buf) return -1;
  memcpy(tx_ep.buf, r->ref, r->msg_size);
  return 0;
}

static int stream_send(struct run *r, void *tx, uint64_t word) {
  struct stream_ep *ep = tx;
  msg_stamp(ep->buf, ep->n, word);
  return fd_write_all(r, ep->fd, ep->buf, ep->n, "write");
}

static const uint8_t *stream_recv(struct run *r, void *rx) {
  struct stream_ep *ep = rx;
  return fd_read_all(r, ep->fd, ep->buf, ep->n, "read") ? NULL : ep->buf;
}

static const struct chan_ops stream_ops = {stream_send, stream_recv, release_nothing, 0};

static int stream_side_run(struct run *r) { return harness_run(r, &stream_ops, &tx_ep, &rx_ep); }

#define BOTH (MODE_LATENCY | MODE_THROUGHPUT)
const struct mechanism mech_tcp = {"tcp", BOTH, tcp_setup, stream_side_init, stream_side_run, stream_teardown};
const struct mechanism mech_tcp_nodelay = {"tcp-nodelay", BOTH, tcp_nodelay_setup, stream_side_init, stream_side_run,
                                           stream_teardown};
const struct mechanism mech_unix = {"unix", BOTH, unix_setup, stream_side_init, stream_side_run, stream_teardown};
const struct mechanism mech_pipe = {"pipe", BOTH, pipe_setup, stream_side_init, stream_side_run, stream_teardown};
