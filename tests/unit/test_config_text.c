// config_load_text: a config held in memory (a checkpoint's stored config) is
// loaded without a temporary file, and its errors name the given name (the
// checkpoint), with exit code 2 and one line.
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "testlib.h"

#define NAME "runs/x/ckpt_5.h5"

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  return buf;
}

// Loads `text` as the command layer would report it: "tessera: error: <msg>"
// in err and the exit code the command would end with (0 when it loads).
static int load_in_child(const char *text, char *err, size_t n) {
  Config c;
  TsrErr e;
  err[0] = 0;
  if (config_load_text(&c, NAME, text, strlen(text), &e) == 0) return 0;
  snprintf(err, n, "tessera: error: %s\n", e.msg);
  return e.code;
}

int main(void) {
  const char *model = read_text("configs/model/tiny.yaml");
  EXPECT(model != NULL, "cannot read configs/model/tiny.yaml (run from the repository root)");
  if (!model) return tl_finish("test_config_text");
  Config c;
  MUST(config_load_text(&c, NAME, model, strlen(model), &tl_err));
  EXPECT(c.model.dim == 256 && c.model.tokens == 512, "tiny from memory: dim %d tokens %d", c.model.dim,
         c.model.tokens);
  EXPECT(!strcmp(c.path, NAME), "path '%s', expected the given name", c.path);

  static char bad[(1 << 16) + 64], err[2048];
  snprintf(bad, sizeof bad, "%strain:\n  steps: !!str 5\n", model);
  int rc = load_in_child(bad, err, sizeof err);
  EXPECT(rc == 2, "bad stored config: exit code %d, expected 2", rc);
  EXPECT(!strncmp(err, "tessera: error: " NAME ":", strlen("tessera: error: " NAME ":")),
         "the error names the checkpoint: %s", err);
  EXPECT(strstr(err, "train.steps: expected an integer") != NULL, "the error names the key: %s", err);
  EXPECT(strchr(err, '\n') == err + strlen(err) - 1, "one line: %s", err);
  printf("  ok  stored config from memory; its error: %s", err);
  return tl_finish("test_config_text");
}
