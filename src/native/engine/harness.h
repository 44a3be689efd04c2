/*
 * The measurement loops, written once and instantiated by every mechanism with its own
 * channel operations (a `static const struct chan_ops`): the loops are always inlined, so the
 * compiler calls the mechanism's send/recv directly and the harness adds no indirect call.
 *
 * Message format (msg_size bytes, >= 8):
 *   bytes [0, 8)        the sequence word (native byte order)
 *   bytes [n-8, n)      the sequence word again when n >= 16 (a torn message fails the check)
 *   everything between  the reference pattern (fill_reference), compared in full by the reader
 * Sequence word: bit 63 STOP (the last message; the reader ends), bit 62 MEASURED (numbers
 * restart at 0 when the measured phase starts), bit 61 reserved for in-word echoes (cacheline),
 * bits 0-60 the message number.
 *
 * Phases and stopping: side A decides. It runs the warm-up until --warmup-ms has passed, then
 * marks messages MEASURED until --budget-ms has passed or the samples are full, then sends one
 * STOP message. In throughput mode B owns the samples and raises `reader_full` when it has
 * --max-samples of them; A looks at that flag and at the clock once every `check_mask + 1`
 * messages only.
 *
 * Latency: A times every round trip (send, receive the echo, verify it), one sample each;
 * consecutive readings share their timestamp, so a sample costs one clock read.
 * Throughput: B times batches of `batch` messages (received and verified). The clock starts
 * when measured message 0 has been received; incomplete batches are not counted. The batch
 * durations are the phase's timeline: fable's statistics are rates over fixed time windows taken
 * from it (src/bench/statistics.ts), never a batch's own rate.
 * Batch rule: max(1, 65536 / size) messages, i.e. 64 KiB of payload per sample (about 10 us to
 * 2 ms on mechanisms from 30 MB/s to 7 GB/s). It depends on the size only, so samples of two
 * runs compare directly, and the clock read per batch stays far below 1 % of a sample.
 */
#ifndef FABLE_HARNESS_H
#define FABLE_HARNESS_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "engine.h"
#include "sync.h"

#define SEQ_STOP (1ull << 63)
#define SEQ_MEASURED (1ull << 62)
#define SEQ_ECHO (1ull << 61)
#define SEQ_NUMBER ((1ull << 61) - 1)
/* --corrupt-at N: message N carries number N + CORRUPT_OFFSET instead of N. */
#define CORRUPT_OFFSET 1000000ull

#define BATCH_BYTES 65536u

struct chan_ops {
  /* Writes one whole message of r->msg_size bytes carrying `word`. 0, or -1 (reported). */
  int (*send)(struct run *r, void *tx, uint64_t word);
  /* Returns the next whole message (in private memory or in place), or NULL (reported). */
  const uint8_t *(*recv)(struct run *r, void *rx);
  /* The reader is done with the message recv returned. 0, or -1 (reported). */
  int (*release)(struct run *r, void *rx);
  /* Message size known at compile time (the one-word floors), or 0: r->msg_size. */
  uint64_t fixed_size;
};

static ALWAYS_INLINE uint64_t msg_size(const struct run *r, const struct chan_ops *ops) {
  return ops->fixed_size ? ops->fixed_size : r->msg_size;
}

/* For mechanisms whose reader owns the message once recv returns it (a private copy). */
static inline int release_nothing(struct run *r, void *rx) {
  (void)r;
  (void)rx;
  return 0;
}

/* harness.c: the cold paths */
int harness_bad_tail(struct run *r, uint64_t head, uint64_t tail);
int harness_bad_payload(struct run *r, const uint8_t *m, uint64_t word);
int harness_bad_sequence(struct run *r, uint64_t expected, int measured, uint64_t word);
int harness_bad_echo(struct run *r, uint64_t sent, uint64_t echoed);
uint64_t harness_batch(struct run *r);
uint64_t harness_check_mask(uint64_t msg_size);

static ALWAYS_INLINE uint64_t load_word(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static ALWAYS_INLINE void store_word(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof v); }

/* Writes the sequence words into a message whose pattern is already in place. */
static ALWAYS_INLINE void msg_stamp(uint8_t *m, uint64_t n, uint64_t word) {
  store_word(m, word);
  if (n >= 16) store_word(m + n - 8, word);
}

/* Writes a whole message: the pattern, then the sequence words. */
static ALWAYS_INLINE void msg_fill(uint8_t *dst, const uint8_t *ref, uint64_t n, uint64_t word) {
  memcpy(dst, ref, n);
  msg_stamp(dst, n, word);
}

/* Checks the tail word and the pattern; returns the sequence word through *word. */
static ALWAYS_INLINE int msg_check(struct run *r, const struct chan_ops *ops, const uint8_t *m, uint64_t *word) {
  const uint64_t n = msg_size(r, ops);
  const uint64_t w = load_word(m);
  *word = w;
  uint64_t body_end = n;
  if (n >= 16) {
    uint64_t t = load_word(m + n - 8);
    if (unlikely(t != w)) return harness_bad_tail(r, w, t);
    body_end = n - 8;
  }
  if (body_end > 8 && unlikely(memcmp(m + 8, r->ref + 8, body_end - 8) != 0)) return harness_bad_payload(r, m, w);
  return 0;
}

struct rx_seq {
  uint64_t expect;
  int measured;
};

/* Checks a received sequence word: 0 go on, 1 it was STOP, -1 wrong (reported). */
static ALWAYS_INLINE int rx_accept(struct run *r, struct rx_seq *s, uint64_t w) {
  if ((w & SEQ_MEASURED) && !s->measured) {
    s->measured = 1;
    s->expect = 0;
  }
  if (unlikely((w & SEQ_NUMBER) != s->expect || !(w & SEQ_MEASURED) != !s->measured || (w & SEQ_ECHO)))
    return harness_bad_sequence(r, s->expect, s->measured, w);
  s->expect++;
  return (w & SEQ_STOP) ? 1 : 0;
}

static ALWAYS_INLINE int round_trip(struct run *r, const struct chan_ops *ops, void *tx, void *rx, uint64_t w) {
  if (unlikely(ops->send(r, tx, w))) return -1;
  const uint8_t *m = ops->recv(r, rx);
  if (unlikely(!m)) return -1;
  uint64_t echo;
  if (unlikely(msg_check(r, ops, m, &echo))) return -1;
  if (unlikely(echo != w)) return harness_bad_echo(r, w, echo);
  return ops->release(r, rx);
}

static ALWAYS_INLINE int harness_latency_a(struct run *r, const struct chan_ops *ops, void *tx, void *rx) {
  uint64_t warm = 0;
  if (r->cfg.warmup_ms > 0) {
    const uint64_t end = clk_now() + clk_ms_to_ticks(r->cfg.warmup_ms);
    do {
      if (round_trip(r, ops, tx, rx, warm)) return -1;
      warm++;
    } while (clk_now() < end);
  }
  uint64_t *const samples = r->samples;
  const uint64_t max = r->cfg.max_samples, corrupt = r->cfg.corrupt_at;
  const uint64_t t0 = clk_now(), end = t0 + clk_ms_to_ticks(r->cfg.budget_ms);
  uint64_t prev = t0, i = 0;
  for (;;) {
    uint64_t w = SEQ_MEASURED | i;
    if (unlikely(i == corrupt)) w = SEQ_MEASURED | (i + CORRUPT_OFFSET);
    if (round_trip(r, ops, tx, rx, w)) return -1;
    const uint64_t now = clk_now();
    samples[i++] = now - prev;
    prev = now;
    if (now >= end || i == max) break;
  }
  if (ops->send(r, tx, SEQ_STOP | SEQ_MEASURED | i)) return -1;
  struct shared *sh = r->sh;
  sh->iterations = i;
  sh->warmup_iterations = warm;
  sh->elapsed_ticks = prev - t0;
  sh->nsamples = i;
  sh->batch = 1;
  atomic_store(&sh->done, 1);
  return 0;
}

static ALWAYS_INLINE int harness_latency_b(struct run *r, const struct chan_ops *ops, void *tx, void *rx) {
  struct rx_seq s = {0, 0};
  for (;;) {
    const uint8_t *m = ops->recv(r, rx);
    if (unlikely(!m)) return -1;
    uint64_t w;
    if (unlikely(msg_check(r, ops, m, &w))) return -1;
    const int k = rx_accept(r, &s, w);
    if (unlikely(k < 0)) return -1;
    if (unlikely(ops->release(r, rx))) return -1;
    if (k) return 0;
    if (unlikely(ops->send(r, tx, w))) return -1;
  }
}

static ALWAYS_INLINE int harness_throughput_a(struct run *r, const struct chan_ops *ops, void *tx) {
  const uint64_t mask = harness_check_mask(msg_size(r, ops));
  uint64_t warm = 0;
  if (r->cfg.warmup_ms > 0) {
    const uint64_t end = clk_now() + clk_ms_to_ticks(r->cfg.warmup_ms);
    for (;;) {
      if (unlikely(ops->send(r, tx, warm))) return -1;
      warm++;
      if ((warm & mask) == 0 && clk_now() >= end) break;
    }
  }
  _Atomic uint32_t *const full = &r->sh->reader_full;
  const uint64_t corrupt = r->cfg.corrupt_at;
  const uint64_t end = clk_now() + clk_ms_to_ticks(r->cfg.budget_ms);
  uint64_t i = 0;
  for (;;) {
    uint64_t w = SEQ_MEASURED | i;
    if (unlikely(i == corrupt)) w = SEQ_MEASURED | (i + CORRUPT_OFFSET);
    if (unlikely(ops->send(r, tx, w))) return -1;
    i++;
    if ((i & mask) == 0 && (clk_now() >= end || atomic_load_explicit(full, memory_order_relaxed))) break;
  }
  if (unlikely(ops->send(r, tx, SEQ_STOP | SEQ_MEASURED | i))) return -1;
  /* Stay until B is done: B may still write to a back channel (returned space, reports). */
  uint64_t since = 0;
  while (!atomic_load(&r->sh->done))
    if (futex_wait_bounded(r, &r->sh->done, 0, &since, "the reader to finish")) return -1;
  return 0;
}

static ALWAYS_INLINE int harness_throughput_b(struct run *r, const struct chan_ops *ops, void *rx) {
  struct rx_seq s = {0, 0};
  const uint8_t *m;
  uint64_t w, warm = 0;
  int k;
  /* Warm-up, up to and including measured message 0, which starts the clock. */
  for (;;) {
    if (unlikely(!(m = ops->recv(r, rx)))) return -1;
    if (unlikely(msg_check(r, ops, m, &w))) return -1;
    if (unlikely((k = rx_accept(r, &s, w)) < 0)) return -1;
    if (unlikely(ops->release(r, rx))) return -1;
    if (s.measured) break;
    warm++;
  }
  const uint64_t t0 = clk_now();
  const uint64_t batch = harness_batch(r);
  uint64_t *const samples = r->samples;
  const uint64_t max = r->cfg.max_samples;
  uint64_t prev = t0, n = 0, in_batch = 0;
  while (!k) {
    if (unlikely(!(m = ops->recv(r, rx)))) return -1;
    if (unlikely(msg_check(r, ops, m, &w))) return -1;
    if (unlikely((k = rx_accept(r, &s, w)) < 0)) return -1;
    if (unlikely(ops->release(r, rx))) return -1;
    if (k) break;
    if (++in_batch == batch) {
      in_batch = 0;
      if (n < max) {
        const uint64_t now = clk_now();
        samples[n++] = now - prev;
        prev = now;
        if (n == max) atomic_store_explicit(&r->sh->reader_full, 1, memory_order_relaxed);
      }
    }
  }
  struct shared *sh = r->sh;
  sh->iterations = n * batch;
  sh->warmup_iterations = warm;
  sh->elapsed_ticks = prev - t0;
  sh->nsamples = n;
  sh->batch = batch;
  atomic_store(&sh->done, 1);
  futex_wake(&sh->done, 1);
  return 0;
}

/* Runs this side's part of the test: the mechanism passes its own endpoints for this role. */
static ALWAYS_INLINE int harness_run(struct run *r, const struct chan_ops *ops, void *tx, void *rx) {
  if (r->cfg.mode == MODE_LATENCY)
    return r->role == ROLE_A ? harness_latency_a(r, ops, tx, rx) : harness_latency_b(r, ops, tx, rx);
  return r->role == ROLE_A ? harness_throughput_a(r, ops, tx) : harness_throughput_b(r, ops, rx);
}

#endif
