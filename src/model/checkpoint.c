#include "model/checkpoint.h"

#include <dirent.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/h5io.h"

// One float32 dataset at the parameter's shape, fletcher32-checksummed.
static void write_tensor(hid_t f, const char *group, const ParamInfo *p, const float *data) {
  char name[PARAM_NAME_MAX + 32];
  snprintf(name, sizeof name, "/%s/%s", group, p->name);
  h5_write_checked(f, name, H5T_NATIVE_FLOAT, data, p->ndim, p->shape, 1);
}

static void write_group(hid_t f, const char *group, const ParamTable *t, const float *buf) {
  for (int i = 0; i < t->count; i++) write_tensor(f, group, &t->items[i], buf + t->items[i].offset);
}

static void write_vocab(hid_t f, char *const *words, int n) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5_CHECK(H5Tset_size(type, H5T_VARIABLE));
  H5_CHECK(H5Tset_cset(type, H5T_CSET_UTF8));
  hsize_t dims[1] = {(hsize_t)n};
  hid_t space = H5Screate_simple(1, dims, NULL), lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5_CHECK(H5Pset_create_intermediate_group(lcpl, 1));
  hid_t ds = H5Dcreate2(f, "/tokenizer/vocab", type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5_CHECK(ds);
  H5_CHECK(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, words));
  H5Dclose(ds);
  H5Pclose(lcpl);
  H5Sclose(space);
  H5Tclose(type);
}

static void ckpt_save_locked(const char *path, const CkptBuffers *b, const CkptState *s, const Config *cfg);

void ckpt_save(const char *path, const CkptBuffers *b, const CkptState *s, const Config *cfg) {
  h5_lock();
  ckpt_save_locked(path, b, s, cfg);
  h5_unlock();
}

static void ckpt_save_locked(const char *path, const CkptBuffers *b, const CkptState *s, const Config *cfg) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) tsr_user_error("%s: cannot create checkpoint (is the directory writable?)", tmp);
  h5_attr_str(f, "format", CKPT_FORMAT);
  h5_attr_int(f, "version", CKPT_VERSION);
  h5_attr_int(f, "step", s->step);
  h5_attr_int(f, "adam_step", s->adam_step);
  h5_attr_int(f, "bad_steps", s->bad_steps);
  h5_attr_int(f, "seed", (int64_t)s->seed);
  h5_attr_int(f, "cursor_epoch", (int64_t)s->cursor_epoch);
  h5_attr_int(f, "cursor_position", (int64_t)s->cursor_position);
  h5_attr_int(f, "cursor_batches", (int64_t)s->cursor_batches);
  char *yaml = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&yaml, &len);
  config_write(cfg, mem);
  fclose(mem);
  h5_attr_str(f, "config", yaml);
  free(yaml);
  write_group(f, "params", b->params, b->params->data);
  if (b->m) write_group(f, "optim/m", b->params, b->m);
  if (b->v) write_group(f, "optim/v", b->params, b->v);
  if (b->ema) write_group(f, "ema", b->params, b->ema);
  if (b->vocab && b->vocab_size > 0) write_vocab(f, b->vocab, b->vocab_size);
  H5_CHECK(H5Fflush(f, H5F_SCOPE_GLOBAL));
  H5_CHECK(H5Fclose(f));
  if (rename(tmp, path) != 0) tsr_user_error("%s: cannot rename %s into place", path, tmp);
}

static int64_t read_int_attr(hid_t f, const char *path, const char *name) {
  if (H5Aexists(f, name) <= 0) tsr_user_error("%s: attribute '%s' missing: not a tessera checkpoint", path, name);
  int64_t v = 0;
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  H5_CHECK(a);
  H5_CHECK(H5Aread(a, H5T_NATIVE_INT64, &v));
  H5_CHECK(H5Aclose(a));
  return v;
}

static void check_format(hid_t f, const char *path) {
  char fmt[64] = "";
  if (H5Aexists(f, "format") > 0) {
    hid_t a = H5Aopen(f, "format", H5P_DEFAULT), type = H5Aget_type(a);
    size_t n = H5Tget_size(type);
    if (H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type) && n < sizeof fmt) H5Aread(a, type, fmt);
    H5Tclose(type);
    H5Aclose(a);
  }
  if (strcmp(fmt, CKPT_FORMAT) != 0) tsr_user_error("%s: attribute format: expected '%s', found '%s'", path, CKPT_FORMAT, fmt);
  int64_t version = read_int_attr(f, path, "version");
  if (version != CKPT_VERSION) tsr_user_error("%s: version %lld, this tessera reads version %d", path, (long long)version, CKPT_VERSION);
}

// Read /group/<name> for every parameter, checking its shape.
static void read_group(hid_t f, const char *path, const char *group, const ParamTable *t, float *buf) {
  for (int i = 0; i < t->count; i++) {
    const ParamInfo *p = &t->items[i];
    char name[PARAM_NAME_MAX + 32];
    snprintf(name, sizeof name, "/%s/%s", group, p->name);
    if (!h5_exists(f, name))
      tsr_user_error("%s: %s: missing (the checkpoint was made for a different model config)", path, name);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    H5_CHECK(ds);
    hid_t space = H5Dget_space(ds);
    hsize_t dims[8] = {0};
    int nd = H5Sget_simple_extent_dims(space, dims, NULL);
    int same = nd == p->ndim;
    for (int d = 0; same && d < nd; d++) same = dims[d] == (hsize_t)p->shape[d];
    if (!same)
      tsr_user_error("%s: %s: shape does not match the model config (expected %lld x %lld ...)", path, name,
                     (long long)p->shape[0], (long long)(p->ndim > 1 ? p->shape[1] : 1));
    herr_t rc;
    H5E_BEGIN_TRY { rc = H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + p->offset); } H5E_END_TRY;
    if (rc < 0) tsr_user_error("%s: %s: read failed (checksum mismatch: the file is corrupt)", path, name);
    H5Sclose(space);
    H5Dclose(ds);
  }
}

static void ckpt_load_locked(const char *path, CkptBuffers *b, CkptState *s, const char *which);

void ckpt_load(const char *path, CkptBuffers *b, CkptState *s, const char *which) {
  h5_lock();
  ckpt_load_locked(path, b, s, which);
  h5_unlock();
}

static void ckpt_load_locked(const char *path, CkptBuffers *b, CkptState *s, const char *which) {
  H5Quiet quiet = h5_quiet_begin();  // our own one-line errors instead of HDF5's stack
  hid_t f = h5_open_read(path);
  check_format(f, path);
  s->step = read_int_attr(f, path, "step");
  s->adam_step = read_int_attr(f, path, "adam_step");
  s->bad_steps = read_int_attr(f, path, "bad_steps");
  s->seed = (uint64_t)read_int_attr(f, path, "seed");
  s->cursor_epoch = (uint64_t)read_int_attr(f, path, "cursor_epoch");
  s->cursor_position = (uint64_t)read_int_attr(f, path, "cursor_position");
  s->cursor_batches = (uint64_t)read_int_attr(f, path, "cursor_batches");
  const ParamTable *t = b->params;
  read_group(f, path, strcmp(which, "ema") == 0 ? "ema" : "params", t, t->data);
  if (b->m) read_group(f, path, "optim/m", t, b->m);
  if (b->v) read_group(f, path, "optim/v", t, b->v);
  if (b->ema) read_group(f, path, "ema", t, b->ema);
  h5_close(f);
  h5_quiet_end(quiet);
}

// Step number of "ckpt_<step>.h5", or -1.
static long long ckpt_step_of(const char *name) {
  long long step;
  char tail[8];
  if (sscanf(name, "ckpt_%lld.h%7s", &step, tail) == 2 && strcmp(tail, "5") == 0) return step;
  return -1;
}

void ckpt_latest(const char *dir, char *out, int n) {
  out[0] = 0;
  DIR *d = opendir(dir);
  if (!d) return;
  long long best = -1;
  for (struct dirent *e; (e = readdir(d));) {
    long long step = ckpt_step_of(e->d_name);
    if (step > best) {
      best = step;
      snprintf(out, (size_t)n, "%s/%s", dir, e->d_name);
    }
  }
  closedir(d);
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

void ckpt_prune(const char *dir, int keep) {
  if (keep <= 0) return;
  DIR *d = opendir(dir);
  if (!d) return;
  long long steps[4096];
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < 4096;) {
    long long step = ckpt_step_of(e->d_name);
    if (step >= 0) steps[n++] = step;
  }
  closedir(d);
  qsort(steps, (size_t)n, sizeof *steps, cmp_ll);
  for (int i = 0; i + keep < n; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/ckpt_%lld.h5", dir, steps[i]);
    unlink(path);
  }
}

static hid_t open_checked(const char *path) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = h5_open_read(path);
  check_format(f, path);
  return f;
}

void ckpt_read_config(const char *path, Config *cfg) {
  hid_t f = open_checked(path);
  if (H5Aexists(f, "config") <= 0) tsr_user_error("%s: attribute 'config' missing", path);
  hid_t a = H5Aopen(f, "config", H5P_DEFAULT), type = H5Aget_type(a);
  size_t n = H5Tget_size(type);
  char *yaml = tsr_calloc(n + 1, 1);
  H5_CHECK(H5Aread(a, type, yaml));
  H5Tclose(type);
  H5Aclose(a);
  h5_close(f);
  // The config loader reads files (and names them in errors): give it one.
  char tmp[] = "/tmp/tessera-ckpt-config-XXXXXX.yaml";
  int fd = mkstemps(tmp, 5);
  if (fd < 0) tsr_fatal(__FILE__, __LINE__, "io", "mkstemps failed");
  FILE *out = fdopen(fd, "w");
  fputs(yaml, out);
  fclose(out);
  tsr_free(yaml);
  config_load(cfg, tmp, 0, NULL);
  unlink(tmp);
  snprintf(cfg->path, sizeof cfg->path, "%s", path);
}

void ckpt_read_vocab(const char *path, char ***words, int *n) {
  hid_t f = open_checked(path);
  *words = NULL;
  *n = 0;
  if (!h5_exists(f, "/tokenizer/vocab")) {
    h5_close(f);
    return;
  }
  hid_t ds = H5Dopen2(f, "/tokenizer/vocab", H5P_DEFAULT), space = H5Dget_space(ds);
  hssize_t count = H5Sget_simple_extent_npoints(space);
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  char **tmp = tsr_calloc((size_t)count, sizeof(char *));
  H5_CHECK(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp));
  *words = malloc((size_t)count * sizeof(char *));
  for (hssize_t i = 0; i < count; i++) (*words)[i] = strdup(tmp[i] ? tmp[i] : "");
  H5Dvlen_reclaim(type, space, H5P_DEFAULT, tmp);
  tsr_free(tmp);
  *n = (int)count;
  H5Tclose(type);
  H5Sclose(space);
  H5Dclose(ds);
  h5_close(f);
}
