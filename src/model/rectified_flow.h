// Rectified flow (DESIGN.md "Objective", "Sampling"; docs/model.md): the
// definitions training (train/flow.c) and sampling (infer/sampler.c) share, so
// the two cannot drift apart.
//   noising        x_t = (1 - t) x0 + t eps        (t = 1: pure noise)
//   target         v = eps - x0, or x0 when the model predicts x
//   x-prediction   v = (x_t - x0_hat) / max(t, PREDICT_X_T_MIN)
//   timestep       t = 1 / (1 + exp(-z)), z ~ N(mean, std)   (logit-normal)
//   time shift     t' = s t / (1 + (s - 1) t)
#pragma once
#include <math.h>

#include "core/config.h"

static inline float rf_noised(float x0, float eps, float t) { return (1.0f - t) * x0 + t * eps; }

static inline float rf_target(float x0, float eps, int predict_x) { return predict_x ? x0 : eps - x0; }

// The factor that turns (x_t - x0_hat) into a velocity at time t.
static inline float rf_x_to_v_scale(float t) { return 1.0f / fmaxf(t, PREDICT_X_T_MIN); }

// A logit-normal timestep from a standard normal draw n.
static inline float rf_logit_normal(float mean, float std, float n) { return 1.0f / (1.0f + expf(-(mean + std * n))); }

static inline float rf_shift(float u, float s) { return s * u / (1.0f + (s - 1.0f) * u); }
