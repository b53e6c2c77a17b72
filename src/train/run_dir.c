#include "train/run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/error.h"
#include "core/jsonx.h"
#include "core/fs.h"
#include "core/log.h"
#include "model/checkpoint.h"

static int is_ckpt_name(const char *name, int tmp) {
  long long step;
  int end = 0;
  if (sscanf(name, "ckpt_%lld.h5%n", &step, &end) != 1 || end == 0 || step < 0) return 0;
  return strcmp(name + end, tmp ? ".tmp" : "") == 0;
}

int run_dir_prepare(const char *dir, TsrErr *err) {
  if (fs_mkdirs(dir) != 0) return tsr_err(err, "train.out: cannot create directory '%s': %s", dir, strerror(errno));
  if (fs_check_writable(dir) != 0)
    return tsr_err(err, "train.out: cannot write in directory '%s': %s", dir, strerror(errno));
  DIR *d = opendir(dir);
  if (!d) return tsr_err(err, "train.out: cannot read directory '%s': %s", dir, strerror(errno));
  for (struct dirent *e; (e = readdir(d));)
    if (is_ckpt_name(e->d_name, 1)) {
      char path[4200];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      if (unlink(path) == 0) log_info("removed %s (left by an interrupted checkpoint write)", path);
    }
  closedir(d);
  return 0;
}

void run_id_new(char *out, size_t n) {
  unsigned char b[8];
  if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) tsr_fatal(__FILE__, __LINE__, "getrandom", "%s", strerror(errno));
  snprintf(out, n, "%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
}

// The run of metrics.jsonl (its first line's "run"; "" for lines written
// before run ids): 1, or 0 when the file is absent or empty.
static int metrics_run(const char *path, char *out, size_t n) {
  out[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[1024];
  int have = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  if (!have) return 0;
  char why[256];
  json_t *o = jx_parse(line, strlen(line), why, sizeof why);  // a torn or foreign line: no run id
  const char *run = o ? jx_str(o, "run") : NULL;
  if (run) snprintf(out, n, "%s", run);
  json_decref(o);
  return 1;
}

int run_dir_claim(const char *dir, const char *run_id, int resumed, int auto_start, int overwrite, TsrErr *err) {
  char foreign[4200] = "", other[CKPT_RUN_ID_MAX] = "";
  int nforeign = 0;
  DIR *d = opendir(dir);
  if (!d) return tsr_err(err, "train.out: cannot read directory '%s': %s", dir, strerror(errno));
  for (struct dirent *e; (e = readdir(d));) {
    if (!is_ckpt_name(e->d_name, 0)) continue;
    char path[4200], id[CKPT_RUN_ID_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (ckpt_run_id(path, id, sizeof id) == 0 && strcmp(id, run_id) == 0) continue;
    if (overwrite) {
      if (unlink(path) != 0) {
        closedir(d);
        return tsr_err(err, "train.out: cannot remove %s: %s", path, strerror(errno));
      }
      log_info("removed %s (another run's checkpoint; --overwrite)", path);
      continue;
    }
    if (nforeign++ == 0) snprintf(foreign, sizeof foreign, "%s", e->d_name), snprintf(other, sizeof other, "%s", id);
  }
  closedir(d);
  if (nforeign)
    return tsr_err(err, "train.out: %s holds %d checkpoint%s of another run (%s%s%s) that this %s run would mix with or "
                   "delete; continue it with train.resume=auto, choose another train.out, or start over with "
                   "`tessera train --overwrite` (deletes them)", dir, nforeign, nforeign > 1 ? "s" : "", foreign,
                   other[0] ? ", run " : "", other, resumed ? "resumed" : "fresh");
  char mpath[4200], mrun[CKPT_RUN_ID_MAX];
  snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", dir);
  if (!metrics_run(mpath, mrun, sizeof mrun) || (resumed && strcmp(mrun, run_id) == 0) || overwrite) return 0;
  if (!resumed && auto_start) {
    log_warn("%s: metrics of run %s, which left no checkpoint, are replaced (train.resume=auto starts over)", mpath,
             mrun[0] ? mrun : "(no id)");
    return 0;
  }
  return tsr_err(err, "train.out: %s holds the metrics of another run (%s) that this %s run would overwrite; continue "
                 "it with train.resume=auto, choose another train.out, or start over with `tessera train --overwrite`",
                 mpath, mrun[0] ? mrun : "written without a run id", resumed ? "resumed" : "fresh");
}
