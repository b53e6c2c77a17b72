// Writing model case files for the PyTorch checkers in tests/ref/: the model
// config as the JSON `config` attribute and every parameter under /params.
#pragma once
#include <stdio.h>

#include "core/config.h"
#include "core/h5io.h"
#include "core/params.h"

static inline void case_write_config(hid_t f, const ModelConfig *c) {
  char json[512];
  snprintf(json, sizeof json,
           "{\"frames\":%d,\"height\":%d,\"width\":%d,\"channels\":%d,\"patch\":[%d,%d,%d],\"dim\":%d,\"depth\":%d,"
           "\"heads\":%d,\"mlp_ratio\":%d,\"text_length\":%d,\"text_layers\":%d,\"vocab\":%d,\"rope\":[%d,%d,%d],"
           "\"freq_dim\":%d,\"predict\":\"%s\"}",
           c->frames, c->height, c->width, c->channels, c->pt, c->ph, c->pw, c->dim, c->depth, c->heads, c->mlp_ratio,
           c->text_length, c->text_layers, c->vocab, c->rope[0], c->rope[1], c->rope[2], c->freq_dim,
           c->predict_x ? "x" : "v");
  h5_attr_str(f, "config", json);
}

// /<group>/<name> for every parameter, from buf (params->data or ->grad).
static inline void case_write_params(hid_t f, const char *group, const ParamTable *t, const float *buf) {
  char name[160];
  for (int i = 0; i < t->count; i++) {
    const ParamInfo *p = &t->items[i];
    snprintf(name, sizeof name, "/%s/%s", group, p->name);
    h5_write(f, name, H5T_NATIVE_FLOAT, buf + p->offset, p->ndim, p->shape);
  }
}
