/* A minimal streaming JSON writer: one object on one line, strings escaped, numbers exact. */
#ifndef FABLE_JSON_H
#define FABLE_JSON_H

#include <stdint.h>
#include <stdio.h>

struct json {
  FILE *f;
  int depth;
  int after_key;
  unsigned char has_items[32];
};

void json_init(struct json *j, FILE *f);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
/* Shortest decimal that reads back as the same double; null when not finite. */
void json_number(struct json *j, double v);
void json_bool(struct json *j, int v);

#endif
