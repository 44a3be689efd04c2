/*
 * cacheline: the floor of user-space communication between two CPUs (the user-space stand-in
 * for the paper's IPI test). Both sides share one 8-byte word alone on its cache line. A writes
 * the sequence word; B spins until it sees a word without the ECHO bit, checks it, and writes
 * it back with the ECHO bit set; A spins until the echo arrives. One round trip moves the line
 * to B and back. The message is the word itself, so payloadBytes is 8 whatever --size says.
 */
#include "harness.h"

struct cl_line {
  _Alignas(CACHE_LINE) _Atomic uint64_t word;
  uint8_t pad[CACHE_LINE - sizeof(uint64_t)];
};

struct cl_ep {
  uint8_t msg[8];
};

static struct cl_line *line;
static struct cl_ep cl_tx, cl_rx;

static int cl_setup(struct run *r) {
  if (!(line = map_shared(r, 4096))) return -1;
  atomic_store(&line->word, SEQ_ECHO); /* "nothing for B yet" */
  r->msg_size = 8;
  param_int(r, "payloadBytes", 8);
  param_int(r, "lineBytes", CACHE_LINE);
  param_str(r, "wait", "spin+pause");
  return 0;
}

static int cl_side_init(struct run *r) {
  (void)r;
  return prefault(line, 4096);
}

static void cl_teardown(struct run *r) { (void)r; }

static int cl_send_a(struct run *r, void *tx, uint64_t w) {
  (void)r;
  (void)tx;
  atomic_store_explicit(&line->word, w, memory_order_release);
  return 0;
}

static const uint8_t *cl_recv_a(struct run *r, void *rx) {
  struct cl_ep *ep = rx;
  uint64_t v;
  if (SPIN_UNTIL(r, (v = atomic_load_explicit(&line->word, memory_order_acquire)) & SEQ_ECHO, "the echo")) return NULL;
  store_word(ep->msg, v & ~SEQ_ECHO);
  return ep->msg;
}

static int cl_send_b(struct run *r, void *tx, uint64_t w) {
  (void)r;
  (void)tx;
  atomic_store_explicit(&line->word, w | SEQ_ECHO, memory_order_release);
  return 0;
}

static const uint8_t *cl_recv_b(struct run *r, void *rx) {
  struct cl_ep *ep = rx;
  uint64_t v;
  if (SPIN_UNTIL(r, !((v = atomic_load_explicit(&line->word, memory_order_acquire)) & SEQ_ECHO), "a message"))
    return NULL;
  store_word(ep->msg, v);
  return ep->msg;
}

static const struct chan_ops cl_ops_a = {cl_send_a, cl_recv_a, release_nothing, 8};
static const struct chan_ops cl_ops_b = {cl_send_b, cl_recv_b, release_nothing, 8};

static int cl_run(struct run *r) {
  if (r->role == ROLE_A) return harness_run(r, &cl_ops_a, &cl_tx, &cl_rx);
  return harness_run(r, &cl_ops_b, &cl_tx, &cl_rx);
}

const struct mechanism mech_cacheline = {"cacheline", MODE_LATENCY, cl_setup, cl_side_init, cl_run, cl_teardown};
