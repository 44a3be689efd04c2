/*
 * Memory for channels and buffers. Everything a hot loop touches is faulted in before the
 * start barrier, so that page faults land in setup, not in a sample.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void *map_shared(struct run *r, size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    fail(r, E_SYSCALL, "mmap of %zu shared bytes failed: %s", len, strerror(errno));
    return NULL;
  }
  return p;
}

void *map_private(struct run *r, size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) {
    fail(r, E_SYSCALL, "mmap of %zu private bytes failed: %s", len, strerror(errno));
    return NULL;
  }
  return p;
}

/*
 * Maps every page of a (shared) region into this process's page tables, writable. A shared
 * mapping inherited over fork has no page-table entries in the child, so without this the
 * first touch of each page would fault inside the measured phase.
 */
int prefault(void *p, size_t len) {
  if (len == 0) return 0;
  if (madvise(p, len, MADV_POPULATE_WRITE) == 0) return 0;
  /* Older kernels: touch each page (only before the start barrier, when no peer writes). */
  volatile uint8_t *b = p;
  for (size_t off = 0; off < len; off += 4096) b[off] = b[off];
  b[len - 1] = b[len - 1];
  return 0;
}

void *alloc_buffer(struct run *r, size_t len) {
  size_t rounded = (size_t)align_up(len ? len : 1, 4096);
  void *p = aligned_alloc(4096, rounded);
  if (!p) {
    fail(r, E_SYSCALL, "allocating a %zu-byte buffer failed", len);
    return NULL;
  }
  memset(p, 0, rounded);
  return p;
}

uint64_t next_pow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

/*
 * The pattern every message carries between its sequence words: a splitmix64 stream, so that
 * no two 8-byte words of a message are alike and a stale or shifted copy cannot pass.
 */
void fill_reference(uint8_t *buf, size_t len) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t off = 0; off < len; off += 8) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    size_t n = len - off < 8 ? len - off : 8;
    memcpy(buf + off, &z, n);
  }
}
