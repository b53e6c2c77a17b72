// The safety gate (src/infer/safety*.c) on any bytes. First byte even: the
// rest is a policy file (safety_policy_load: 0, or -1 with a message; a
// loaded policy checks a fixed prompt). Odd: the rest is "RULE\0PROMPT"
// (no NUL: the bytes are both): the rule is compiled, the prompt normalised
// and matched, and the matched words must be text. Never a crash.
#include "fuzz.h"
#include "infer/safety.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  TsrErr err;
  if (data[0] % 2 == 0) {
    const char *path = fuzz_file("safety-policy.yaml", data + 1, size - 1);
    SafetyPolicy pol;
    if (safety_policy_load(path, &pol, &err)) {
      if (!err.msg[0]) abort();
      return 0;
    }
    SafetyVerdict v;
    if (safety_check(&pol, NULL, "a k1d n.a.k.e.d with a b o m b", &v, &err)) abort();
    if (v.refused != (v.category >= 0) || strlen(v.reason) >= sizeof v.reason) abort();
    safety_policy_free(&pol);
    return 0;
  }
  char *buf = malloc(size);  // rule, NUL, prompt
  memcpy(buf, data + 1, size - 1);
  buf[size - 1] = 0;
  size_t rlen = strlen(buf);
  const char *prompt = rlen + 1 < size ? buf + rlen + 1 : buf;
  size_t plen = rlen + 1 < size ? size - 1 - (rlen + 1) : rlen;
  SafetyRule r;
  SafetyWords w = {0};
  if (!safety_rule_compile(&r, buf, &err)) {
    if (!safety_normalise(prompt, plen, "prompt", &w, &err)) {
      char what[256];
      if (safety_rule_match(&r, &w, what, sizeof what) && strlen(what) >= sizeof what) abort();
    }
    safety_rule_free(&r);
  }
  safety_words_free(&w);
  free(buf);
  return 0;
}
