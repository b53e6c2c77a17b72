#include "infer/generate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "kernels/ops.h"

// uint8 RGB frames [T,H,W,C] -> patches [N,P] in [-1,1].
static void pixels_to_patches(const ModelConfig *c, const uint8_t *px, float *video, float *patches) {
  const size_t n = (size_t)c->frames * c->height * c->width * c->channels;
  for (size_t i = 0; i < n; i++) video[i] = (float)px[i] / 127.5f - 1.0f;
  patchify(patches, video, 1, c->frames, c->height, c->width, c->channels, c->pt, c->ph, c->pw);
}

static void patches_to_pixels(const ModelConfig *c, const float *patches, float *video, uint8_t *px) {
  unpatchify(video, patches, 1, c->frames, c->height, c->width, c->channels, c->pt, c->ph, c->pw);
  const size_t n = (size_t)c->frames * c->height * c->width * c->channels;
  for (size_t i = 0; i < n; i++) {
    float v = (video[i] + 1.0f) * 127.5f;
    px[i] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v + 0.5f);
  }
}

static const FrameSpace PIXELS = {0, pixels_to_patches, patches_to_pixels};

// the keyframe pass's second sampling draws noise apart from the first's and
// from the windows of a long video (seed + w)
enum { KEYFRAME_SEED_OFFSET = 1000003 };

static int default_overlap(const ModelConfig *c) { return (c->frames / 2) / c->pt * c->pt; }
static int round_up(int n, int k) { return (n + k - 1) / k * k; }

// Where everything lies on the canvas [first: na][made][last: nb] (docs/choices.md "Edits").
typedef struct {
  int na, ka;       // canvas frames of `first` (an image: pt copies) and how many of its last condition
  int nb, kb;       // of `last` (a loop: the clip's first kb frames, copied after the bridge)
  int made;         // frames made between them: whole temporal patches
  int out_from, out_n;  // the output: canvas frames [out_from, out_from + out_n)
  int bridge;       // loop: the bridge window's new frames (the clip is made - bridge)
  int overlap;      // frames shared by consecutive windows
} Plan;

#define FAIL(...) (snprintf(err, (size_t)errlen, __VA_ARGS__), -1)

// A video input's conditioning frames: `context`, or the default (half a
// window for one input, a quarter each for two), whole temporal patches.
static int input_context(const ModelConfig *c, const GenerateRequest *r, int two) {
  if (r->context) return r->context;
  const int k = (c->frames / (two ? 4 : 2)) / c->pt * c->pt;
  return k < c->pt ? c->pt : k;
}

static int plan_request(const ModelConfig *c, const GenerateRequest *r, Plan *p, char *err, int errlen) {
  const int T = c->frames, pt = c->pt;
  memset(p, 0, sizeof *p);
  p->overlap = r->overlap > 0 ? r->overlap : default_overlap(c);
  if (T > pt && (p->overlap <= 0 || p->overlap >= T || p->overlap % pt))  // (one temporal patch, an image: no overlap)
    return FAIL("overlap %d: expected a multiple of the temporal patch %d below the window %d", p->overlap, pt, T);
  if (r->remix) {  // the whole source (or its first `frames`), window by window
    const int n = r->frames ? r->frames : r->nremix;
    if (n > r->nremix) return FAIL("frames %d: the remix source has %d", n, r->nremix);
    if (n < T) return FAIL("frames %d: a remix covers at least the model window %d", n, T);
    p->made = round_up(n, pt), p->out_n = n;
    return 0;
  }
  const int img_a = r->nfirst == 1, img_b = r->nlast == 1, two = (r->nfirst && r->nlast) || r->loop;
  const int video_in = r->nfirst > 1 || r->nlast > 1, k = input_context(c, r, two);
  p->na = img_a ? pt : r->nfirst, p->nb = img_b ? pt : r->nlast;
  p->ka = !r->nfirst ? 0 : img_a ? pt : k;
  p->kb = r->loop ? k : !r->nlast ? 0 : img_b ? pt : k;
  if (k % pt || (r->nfirst > 1 && p->ka > r->nfirst) || (r->nlast > 1 && p->kb > r->nlast) ||
      p->ka + p->kb >= T)
    return FAIL("conditioning frames %d: expected whole temporal patches of %d, at most an input's length, "
                "below the window %d in all",
                k, pt, T);
  if (r->loop) {  // [clip][bridge][copy of the clip's first kb]
    if (r->nlast || r->nfirst > 1) return FAIL("a loop starts from nothing or an image: its end leads into its start");
    p->bridge = T - 2 * k, p->nb = k;
    const int n = r->frames ? r->frames : T + p->bridge;
    if (n % pt || n - p->bridge < T)
      return FAIL("frames %d: a loop is whole temporal patches of %d, at least %d (a window and a bridge of %d)", n,
                  pt, T + p->bridge, p->bridge);
    p->made = n - p->na;
    p->out_from = r->new_only ? p->na : 0, p->out_n = n - p->out_from;
    return 0;
  }
  const int given = video_in ? 0 : (img_a ? pt : 0) + (img_b ? pt : 0);  // images count in `frames`
  const int want = r->frames ? r->frames - given : video_in ? T - p->ka - p->kb : T - given;
  if (r->nfirst && r->nlast) {  // a connection: nothing to trim between the two
    if (want % pt || want < 0) return FAIL("frames %d: the frames between two inputs are whole temporal patches of %d", want, pt);
    p->made = want;
  } else {
    p->made = round_up(want < 0 ? 0 : want, pt);
  }
  if (p->ka + p->made + p->kb < T) {
    if (!video_in) return FAIL("frames %d: expected at least the model window %d", r->frames, T);
    return FAIL("frames %d: at least %d new frames fill a window of %d with %d conditioning frames", r->frames,
                T - p->ka - p->kb, T, p->ka + p->kb);
  }
  const int front = !r->nfirst && r->nlast ? p->made - want : 0, back = p->made - want - front;  // extra, trimmed
  if (r->new_only)
    p->out_from = p->na + front, p->out_n = want;
  else
    p->out_from = front, p->out_n = p->na + p->made + p->nb - front - back;
  return 0;
}

int generate_output_frames(const ModelConfig *c, const GenerateRequest *r, int *n, char *err, int errlen) {
  Plan p;
  if (plan_request(c, r, &p, err, errlen)) return -1;
  *n = p.out_n;
  return 0;
}

int generate_frames_fit(const ModelConfig *c, int frames, int k, uint64_t mem, char *err, int errlen) {
  const int T = c->frames, step = T - default_overlap(c);
  const double per_frame = 3.0 * c->height * c->width * (1.0 + (double)k * k);  // frames + upscaled copy
  long max_windows = T + (long)(GENERATE_MAX_WINDOWS - 1) * step, fits = (long)((double)mem / per_frame);
  fits = fits < T ? 0 : T + (fits - T) / step * step;
  if (frames <= max_windows && frames <= fits) return 0;
  if (max_windows <= fits)
    snprintf(err, (size_t)errlen, "at most %ld frames (a long video is at most %d windows of %d frames, each %d after the last)",
             max_windows, GENERATE_MAX_WINDOWS, T, step);
  else
    snprintf(err, (size_t)errlen,
             "at most %ld frames here: the video and its x%d upscale for the MP4 take %.0f KB a frame, and %.2f GB is available",
             fits, k, per_frame / 1e3, (double)mem / 1e9);
  return -1;
}

// The canvas and the sampling state shared by its windows.
typedef struct {
  Model *m;
  const FrameSpace *space;
  const int32_t *tokens;
  int ntokens;
  SamplerOptions so;      // the request's; seed + w for window w
  uint8_t *px, *known;    // [L] frames of space->frame bytes, [L] 1 where given or made
  const uint8_t *source;  // remix: [L] frames, the video noised to t0 for the frames not known (NULL: noise)
  float t0;
  int windows;            // sampled so far
  uint8_t *window;        // scratch [T,H,W,3]
  float *video, *x_src, *x;
} Canvas;

// Sample the window at canvas frames [at, at+T): its latent frames all known
// enter clean; the others are made and written to the canvas.
static int fill_window(Canvas *cv, int at, char *err, int errlen) {
  const ModelConfig *c = &cv->m->cfg;
  const int T = c->frames, pt = c->pt;
  const size_t frame = cv->space->frame;
  uint8_t cond[256] = {0};
  TSR_ASSERT(c->grid_t <= 256, "grid_t %d > 256", c->grid_t);
  int unknown = 0;
  for (int g = 0; g < T / pt; g++) {
    int n = 0;
    for (int f = g * pt; f < (g + 1) * pt; f++) n += cv->known[at + f];
    if (n && n != pt) return FAIL("window at frame %d: latent frame %d is partly given (%d of %d frames)", at, g, n, pt);
    cond[g] = n == pt, unknown += n == 0;
  }
  for (int f = 0; f < T; f++) {
    const uint8_t *src = cv->known[at + f] ? cv->px + (size_t)(at + f) * frame
                         : cv->source      ? cv->source + (size_t)(at + f) * frame
                                           : NULL;
    if (src) memcpy(cv->window + (size_t)f * frame, src, frame);
    else memset(cv->window + (size_t)f * frame, 0, frame);
  }
  if (!unknown) return 0;
  SamplerOptions so = cv->so;
  so.t0 = cv->source ? cv->t0 : 1.0f;
  so.seed = cv->so.seed + (uint64_t)cv->windows++;  // fresh noise per window
  cv->space->to_patches(c, cv->window, cv->video, cv->x_src);
  int32_t ntok = cv->ntokens;
  sample_flow(cv->m, &so, 1, cv->tokens, &ntok, cond, cv->x_src, cv->x);
  cv->space->from_patches(c, cv->x, cv->video, cv->window);
  for (int f = 0; f < T; f++)
    if (!cv->known[at + f]) {
      memcpy(cv->px + (size_t)(at + f) * frame, cv->window + (size_t)f * frame, frame);
      cv->known[at + f] = 1;
    }
  return 0;
}

// Windows from `from` forward until one ends at `to` (the last one may share
// more than the overlap with the one before), or backward from `to - T` down to `from`.
static int fill_forward(Canvas *cv, int from, int to, int step, char *err, int errlen) {
  const int T = cv->m->cfg.frames;
  for (int p = from;; p = p + step < to - T ? p + step : to - T) {
    if (fill_window(cv, p, err, errlen)) return -1;
    if (p + T >= to) return 0;
  }
}
static int fill_backward(Canvas *cv, int from, int to, int step, char *err, int errlen) {
  const int T = cv->m->cfg.frames;
  for (int p = to - T;; p = p - step > from ? p - step : from) {
    if (fill_window(cv, p, err, errlen)) return -1;
    if (p <= from) return 0;
  }
}

// Put an input on the canvas at `at` (an image: pt copies), known.
static void put(Canvas *cv, const uint8_t *src, int n, int at, int copies, size_t frame) {
  for (int f = 0; f < copies; f++) {
    memcpy(cv->px + (size_t)(at + f) * frame, src + (size_t)(n == 1 ? 0 : f) * frame, frame);
    cv->known[at + f] = 1;
  }
}

static int run_plan(Canvas *cv, const GenerateRequest *r, const Plan *p, char *err, int errlen) {
  const ModelConfig *c = &cv->m->cfg;
  const int T = c->frames, step = T - p->overlap, L = p->na + p->made + p->nb;
  const size_t frame = cv->space->frame;
  if (r->nfirst) put(cv, r->first, r->nfirst, 0, p->na, frame);
  if (r->nlast) put(cv, r->last, r->nlast, p->na + p->made, p->nb, frame);
  if (r->remix || (!r->nfirst && !r->nlast && !r->loop)) return fill_forward(cv, 0, L, step, err, errlen);
  if (r->loop) {  // the clip, then the bridge from its end into its start
    const int clip = L - p->nb - p->bridge;
    if (fill_forward(cv, 0, clip, step, err, errlen)) return -1;
    put(cv, cv->px, p->nb, clip + p->bridge, p->nb, frame);
    return fill_window(cv, L - T, err, errlen);
  }
  if (!r->nfirst) return fill_backward(cv, 0, p->made + p->kb, step, err, errlen);
  return fill_forward(cv, p->na - p->ka, p->na + p->made + p->kb, step, err, errlen);
}

int generate_video(Model *m, const int32_t *tokens, int ntokens, const GenerateRequest *r, uint8_t *out, char *err,
                   int errlen) {
  FrameSpace px = PIXELS;
  px.frame = (size_t)m->cfg.height * m->cfg.width * m->cfg.channels;
  return generate_canvas(m, &px, tokens, ntokens, r, out, err, errlen);
}

int generate_canvas(Model *m, const FrameSpace *space, const int32_t *tokens, int ntokens, const GenerateRequest *r,
                    uint8_t *out, char *err, int errlen) {
  const ModelConfig *c = &m->cfg;
  const int T = c->frames;
  const size_t frame = space->frame, NP = (size_t)c->tokens * c->patch_dim;
  Plan p;
  if (plan_request(c, r, &p, err, errlen)) return -1;
  if (r->keyframe && !r->nfirst && !r->nlast && !r->remix && !r->loop) {
    GenerateRequest pass1 = *r, pass2 = *r;
    pass1.frames = T;
    pass1.keyframe = pass2.keyframe = 0;
    uint8_t *clip = tsr_calloc((size_t)T * frame, 1);
    int rc = generate_canvas(m, space, tokens, ntokens, &pass1, clip, err, errlen);
    pass2.first = clip;  // its first frame, as an image
    pass2.nfirst = 1;
    pass2.sampler.seed = r->sampler.seed + KEYFRAME_SEED_OFFSET;
    if (rc == 0) rc = generate_canvas(m, space, tokens, ntokens, &pass2, out, err, errlen);
    tsr_free(clip);
    return rc;
  }
  const int L = p.na + p.made + p.nb;
  Canvas cv = {.m = m, .space = space, .tokens = tokens, .ntokens = ntokens, .so = r->sampler, .t0 = r->remix_strength,
               .px = tsr_calloc((size_t)L * frame, 1), .known = tsr_calloc((size_t)L, 1),
               .window = tsr_calloc((size_t)T * frame, 1),
               .video = tsr_calloc((size_t)T * c->height * c->width * c->channels, sizeof(float)),
               .x_src = tsr_calloc(NP, sizeof(float)), .x = tsr_calloc(NP, sizeof(float))};
  uint8_t *source = NULL;
  if (r->remix) {  // the source padded to whole temporal patches by repeating its last frame
    const int n = p.out_n;
    source = tsr_calloc((size_t)L * frame, 1);
    memcpy(source, r->remix, (size_t)n * frame);
    for (int f = n; f < L; f++) memcpy(source + (size_t)f * frame, r->remix + (size_t)(n - 1) * frame, frame);
    cv.source = source;
  }
  int rc = run_plan(&cv, r, &p, err, errlen);
  if (rc == 0) memcpy(out, cv.px + (size_t)p.out_from * frame, (size_t)p.out_n * frame);
  tsr_free(source);
  tsr_free(cv.px);
  tsr_free(cv.known);
  tsr_free(cv.window);
  tsr_free(cv.video);
  tsr_free(cv.x_src);
  tsr_free(cv.x);
  return rc;
}
