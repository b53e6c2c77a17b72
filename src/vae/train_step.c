// vae_train_step: forward, backward and AdamW through the backend (vae_train.h).
#include "vae/vae_train.h"

void vae_adam_init(VaeAdam *o, const Vae *v) {
  o->m = be_floats(v->be, v->params.total);
  o->v = be_floats(v->be, v->params.total);
  be_zero(v->be, o->m, v->params.total);
  be_zero(v->be, o->v, v->params.total);
  o->step = 0;
}

void vae_adam_free(VaeAdam *o, const Vae *v) {
  be_free(v->be, o->m);
  be_free(v->be, o->v);
  *o = (VaeAdam){0};
}

float vae_train_step(Vae *v, VaeAdam *o, const VaeAdamHyper *h, const float *clips, uint32_t sample0, uint64_t seed) {
  params_zero_grad(&v->params);
  const float loss = vae_forward(v, clips, sample0, seed);
  vae_backward(v);
  o->step++;
  for (int i = 0; i < v->params.count; i++) {
    const ParamInfo *p = &v->params.items[i];
    const float wd = p->ndim >= 2 ? h->weight_decay : 0.0f;
    be_adamw_update(v->be, v->params.data + p->offset, v->params.grad + p->offset, o->m + p->offset,
                    o->v + p->offset, (int64_t)p->numel, h->lr, h->beta1, h->beta2, h->eps, wd, o->step);
  }
  return loss;
}
