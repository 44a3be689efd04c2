/* Free-form facts about how the mechanism ran, printed under "params" in the output. */
#include <stdio.h>
#include <string.h>

#include "engine.h"

static struct param *param_slot(struct run *r, const char *key) {
  struct side_report *s = &r->sh->side[r->role];
  for (int i = 0; i < s->nparams; i++)
    if (strcmp(s->params[i].key, key) == 0) return &s->params[i];
  if (s->nparams == MAX_PARAMS) return NULL;
  struct param *p = &s->params[s->nparams++];
  snprintf(p->key, sizeof p->key, "%s", key);
  return p;
}

void param_int(struct run *r, const char *key, int64_t v) {
  struct param *p = param_slot(r, key);
  if (p) p->type = PARAM_INT, p->i = v;
}

void param_num(struct run *r, const char *key, double v) {
  struct param *p = param_slot(r, key);
  if (p) p->type = PARAM_NUM, p->d = v;
}

void param_str(struct run *r, const char *key, const char *v) {
  struct param *p = param_slot(r, key);
  if (p) p->type = PARAM_STR, snprintf(p->s, sizeof p->s, "%s", v);
}

void param_bool(struct run *r, const char *key, int v) {
  struct param *p = param_slot(r, key);
  if (p) p->type = PARAM_BOOL, p->i = !!v;
}
