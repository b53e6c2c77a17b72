// `tessera verify FILE.mp4 [--json]`: the C2PA manifest (signature, assertion
// hashes, hard binding), what made the video, and the invisible watermark
// found from the pixels alone (docs/provenance.md). Exit 0: a valid manifest;
// 1: unsigned, tampered or badly signed (one line on stderr says what); 2: not
// a readable MP4 (missing, not ISO-BMFF, truncated) or bad arguments.
// `tessera verify --embed HEX IN.mp4 OUT.mp4` marks an existing video with
// the payload HEX (unsigned; for measuring the watermark: tools/wm_bench.sh).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "media/c2pa.h"
#include "media/video_io.h"
#include "media/watch.h"
#include "media/watermark.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera verify FILE.mp4 [--json]\n"
          "Checks the C2PA manifest tessera signs into every video (the claim's ES256 signature, every\n"
          "assertion's hash, the c2pa.hash.bmff.v2 hard binding over the file), prints what made the\n"
          "video, and looks for the invisible watermark in the pixels alone (it survives losing the\n"
          "manifest, re-encoding, scaling and a little cropping; TSR_WATERMARK_KEY names a private key).\n"
          "Exit 0: valid manifest; 1: unsigned, tampered or badly signed; 2: not a readable MP4.\n"
          "  --json   everything as one JSON object on stdout\n"
          "  tessera verify --embed HEX IN.mp4 OUT.mp4 [--upscale K]   mark IN's frames with the 32-bit payload\n"
          "           HEX, upscale K times and write OUT (unsigned): a testing aid for measuring the watermark\n");
}

static int fail_user(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "tessera: error: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n");
  return 2;
}

static int embed(int argc, char **argv) {
  int k = 1;
  if (argc == 7 && !strcmp(argv[5], "--upscale")) k = atoi(argv[6]);
  if ((argc != 5 && argc != 7) || k < 1 || k > 64)
    return fail_user("verify --embed: expected HEX IN.mp4 OUT.mp4 [--upscale K]%s%s", "", "");
  char *end;
  unsigned long payload = strtoul(argv[2], &end, 16);
  if (*end || !argv[2][0] || payload > 0xffffffffUL)
    return fail_user("verify --embed: '%s': expected a 32-bit hex payload%s", argv[2], "");
  VideoFrames v;
  char why[512];
  if (video_read(argv[3], 0, 0, &v, why, sizeof why) != 0) return fail_user("%s: cannot read: %s", argv[3], why);
  WmKey key;
  wm_key_from_env(&key);
  wm_embed(&key, (uint32_t)payload, v.pixels, v.T, v.H, v.W, WM_AMP);
  uint8_t *big = watch_upscale(v.pixels, v.T, v.H, v.W, k);  // as outputs_write does: mark, then upscale
  int rc = video_write_mp4(argv[4], big, v.T, v.H * k, v.W * k, v.fps > 0 ? v.fps : 8.0f, why, sizeof why);
  tsr_free(big);
  video_frames_free(&v);
  return rc ? fail_user("%s: cannot write: %s", argv[4], why) : 0;
}

static json_t *wm_json(const WmResult *w, int checked, const char *why) {
  json_t *o = json_object();
  json_object_set_new(o, "checked", json_boolean(checked));
  if (!checked) {
    json_object_set_new(o, "why", json_string(why));
    return o;
  }
  char hex[16];
  snprintf(hex, sizeof hex, "%08x", w->payload);
  json_object_set_new(o, "detected", json_boolean(w->detected));
  json_object_set_new(o, "score", json_real(w->score));
  json_object_set_new(o, "threshold", json_real(w->threshold));
  json_object_set_new(o, "false_detection_bound", json_real(w->fa_bound));
  json_object_set_new(o, "payload", json_string(hex));
  json_object_set_new(o, "hypotheses", json_integer(w->hypotheses));
  json_t *crop = json_array();
  for (int i = 0; i < 4; i++) json_array_append_new(crop, json_real(w->crop[i]));
  json_object_set_new(o, "crop_lrtb", crop);
  json_object_set_new(o, "frame_shift", json_integer(w->shift));
  return o;
}

static const char *gen_str(json_t *gen, const char *k) {
  const char *s = json_string_value(json_object_get(gen, k));
  return s && *s ? s : "-";
}

static void print_screen(const char *path, const C2paReport *r, const WmResult *w, int wm_ok, const char *wm_why,
                         const char *signed_payload) {
  printf("%s\n", path);
  if (!r->has_manifest) printf("  C2PA manifest:  none (unsigned)\n");
  else {
    printf("  C2PA manifest:  %s\n", c2pa_report_valid(r) ? "valid" : "INVALID");
    printf("  signature:      %s (ES256), signer \"%s\", issuer \"%s\", certificate until %s\n",
           r->signature_ok ? "valid" : "INVALID", r->signer, r->issuer, r->not_after);
    if (r->development)
      printf("                  WARNING: a development certificate (FOR TESTING ONLY): the file is intact, but\n"
             "                  nothing says who signed it\n");
    printf("  assertions:     %s\n", r->assertions_ok ? "all match the claim" : "CHANGED");
    printf("  hard binding:   c2pa.hash.bmff.v2 %s\n", r->binding_ok ? "matches the file" : "DOES NOT MATCH");
    json_t *as = json_object_get(r->manifest, "assertions");
    json_t *act = json_array_get(json_object_get(json_object_get(as, "c2pa.actions"), "actions"), 0);
    if (act)
      printf("  made by:        %s (%s, %s)\n", gen_str(act, "softwareAgent"), gen_str(act, "action"),
             strrchr(gen_str(act, "digitalSourceType"), '/') ? strrchr(gen_str(act, "digitalSourceType"), '/') + 1 : "-");
    json_t *gen = json_object_get(as, "org.tessera.generation");
    if (gen) {
      printf("  prompt:         \"%s\"\n", gen_str(gen, "prompt"));
      printf("  sampling:       seed %lld, %s, %lld steps, cfg %g, %lld frames\n",
             (long long)json_integer_value(json_object_get(gen, "seed")), gen_str(gen, "sampler"),
             (long long)json_integer_value(json_object_get(gen, "steps")), json_number_value(json_object_get(gen, "cfg")),
             (long long)json_integer_value(json_object_get(gen, "frames")));
      json_t *ch = json_object_get(gen, "conditioning_sha256"), *cond = json_object_get(gen, "conditioning"), *h;
      const char *name;
      json_object_foreach(ch, name, h) printf("  input:          --%s %s (sha256 %s)\n", name,
                                              json_string_value(json_object_get(cond, name)),
                                              json_is_string(h) ? json_string_value(h) : "unreadable when made");
      const char *sha = json_string_value(json_object_get(gen, "checkpoint_sha256"));
      printf("  checkpoint:     %s (step %lld%s%s)\n", gen_str(gen, "checkpoint"),
             (long long)json_integer_value(json_object_get(gen, "checkpoint_step")), sha ? ", sha256 " : "", sha ? sha : "");
    }
  }
  if (!wm_ok) printf("  watermark:      not checked (%s)\n", wm_why);
  else if (!w->detected)
    printf("  watermark:      not detected (score %.1f, threshold %.1f)\n", w->score, w->threshold);
  else
    printf("  watermark:      detected (score %.1f > threshold %.1f; false-detection bound %.1e): key id %04x, "
           "render id %04x%s\n",
           w->score, w->threshold, w->fa_bound, w->payload >> 16, w->payload & 0xffff,
           !signed_payload ? "" : (strtoul(signed_payload, NULL, 16) == w->payload ? " (as signed)" : " (DIFFERS from the manifest)"));
}

int cmd_verify(int argc, char **argv) {
  const char *path = NULL;
  int as_json = 0;
  if (argc >= 2 && !strcmp(argv[1], "--embed")) return embed(argc, argv);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "--json")) as_json = 1;
    else if (argv[i][0] == '-') return fail_user("verify: unknown option '%s'%s (see tessera verify --help)", argv[i], "");
    else if (path) return fail_user("verify: one file at a time (got '%s' and '%s')", path, argv[i]);
    else path = argv[i];
  }
  if (!path) {
    usage(stderr);
    return 2;
  }
  TsrErr err = {0};
  C2paReport rep;
  if (c2pa_verify_mp4(path, &rep, &err) != 0) {
    fprintf(stderr, "tessera: error: %s\n", err.msg);
    return 2;
  }
  WmResult w = {0};
  VideoFrames v;
  char why[512] = "";
  int wm_ok = video_read(path, 0, 0, &v, why, sizeof why) == 0;
  if (wm_ok) {
    WmKey k;
    wm_key_from_env(&k);
    wm_detect(&k, v.pixels, v.T, v.H, v.W, &w);
    if (v.H < 2 * WM_GRID || v.W < 2 * WM_GRID) {
      wm_ok = 0;
      snprintf(why, sizeof why, "%dx%d frames: below the %d px the detector needs", v.H, v.W, 2 * WM_GRID);
    }
    video_frames_free(&v);
  }
  json_t *mark = json_object_get(json_object_get(rep.manifest, "assertions"), "org.tessera.watermark");
  const char *signed_payload = json_string_value(json_object_get(mark, "payload"));
  int valid = c2pa_report_valid(&rep);
  if (as_json) {
    json_t *o = json_object(), *c = json_object();
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "valid", json_boolean(valid));
    json_object_set_new(o, "problem", json_string(rep.problem));
    json_object_set_new(c, "present", json_boolean(rep.has_manifest));
    json_object_set_new(c, "signature_valid", json_boolean(rep.signature_ok));
    json_object_set_new(c, "assertions_valid", json_boolean(rep.assertions_ok));
    json_object_set_new(c, "hard_binding_valid", json_boolean(rep.binding_ok));
    json_object_set_new(c, "certificate_valid_now", json_boolean(rep.cert_time_ok));
    json_object_set_new(c, "development_certificate", json_boolean(rep.development));
    json_object_set_new(c, "signer", json_string(rep.signer));
    json_object_set_new(c, "issuer", json_string(rep.issuer));
    json_object_set_new(c, "manifest", json_incref(rep.manifest));
    json_object_set_new(o, "c2pa", c);
    json_object_set_new(o, "watermark", wm_json(&w, wm_ok, why));
    char *s = json_dumps(o, JSON_INDENT(1) | JSON_REAL_PRECISION(6));
    printf("%s\n", s);
    free(s);
    json_decref(o);
  } else {
    print_screen(path, &rep, &w, wm_ok, why, signed_payload);
  }
  if (!valid) fprintf(stderr, "tessera: error: %s: %s\n", path, rep.problem[0] ? rep.problem : "manifest not valid");
  c2pa_report_free(&rep);
  return valid ? 0 : 1;
}
