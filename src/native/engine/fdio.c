#include "fdio.h"

#include <string.h>

int fd_failed(struct run *r, const char *op, ssize_t k) {
  if (k == 0) return fail(r, E_PEER, "%s: the peer closed its end", op);
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    return fail(r, E_TIMEOUT, "%s made no progress for %d ms", op, HARD_TIMEOUT_MS);
  if (errno == EPIPE || errno == ECONNRESET) return fail(r, E_PEER, "%s: the peer is gone (%s)", op, strerror(errno));
  return fail_errno(r, E_SYSCALL, op);
}

void fd_close(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}
