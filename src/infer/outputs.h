// The files of one generated video, written together: the MP4 (frames scaled
// up for watching), its PNG contact sheet and its JSON provenance record.
// Each is written under a temporary name (<name>.part) and checked (every
// write, flush and close); the three are renamed into place only once all
// three are complete. On failure (a full disk, an unwritable folder) the
// temporaries are removed and the previous outputs of that name, if any,
// are left as they were.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
  char mp4[1024], sheet[1024], json[1024];
} OutputPaths;

// Whether an output path names an image (.png, any case): a one-frame video
// written as OUT.png (watermarked, its record in an iTXt chunk) and OUT.json,
// no contact sheet (sheet ""), no C2PA manifest (docs/choices.md "Images").
int output_is_image(const char *path);
// OUT.mp4 -> OUT.png and OUT.json (a name without ".mp4" gets both suffixes added).
void output_paths(const char *mp4, OutputPaths *p);
// video [frames,H,W,3] at upscale factor k for the MP4; json: the record's
// text. Returns 0, or -1 with "FILE: cannot write: reason" in err.
int outputs_write(const OutputPaths *p, const uint8_t *video, int frames, int H, int W, int k, const char *json,
                  size_t json_len, char *err, int errlen);
