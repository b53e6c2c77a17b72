// The prompt safety gate of a generation run (docs/safety.md): the policy
// and the encoder that embeds prompts, opened once; every prompt of generate,
// render and eval is checked before any sampling (infer/pipeline.c).
#pragma once
#include "core/error.h"
#include "infer/safety.h"
#include "text/text_cond.h"

#define SAFETY_POLICY_DEFAULT "configs/safety/policy.yaml"

typedef struct {
  SafetyPolicy pol;
  TextEncoder own;   // MiniLM loaded for the gate (when the model has no pretrained encoder)
  TextEncoder *te;   // the encoder used: the model's, `own`, or NULL (rules only: no weights)
} SafetyGate;

// policy: a file, or NULL for $TSR_SAFETY_POLICY, else the shipped policy.
// text: the model's pretrained encoder (NULL: MiniLM is loaded for the gate;
// without its weights the gate is rules only, with a warning).
int safety_gate_open(SafetyGate *g, const char *policy, TextCond *text, TsrErr *err);
// 0 when the prompt may be rendered; -1 with err (code TSR_EXIT_REFUSED)
// "prompt refused by the safety policy: <category>: <reason>" when not; -1
// (code 2) when it cannot be read.
int safety_gate_check(SafetyGate *g, const char *prompt, TsrErr *err);
void safety_gate_close(SafetyGate *g);
