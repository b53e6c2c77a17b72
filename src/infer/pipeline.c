#include "infer/pipeline.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/sha256.h"
#include "core/timer.h"
#include "infer/budget.h"
#include "infer/generate.h"
#include "infer/latent_codec.h"
#include "media/provenance.h"
#include "media/video_io.h"
#include "media/watch.h"

int pipeline_sampler(const InferSession *s, const SamplerFlags *f, const char *cmd, SamplerOptions *so,
                     const char **name, TsrErr *err) {
  const SampleConfig *d = &s->cfg.sample;
  const char *sampler = f->sampler ? f->sampler : d->sampler;
  if (strcmp(sampler, "euler") && strcmp(sampler, "heun"))
    return tsr_err(err, "%s: --sampler: expected euler or heun, got '%s'", cmd, sampler);
  *so = (SamplerOptions){.steps = f->steps ? f->steps : d->steps,
                         .cfg = f->cfg >= 0 ? f->cfg : d->cfg,
                         .shift = f->shift > 0 ? f->shift : d->shift,
                         .heun = !strcmp(sampler, "heun"),
                         .seed = f->seed >= 0 ? (uint64_t)f->seed : d->seed,
                         .t0 = 1.0f,
                         .text = s->text};
  *name = sampler;
  return 0;
}

// An image or video file as frames at H x W (scaled and centre-cropped);
// hw (may be NULL): its size as stored.
static int load_frames(const VideoRequest *rq, const char *what, const char *path, int H, int W, int max_frames,
                       VideoFrames *fit, int hw[2], TsrErr *err) {
  VideoFrames raw = {0};
  char why[256];
  if (access(path, R_OK) != 0) return tsr_err(err, "%s%s: %s: %s", rq->flag, what, path, strerror(errno));
  if (video_read(path, 0.0f, max_frames, &raw, why, sizeof why) != 0)
    return tsr_err(err, "%s%s: %s: cannot decode: %s", rq->flag, what, path, why);
  if (hw) hw[0] = raw.H, hw[1] = raw.W;
  video_resize_crop(&raw, H, W, fit);
  video_frames_free(&raw);
  return 0;
}

// The request's conditioning inputs into r (pixels owned by first/last/remix).
// An --extend video is `first` (forwards) or `last` (--backward); --first and
// --last are images or videos of one size.
static int load_inputs(const VideoRequest *rq, const ModelConfig *mc, GenerateRequest *r, VideoFrames *first,
                       VideoFrames *last, VideoFrames *remix, TsrErr *err) {
  const int H = mc->height, W = mc->width;
  int hw_first[2], hw_last[2];
  if (rq->lead) r->first = rq->lead, r->nfirst = rq->nlead;
  if (rq->tail) r->last = rq->tail, r->nlast = rq->ntail;
  if (rq->source) r->remix = rq->source, r->nremix = rq->nsource;
  if (rq->image || rq->first) {
    if (load_frames(rq, rq->image ? "image" : "first", rq->image ? rq->image : rq->first, H, W, rq->image ? 1 : 0,
                    first, hw_first, err))
      return -1;
    r->first = first->pixels, r->nfirst = first->T;
  }
  if (rq->extend) {
    VideoFrames *v = rq->backward ? last : first;
    if (load_frames(rq, "extend", rq->extend, H, W, 0, v, NULL, err)) return -1;
    if (rq->extend_frames && v->T < rq->extend_frames)
      return tsr_err(err, "%sextend: %s: has %d frames, %d needed to lead in", rq->flag, rq->extend, v->T,
                     rq->extend_frames);
    if (v->T == 1) return tsr_err(err, "%sextend: %s: is one frame, not a video (use %simage)", rq->flag, rq->extend, rq->flag);
    if (rq->backward) r->last = v->pixels, r->nlast = v->T;
    else r->first = v->pixels, r->nfirst = v->T;
  }
  if (rq->last) {
    if (load_frames(rq, "last", rq->last, H, W, 0, last, hw_last, err)) return -1;
    r->last = last->pixels, r->nlast = last->T;
    if (rq->first && (hw_first[0] != hw_last[0] || hw_first[1] != hw_last[1]))
      return tsr_err(err, "%sfirst %s is %dx%d but %slast %s is %dx%d: the two ends of a connection must be one size",
                     rq->flag, rq->first, hw_first[0], hw_first[1], rq->flag, rq->last, hw_last[0], hw_last[1]);
  }
  if (rq->remix) {
    if (load_frames(rq, "remix", rq->remix, H, W, 0, remix, NULL, err)) return -1;
    if (remix->T < mc->frames)
      return tsr_err(err, "%sremix: %s: has %d frames, the model window needs %d", rq->flag, rq->remix, remix->T,
                     mc->frames);
    r->remix = remix->pixels, r->nremix = remix->T;
  }
  return 0;
}

const char *pipeline_image_conflict(const VideoRequest *rq) {
  if (rq->frames != 1) return NULL;
  return rq->image ? "image" : rq->extend ? "extend" : rq->first ? "first" : rq->last ? "last" : rq->remix ? "remix"
         : rq->loop ? "loop" : rq->keyframe ? "keyframe" : rq->lead || rq->tail || rq->source ? "an input video" : NULL;
}

int pipeline_generate(InferSession *s, const SamplerOptions *so, const VideoRequest *rq, Video *out, TsrErr *err) {
  memset(out, 0, sizeof *out);
  const char *conflict = pipeline_image_conflict(rq);
  if (conflict)
    return tsr_err(err, "%sframes 1 with %s%s: one frame is an image, made from the prompt alone (the edits need a "
                   "video)", rq->flag, rq->flag, conflict);
  const ModelConfig *mc = &s->pixels;  // a latent model: the video its latents decode to
  const int H = mc->height, W = mc->width;
  GenerateRequest r = {.frames = rq->frames, .sampler = *so, .remix_strength = rq->strength > 0 ? rq->strength : 0.7f,
                       .keyframe = rq->keyframe, .context = rq->extend_frames, .loop = rq->loop,
                       .new_only = rq->new_only};
  r.sampler.seed = rq->seed;
  VideoFrames first = {0}, last = {0}, remix = {0};
  int32_t *tokens = tsr_calloc((size_t)mc->text_length, sizeof(int32_t));
  int rc = -1;
  char why[256];
  if (s->gate && safety_gate_check(s->gate, rq->prompt, err)) goto done;  // before anything is read or sampled
  if (load_inputs(rq, mc, &r, &first, &last, &remix, err)) goto done;
  int nout;
  if ((s->codec ? latent_output_frames(s->codec, &s->model.cfg, &r, &nout, why, sizeof why)
               : generate_output_frames(mc, &r, &nout, why, sizeof why)) != 0) {
    tsr_err(err, "%s", why);
    goto done;
  }
  if (generate_frames_fit(mc, nout, watch_upscale_factor(H, rq->upscale), mem_available(), why, sizeof why)) {
    tsr_err(err, "%sframes %d: %s", rq->flag, nout, why);
    goto done;
  }
  const int ntokens = infer_encode(s, rq->prompt, tokens, rq->what, err);
  if (ntokens < 0) goto done;
  out->frames = tsr_calloc((size_t)nout * H * W * 3, 1);
  out->n = nout, out->H = H, out->W = W;
  double t0 = timer_now();
  if ((s->codec ? latent_generate_video(&s->model, s->codec, tokens, ntokens, &r, out->frames, why, sizeof why)
               : generate_video(&s->model, tokens, ntokens, &r, out->frames, why, sizeof why)) != 0) {
    tsr_err(err, "%s", why);
    pipeline_video_free(out);
    goto done;
  }
  out->seconds = timer_now() - t0;
  rc = 0;
done:
  video_frames_free(&first);
  video_frames_free(&last);
  video_frames_free(&remix);
  tsr_free(tokens);
  return rc;
}

void pipeline_video_free(Video *v) {
  tsr_free(v->frames);
  memset(v, 0, sizeof *v);
}

int pipeline_output_context(OutputContext *oc, const InferSession *s, int use_ema, const char *sampler,
                            const SamplerOptions *so, TsrErr *err) {
  *oc = (OutputContext){.ckpt = s->ckpt, .ckpt_step = (long long)s->state.step, .use_ema = use_ema,
                        .sampler = sampler, .so = so, .ranks = 1, .dp = 1, .sp = 1, .tp = 1};
  if (sha256_file(s->ckpt, oc->ckpt_sha256, NULL) != 0)
    return tsr_err(err, "%s: cannot read the checkpoint back to hash it: %s", s->ckpt, strerror(errno));
  return 0;
}

int pipeline_write(const OutputContext *oc, const VideoRequest *rq, const Video *v, const char *mp4, int render_index,
                   int render_line, WrittenVideo *w, TsrErr *err) {
  memset(w, 0, sizeof *w);
  if (fs_mkdirs_for(mp4) != 0) return tsr_err(err, "%s: cannot create its directory: %s", mp4, strerror(errno));
  const Provenance p = {.prompt = rq->prompt, .seed = rq->seed, .sampler = oc->sampler, .so = oc->so,
                        .frames = v->n, .height = v->H, .width = v->W, .keyframe = rq->keyframe,
                        .image = rq->image, .extend = rq->extend, .first = rq->first, .last = rq->last,
                        .remix = rq->remix, .strength = rq->remix ? (rq->strength > 0 ? rq->strength : 0.7) : 0.0,
                        .ckpt = oc->ckpt, .ckpt_step = oc->ckpt_step, .ckpt_sha256 = oc->ckpt_sha256,
                        .use_ema = oc->use_ema, .ranks = oc->ranks, .dp = oc->dp, .cfg_parallel = oc->cfg_parallel,
                        .sp = oc->sp, .tp = oc->tp, .render_prompts = oc->render_prompts,
                        .render_index = render_index, .render_line = render_line, .seconds = v->seconds};
  StrBuf json = {0};
  provenance_json(&json, &p);
  output_paths(mp4, &w->paths);
  char why[1400];
  int rc = outputs_write(&w->paths, v->frames, v->n, v->H, v->W, watch_upscale_factor(v->H, rq->upscale), json.s,
                         json.n, why, sizeof why);
  sb_free(&json);
  if (rc != 0) return tsr_err(err, "%s", why);
  if (sha256_file(w->paths.mp4, w->sha256, &w->bytes) != 0)
    return tsr_err(err, "%s: cannot read back: %s", w->paths.mp4, strerror(errno));
  return 0;
}
