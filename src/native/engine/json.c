#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

void json_init(struct json *j, FILE *f) {
  j->f = f;
  j->depth = 0;
  j->after_key = 0;
  j->has_items[0] = 0;
}

static void separator(struct json *j) {
  if (j->after_key) {
    j->after_key = 0;
    return;
  }
  if (j->has_items[j->depth]) fputc(',', j->f);
  j->has_items[j->depth] = 1;
}

static void open(struct json *j, char c) {
  separator(j);
  fputc(c, j->f);
  if (j->depth + 1 < (int)sizeof j->has_items) j->depth++;
  j->has_items[j->depth] = 0;
}

static void close_(struct json *j, char c) {
  fputc(c, j->f);
  if (j->depth > 0) j->depth--;
}

void json_object_begin(struct json *j) { open(j, '{'); }
void json_object_end(struct json *j) { close_(j, '}'); }
void json_array_begin(struct json *j) { open(j, '['); }
void json_array_end(struct json *j) { close_(j, ']'); }

static void quoted(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': fputs("\\\"", f); break;
      case '\\': fputs("\\\\", f); break;
      case '\b': fputs("\\b", f); break;
      case '\f': fputs("\\f", f); break;
      case '\n': fputs("\\n", f); break;
      case '\r': fputs("\\r", f); break;
      case '\t': fputs("\\t", f); break;
      default:
        if (*p < 0x20 || *p == 0x7f)
          fprintf(f, "\\u%04x", *p);
        else
          fputc(*p, f);
    }
  }
  fputc('"', f);
}

void json_key(struct json *j, const char *key) {
  separator(j);
  quoted(j->f, key);
  fputc(':', j->f);
  j->after_key = 1;
}

void json_string(struct json *j, const char *s) {
  separator(j);
  quoted(j->f, s);
}

void json_int(struct json *j, int64_t v) {
  separator(j);
  fprintf(j->f, "%" PRId64, v);
}

void json_uint(struct json *j, uint64_t v) {
  separator(j);
  fprintf(j->f, "%" PRIu64, v);
}

void json_number(struct json *j, double v) {
  separator(j);
  if (!isfinite(v)) {
    fputs("null", j->f);
    return;
  }
  char buf[40];
  for (int precision = 1; precision <= 17; precision++) {
    snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (strtod(buf, NULL) == v) break;
  }
  fputs(buf, j->f);
}

void json_bool(struct json *j, int v) {
  separator(j);
  fputs(v ? "true" : "false", j->f);
}
