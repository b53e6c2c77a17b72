// Batch rendering: a prompt list (JSON Lines or YAML) read into items, and one
// item rendered to MP4 + PNG contact sheet + JSON provenance, as `generate`
// writes them. Errors of one item never end the batch: they come back as a
// message for the manifest (docs/render.md).
#pragma once
#include <stdint.h>

#include "comm/comm.h"
#include "infer/pipeline.h"
#include "infer/session.h"

// One prompt of the list. Paths are resolved against the prompt file's folder.
typedef struct {
  int index;            // 0-based position in the list
  int line;             // 1-based line in the prompt file
  char *prompt;
  char *id;             // optional output name (default item<index>)
  long long seed;       // -1: the batch seed + index
  int frames;           // 0: the model window
  int height, width;    // 0: the model size (must equal it when given)
  char *image, *extend, *first, *last, *remix;  // conditioning inputs (NULL: none)
  float strength;       // remix strength (0: default 0.7)
  int extend_frames;    // 0: half a window
  int backward, loop, new_only;  // edits (generate's --backward, --loop, --new-only): 0 or 1
  char error[512];      // non-empty: the item is malformed ("file:line: ...") and fails
} RenderItem;

typedef struct {
  RenderItem *items;
  int n;
  char path[1024];
  char sha256[65];      // of the file's bytes
} PromptList;

// Read PATH: JSON Lines (one object per line; blank and '#' lines skipped) when
// it ends in .jsonl/.json or starts with '{', else YAML (a list of mappings or
// of plain prompt strings, or a mapping with a `prompts:` list). A malformed
// item becomes an item with `error` set; a file that cannot be read, is not
// YAML at all, is empty or names one output twice returns -1 with err.
int prompt_list_read(const char *path, PromptList *pl, TsrErr *err);
void prompt_list_free(PromptList *pl);

typedef struct {
  SamplerFlags flags;     // unset: the checkpoint's; item i without a seed uses seed + i
  int upscale;            // 0: to >= 256 px
  int use_ema;
  const char *ckpt;
  char ckpt_sha256[65];
  const char *prompts;    // the prompt list (named in the provenance record)
  // Distributed generation (infer/dist.h): every rank of a replica calls
  // render_item for the same item; only the writer writes the outputs.
  int writer;             // 1: write the MP4, sheet and provenance (a single rank always does)
  CommGroup *cfg_group;   // CFG-parallel branch pair, or NULL
  struct { int ranks, dp, cfg, sp, tp; } layout;  // for the provenance record
} RenderSettings;

typedef struct {
  WrittenVideo out;       // the MP4 (its SHA-256 and size), sheet and provenance
  double seconds;
  int frames;
} RenderResult;

// Key of an item under the settings (hex SHA-256 of both): the manifest's
// test that a finished output still answers the same request.
void render_item_key(const RenderItem *it, const RenderSettings *rs, char key[65]);
// Output MP4 path of the item in DIR.
void render_output_path(const RenderItem *it, const char *dir, char *path, int len);
// Render one item into DIR through the generation pipeline (infer/pipeline.h).
// Returns 0, or -1 with a one-line reason in err (a missing conditioning file,
// a size the model cannot make, ...). On a rank that is not the writer, only
// the generation runs (res->out.paths.mp4 is named).
int render_item(InferSession *s, const RenderItem *it, const RenderSettings *rs, const char *dir, RenderResult *res,
                TsrErr *err);
