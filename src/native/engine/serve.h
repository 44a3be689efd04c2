/* The serving engine: one long-lived process that runs one test per request line (serve.c). */
#ifndef FABLE_SERVE_H
#define FABLE_SERVE_H

#include <stdint.h>

/* Reads requests until EOF; each is run by `run` (main.c's single-shot entry) in a fresh child. */
int serve(int (*run)(int argc, char **argv));

/* The serving engine's populated samples region if it holds `count` samples, else NULL. */
uint64_t *served_samples(uint64_t count);

#endif
