/*
 * Whole-message I/O on file descriptors for the mechanisms built on pipes and sockets. A
 * message is written or read completely (retrying short transfers and EINTR); a failure is
 * reported as EPEER when the peer closed or vanished (EOF, EPIPE, ECONNRESET), ETIMEOUT when a
 * socket timeout expired, ESYSCALL otherwise.
 */
#ifndef FABLE_FDIO_H
#define FABLE_FDIO_H

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "sync.h"

/* Reports why `op` returned `k` (0: EOF; -1: errno). Returns -1. */
int fd_failed(struct run *r, const char *op, ssize_t k) __attribute__((cold));
void fd_close(int *fd);

static inline int fd_write_all(struct run *r, int fd, const void *buf, uint64_t len, const char *op) {
  const uint8_t *p = buf;
  while (len) {
    ssize_t k = write(fd, p, len);
    if (likely(k > 0)) {
      p += k;
      len -= (uint64_t)k;
    } else if (!(k < 0 && errno == EINTR)) {
      return fd_failed(r, op, k);
    }
  }
  return 0;
}

static inline int fd_read_all(struct run *r, int fd, void *buf, uint64_t len, const char *op) {
  uint8_t *p = buf;
  while (len) {
    ssize_t k = read(fd, p, len);
    if (likely(k > 0)) {
      p += k;
      len -= (uint64_t)k;
    } else if (!(k < 0 && errno == EINTR)) {
      return fd_failed(r, op, k);
    }
  }
  return 0;
}

#endif
