#include "train/trainer.h"

#include <math.h>
#include <stdio.h>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/random_clips.h"
#include "model/model.h"
#include "train/flow.h"
#include "train/optimizer.h"
#include "train/peak.h"

enum { RANDOM_POOL = 16 };  // random clips the smoke run cycles through

float train_run(const Config *cfg) {
  const ModelConfig *mc = &cfg->model;
  const TrainConfig *tc = &cfg->train;
  if (cfg->data.path[0])
    tsr_user_error("%s: data.path: reading corpora arrives with the corpus work; leave it empty for random data",
                   cfg->path);
  Model m;
  model_build(&m, mc, (ModelLayout){.tp = cfg->parallel.tp, .sp = cfg->parallel.sp});
  params_init(&m.params, tc->seed);
  model_alloc_acts(&m, tc->batch);
  AdamW opt;
  adamw_init(&opt, &m.params);
  FlowBatch fb;
  flow_batch_alloc(&fb, mc, tc->batch);

  double peak = measure_gemm_peak_gflops();
  double flops_step = 3.0 * model_forward_flops(mc, tc->batch);  // forward + backward (2x)
  log_info("model %s: %.2fM parameters, %d tokens/clip, batch %d, activations %.0f MiB, GEMM peak %.0f GFLOP/s",
           mc->name, (double)m.params.total / 1e6, mc->tokens, tc->batch, (double)m.arena.size / 1048576.0, peak);

  float loss = 0.0f;
  double t_start = timer_now(), t_window = t_start;
  int window_steps = 0;
  for (int step = 0; step < tc->steps; step++) {
    uint64_t first = (uint64_t)step * (uint64_t)tc->batch;
    random_clips_fill(fb.x0, fb.b.tokens, fb.b.ntokens, mc, tc->batch, tc->seed, first, RANDOM_POOL);
    flow_prepare(&fb, mc, tc, cfg->data.p_drop, tc->seed, first);
    params_zero_grad(&m.params);
    loss = model_forward(&m, &fb.b);
    model_backward(&m, &fb.b);
    double norm = grad_norm(&m.params);
    float lr = lr_at(tc, step);
    if (!isfinite(loss) || !isfinite(norm)) tsr_user_error("step %d: non-finite loss or gradient (loss %g)", step + 1, loss);
    adamw_step(&opt, &m.params, tc, lr, norm);
    window_steps++;
    if ((step + 1) % tc->log_every == 0 || step + 1 == tc->steps) {
      double now = timer_now(), dt = (now - t_window) / window_steps;
      double tok_s = (double)tc->batch * mc->tokens / dt;
      double eta = (tc->steps - step - 1) * ((now - t_start) / (step + 1));
      log_info("step %d | loss %.5f | grad %.3f | lr %.2e | %.0f tok/s | %.0f ms/step | mfu %.1f%% | eta %.0fs",
               step + 1, loss, norm, lr, tok_s, dt * 1e3, 100.0 * flops_step / dt * 1e-9 / peak, eta);
      t_window = now;
      window_steps = 0;
    }
  }
  flow_batch_free(&fb);
  adamw_free(&opt);
  model_free(&m);
  return loss;
}
