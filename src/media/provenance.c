#include "media/provenance.h"

#include "media/version.h"

static void field(StrBuf *b, const char *sep, const char *name, const char *v) {
  sb_printf(b, "%s\"%s\":", sep, name);
  sb_json_string(b, v ? v : "");
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
  field(b, ",", "checkpoint", p->ckpt);
  sb_printf(b, ",\"checkpoint_step\":%lld,\"checkpoint_fnv1a64\":\"%016llx\",\"weights\":\"%s\",", p->ckpt_step,
            (unsigned long long)p->ckpt_fnv1a64, p->use_ema ? "ema" : "raw");
  sb_printf(b, "\"layout\":{\"ranks\":%d,\"dp\":%d,\"cfg_parallel\":%s,\"sp\":%d,\"tp\":%d},", p->ranks, p->dp,
            p->cfg_parallel ? "true" : "false", p->sp, p->tp);
  if (p->render_prompts) {
    sb_printf(b, "\"render\":");
    field(b, "{", "prompts", p->render_prompts);
    sb_printf(b, ",\"index\":%d,\"line\":%d},", p->render_index, p->render_line);
  }
  sb_printf(b, "\"generator\":\"tessera %s\",\"ai_generated\":true,\"seconds\":%.2f}\n", TESSERA_VERSION, p->seconds);
}
