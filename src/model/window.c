#include "model/window.h"

int model_window_check(const ModelConfig *m, int T, int H, int W, int sp, TsrErr *err) {
  if (T < 1 || H < 1 || W < 1)
    return tsr_err(err, "shape %dx%dx%d (frames x height x width): expected positive sizes", T, H, W);
  if (T % m->pt || H % m->ph || W % m->pw)
    return tsr_err(err, "shape %dx%dx%d (frames x height x width): not divisible by the model's patch %dx%dx%d", T, H,
                   W, m->pt, m->ph, m->pw);
  if (T > m->frames || H > m->height || W > m->width)
    return tsr_err(err, "shape %dx%dx%d (frames x height x width): larger than the model's maximum %dx%dx%d", T, H, W,
                   m->frames, m->height, m->width);
  const long long n = (long long)(T / m->pt) * (H / m->ph) * (W / m->pw);
  if (sp > 1 && n % sp)
    return tsr_err(err, "shape %dx%dx%d: its %lld tokens do not divide over sequence parallel size %d", T, H, W, n, sp);
  return 0;
}

int model_config_at(const ModelConfig *max, int T, int H, int W, ModelConfig *out, TsrErr *err) {
  if (model_window_check(max, T, H, W, 1, err)) return -1;
  ModelConfig c = *max;
  c.frames = T, c.height = H, c.width = W;
  c.grid_t = T / c.pt, c.grid_h = H / c.ph, c.grid_w = W / c.pw;
  c.tokens = c.grid_t * c.grid_h * c.grid_w;
  *out = c;
  return 0;
}
