/* The harness's cold paths: failure reports and the choice of the throughput batch. */
#include "harness.h"

#include <inttypes.h>

int harness_bad_tail(struct run *r, uint64_t head, uint64_t tail) {
  return fail(r, E_PAYLOAD,
              "message torn: its last 8 bytes carry sequence word %#" PRIx64 " but its first 8 carry %#" PRIx64, tail,
              head);
}

int harness_bad_payload(struct run *r, const uint8_t *m, uint64_t word) {
  uint64_t end = r->msg_size >= 16 ? r->msg_size - 8 : r->msg_size, at = 8;
  while (at < end && m[at] == r->ref[at]) at++;
  return fail(r, E_PAYLOAD,
              "message %" PRIu64 " (%" PRIu64 " bytes) differs from the pattern at byte %" PRIu64
              ": 0x%02x instead of 0x%02x",
              (uint64_t)(word & SEQ_NUMBER), r->msg_size, at, at < end ? m[at] : 0, at < end ? r->ref[at] : 0);
}

int harness_bad_sequence(struct run *r, uint64_t expected, int measured, uint64_t word) {
  uint64_t received = word & SEQ_NUMBER;
  const char *phase = measured ? "measured" : "warm-up";
  if (!(word & SEQ_MEASURED) && measured)
    return fail_seq(r, expected, received,
                    "expected measured message %" PRIu64 " but received warm-up message %" PRIu64, expected, received);
  if (word & SEQ_ECHO)
    return fail_seq(r, expected, received, "received an echo flag in message %" PRIu64 " of the %s phase", expected,
                    phase);
  return fail_seq(r, expected, received,
                  "expected sequence number %" PRIu64 " in the %s phase, received %" PRIu64, expected, phase,
                  received);
}

int harness_bad_echo(struct run *r, uint64_t sent, uint64_t echoed) {
  return fail_seq(r, sent & SEQ_NUMBER, echoed & SEQ_NUMBER,
                  "the echo of sequence word %#" PRIx64 " came back as %#" PRIx64, sent, echoed);
}

uint64_t harness_batch(struct run *r) {
  param_str(r, "batchRule", "max(1, 65536 / size) messages");
  return r->msg_size >= BATCH_BYTES ? 1 : BATCH_BYTES / r->msg_size;
}

uint64_t harness_check_mask(uint64_t msg_size) {
  uint64_t every = msg_size >= 4096 ? 1 : next_pow2(4096 / msg_size);
  return every - 1;
}
