// Real videos into a corpus.h5 (ingest.h).
#include "data/ingest.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/timer.h"
#include "data/captions.h"
#include "data/corpus.h"
#include "data/recaption.h"
#include "media/video_io.h"

enum { RECAPTION_MAX = 4096 };

void ingest_defaults(IngestOptions *o) {
  memset(o, 0, sizeof *o);
  o->fps = 8.0f;
  o->pt = 2, o->ph = 4, o->pw = 4;
  o->text_length = 32;
  o->clips_per_video = 4;
}

static int blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ') return 0;
  return 1;
}

// ------------------------------------------------------------------ directory

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Files that are never videos (sidecars, corpora, notes), not even tried.
static int not_a_video(const char *name) {
  static const char *const ext[] = {".json", ".jsonl", ".txt", ".md", ".csv", ".tsv", ".yaml", ".yml", ".h5", ".hdf5", ".tmp"};
  size_t n = strlen(name);
  for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
    size_t e = strlen(ext[k]);
    if (n > e && !strcasecmp(name + n - e, ext[k])) return 1;
  }
  return 0;
}

// The candidate files of the directory, sorted (NULL with err if it cannot be opened).
static char **list_videos(const IngestOptions *o, int *count, int *ignored, TsrErr *err) {
  DIR *d = opendir(o->videos);
  if (!d) {
    tsr_err(err, "%s: cannot open the video directory: %s", o->videos, strerror(errno));
    return NULL;
  }
  struct stat cst = {0};
  int have_cst = o->captions && stat(o->captions, &cst) == 0;
  char **names = NULL;
  int n = 0, cap = 0;
  *ignored = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;  // hidden files, . and ..
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", o->videos, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (have_cst && st.st_dev == cst.st_dev && st.st_ino == cst.st_ino) continue;  // the sidecar itself
    if (not_a_video(e->d_name)) {
      (*ignored)++;
      continue;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      names = realloc(names, (size_t)cap * sizeof *names);
      TSR_ASSERT(names, "out of memory");
    }
    names[n] = strdup(e->d_name);
    TSR_ASSERT(names[n], "out of memory");
    n++;
  }
  closedir(d);
  if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
  *count = n;
  if (!names) {  // no file: an empty list, not an error
    names = malloc(sizeof *names);
    TSR_ASSERT(names, "out of memory");
  }
  return names;
}

static int bucket_frames(const IngestOptions *o, int k) { return o->frames[k] ? o->frames[k] : o->T; }

// Images (docs/choices.md "Images") go to the 1-frame buckets and only there;
// a video never becomes stills.
static int is_image_file(const char *name) {
  static const char *const ext[] = {".png", ".jpg", ".jpeg", ".webp", ".bmp"};
  const size_t n = strlen(name);
  for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
    const size_t e = strlen(ext[k]);
    if (n > e && !strcasecmp(name + n - e, ext[k])) return 1;
  }
  return 0;
}
static int kind_of(const IngestOptions *o, int k, int image) { return (bucket_frames(o, k) == 1) == image; }

// The longest bucket of size H x W whose length `avail` frames fill, -1 if none; *longest: the longest of that size.
static int pick_length(const IngestOptions *o, int H, int W, int avail, int image, int *longest) {
  int best = -1;
  *longest = 0;
  for (int k = 0; k < o->nsizes; k++) {
    if (o->size[k][0] != H || o->size[k][1] != W || !kind_of(o, k, image)) continue;
    const int t = bucket_frames(o, k);
    if (t > *longest) *longest = t;
    if (t <= avail && (best < 0 || t > bucket_frames(o, best))) best = k;
  }
  return best;
}

// The bucket whose aspect ratio (W/H) is closest to the video's, on a log scale; ties: the first given.
static int pick_bucket(const IngestOptions *o, int H, int W, int image) {
  double a = log((double)W / H);
  int best = -1;
  double bd = 1e30;
  for (int k = 0; k < o->nsizes; k++) {
    if (!kind_of(o, k, image)) continue;
    double d = fabs(a - log((double)o->size[k][1] / o->size[k][0]));
    if (d < bd - 1e-12) bd = d, best = k;
  }
  return best;
}

// The clips of video `name` (already found decodable, frame size vh x vw) into the writer, opened at the first clip.
static int ingest_video(const IngestOptions *o, const char *name, const char *path, const Caption *c, int vh, int vw,
                        CorpusWriter **w, IngestStats *st, char *recap, TsrErr *err) {
  const int K = o->clips_per_video;
  char msg[512], caption_buf[1024];
  // The bucket's size from the stream's frame size (frames are scaled while
  // decoding, video_read_fit); its length from the frames decoded.
  const int image = is_image_file(name);
  int b = pick_bucket(o, vh, vw, image), longest;
  if (b < 0) {
    log_warn("%s: skipped (%s): no %s bucket given", path, image ? "an image" : "a video",
             image ? "1-frame (1xHxW)" : "video");
    st->too_short++;
    return 0;
  }
  const int bh = o->size[b][0], bw = o->size[b][1];
  pick_length(o, bh, bw, 0, image, &longest);
  const int max_frames = K > 0 ? K * longest : 0;
  VideoFrames v;
  double td = timer_now();
  int rc = video_read_fit(path, o->fps, max_frames, bh, bw, &v, msg, sizeof msg);
  st->decode_s += timer_now() - td;
  if (rc) {
    log_warn("%s: skipped (undecodable): %s", path, msg);
    st->undecodable++;
    return 0;
  }
  int shortest = INT_MAX;
  for (int k = 0; k < o->nsizes; k++)
    if (o->size[k][0] == bh && o->size[k][1] == bw && kind_of(o, k, image) && bucket_frames(o, k) < shortest)
      shortest = bucket_frames(o, k);
  if ((b = pick_length(o, bh, bw, v.T, image, &longest)) < 0) {
    log_warn("%s: skipped (too short): %d frames at %g fps, a clip needs %d", path, v.T, (double)o->fps, shortest);
    st->too_short++;
    video_frames_free(&v);
    return 0;
  }
  const int T = bucket_frames(o, b);
  int n = v.T / T;
  if (K > 0 && n > K) n = K;
  const int generated = !c || blank(c->caption);
  for (int k = 0; k < n && rc == 0; k++) {
    VideoFrames sub = {.T = T, .H = v.H, .W = v.W, .fps = v.fps,
                       .pixels = v.pixels + (size_t)k * T * v.H * v.W * 3};
    VideoFrames clip;
    video_resize_crop(&sub, bh, bw, &clip);
    ClipAttributes a;
    recaption_measure(clip.pixels, clip.T, clip.H, clip.W, &a);
    const char *caption;
    if (generated) {
      recaption_short(&a, caption_buf, sizeof caption_buf);
      caption = caption_buf;
    } else {
      caption = c->caption;
    }
    recaption_compose(caption, &a, recap, RECAPTION_MAX);
    if (!*w && !(*w = corpus_writer_open(o->out, o->pt, o->ph, o->pw, 3, o->text_length, err))) rc = -1;
    CorpusClip cc = {.pixels = clip.pixels, .caption = caption, .recaption = recap, .source = name, .fps = v.fps};
    if (rc == 0) rc = corpus_writer_add(*w, T, bh, bw, &cc, err);
    video_frames_free(&clip);
  }
  if (rc == 0) {
    log_info("  %s: %dx%d, %d frames at %g fps -> %d clip%s of %dx%dx%d%s", name, vw, vh, v.T, (double)v.fps, n,
             n == 1 ? "" : "s", T, bh, bw, generated ? " (generated caption)" : "");
    st->videos++;
    st->clips += n;
    st->frames += (long)n * T;
    st->bucket_clips[b] += n;
  }
  video_frames_free(&v);
  return rc;
}

// Every file of the list through ingest_video; the writer closed (renamed) at the end, or given up on an error.
static int ingest_files(const IngestOptions *o, char **names, int nfiles, Captions *caps, IngestStats *st, TsrErr *err) {
  CorpusWriter *w = NULL;
  char msg[512], path[PATH_MAX];
  char *recap = malloc(RECAPTION_MAX);
  TSR_ASSERT(recap, "out of memory");
  int rc = 0;
  for (int f = 0; f < nfiles && rc == 0; f++) {
    snprintf(path, sizeof path, "%s/%s", o->videos, names[f]);
    Caption *c = captions_find(caps, names[f]);
    if (c) c->used = 1;
    int vh = 0, vw = 0;
    double td = timer_now();
    if (video_probe(path, &vh, &vw, msg, sizeof msg)) {
      st->decode_s += timer_now() - td;
      log_warn("%s: skipped (undecodable): %s", path, msg);
      st->undecodable++;
      continue;
    }
    st->decode_s += timer_now() - td;
    rc = ingest_video(o, names[f], path, c, vh, vw, &w, st, recap, err);
  }
  free(recap);
  if (rc) {
    corpus_writer_abort(w);
    return -1;
  }
  int shortest = INT_MAX;
  for (int k = 0; k < o->nsizes; k++)
    if (bucket_frames(o, k) < shortest) shortest = bucket_frames(o, k);
  if (!w)
    return tsr_err(err, "%s: no decodable video long enough for a clip (%d file%s tried: %d undecodable, %d shorter "
                   "than %d frames at %g fps)", o->videos, nfiles, nfiles == 1 ? "" : "s", st->undecodable,
                   st->too_short, shortest, (double)o->fps);
  return corpus_writer_close(w, err);
}

static void warn_unused(const IngestOptions *o, const Captions *caps) {
  int unused = 0, first_unused = -1;
  for (int k = 0; k < caps->n; k++)
    if (!caps->v[k].used) {
      unused++;
      if (first_unused < 0) first_unused = k;
    }
  if (unused)
    log_warn("%s: %d caption%s matched no video in %s (first: line %d, \"%s\")", o->captions, unused,
             unused == 1 ? "" : "s", o->videos, caps->v[first_unused].line, caps->v[first_unused].path);
}

int ingest_run(const IngestOptions *o, IngestStats *st, TsrErr *err) {
  memset(st, 0, sizeof *st);
  // first, so a long run does not end in "cannot create"
  if (corpus_writer_check_path(o->out, err)) return -1;
  Captions caps = {0};
  if (o->captions && captions_load(o->captions, &caps, err)) return -1;
  struct stat vst;
  int rc = 0, nfiles = 0, ignored = 0;
  char **names = NULL;
  if (stat(o->videos, &vst) != 0)
    rc = tsr_err(err, "%s: cannot open the video directory: %s", o->videos, strerror(errno));
  else if (!S_ISDIR(vst.st_mode))
    rc = tsr_err(err, "%s: expected a directory of videos (--videos)", o->videos);
  else if (!(names = list_videos(o, &nfiles, &ignored, err)))
    rc = -1;
  else if (nfiles == 0)
    rc = tsr_err(err, "%s: no video files in the directory (%s)", o->videos,
                 ignored ? "only sidecar or data files" : "it is empty or holds only hidden files");
  st->files = nfiles;
  if (rc == 0) rc = ingest_files(o, names, nfiles, &caps, st, err);
  if (rc == 0) warn_unused(o, &caps);
  captions_free(&caps);
  for (int f = 0; f < nfiles; f++) free(names[f]);
  free(names);
  return rc;
}
