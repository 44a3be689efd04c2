/*
 * futex-wake: the cost of waking a sleeping process (the floor under every blocking
 * mechanism). Each direction has a 32-bit futex word (a generation counter) and the 64-bit
 * sequence word beside it. A stores the sequence word, bumps the generation and FUTEX_WAKEs B,
 * which sleeps in FUTEX_WAIT on that generation; B checks the word and wakes A the same way.
 * A round trip is two wake-ups. A wake that found no sleeper (the peer had not gone to sleep
 * yet, so it saw the new generation without sleeping) is counted in the measured phase and
 * reported as wakesWithoutSleeperAB / wakesWithoutSleeperBA.
 */
#include "harness.h"

struct fw_chan {
  _Alignas(CACHE_LINE) _Atomic uint32_t gen;
  _Atomic uint64_t word;
};

struct fw_tx {
  struct fw_chan *c;
  uint32_t gen;
  uint64_t no_sleeper;
};

struct fw_rx {
  struct fw_chan *c;
  uint32_t seen;
  uint8_t msg[8];
};

static struct fw_chan *chans; /* [0] A->B, [1] B->A */
static struct fw_tx fw_tx;
static struct fw_rx fw_rx;

static int fw_setup(struct run *r) {
  if (!(chans = map_shared(r, 4096))) return -1;
  r->msg_size = 8;
  param_int(r, "payloadBytes", 8);
  param_str(r, "wait", "futex");
  return 0;
}

static int fw_side_init(struct run *r) {
  prefault(chans, 4096);
  fw_tx.c = &chans[r->role == ROLE_A ? 0 : 1];
  fw_rx.c = &chans[r->role == ROLE_A ? 1 : 0];
  return 0;
}

static void fw_teardown(struct run *r) { (void)r; }

static int fw_send(struct run *r, void *tx, uint64_t w) {
  struct fw_tx *t = tx;
  atomic_store_explicit(&t->c->word, w, memory_order_relaxed);
  atomic_store_explicit(&t->c->gen, ++t->gen, memory_order_release);
  long woken = futex_wake(&t->c->gen, 1);
  if (unlikely(woken < 0)) return fail_errno(r, E_SYSCALL, "futex wake");
  if (woken == 0 && (w & (SEQ_MEASURED | SEQ_STOP)) == SEQ_MEASURED) t->no_sleeper++;
  return 0;
}

static const uint8_t *fw_recv(struct run *r, void *rx) {
  struct fw_rx *x = rx;
  uint64_t since = 0;
  uint32_t g;
  while ((g = atomic_load_explicit(&x->c->gen, memory_order_acquire)) == x->seen)
    if (futex_wait_bounded(r, &x->c->gen, x->seen, &since, "a wake-up")) return NULL;
  x->seen = g;
  store_word(x->msg, atomic_load_explicit(&x->c->word, memory_order_relaxed));
  return x->msg;
}

static const struct chan_ops fw_ops = {fw_send, fw_recv, release_nothing, 8};

static int fw_run(struct run *r) {
  int rc = harness_run(r, &fw_ops, &fw_tx, &fw_rx);
  param_int(r, r->role == ROLE_A ? "wakesWithoutSleeperAB" : "wakesWithoutSleeperBA", (int64_t)fw_tx.no_sleeper);
  return rc;
}

const struct mechanism mech_futex_wake = {"futex-wake", MODE_LATENCY, fw_setup, fw_side_init, fw_run, fw_teardown};
