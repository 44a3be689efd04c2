/* Output: ProbeSuccess, ProbeFailure, --list and --version, one JSON object on one line. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "json.h"

const char *mode_name(enum mode m) { return m == MODE_LATENCY ? "latency" : "throughput"; }

static void mode_list(struct json *j, unsigned modes) {
  json_array_begin(j);
  if (modes & MODE_LATENCY) json_string(j, "latency");
  if (modes & MODE_THROUGHPUT) json_string(j, "throughput");
  json_array_end(j);
}

void report_list(void) {
  struct json j;
  json_init(&j, stdout);
  json_object_begin(&j);
  json_key(&j, "mechanisms");
  json_array_begin(&j);
  for (size_t i = 0; i < mechanism_count; i++) {
    json_object_begin(&j);
    json_key(&j, "name");
    json_string(&j, mechanisms[i]->name);
    json_key(&j, "modes");
    mode_list(&j, mechanisms[i]->modes);
    json_object_end(&j);
  }
  json_array_end(&j);
  json_object_end(&j);
  fputc('\n', stdout);
  fflush(stdout);
}

void report_version(void) {
  struct json j;
  json_init(&j, stdout);
  json_object_begin(&j);
  json_key(&j, "engine");
  json_string(&j, ENGINE_VERSION);
  json_object_end(&j);
  fputc('\n', stdout);
  fflush(stdout);
}

int report_failure(const struct config *cfg, const struct engine_error *e) {
  struct json j;
  json_init(&j, stdout);
  json_object_begin(&j);
  json_key(&j, "ok");
  json_bool(&j, 0);
  json_key(&j, "probe");
  json_string(&j, "engine");
  if (cfg && cfg->mech) {
    json_key(&j, "mechanism");
    json_string(&j, cfg->mech->name);
  }
  if (cfg && cfg->mode) {
    json_key(&j, "mode");
    json_string(&j, mode_name(cfg->mode));
  }
  json_key(&j, "error");
  json_object_begin(&j);
  json_key(&j, "code");
  json_string(&j, err_code_name(e->code));
  json_key(&j, "message");
  json_string(&j, e->message);
  if (e->has_seq) {
    json_key(&j, "expected");
    json_uint(&j, e->expected);
    json_key(&j, "received");
    json_uint(&j, e->received);
  }
  json_object_end(&j);
  json_object_end(&j);
  fputc('\n', stdout);
  fflush(stdout);
  return e->code == E_USAGE ? 2 : 3;
}

int report_usage(const struct config *cfg, const char *fmt, ...) {
  struct engine_error e = {.code = E_USAGE};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e.message, sizeof e.message, fmt, ap);
  va_end(ap);
  return report_failure(cfg, &e);
}

/* The supervisor's params, then A's, then B's; a key already printed is not repeated. */
static void params(struct json *j, const struct shared *sh) {
  static const int order[] = {ROLE_SUPERVISOR, ROLE_A, ROLE_B};
  const char *seen[3 * MAX_PARAMS];
  int nseen = 0;
  json_object_begin(j);
  for (int s = 0; s < 3; s++) {
    const struct side_report *rep = &sh->side[order[s]];
    for (int i = 0; i < rep->nparams; i++) {
      const struct param *p = &rep->params[i];
      int dup = 0;
      for (int k = 0; k < nseen && !dup; k++) dup = strcmp(seen[k], p->key) == 0;
      if (dup) continue;
      seen[nseen++] = p->key;
      json_key(j, p->key);
      switch (p->type) {
        case PARAM_INT: json_int(j, p->i); break;
        case PARAM_NUM: json_number(j, p->d); break;
        case PARAM_STR: json_string(j, p->s); break;
        default: json_bool(j, (int)p->i); break;
      }
    }
  }
  json_object_end(j);
}

void report_success(const struct run *r) {
  const struct config *cfg = &r->cfg;
  const struct shared *sh = r->sh;
  struct json j;
  json_init(&j, stdout);
  json_object_begin(&j);
  json_key(&j, "ok");
  json_bool(&j, 1);
  json_key(&j, "probe");
  json_string(&j, "engine");
  json_key(&j, "mechanism");
  json_string(&j, cfg->mech->name);
  json_key(&j, "mode");
  json_string(&j, mode_name(cfg->mode));
  json_key(&j, "size");
  json_uint(&j, cfg->size);
  json_key(&j, "cpus");
  json_array_begin(&j);
  json_int(&j, cfg->cpu[0]);
  json_int(&j, cfg->cpu[1]);
  json_array_end(&j);

  json_key(&j, "pinning");
  json_object_begin(&j);
  json_key(&j, "verified");
  json_bool(&j, sh->side[ROLE_A].pinned && sh->side[ROLE_B].pinned);
  json_key(&j, "observed");
  json_array_begin(&j);
  json_int(&j, sh->side[ROLE_A].cpu_end);
  json_int(&j, sh->side[ROLE_B].cpu_end);
  json_array_end(&j);
  json_object_end(&j);

  json_key(&j, "clock");
  json_object_begin(&j);
  json_key(&j, "source");
  json_string(&j, clk.tsc ? "tsc" : "clock_gettime");
  if (clk.tsc) {
    json_key(&j, "hz");
    json_number(&j, clk.hz);
  }
  json_key(&j, "overheadNs");
  json_number(&j, clk.overhead_ns);
  json_object_end(&j);

  json_key(&j, "iterations");
  json_uint(&j, sh->iterations);
  json_key(&j, "warmupIterations");
  json_uint(&j, sh->warmup_iterations);
  json_key(&j, "elapsedNs");
  json_number(&j, clk_ticks_to_ns(sh->elapsed_ticks));
  json_key(&j, "bytes");
  json_uint(&j, cfg->mode == MODE_THROUGHPUT ? sh->iterations * cfg->size : 0);
  json_key(&j, "batchMessages");
  json_uint(&j, sh->batch);
  json_key(&j, "samples");
  json_uint(&j, sh->nsamples);
  json_key(&j, "budgetExhausted");
  json_bool(&j, sh->iterations < 100);
  json_key(&j, "params");
  params(&j, sh);
  json_object_end(&j);
  fputc('\n', stdout);
  fflush(stdout);
}
