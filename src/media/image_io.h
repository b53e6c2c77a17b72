// PNG images (libpng) and a tiny bitmap font for labels on contact sheets.
#pragma once
#include <stdint.h>

// Write RGB [H,W,3] to PATH (PATH.tmp then rename). Returns 0 or -1 with err.
int png_write_rgb(const char *path, const uint8_t *rgb, int H, int W, char *err, int errlen);
// The same with one iTXt chunk KEY = TEXT (UTF-8; key: 1-79 Latin-1 characters).
int png_write_rgb_text(const char *path, const uint8_t *rgb, int H, int W, const char *key, const char *text, char *err,
                       int errlen);
// Read PATH as RGB (palette/gray/alpha converted); *rgb malloc'ed [H,W,3].
int png_read_rgb(const char *path, uint8_t **rgb, int *H, int *W, char *err, int errlen);
// Draw ASCII text (5x7 font, scale s) at (x,y) in colour rgb; clipped to the image.
void draw_text(uint8_t *img, int H, int W, int x, int y, int s, const uint8_t rgb[3], const char *text);
