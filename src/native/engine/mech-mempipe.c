/*
 * mempipe: a shared-memory ring of variable-size records (the paper's mempipe, in the
 * DESIGN.md "Ring protocol" form), in four variants: the reader waits by sleeping on a futex
 * or by spinning with a pause hint, and reads the message in place ("unsafe") or copies it to
 * private memory first and verifies it there ("safe").
 *
 * Ring: a control block (magic, version, capacity; the producer position, the consumer
 * position and each side's sleeping flag on cache lines of their own), then `capacity` bytes of
 * records. A record is a 16-byte header {len, flags, seq} followed by the message, padded to
 * 16 bytes; `len` is the record's length and 0 means "not yet written". The writer fills the
 * message, clears the header of the record after it, then publishes `len` with a release
 * store, so the reader never runs into stale records. A record that does not fit before the end
 * of the ring is preceded by a PAD record that covers the rest. The reader moves the consumer
 * position past the records it is done with, once an eighth of the ring has been consumed and
 * whenever it is about to wait; the writer reuses space only behind it and re-reads it only when
 * its last reading leaves too little space.
 * Wake-ups (futex variants): a side that is about to sleep sets its sleeping flag, fences, and
 * re-checks; the other side fences after publishing and makes the wake call only when the flag
 * is set. Each flag is the futex word its side sleeps on, and the waker clears it before the
 * wake call, so a wake meant for an earlier wait can never be lost by a later one.
 *
 * readerWaits (throughput): how many times the reader found the next record not yet published,
 * i.e. it had caught up with the writer and waited on a line the writer was about to fill; near
 * 0 when the writer runs ahead and the reader streams through lines written long before.
 *
 * Latency uses two rings (A->B and B->A); throughput one. The capacity is
 * max(2 MiB, next power of two >= 2 records + a header), so records larger than the default
 * ring still fit (reported as ringBytes).
 */
#include <inttypes.h>
#include <string.h>

#include "harness.h"

#define RING_MAGIC 0x52424c46u /* "FLBR" */
#define RING_VERSION 1u
#define RING_DEFAULT_BYTES (2u << 20)
#define RING_CTL_BYTES 4096u
#define REC_HDR 16u
/* 16, not 64: fewer bytes per small record (measured faster); and every gap at the end of the
 * ring is then 0 or >= 16 bytes, room for a PAD header. */
#define REC_ALIGN 16u
#define REC_PAD 1u

struct ring_ctl {
  uint32_t magic, version, capacity, epoch, closed;
  _Alignas(CACHE_LINE) _Atomic uint32_t head; /* producer position (bytes, modulo 2^32) */
  _Alignas(CACHE_LINE) _Atomic uint32_t tail; /* consumer position */
  _Alignas(CACHE_LINE) _Atomic uint32_t writer_sleeping;
  _Alignas(CACHE_LINE) _Atomic uint32_t reader_sleeping;
};

struct rec_hdr {
  _Atomic uint32_t len;
  uint32_t flags;
  uint64_t seq;
};

_Static_assert(sizeof(struct ring_ctl) <= RING_CTL_BYTES, "control block fits its page");
_Static_assert(sizeof(struct rec_hdr) == REC_HDR, "record header is 16 bytes");

struct ring_writer {
  struct ring_ctl *ctl;
  uint8_t *data;
  uint32_t cap, mask, rec;
  uint32_t head, tail_seen;
  const uint8_t *ref;
  uint64_t n;
};

struct ring_reader {
  struct ring_ctl *ctl;
  uint8_t *data;
  uint32_t cap, mask, rec;
  uint32_t pos;       /* consumed, privately */
  uint32_t published; /* consumed, as the writer sees it (the consumer position) */
  uint8_t *priv;
  uint64_t n;
  uint64_t waits; /* records found not yet published: the reader had caught up with the writer */
};

static struct {
  uint8_t *ring[2]; /* [0] carries A->B, [1] B->A (latency only) */
  uint32_t cap;
  size_t map_bytes;
} mp;

static struct ring_writer tx_ring;
static struct ring_reader rx_ring;

static int mempipe_setup(struct run *r) {
  uint64_t rec = align_up(REC_HDR + r->msg_size, REC_ALIGN);
  uint64_t cap = next_pow2(2 * rec + REC_HDR);
  if (cap < RING_DEFAULT_BYTES) cap = RING_DEFAULT_BYTES;
  if (cap > (1u << 30)) return fail(r, E_USAGE, "a %" PRIu64 "-byte message needs a ring larger than 1 GiB", r->msg_size);
  mp.cap = (uint32_t)cap;
  mp.map_bytes = RING_CTL_BYTES + cap;
  int rings = r->cfg.mode == MODE_LATENCY ? 2 : 1;
  for (int i = 0; i < rings; i++) {
    if (!(mp.ring[i] = map_shared(r, mp.map_bytes))) return -1;
    struct ring_ctl *ctl = (struct ring_ctl *)mp.ring[i];
    ctl->magic = RING_MAGIC;
    ctl->version = RING_VERSION;
    ctl->capacity = mp.cap;
  }
  param_int(r, "ringBytes", cap);
  param_int(r, "rings", rings);
  param_int(r, "recordHeaderBytes", REC_HDR);
  param_int(r, "recordAlignBytes", REC_ALIGN);
  param_int(r, "consumerPublishBytes", cap / 8);
  return 0;
}

static int mempipe_futex_setup(struct run *r) {
  param_str(r, "wait", "futex");
  return mempipe_setup(r);
}

static int mempipe_spin_setup(struct run *r) {
  param_str(r, "wait", "spin+pause");
  return mempipe_setup(r);
}

static void mempipe_teardown(struct run *r) { (void)r; }

static int mempipe_side_init(struct run *r) {
  int latency = r->cfg.mode == MODE_LATENCY;
  /* A writes ring 0 and reads ring 1; B reads ring 0 and writes ring 1. */
  uint8_t *w = r->role == ROLE_A ? mp.ring[0] : latency ? mp.ring[1] : NULL;
  uint8_t *rd = r->role == ROLE_B ? mp.ring[0] : latency ? mp.ring[1] : NULL;
  uint32_t rec = (uint32_t)align_up(REC_HDR + r->msg_size, REC_ALIGN);
  if (w) {
    prefault(w, mp.map_bytes);
    tx_ring = (struct ring_writer){.ctl = (struct ring_ctl *)w,
                                   .data = w + RING_CTL_BYTES,
                                   .cap = mp.cap,
                                   .mask = mp.cap - 1,
                                   .rec = rec,
                                   .ref = r->ref,
                                   .n = r->msg_size};
  }
  if (rd) {
    prefault(rd, mp.map_bytes);
    rx_ring = (struct ring_reader){.ctl = (struct ring_ctl *)rd,
                                   .data = rd + RING_CTL_BYTES,
                                   .cap = mp.cap,
                                   .mask = mp.cap - 1,
                                   .rec = rec,
                                   .priv = alloc_buffer(r, r->msg_size),
                                   .n = r->msg_size};
    if (!rx_ring.priv) return -1;
    if (rx_ring.ctl->magic != RING_MAGIC || rx_ring.ctl->capacity != mp.cap)
      return fail(r, E_PAYLOAD, "ring control block is corrupt (magic %#x, capacity %u)", rx_ring.ctl->magic,
                  rx_ring.ctl->capacity);
  }
  return 0;
}

/* ---- writer ---- */

static ALWAYS_INLINE int ring_space_ok(const struct ring_writer *w, uint32_t tail, uint32_t need) {
  return (uint32_t)(w->head - tail) <= w->cap - need;
}

/* Waits until `need` bytes from the producer position are behind the consumer. */
static ALWAYS_INLINE int ring_wait_space(struct run *r, struct ring_writer *w, uint32_t need, const int fx) {
  if (likely(ring_space_ok(w, w->tail_seen, need))) return 0;
  struct ring_ctl *ctl = w->ctl;
  w->tail_seen = atomic_load_explicit(&ctl->tail, memory_order_acquire);
  if (ring_space_ok(w, w->tail_seen, need)) return 0;
  if (!fx)
    return SPIN_UNTIL(r, ring_space_ok(w, w->tail_seen = atomic_load_explicit(&ctl->tail, memory_order_acquire), need),
                      "space in the ring");
  uint64_t since = 0;
  for (;;) {
    atomic_store_explicit(&ctl->writer_sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t t = atomic_load_explicit(&ctl->tail, memory_order_acquire);
    if (ring_space_ok(w, t, need)) {
      w->tail_seen = t;
      atomic_store_explicit(&ctl->writer_sleeping, 0, memory_order_relaxed);
      return 0;
    }
    if (futex_wait_bounded(r, &ctl->writer_sleeping, 1, &since, "space in the ring")) return -1;
  }
}

/*
 * The sleeping flag is the futex word the peer sleeps on: clearing it before the wake call makes
 * a FUTEX_WAIT that has not started yet fail (EAGAIN), so no wake-up is lost even when this
 * wake was meant for an earlier wait of the peer.
 */
static ALWAYS_INLINE int ring_wake(struct run *r, _Atomic uint32_t *sleeping) {
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(sleeping, memory_order_relaxed) && atomic_exchange(sleeping, 0) &&
      unlikely(futex_wake(sleeping, 1) < 0))
    return fail_errno(r, E_SYSCALL, "futex wake");
  return 0;
}

/* Publishes a record at the current position (clearing the next header first). */
static ALWAYS_INLINE int ring_publish(struct run *r, struct ring_writer *w, struct rec_hdr *h, uint32_t len,
                                      const int fx) {
  struct rec_hdr *next = (struct rec_hdr *)(w->data + ((w->head + len) & w->mask));
  atomic_store_explicit(&next->len, 0, memory_order_relaxed);
  atomic_store_explicit(&h->len, len, memory_order_release);
  w->head += len;
  atomic_store_explicit(&w->ctl->head, w->head, memory_order_release);
  return fx ? ring_wake(r, &w->ctl->reader_sleeping) : 0;
}

/* Covers the rest of the ring with a PAD record so that the next record starts at 0. */
static int ring_pad(struct run *r, struct ring_writer *w, int fx) {
  uint32_t off = w->head & w->mask, pad = w->cap - off;
  if (ring_wait_space(r, w, pad + REC_HDR, fx)) return -1;
  struct rec_hdr *h = (struct rec_hdr *)(w->data + off);
  h->flags = REC_PAD;
  h->seq = 0;
  return ring_publish(r, w, h, pad, fx);
}

static ALWAYS_INLINE int ring_send(struct run *r, void *tx, uint64_t word, const int fx) {
  struct ring_writer *w = tx;
  uint32_t off = w->head & w->mask;
  if (unlikely(w->cap - off < w->rec)) {
    if (ring_pad(r, w, fx)) return -1;
    off = 0;
  }
  if (unlikely(ring_wait_space(r, w, w->rec + REC_HDR, fx))) return -1;
  struct rec_hdr *h = (struct rec_hdr *)(w->data + off);
  msg_fill((uint8_t *)(h + 1), w->ref, w->n, word);
  h->flags = 0;
  h->seq = word;
  return ring_publish(r, w, h, w->rec, fx);
}

/* ---- reader ---- */

/*
 * Waits for the record at the reader's position. Futex variant: set the sleeping flag, fence,
 * re-check the record header (the writer fences between publishing and reading the flag, so
 * one of the two sees the other), then sleep on the flag.
 */
static ALWAYS_INLINE uint32_t ring_wait_record(struct run *r, struct ring_reader *rd, struct rec_hdr *h, const int fx) {
  uint32_t len;
  if (!fx) {
    if (SPIN_UNTIL(r, (len = atomic_load_explicit(&h->len, memory_order_acquire)) != 0, "a record")) return 0;
    return len;
  }
  struct ring_ctl *ctl = rd->ctl;
  uint64_t since = 0;
  for (;;) {
    atomic_store_explicit(&ctl->reader_sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if ((len = atomic_load_explicit(&h->len, memory_order_acquire)) != 0) break;
    if (futex_wait_bounded(r, &ctl->reader_sleeping, 1, &since, "a record")) return 0;
  }
  atomic_store_explicit(&ctl->reader_sleeping, 0, memory_order_relaxed);
  return len;
}

/* Publishes the consumer position (and wakes a sleeping writer). */
static ALWAYS_INLINE int ring_publish_tail(struct run *r, struct ring_reader *rd, const int fx) {
  rd->published = rd->pos;
  atomic_store_explicit(&rd->ctl->tail, rd->pos, memory_order_release);
  return fx ? ring_wake(r, &rd->ctl->writer_sleeping) : 0;
}

/*
 * Frees a record. The consumer position is published once an eighth of the ring has been
 * consumed, and always before the reader waits: a store per record to a line the writer reads
 * would cost a cache-line transfer per record.
 */
static ALWAYS_INLINE int ring_consume(struct run *r, struct ring_reader *rd, uint32_t len, const int fx) {
  rd->pos += len;
  if ((uint32_t)(rd->pos - rd->published) < (rd->cap >> 3)) return 0;
  return ring_publish_tail(r, rd, fx);
}

static int ring_bad_record(struct run *r, struct ring_reader *rd, uint32_t off, uint32_t len, uint32_t flags) {
  return fail(r, E_PAYLOAD, "bad ring record at offset %u: len %u, flags %#x (expected len %u, ring %u bytes)", off, len,
              flags, rd->rec, rd->cap);
}

static int ring_bad_seq(struct run *r, uint64_t header, uint64_t message) {
  return fail(r, E_PAYLOAD,
              "record header carries sequence word %#" PRIx64 " but its message carries %#" PRIx64, header, message);
}

static ALWAYS_INLINE const uint8_t *ring_recv(struct run *r, void *rx, const int fx, const int safe) {
  struct ring_reader *rd = rx;
  for (;;) {
    const uint32_t off = rd->pos & rd->mask;
    struct rec_hdr *h = (struct rec_hdr *)(rd->data + off);
    uint32_t len = atomic_load_explicit(&h->len, memory_order_acquire);
    if (unlikely(!len)) {
      rd->waits++;
      if (rd->pos != rd->published && ring_publish_tail(r, rd, fx)) return NULL;
      if (!(len = ring_wait_record(r, rd, h, fx))) return NULL;
    }
    const uint32_t flags = h->flags;
    if (likely(flags == 0 && len == rd->rec)) {
      const uint64_t seq = h->seq;
      const uint8_t *m = (const uint8_t *)(h + 1);
      if (safe) {
        memcpy(rd->priv, m, rd->n);
        m = rd->priv;
      }
      if (unlikely(load_word(m) != seq)) {
        ring_bad_seq(r, seq, load_word(m));
        return NULL;
      }
      return m;
    }
    if (flags != REC_PAD || len != rd->cap - off) {
      ring_bad_record(r, rd, off, len, flags);
      return NULL;
    }
    if (ring_consume(r, rd, len, fx)) return NULL;
  }
}

static ALWAYS_INLINE int ring_release(struct run *r, void *rx, const int fx) {
  struct ring_reader *rd = rx;
  return ring_consume(r, rd, rd->rec, fx);
}

/* ---- the four variants ---- */

#define MEMPIPE_VARIANT(id, fx, safe)                                                                             \
  static int id##_send(struct run *r, void *tx, uint64_t w) { return ring_send(r, tx, w, fx); }                   \
  static const uint8_t *id##_recv(struct run *r, void *rx) { return ring_recv(r, rx, fx, safe); }                 \
  static int id##_release(struct run *r, void *rx) { return ring_release(r, rx, fx); }                            \
  static const struct chan_ops id##_ops = {id##_send, id##_recv, id##_release, 0};                                   \
  static int id##_side_run(struct run *r) {                                                                       \
    param_str(r, "read", safe ? "copy to private memory, then verify" : "verify in place");                       \
    const int rc = harness_run(r, &id##_ops, &tx_ring, &rx_ring);                                                \
    if (r->cfg.mode == MODE_THROUGHPUT && r->role == ROLE_B) param_int(r, "readerWaits", (int64_t)rx_ring.waits);   \
    return rc;                                                                                                    \
  }

MEMPIPE_VARIANT(futex_safe, 1, 1)
MEMPIPE_VARIANT(futex_unsafe, 1, 0)
MEMPIPE_VARIANT(spin_safe, 0, 1)
MEMPIPE_VARIANT(spin_unsafe, 0, 0)

#define BOTH (MODE_LATENCY | MODE_THROUGHPUT)
const struct mechanism mech_mempipe_futex_safe = {"mempipe-futex-safe",  BOTH,
                                                  mempipe_futex_setup,   mempipe_side_init,
                                                  futex_safe_side_run,   mempipe_teardown};
const struct mechanism mech_mempipe_futex_unsafe = {"mempipe-futex-unsafe", BOTH,
                                                    mempipe_futex_setup,    mempipe_side_init,
                                                    futex_unsafe_side_run,  mempipe_teardown};
const struct mechanism mech_mempipe_spin_safe = {"mempipe-spin-safe", BOTH,          mempipe_spin_setup,
                                                 mempipe_side_init,   spin_safe_side_run, mempipe_teardown};
const struct mechanism mech_mempipe_spin_unsafe = {"mempipe-spin-unsafe", BOTH,
                                                   mempipe_spin_setup,    mempipe_side_init,
                                                   spin_unsafe_side_run,  mempipe_teardown};
