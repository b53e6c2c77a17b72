#include "infer/outputs.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/error.h"
#include "media/c2pa.h"
#include "media/image_io.h"
#include "media/keys.h"
#include "media/watermark.h"
#include "media/video_io.h"
#include "media/watch.h"

int output_is_image(const char *path) {
  const size_t n = strlen(path);
  return n >= 4 && !strcasecmp(path + n - 4, ".png");
}

void output_paths(const char *mp4, OutputPaths *p) {
  size_t n = strlen(mp4);
  const int image = output_is_image(mp4);
  int stem = (int)(n >= 4 && (image || !strcmp(mp4 + n - 4, ".mp4")) ? n - 4 : n);
  snprintf(p->mp4, sizeof p->mp4, "%s", mp4);
  if (image) p->sheet[0] = 0;  // an image is its own sheet
  else snprintf(p->sheet, sizeof p->sheet, "%.*s.png", stem, mp4);
  snprintf(p->json, sizeof p->json, "%.*s.json", stem, mp4);
}

// Write n bytes to path; every step checked. On failure the file is removed
// and why holds strerror.
static int write_text(const char *path, const char *data, size_t n, char *why, int whylen) {
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(why, (size_t)whylen, "%s", strerror(errno));
    return -1;
  }
  int e = 0;
  if (fwrite(data, 1, n, f) != n || fflush(f) != 0) e = errno ? errno : EIO;
  if (!e && fsync(fileno(f)) != 0 && errno != EINVAL) e = errno;  // NFS and friends report late
  if (fclose(f) != 0 && !e) e = errno;
  if (!e) return 0;
  unlink(path);
  snprintf(why, (size_t)whylen, "%s", strerror(e));
  return -1;
}

// The signer of this process, loaded on first use (TSR_SIGNING_KEY and
// TSR_SIGNING_CERT, or a throwaway development key with one warning).
static Signer g_signer;
static int g_signer_ready, g_warned;

// Once per process, after the first video signed with a throwaway key is in
// place (not before: a failing command keeps its one line of error).
static void warn_ephemeral(void) {
  if (!g_signer.ephemeral || g_warned) return;
  g_warned = 1;
  fprintf(stderr, "tessera: warning: no signing key configured (TSR_SIGNING_KEY, TSR_SIGNING_CERT): videos are "
                  "signed with a throwaway development key that proves nothing about who made them; "
                  "run `tessera keys init DIR` (testing) or use a real certificate (docs/provenance.md)\n");
}

static int signer_ready(char *why, int whylen) {
  TsrErr e = {0};
  if (!g_signer_ready) {
    int warn = 0;
    if (signer_from_env(&g_signer, &warn, &e) != 0) {
      snprintf(why, (size_t)whylen, "signing failed: %.500s", e.msg);
      return -1;
    }
    g_signer_ready = 1;
  }
  return 0;
}

// The 32 watermark bits: the signer's key id, then a render id: the first
// two bytes of the SHA-256 of the generation record without what does not
// change the video (timing, the render list's place, the rank layout), so
// the same prompt, seed and checkpoint carry the same mark whichever command
// made them.
static uint32_t wm_payload(const char *json, size_t json_len) {
  uint8_t md[32];
  json_t *rec = json_loadb(json, json_len, 0, NULL);
  char *canon = NULL;
  if (rec) {
    json_object_del(rec, "seconds");
    json_object_del(rec, "render");
    json_object_del(rec, "layout");
    canon = json_dumps(rec, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(rec);
  }
  const char *src = canon ? canon : json;
  size_t n = canon ? strlen(canon) : json_len;
  TSR_ASSERT(EVP_Digest(src, n, md, NULL, EVP_sha256(), NULL) == 1, "sha256");
  free(canon);
  // A throwaway key has no identity: key id 0, so its videos stay reproducible.
  uint32_t kid = g_signer.ephemeral ? 0 : key_id16(g_signer.cert);
  return kid << 16 | (uint32_t)md[0] << 8 | md[1];
}

static int sign_mp4(const char *path, const char *json, size_t json_len, uint32_t payload, char *why, int whylen) {
  TsrErr e = {0};
  char mark[256];
  snprintf(mark, sizeof mark,
           "{\"payload\":\"%08x\",\"key_id\":\"%04x\",\"render_id\":\"%04x\",\"grid\":%d,\"period\":%d,\"amplitude\":%g}",
           payload, payload >> 16, payload & 0xffff, WM_GRID, WM_PERIOD, (double)WM_AMP);
  // The record is one JSON line; the assertion holds it without the newline.
  while (json_len && (json[json_len - 1] == '\n' || json[json_len - 1] == ' ')) json_len--;
  if (c2pa_sign_mp4(path, &g_signer, json, json_len, mark, &e) != 0) {
    snprintf(why, (size_t)whylen, "signing failed: %.500s", e.msg);
    return -1;
  }
  return 0;
}

// An image (docs/choices.md "Images"): the marked frame as a PNG at its own
// size, the record in its iTXt chunk and beside it (OUT.json); no C2PA
// manifest (tessera signs MP4s only).
static int write_image(const OutputPaths *p, const uint8_t *marked, int H, int W, const char *json, size_t json_len,
                       char *err, int errlen) {
  const char *final[2] = {p->mp4, p->json};
  char tmp[2][1100], why[600] = "";
  for (int i = 0; i < 2; i++) snprintf(tmp[i], sizeof tmp[i], "%s.part", final[i]);
  char *text = tsr_calloc(json_len + 1, 1);  // the record without its newline
  memcpy(text, json, json_len);
  for (size_t n = json_len; n && (text[n - 1] == '\n' || text[n - 1] == ' '); n--) text[n - 1] = 0;
  int failed = -1;
  if (png_write_rgb_text(tmp[0], marked, H, W, "tessera.generation", text, why, sizeof why) != 0) failed = 0;
  tsr_free(text);
  if (failed < 0 && write_text(tmp[1], json, json_len, why, sizeof why) != 0) failed = 1;
  for (int i = 0; failed < 0 && i < 2; i++)
    if (rename(tmp[i], final[i]) != 0) {
      snprintf(why, sizeof why, "cannot rename %.200s into place: %s", tmp[i], strerror(errno));
      failed = i;
    }
  if (failed < 0) return 0;
  for (int i = 0; i < 2; i++) unlink(tmp[i]);
  snprintf(err, (size_t)errlen, "%s: cannot write: %s", final[failed], why);
  return -1;
}

int outputs_write(const OutputPaths *p, const uint8_t *video, int frames, int H, int W, int k, const char *json,
                  size_t json_len, char *err, int errlen) {
  const char *final[3] = {p->mp4, p->sheet, p->json};
  char tmp[3][1100], why[600] = "";
  for (int i = 0; i < 3; i++) snprintf(tmp[i], sizeof tmp[i], "%s.part", final[i]);
  int failed = -1;  // which output failed
  if (signer_ready(why, sizeof why) != 0) {
    snprintf(err, (size_t)errlen, "%s: not written: %s", p->mp4, why);
    return -1;
  }
  // The watermark goes into the frames at their own size, before upscaling
  // and encoding; the contact sheet shows the marked frames too.
  size_t nbytes = (size_t)frames * H * W * 3;
  uint8_t *marked = tsr_calloc(nbytes, 1);
  memcpy(marked, video, nbytes);
  WmKey wk;
  wm_key_from_env(&wk);
  uint32_t payload = wm_payload(json, json_len);
  wm_embed(&wk, payload, marked, frames, H, W, WM_AMP);
  if (output_is_image(p->mp4)) {
    TSR_ASSERT(frames == 1, "an image output of %d frames", frames);
    int rc = write_image(p, marked, H, W, json, json_len, err, errlen);
    tsr_free(marked);
    return rc;
  }
  uint8_t *big = watch_upscale(marked, frames, H, W, k);
  if (video_write_mp4(tmp[0], big, frames, H * k, W * k, 8.0f, why, sizeof why) != 0) failed = 0;
  tsr_free(big);
  if (failed < 0 && sign_mp4(tmp[0], json, json_len, payload, why, sizeof why) != 0) failed = 0;
  if (failed < 0 && watch_contact_sheet(tmp[1], marked, frames, H, W, why, sizeof why) != 0) failed = 1;
  tsr_free(marked);
  if (failed < 0 && write_text(tmp[2], json, json_len, why, sizeof why) != 0) failed = 2;
  for (int i = 0; failed < 0 && i < 3; i++)
    if (rename(tmp[i], final[i]) != 0) {
      snprintf(why, sizeof why, "cannot rename %.200s into place: %s", tmp[i], strerror(errno));
      failed = i;
    }
  if (failed < 0) {
    warn_ephemeral();
    return 0;
  }
  for (int i = 0; i < 3; i++) unlink(tmp[i]);
  snprintf(err, (size_t)errlen, "%s: cannot write: %s", final[failed], why);
  return -1;
}
