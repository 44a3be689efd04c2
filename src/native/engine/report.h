/* The engine's stdout: exactly one JSON object per invocation (src/bench/probe.ts). */
#ifndef FABLE_REPORT_H
#define FABLE_REPORT_H

#include "engine.h"

/* Prints a ProbeFailure; `cfg` may be NULL or partly filled. Returns the exit code (2 or 3). */
int report_failure(const struct config *cfg, const struct engine_error *e);
int report_usage(const struct config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints a ProbeSuccess from the shared results. */
void report_success(const struct run *r);
void report_list(void);
void report_version(void);
const char *mode_name(enum mode m);

/* supervisor.c */
int supervise(const struct config *cfg);

#endif
