// PNG read/write through libpng, and a 5x7 bitmap font for labels.
#include "media/image_io.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- PNG

typedef struct {
  jmp_buf jmp;
  char msg[200];
} PngErr;

static void png_on_error(png_structp png, png_const_charp msg) {
  PngErr *e = png_get_error_ptr(png);
  snprintf(e->msg, sizeof e->msg, "%s", msg);
  longjmp(e->jmp, 1);
}
static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

int png_write_rgb(const char *path, const uint8_t *rgb, int H, int W, char *err, int errlen) {
  return png_write_rgb_text(path, rgb, H, W, NULL, NULL, err, errlen);
}

int png_write_rgb_text(const char *path, const uint8_t *rgb, int H, int W, const char *key, const char *text, char *err,
                       int errlen) {
  size_t n = strlen(path);
  // volatile: GCC's -Wclobbered (at -O1 with sanitizers) cannot see that tmp is
  // never changed after setjmp below.
  char *volatile tmp = malloc(n + 5);
  if (!tmp) { snprintf(err, (size_t)errlen, "out of memory"); return -1; }
  memcpy(tmp, path, n);
  memcpy(tmp + n, ".tmp", 5);
  FILE *volatile fp = NULL;
  png_structp png = NULL;
  png_infop info = NULL;
  png_bytep *volatile rows = NULL;
  PngErr e = {.msg = ""};
  if (H <= 0 || W <= 0) { snprintf(err, (size_t)errlen, "%s: empty image %dx%d", path, W, H); goto fail; }
  fp = fopen(tmp, "wb");
  if (!fp) { snprintf(err, (size_t)errlen, "%s: cannot create (is the directory writable?)", tmp); goto fail; }
  png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &e, png_on_error, png_on_warning);
  info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) { snprintf(err, (size_t)errlen, "%s: libpng initialisation failed", path); goto fail; }
  if (setjmp(e.jmp)) { snprintf(err, (size_t)errlen, "%s: %s", path, e.msg); goto fail; }
  png_init_io(png, fp);
  png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 6);
  if (key) {  // iTXt: UTF-8, uncompressed (readable with any PNG tool)
    png_text t = {.compression = PNG_ITXT_COMPRESSION_NONE, .key = (png_charp)key, .text = (png_charp)text,
                  .itxt_length = strlen(text), .lang = (png_charp) "", .lang_key = (png_charp) ""};
    png_set_text(png, info, &t, 1);
  }
  rows = malloc((size_t)H * sizeof *rows);
  if (!rows) { snprintf(err, (size_t)errlen, "out of memory"); goto fail; }
  for (int y = 0; y < H; y++) rows[y] = (png_bytep)(rgb + (size_t)y * W * 3);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(rows);
  rows = NULL;
  int close_rc = fclose(fp);
  fp = NULL;
  if (close_rc != 0) { snprintf(err, (size_t)errlen, "%s: write failed (disk full?)", tmp); goto fail; }
  if (rename(tmp, path) != 0) { snprintf(err, (size_t)errlen, "%s: cannot rename %s into place", path, tmp); goto fail; }
  free(tmp);
  return 0;
fail:
  if (png) png_destroy_write_struct(&png, info ? &info : NULL);
  free(rows);
  if (fp) fclose(fp);
  remove(tmp);
  free(tmp);
  return -1;
}

int png_read_rgb(const char *path, uint8_t **rgb, int *H, int *W, char *err, int errlen) {
  *rgb = NULL;
  FILE *fp = fopen(path, "rb");
  if (!fp) { snprintf(err, (size_t)errlen, "%s: cannot open", path); return -1; }
  unsigned char sig[8];
  if (fread(sig, 1, 8, fp) != 8 || png_sig_cmp(sig, 0, 8)) {
    fclose(fp);
    snprintf(err, (size_t)errlen, "%s: not a PNG file", path);
    return -1;
  }
  PngErr e = {.msg = ""};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &e, png_on_error, png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  uint8_t *volatile img = NULL;
  png_bytep *volatile rows = NULL;
  if (!png || !info) {
    snprintf(err, (size_t)errlen, "%s: libpng initialisation failed", path);
    goto fail;
  }
  if (setjmp(e.jmp)) {
    snprintf(err, (size_t)errlen, "%s: %s (truncated or corrupt PNG?)", path, e.msg);
    goto fail;
  }
  png_init_io(png, fp);
  png_set_sig_bytes(png, 8);
  png_set_user_limits(png, 1 << 15, 1 << 15);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int ct = png_get_color_type(png, info);
  // Everything to 8-bit RGB: palette -> RGB, gray < 8 bit -> 8 bit, tRNS ->
  // alpha (then dropped), 16 -> 8 bit, gray -> RGB, alpha dropped.
  if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (ct == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_set_strip_16(png);
  if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != (size_t)w * 3) png_error(png, "unexpected row layout after conversion");
  img = malloc((size_t)w * h * 3);
  rows = malloc((size_t)h * sizeof *rows);
  if (!img || !rows) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < h; y++) rows[y] = img + (size_t)y * w * 3;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  free(rows);
  fclose(fp);
  *rgb = img;
  *H = (int)h;
  *W = (int)w;
  return 0;
fail:
  if (png) png_destroy_read_struct(&png, info ? &info : NULL, NULL);
  free(img);
  free(rows);
  fclose(fp);
  return -1;
}

// ---------------------------------------------------------------- 5x7 font

// Printable ASCII 32..126, 7 rows of 5 columns each ('#' ink, '.' paper).
static const char FONT[95][7][6] = {
    {".....", ".....", ".....", ".....", ".....", ".....", "....."},  // space
    {"..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."},  // !
    {".#.#.", ".#.#.", ".#.#.", ".....", ".....", ".....", "....."},  // "
    {".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."},  // #
    {"..#..", ".####", "#.#..", ".###.", "..#.#", "####.", "..#.."},  // $
    {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"},  // %
    {".##..", "#..#.", "#.#..", ".#...", "#.#.#", "#..#.", ".##.#"},  // &
    {"..#..", "..#..", ".#...", ".....", ".....", ".....", "....."},  // '
    {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."},  // (
    {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."},  // )
    {".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#..", "....."},  // *
    {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."},  // +
    {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."},  // ,
    {".....", ".....", ".....", "#####", ".....", ".....", "....."},  // -
    {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},  // .
    {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."},  // /
    {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},  // 0
    {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},  // 1
    {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},  // 2
    {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."},  // 3
    {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},  // 4
    {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},  // 5
    {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},  // 6
    {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},  // 7
    {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},  // 8
    {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},  // 9
    {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."},  // :
    {".....", ".##..", ".##..", ".....", ".##..", "..#..", ".#..."},  // ;
    {"...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."},  // <
    {".....", ".....", "#####", ".....", "#####", ".....", "....."},  // =
    {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."},  // >
    {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."},  // ?
    {".###.", "#...#", "....#", ".##.#", "#.#.#", "#.#.#", ".###."},  // @
    {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},  // A
    {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."},  // B
    {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},  // C
    {"###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."},  // D
    {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},  // E
    {"#####", "#....", "#....", "####.", "#....", "#....", "#...."},  // F
    {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"},  // G
    {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},  // H
    {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},  // I
    {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."},  // J
    {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"},  // K
    {"#....", "#....", "#....", "#....", "#....", "#....", "#####"},  // L
    {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"},  // M
    {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"},  // N
    {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},  // O
    {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},  // P
    {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"},  // Q
    {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},  // R
    {".####", "#....", "#....", ".###.", "....#", "....#", "####."},  // S
    {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},  // T
    {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},  // U
    {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."},  // V
    {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."},  // W
    {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"},  // X
    {"#...#", "#...#", "#...#", ".#.#.", "..#..", "..#..", "..#.."},  // Y
    {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"},  // Z
    {".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###."},  // [
    {".....", "#....", ".#...", "..#..", "...#.", "....#", "....."},  // backslash
    {".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###."},  // ]
    {"..#..", ".#.#.", "#...#", ".....", ".....", ".....", "....."},  // ^
    {".....", ".....", ".....", ".....", ".....", ".....", "#####"},  // _
    {".#...", "..#..", "...#.", ".....", ".....", ".....", "....."},  // `
    {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"},  // a
    {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####."},  // b
    {".....", ".....", ".###.", "#....", "#....", "#...#", ".###."},  // c
    {"....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"},  // d
    {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."},  // e
    {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."},  // f
    {".....", ".####", "#...#", "#...#", ".####", "....#", ".###."},  // g
    {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"},  // h
    {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."},  // i
    {"...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.."},  // j
    {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."},  // k
    {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},  // l
    {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"},  // m
    {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"},  // n
    {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."},  // o
    {".....", ".....", "####.", "#...#", "####.", "#....", "#...."},  // p
    {".....", ".....", ".##.#", "#..##", ".####", "....#", "....#"},  // q
    {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."},  // r
    {".....", ".....", ".###.", "#....", ".###.", "....#", "####."},  // s
    {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."},  // t
    {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"},  // u
    {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."},  // v
    {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."},  // w
    {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"},  // x
    {".....", ".....", "#...#", "#...#", ".####", "....#", ".###."},  // y
    {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"},  // z
    {"...#.", "..#..", "..#..", ".#...", "..#..", "..#..", "...#."},  // {
    {"..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},  // |
    {".#...", "..#..", "..#..", "...#.", "..#..", "..#..", ".#..."},  // }
    {".....", ".....", ".#...", "#.#.#", "...#.", ".....", "....."},  // ~
};

// One glyph cell is 6 x 8 font pixels (a column and a row of spacing), times s.
// '\n' starts a new line; a non-ASCII UTF-8 character is drawn as one '?'.
void draw_text(uint8_t *img, int H, int W, int x, int y, int s, const uint8_t rgb[3], const char *text) {
  if (!img || !text || s < 1) return;
  int cx = x, cy = y;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    unsigned ch = *p;
    if (ch == '\n') { cx = x; cy += 8 * s; continue; }
    if ((ch & 0xC0) == 0x80) continue;  // UTF-8 continuation byte: already drawn as '?'
    if (ch >= 0x80 || ch < 32 || ch > 126) ch = '?';
    const char(*g)[6] = FONT[ch - 32];
    for (int r = 0; r < 7; r++)
      for (int c = 0; c < 5; c++) {
        if (g[r][c] != '#') continue;
        for (int dy = 0; dy < s; dy++) {
          int yy = cy + r * s + dy;
          if (yy < 0 || yy >= H) continue;
          for (int dx = 0; dx < s; dx++) {
            int xx = cx + c * s + dx;
            if (xx < 0 || xx >= W) continue;
            uint8_t *px = img + ((size_t)yy * W + xx) * 3;
            px[0] = rgb[0], px[1] = rgb[1], px[2] = rgb[2];
          }
        }
      }
    cx += 6 * s;
  }
}
