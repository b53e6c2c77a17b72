// Real videos into a corpus.h5 (datasets/ingest.md; the command is
// `tessera data ingest`, app/cmd_ingest.c).
//
// Every regular, non-hidden file of the video directory (sorted by name, not
// recursive) is tried with FFmpeg; each decodable video is resampled to fps,
// cut into up to K non-overlapping clips of T frames from its start, scaled
// and centre-cropped to the size bucket closest to its aspect ratio, measured
// by the recaptioner and written through the CorpusWriter. Captions come from
// a JSONL sidecar (data/captions.h); a video without one gets a caption from
// the recaptioner. A single undecodable or too-short video is a warning and a
// count in the stats.
#pragma once

#include "core/error.h"

enum { INGEST_MAX_SIZES = 32 };

typedef struct {
  const char *videos, *captions, *out;  // captions may be NULL
  int T;
  int nsizes;
  int size[INGEST_MAX_SIZES][2];  // H, W of each bucket
  // Frames of each bucket (0: T). With several lengths for one H x W, a video
  // of that aspect goes to the longest that its decoded frames fill
  // (docs/choices.md "Native sizes"): buckets are (aspect, length) pairs.
  int frames[INGEST_MAX_SIZES];
  float fps;
  int pt, ph, pw;
  int text_length;
  int clips_per_video;  // 0: as many as fit
} IngestOptions;

typedef struct {
  int files, videos, undecodable, too_short;
  long clips, frames;
  long bucket_clips[INGEST_MAX_SIZES];
  double decode_s;
} IngestStats;

// Defaults of the command's optional flags: fps 8, patch 2x4x4, text length
// 32, 4 clips per video.
void ingest_defaults(IngestOptions *o);
// Writes o->out (o->out.tmp, renamed at the end). 0, or -1 with one line in
// err (a bad sidecar, no video, nothing long enough, a write failure); no
// .tmp is left behind.
int ingest_run(const IngestOptions *o, IngestStats *st, TsrErr *err);
