// configs/vae/*.yaml load and give the documented compression; a table of
// bad configs each gives one returned line naming FILE:LINE:COL (or FILE),
// the key and what was expected (never an exit).
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "testlib.h"
#include "vae/vae_config.h"

static void good(const char *path, int ct, int cs, int Z, int levels) {
  VaeConfig c;
  TsrErr e = {0};
  int rc = vae_config_load(&c, path, &e);
  EXPECT(rc == 0, "%s: %s", path, e.msg);
  EXPECT(c.ct == ct && c.cs == cs && c.latent_channels == Z && c.levels == levels,
         "%s: compression %dx%dx%d, Z %d, %d levels; want %dx%dx%d, %d, %d", path, c.ct, c.cs, c.cs,
         c.latent_channels, c.levels, ct, cs, cs, Z, levels);
  if (rc == 0) printf("  ok  %s: %dx%dx%d, %d latent channels\n", path, c.ct, c.cs, c.cs, c.latent_channels);
}

static const char *BASE =
    "vae:\n  in_channels: 3\n  base_channels: 16\n  channel_mult: [1, 2, 2]\n  temporal_down: [1, 1]\n"
    "  res_blocks: 1\n  latent_channels: 4\n  groups: 8\n";

typedef struct {
  const char *yaml;  // NULL: BASE with `extra` appended
  const char *extra;
  const char *want;  // substring of the message
} Bad;

int main(void) {
  good("configs/vae/demo.yaml", 4, 4, 4, 3);
  good("configs/vae/standard.yaml", 4, 8, 16, 4);
  mkdir("build/tmp", 0755);
  const char *path = "build/tmp/vae_bad.yaml";
  const Bad cases[] = {
      {NULL, "  kl_weight: 1e-6\n", NULL},  // the base itself is fine
      {NULL, "  lr: 3\n", ":9:3: vae.lr: unknown key; valid keys: name, in_channels"},
      {NULL, "  groups: 7\n", "vae.groups: expected once"},
      {NULL, "  loss: l1\n", ":9:9: vae.loss: expected one of l2, got 'l1'"},
      {NULL, "  kl_weight: lots\n", ":9:14: vae.kl_weight: expected a number in [0, 1000], got 'lots'"},
      {"vae:\n  in_channels: 3\n  base_channels: 0\n", "", ":3:18: vae.base_channels: expected an integer in [1, 4096], got '0'"},
      {"vae:\n  in_channels: 3\n  base_channels: 16\n  channel_mult: 2\n", "", ":4:17: vae.channel_mult: expected a sequence of 1 to 6 integers"},
      {"vae:\n  in_channels: 3\n  base_channels: 16\n  channel_mult: [1, x]\n", "", ":4:21: vae.channel_mult: expected a sequence of 1 to 6 integers in [1, 64], got 'x'"},
      {"vae:\n  in_channels: 3\n  base_channels: 16\n  channel_mult: [1, 2]\n  temporal_down: [2]\n", "", ":5:19: vae.temporal_down: expected a sequence of 1 to 6 integers in [0, 1], got '2'"},
      {"vae:\n  in_channels: 3\n  base_channels: 16\n  channel_mult: [1, 2]\n  temporal_down: [1, 1]\n  res_blocks: 1\n  latent_channels: 4\n  groups: 8\n", "", "vae.temporal_down: expected 1 entries (one per down-sampling: channel_mult has 2), got 2"},
      {"vae:\n  in_channels: 3\n  base_channels: 12\n  channel_mult: [1, 2]\n  temporal_down: [1]\n  res_blocks: 1\n  latent_channels: 4\n  groups: 8\n", "", "vae.groups: expected a divisor of every level's channels, got 8 (level 0 has 12)"},
      {"vae:\n  in_channels: 3\n", "", "vae_bad.yaml: vae.base_channels: expected an integer in [1, 4096], missing"},
      {"model:\n  dim: 3\n", "", ":1:1: model: expected only the section `vae`"},
      {"vae: [1\n", "", "vae_bad.yaml:2:1: expected YAML, got a syntax error"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    FILE *f = fopen(path, "w");
    fputs(cases[i].yaml ? cases[i].yaml : BASE, f);
    fputs(cases[i].extra, f);
    fclose(f);
    VaeConfig c;
    TsrErr e = {0};
    int rc = vae_config_load(&c, path, &e);
    if (!cases[i].want) {
      EXPECT(rc == 0, "case %zu: the base config fails: %s", i, e.msg);
      continue;
    }
    EXPECT(rc == -1 && strstr(e.msg, cases[i].want) && !strchr(e.msg, '\n'),
           "case %zu: rc %d, message '%s', want '%s'", i, rc, e.msg, cases[i].want);
    if (rc == -1 && strstr(e.msg, cases[i].want)) printf("  ok  %s\n", e.msg);
  }
  TsrErr e;
  VaeConfig c;
  EXPECT(vae_config_load(&c, "build/tmp/no_such.yaml", &e) == -1 && strstr(e.msg, "no_such.yaml: expected a readable"),
         "missing file: %s", e.msg);
  return tl_finish("test_vae_config");
}
