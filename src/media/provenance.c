#include "media/provenance.h"

#include <openssl/evp.h>
#include <stdio.h>

#include "media/version.h"

static void field(StrBuf *b, const char *sep, const char *name, const char *v) {
  sb_printf(b, "%s\"%s\":", sep, name);
  sb_json_string(b, v ? v : "");
}

// SHA-256 of a file as hex: 0, or -1 when it cannot be read.
static int file_sha256(const char *path, char hex[65]) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
  unsigned char buf[1 << 16], md[32];
  size_t n;
  while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, n) == 1;
  ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, NULL) == 1;
  EVP_MD_CTX_free(ctx);
  fclose(f);
  for (int i = 0; ok && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return ok ? 0 : -1;
}

static void hash_field(StrBuf *b, const char *sep, const char *name, const char *path) {
  char hex[65];
  if (!path || !*path) return;
  sb_printf(b, "%s\"%s\":", sep, name);
  if (file_sha256(path, hex) == 0) sb_printf(b, "\"%s\"", hex);
  else sb_printf(b, "null");
}

void provenance_json(StrBuf *b, const Provenance *p) {
  const SamplerOptions *so = p->so;
  field(b, "{", "prompt", p->prompt);
  sb_printf(b, ",\"seed\":%llu,\"sampler\":", (unsigned long long)p->seed);
  sb_json_string(b, p->sampler);
  sb_printf(b, ",\"steps\":%d,\"cfg\":%g,\"shift\":%g,\"frames\":%d,\"size\":[%d,%d],", so->steps, so->cfg, so->shift,
            p->frames, p->height, p->width);
  sb_printf(b, "\"keyframe\":%s,\"conditioning\":", p->keyframe ? "true" : "false");
  field(b, "{", "image", p->image);
  field(b, ",", "extend", p->extend);
  field(b, ",", "first", p->first);
  field(b, ",", "last", p->last);
  field(b, ",", "remix", p->remix);
  sb_printf(b, ",\"strength\":%g}", p->strength);
  sb_printf(b, ",\"conditioning_sha256\":{");
  const char *names[5] = {"image", "extend", "first", "last", "remix"};
  const char *paths[5] = {p->image, p->extend, p->first, p->last, p->remix};
  int k = 0;
  for (int i = 0; i < 5; i++)
    if (paths[i] && *paths[i]) hash_field(b, k++ ? "," : "", names[i], paths[i]);
  sb_printf(b, "}");
  field(b, ",", "checkpoint", p->ckpt);
  sb_printf(b, ",\"checkpoint_step\":%lld,", p->ckpt_step);
  field(b, "", "checkpoint_sha256", p->ckpt_sha256);
  sb_printf(b, ",\"weights\":\"%s\",", p->use_ema ? "ema" : "raw");
  sb_printf(b, "\"layout\":{\"ranks\":%d,\"dp\":%d,\"cfg_parallel\":%s,\"sp\":%d,\"tp\":%d},", p->ranks, p->dp,
            p->cfg_parallel ? "true" : "false", p->sp, p->tp);
  if (p->render_prompts) {
    sb_printf(b, "\"render\":");
    field(b, "{", "prompts", p->render_prompts);
    sb_printf(b, ",\"index\":%d,\"line\":%d},", p->render_index, p->render_line);
  }
  sb_printf(b, "\"generator\":\"tessera %s\",\"ai_generated\":true,\"seconds\":%.2f}\n", TESSERA_VERSION, p->seconds);
}
