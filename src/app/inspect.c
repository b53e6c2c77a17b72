// `tessera data inspect FILE [--sheet OUT.png] [--clips K] [--frames F]`:
// what is in a corpus (format, tokenizer, per-bucket counts and shapes,
// caption length statistics, sample captions) and a PNG contact sheet of
// sample clips (K rows of F frames, each row labelled with its short caption).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_error.h"
#include "core/error.h"
#include "app/commands.h"
#include "data/corpus.h"
#include "media/image_io.h"
#include "data/tokenizer.h"

enum { STATS_MAX_CLIPS = 20000, WORDS_MAX = 1 << 16, SHEET_MAX_SIDE = 16384 };

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera data inspect FILE [--sheet OUT.png] [--clips K] [--frames F] [--no-sheet]\n"
          "Prints the corpus format, tokenizer size, and per bucket: clip count, N (tokens per clip),\n"
          "P (values per token), caption and recaption lengths in words (min/mean/max), the share of\n"
          "captions cut at text_length and of words unknown to the vocabulary, and 3 sample captions.\n"
          "Writes a PNG contact sheet: K sample clips (default 4) as rows of F frames (default 8),\n"
          "upscaled, each with its short caption. Default sheet: FILE with .h5 replaced by _sheet.png.\n");
}

static int parse_pos_int(const char *opt, const char *v) {
  char *end;
  long x = strtol(v, &end, 10);
  if (!*v || *end || x < 1 || x > 10000) app_user_error("data inspect: %s: expected a positive integer, found '%s'", opt, v);
  return (int)x;
}

typedef struct {
  int64_t n, words, min, max, truncated, unknown, stored;
} LenStats;

// Every stride-th clip of a bucket goes into the caption statistics (int64: count may be near 2^31).
static int64_t stats_stride(const CorpusBucket *b) {
  return b->count > STATS_MAX_CLIPS ? ((int64_t)b->count + STATS_MAX_CLIPS - 1) / STATS_MAX_CLIPS : 1;
}

// Words per caption (tokenizer rules, independent of text_length), captions
// longer than text_length, and words outside the vocabulary.
static void caption_stats(const Corpus *c, const CorpusBucket *b, const Tokenizer *tok, int which, int32_t *buf, LenStats *s) {
  memset(s, 0, sizeof *s);
  s->min = INT64_MAX;
  const int64_t stride = stats_stride(b);
  for (int64_t i = 0; i < b->count; i += stride) {
    TsrErr err;
    char *text = corpus_read_caption(c, b, (int)i, which, &err);
    if (!text) app_fail(&err);
    int32_t nstored;
    APP_TRY(corpus_read_tokens(c, b, (int)i, which, buf, &nstored, &err), &err);  // also checks the stored ids
    s->stored += nstored;
    int n = tokenizer_encode(tok, text, buf, WORDS_MAX, NULL) - 1;
    free(text);
    for (int k = 1; k <= n; k++) s->unknown += buf[k] == TOK_UNK;
    s->n++;
    s->words += n;
    if (n < s->min) s->min = n;
    if (n > s->max) s->max = n;
    if (n > c->text_length - 1) s->truncated++;
  }
  if (!s->n) s->min = 0;
}

static void print_stats(const char *label, const LenStats *s, int L) {
  printf("  %-9s words min %lld / mean %.1f / max %lld; stored tokens mean %.1f (BOS included); cut at text_length %d: %lld;"
         " unknown words %.1f%%\n",
         label, (long long)s->min, s->n ? (double)s->words / (double)s->n : 0.0, (long long)s->max,
         s->n ? (double)s->stored / (double)s->n : 0.0, L, (long long)s->truncated,
         s->words ? 100.0 * (double)s->unknown / (double)s->words : 0.0);
}

// ASCII rendering of a UTF-8 string for the bitmap font: one '?' per non-ASCII
// character, at most max_chars (ending in "..." when cut).
static void ascii_fit(const char *s, char *out, int max_chars) {
  int n = 0;
  const unsigned char *p = (const unsigned char *)s;
  char *o = out;
  int total = 0;
  for (const unsigned char *q = p; *q; q++) total += (*q & 0xC0) != 0x80;
  int cut = total > max_chars;
  int keep = cut ? max_chars - 3 : max_chars;
  for (; *p && n < keep; p++) {
    if ((*p & 0xC0) == 0x80) continue;
    *o++ = (*p < 0x80 && *p >= 32) ? (char)*p : '?';
    n++;
  }
  if (cut && max_chars >= 3) {
    memcpy(o, "...", 3);
    o += 3;
  }
  *o = 0;
}

typedef struct {
  const CorpusBucket *b;
  int clip;
} Pick;

static void write_sheet(const Corpus *c, const char *out, int K, int Fmax) {
  TsrErr err;
  int64_t total = 0;
  for (int i = 0; i < c->nbuckets; i++) total += c->buckets[i].count;
  if (total == 0) {
    printf("sheet: none (the corpus has no clips)\n");
    return;
  }
  if (K > total) K = (int)total;
  Pick *pick = calloc((size_t)K, sizeof *pick);
  TSR_ASSERT(pick, "out of memory");
  int maxdim = 1;
  for (int k = 0; k < K; k++) {  // spread over the whole corpus, bucket by bucket
    int64_t g = (int64_t)k * total / K;
    int i = 0;
    while (g >= c->buckets[i].count) g -= c->buckets[i++].count;
    pick[k].b = &c->buckets[i];
    pick[k].clip = (int)g;
    if (c->buckets[i].H > maxdim) maxdim = c->buckets[i].H;
    if (c->buckets[i].W > maxdim) maxdim = c->buckets[i].W;
  }
  int s = 128 / maxdim;
  if (s < 1) s = 1;
  if (s > 8) s = 8;
  const int margin = 6, gap = 3;
  int64_t SW = 0;  // sizes in int64: T, H, W up to 65536 and F up to 10000 overflow int
  for (int k = 0; k < K; k++) {
    const CorpusBucket *b = pick[k].b;
    int64_t F = b->T < Fmax ? b->T : Fmax;
    int64_t w = F * b->W * s + (F - 1) * gap;
    if (w > SW) SW = w;
  }
  const int fs = SW >= 60 * 12 ? 2 : 1, text_h = 8 * fs + 6;  // caption font scale: 2 where 60 characters fit
  if (SW < 40 * 6 * fs) SW = 40 * 6 * fs;  // room for a readable caption
  SW += 2 * margin;
  int64_t SH = margin;
  for (int k = 0; k < K; k++) SH += (int64_t)pick[k].b->H * s + text_h + margin;
  if (SW > SHEET_MAX_SIDE || SH > SHEET_MAX_SIDE)
    app_user_error("data inspect: the contact sheet would be %lldx%lld pixels, more than %d a side: ask for fewer --clips "
                   "or --frames, or --no-sheet", (long long)SW, (long long)SH, SHEET_MAX_SIDE);
  uint8_t *img = malloc((size_t)SW * SH * 3);
  TSR_ASSERT(img, "out of memory");
  for (size_t i = 0; i < (size_t)SW * SH; i++) img[3 * i] = 28, img[3 * i + 1] = 28, img[3 * i + 2] = 32;
  const uint8_t ink[3] = {235, 235, 235};
  char *line = malloc((size_t)SW + 8), *label = malloc(4096);
  TSR_ASSERT(line && label, "out of memory");
  int y0 = margin;
  for (int k = 0; k < K; k++) {
    const CorpusBucket *b = pick[k].b;
    const int C = c->channels;
    const int nh = b->H / c->ph, nw = b->W / c->pw, per_t = nh * nw;  // tokens of one temporal slice
    // Only the temporal token slices of the frames shown are read: pt*H*W*C values each.
    float *x = malloc((size_t)per_t * b->P * sizeof(float));
    TSR_ASSERT(x, "out of memory");
    int F = b->T < Fmax ? b->T : Fmax, have = -1;
    for (int j = 0; j < F; j++) {
      int t = F > 1 ? (int)((int64_t)j * (b->T - 1) * 2 / (F - 1) + 1) / 2 : 0;  // evenly spaced, first and last
      if (t / c->pt != have) {
        APP_TRY(corpus_read_patches(c, b, pick[k].clip, (t / c->pt) * per_t, per_t, x, &err), &err);
        have = t / c->pt;
      }
      int x0 = margin + j * (b->W * s + gap);
      for (int h = 0; h < b->H; h++)
        for (int w = 0; w < b->W; w++) {
          // unpatchify one pixel: token (h/ph, w/pw) of the slice, vector (t%pt, h%ph, w%pw, ch)
          size_t n = (size_t)(h / c->ph) * nw + w / c->pw;
          size_t p = (((size_t)(t % c->pt) * c->ph + h % c->ph) * c->pw + w % c->pw) * C;
          uint8_t rgb[3];
          for (int ch = 0; ch < 3; ch++) {
            float v = x[n * b->P + p + (ch < C ? ch : 0)];
            float u = (v + 1.0f) * 127.5f + 0.5f;
            rgb[ch] = (uint8_t)(u < 0 ? 0 : u > 255 ? 255 : u);
          }
          for (int dy = 0; dy < s; dy++) {
            uint8_t *row = img + ((size_t)(y0 + h * s + dy) * SW + x0 + w * s) * 3;
            for (int dx = 0; dx < s; dx++) memcpy(row + 3 * dx, rgb, 3);
          }
        }
    }
    free(x);
    char *cap = corpus_read_caption(c, b, pick[k].clip, 0, &err);
    if (!cap) app_fail(&err);
    snprintf(label, 4096, "%s #%d: %s", b->name, pick[k].clip, cap);
    free(cap);
    ascii_fit(label, line, (int)((SW - 2 * margin) / (6 * fs)));
    draw_text(img, (int)SH, (int)SW, margin, y0 + b->H * s + 4, fs, ink, line);
    y0 += b->H * s + text_h + margin;
  }
  char msg[512];
  if (png_write_rgb(out, img, (int)SH, (int)SW, msg, sizeof msg) != 0) {
    tsr_err(&err, "data inspect: --sheet: %s", msg);
    app_fail(&err);
  }
  printf("sheet: %s (%d clips, up to %d frames each, x%d)\n", out, K, Fmax, s);
  free(line);
  free(label);
  free(img);
  free(pick);
}

// The latent corpus's VAE and statistics (corpus.h).
static void inspect_latent(const Corpus *c) {
  printf("  latent corpus: VAE sha256 %s, compression %dx%dx%d (t x h x w)\n", c->vae_sha256, c->ct, c->cs, c->cs);
  printf("  latent mean/std per channel:");
  for (int k = 0; k < c->channels; k++) printf(" %.4g/%.4g", c->latent_mean[k], c->latent_std[k]);
  printf("\n");
}

int data_cmd_inspect(int argc, char **argv) {
  const char *file = NULL, *sheet = NULL;
  int K = 4, F = 8, no_sheet = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--sheet") || !strcmp(a, "--clips") || !strcmp(a, "--frames")) {
      if (i + 1 >= argc) app_user_error("data inspect: %s: expected a value after it", a);
      const char *v = argv[++i];
      if (!strcmp(a, "--sheet")) sheet = v;
      else if (!strcmp(a, "--clips")) K = parse_pos_int(a, v);
      else F = parse_pos_int(a, v);
    } else if (!strcmp(a, "--no-sheet")) {
      no_sheet = 1;
    } else if (a[0] == '-' && a[1]) {
      app_user_error("data inspect: unknown option '%s' (see tessera data inspect --help)", a);
    } else if (!file) {
      file = a;
    } else {
      app_user_error("data inspect: one corpus file expected, found '%s' after '%s'", a, file);
    }
  }
  if (!file) {
    usage(stderr);
    return 2;
  }
  Corpus c;
  TsrErr err;
  APP_TRY(corpus_open(&c, file, &err), &err);
  Tokenizer tok;
  tokenizer_from_vocab(&tok, c.vocab, c.vocab_size);
  int64_t total = 0;
  for (int i = 0; i < c.nbuckets; i++) total += c.buckets[i].count;
  printf("corpus %s\n", file);
  printf("  format %s, version %d\n", CORPUS_FORMAT, CORPUS_VERSION);
  printf("  patch %dx%dx%d (pt x ph x pw), channels %d, text_length %d, values %s\n", c.pt, c.ph, c.pw, c.channels,
         c.text_length, c.latent ? "float16 latents, read as (z - mean) / std" : "uint8 -> v/127.5-1 in [-1, 1]");
  if (c.latent) inspect_latent(&c);
  printf("  tokenizer: %d entries (%d special + %d words)\n", c.vocab_size, TOK_FIRST_WORD, c.vocab_size - TOK_FIRST_WORD);
  printf("  buckets: %d, clips: %lld\n", c.nbuckets, (long long)total);
  int32_t *buf = malloc((size_t)(c.text_length > WORDS_MAX ? c.text_length : WORDS_MAX) * sizeof *buf);
  TSR_ASSERT(buf, "out of memory");
  for (int i = 0; i < c.nbuckets; i++) {
    const CorpusBucket *b = &c.buckets[i];
    printf("bucket %s: %d clips, N %d tokens x P %d values (patches [%d, %d, %d] %s)\n", b->name, b->count, b->N,
           b->P, b->count, b->N, b->P, c.latent ? "float16" : "uint8");
    if (b->count > STATS_MAX_CLIPS) printf("  (caption statistics over every %lld-th clip)\n", (long long)stats_stride(b));
    LenStats s;
    caption_stats(&c, b, &tok, 0, buf, &s);
    print_stats("caption", &s, c.text_length);
    caption_stats(&c, b, &tok, 1, buf, &s);
    print_stats("recaption", &s, c.text_length);
    int nsamp = b->count < 3 ? b->count : 3;
    for (int k = 0; k < nsamp; k++) {
      int clip = nsamp > 1 ? (int)((int64_t)k * (b->count - 1) / (nsamp - 1)) : 0;
      char *cap = corpus_read_caption(&c, b, clip, 0, &err), *rec = cap ? corpus_read_caption(&c, b, clip, 1, &err) : NULL;
      if (!rec) app_fail(&err);
      printf("  clip %d: %s\n", clip, cap);
      printf("  %*s%s\n", snprintf(NULL, 0, "clip %d: ", clip), "", rec);
      free(cap);
      free(rec);
    }
  }
  free(buf);
  if (!no_sheet && c.latent) printf("sheet: none (a latent corpus: `tessera vae decode` shows its clips)\n");
  if (!no_sheet && !c.latent) {
    char *def = NULL;
    if (!sheet) {
      size_t n = strlen(file);
      def = malloc(n + 16);
      TSR_ASSERT(def, "out of memory");
      memcpy(def, file, n + 1);
      if (n > 3 && !strcmp(def + n - 3, ".h5")) def[n - 3] = 0;
      strcat(def, "_sheet.png");
      sheet = def;
    }
    write_sheet(&c, sheet, K, F);
    free(def);
  }
  tokenizer_free(&tok);
  corpus_close(&c);
  return 0;
}
