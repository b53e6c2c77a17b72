// One optimisation step of the autoencoder on a given batch (docs/vae.md
// "Training"): zero the gradients, forward (recon + beta KL), backward, and
// AdamW on every parameter through the backend's adamw_update op (moments in
// the backend's memory; weight decay only on the conv weights, as the DiT's
// optimizer decays only 2+-dim tensors). The command `tessera vae train`
// (issue 18 item 2) will call it once per step with the loader's batch.
#pragma once
#include <stdint.h>

#include "vae/vae.h"

typedef struct {
  float lr, beta1, beta2, eps, weight_decay;
} VaeAdamHyper;

typedef struct {
  float *m, *v;  // [params.total] each, in the backend's memory
  int step;      // updates done
} VaeAdam;

void vae_adam_init(VaeAdam *o, const Vae *v);
void vae_adam_free(VaeAdam *o, const Vae *v);
// One step on clips (host [B,T,H,W,C], v sized for them by vae_alloc), the
// posterior noise keyed by (seed, clip sample0 + b); returns the loss before
// the update (its terms in v->recon_loss, v->kl).
float vae_train_step(Vae *v, VaeAdam *o, const VaeAdamHyper *h, const float *clips, uint32_t sample0, uint64_t seed);
