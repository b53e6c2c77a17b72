// vae.h5 (vae_ckpt.h). The reading side checks each item before it is read,
// with core/h5io.h's checked readers, as the DiT's checkpoint reader does.
#include "vae/vae_ckpt.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/h5io.h"
#include "model/ckpt_sum.h"

// ---------------------------------------------------------------- writing

// One tensor as /group/name: a single chunk with a fletcher32 filter and its
// checksum attribute. Negative on failure.
static herr_t write_tensor(hid_t f, const char *group, const ParamInfo *p, const float *x) {
  char name[PARAM_NAME_MAX + 32];
  snprintf(name, sizeof name, "/%s/%s", group, p->name);
  hsize_t dims[PARAM_MAX_DIM];
  for (int d = 0; d < p->ndim; d++) dims[d] = (hsize_t)p->shape[d];
  int64_t sum[2];
  ckpt_sum_full(x, p->numel, sum);
  hid_t space = H5Screate_simple(p->ndim, dims, NULL), lcpl = H5Pcreate(H5P_LINK_CREATE),
        dcpl = H5Pcreate(H5P_DATASET_CREATE);
  herr_t rc = -1;
  hid_t ds = -1;
  if (space >= 0 && lcpl >= 0 && dcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0 &&
      H5Pset_chunk(dcpl, p->ndim, dims) >= 0 && H5Pset_fletcher32(dcpl) >= 0 &&
      (ds = H5Dcreate2(f, name, H5T_NATIVE_FLOAT, space, lcpl, dcpl, H5P_DEFAULT)) >= 0 &&
      H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0 && h5_attr_ints_try(ds, "checksum", sum, 2) >= 0)
    rc = 0;
  if (ds >= 0) H5Dclose(ds);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (space >= 0) H5Sclose(space);
  return rc;
}

static herr_t write_group(hid_t f, const char *group, const Vae *v, const float *dev, float *host) {
  be_download(v->be, host, dev, v->params.total * sizeof(float));
  for (int i = 0; i < v->params.count; i++)
    if (write_tensor(f, group, &v->params.items[i], host + v->params.items[i].offset) < 0) return -1;
  return 0;
}

static herr_t write_attrs(hid_t f, const Vae *v, const VaeAdam *opt, const VaeCkptState *s) {
  const struct { const char *name; int64_t v; } ints[] = {
      {"version", VAE_CKPT_VERSION}, {"step", s->step}, {"adam_step", opt ? opt->step : 0},
      {"seed", (int64_t)s->seed}, {"cursor_epoch", (int64_t)s->cursor_epoch},
      {"cursor_position", (int64_t)s->cursor_position}, {"cursor_batches", (int64_t)s->cursor_batches}};
  if (h5_attr_str_try(f, "format", VAE_CKPT_FORMAT) < 0 || h5_attr_str_try(f, "run_id", s->run_id) < 0) return -1;
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
    if (h5_attr_ints_try(f, ints[i].name, &ints[i].v, 1) < 0) return -1;
  char *yaml = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&yaml, &len);
  vae_config_write(&v->cfg, mem);
  fclose(mem);
  herr_t rc = h5_attr_str_try(f, "config", yaml);
  free(yaml);
  return rc;
}

int vae_ckpt_save(const char *path, const Vae *v, const VaeAdam *opt, const VaeCkptState *s, TsrErr *err) {
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  H5Quiet q = h5_quiet_begin();
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);  // checksummed object headers
  errno = 0;
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  const char *what = "create";
  int e = errno;
  float *host = malloc(v->params.total * sizeof(float));
  if (f >= 0) {
    what = "write";
    if (write_attrs(f, v, opt, s) >= 0 && write_group(f, "params", v, v->params.data, host) >= 0 &&
        (!opt || (write_group(f, "optim/m", v, opt->m, host) >= 0 && write_group(f, "optim/v", v, opt->v, host) >= 0)) &&
        H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0) {
      what = "close";
      hid_t g = f;
      f = -1;
      if (H5Fclose(g) >= 0) {
        what = "sync";
        if (fs_sync_file(tmp) == 0) {
          what = "rename";
          if (rename(tmp, path) == 0) what = NULL;
        }
      }
    }
    e = errno ? errno : h5_stack_errno();
  }
  free(host);
  if (f >= 0) H5E_BEGIN_TRY { H5Fclose(f); } H5E_END_TRY;
  h5_quiet_end(q);
  if (!what) return 0;
  unlink(tmp);
  return tsr_err(err, "%s: cannot write the VAE checkpoint (%s): %s; earlier checkpoints are untouched", path, what,
                 e ? strerror(e) : "I/O error");
}

// ---------------------------------------------------------------- reading

// Opens path and checks that it is a VAE checkpoint of a version this reads.
static hid_t open_ckpt(const char *path, TsrErr *err) {
  htri_t ok;
  H5E_BEGIN_TRY { ok = H5Fis_hdf5(path); } H5E_END_TRY;
  if (ok <= 0)
    return access(path, R_OK) ? tsr_err(err, "%s: cannot open the VAE checkpoint: %s", path, strerror(errno))
                              : tsr_err(err, "%s: expected a VAE checkpoint (HDF5), got another kind of file", path);
  hid_t f;
  H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
  if (f < 0) return tsr_err(err, "%s: cannot open: the HDF5 file is truncated or corrupt", path);
  char *fmt = NULL, why[H5_ERR];
  if (h5_attr_read_str(f, "format", 64, &fmt, why) < 0) {
    h5_close_all(f);
    return tsr_err(err, "%s: %s (not a tessera VAE checkpoint)", path, why);
  }
  int rc = 0;
  if (strcmp(fmt, VAE_CKPT_FORMAT))
    rc = tsr_err(err, "%s: attribute format: expected '%s' (a VAE checkpoint), found '%s'%s", path, VAE_CKPT_FORMAT, fmt,
                 strcmp(fmt, "tessera-ckpt") ? "" : " (a DiT checkpoint)");
  free(fmt);
  int64_t version = 0;
  if (!rc && (h5_attr_read_ints(f, "version", 1, &version, why) < 0 || version != VAE_CKPT_VERSION))
    rc = tsr_err(err, "%s: attribute version: expected %d, found %lld", path, VAE_CKPT_VERSION, (long long)version);
  if (rc) {
    h5_close_all(f);
    return -1;
  }
  return f;
}

int vae_ckpt_read_config(const char *path, VaeConfig *cfg, TsrErr *err) {
  H5Quiet q = h5_quiet_begin();
  hid_t f = open_ckpt(path, err);
  int rc = -1;
  if (f >= 0) {
    char *yaml = NULL, why[H5_ERR], label[1100];
    snprintf(label, sizeof label, "%s (attribute config)", path);
    if (h5_attr_read_str(f, "config", 1 << 20, &yaml, why) < 0)
      tsr_err(err, "%s: %s", path, why);
    else
      rc = vae_config_load_text(cfg, yaml, strlen(yaml), label, err);
    free(yaml);
    h5_close_all(f);
  }
  h5_quiet_end(q);
  return rc;
}

// /group/<name> of every parameter into host (v's offsets), each checked.
static int read_group(hid_t f, const char *path, const char *group, const Vae *v, float *host, TsrErr *err) {
  for (int i = 0; i < v->params.count; i++) {
    const ParamInfo *p = &v->params.items[i];
    char name[PARAM_NAME_MAX + 32], why[H5_ERR];
    snprintf(name, sizeof name, "/%s/%s", group, p->name);
    if (!h5_exists(f, name)) return tsr_err(err, "%s: %s: missing (the checkpoint was made for another VAE config)", path, name);
    hid_t ds = h5_open_kind(f, name, H5I_DATASET, why);
    hsize_t dims[H5S_MAX_RANK];
    int nd = ds < 0 ? -1 : h5_check_dataset(ds, name, H5T_NATIVE_FLOAT, -1, dims, why);
    int same = nd == p->ndim;
    for (int d = 0; same && d < nd; d++) same = dims[d] == (hsize_t)p->shape[d];
    int64_t want[2], have[2];
    float *x = host + p->offset;
    int rc = 0;
    if (nd < 0)
      rc = tsr_err(err, "%s: %s", path, why);
    else if (!same)
      rc = tsr_err(err, "%s: %s: expected %d dimensions of the config's shape, found another shape", path, name, p->ndim);
    else if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0)
      rc = tsr_err(err, "%s: %s: unreadable (checksum mismatch: a corrupt file)", path, name);
    else if (h5_attr_read_ints(ds, "checksum", 2, have, why) < 0)
      rc = tsr_err(err, "%s: %s", path, why);
    else {
      ckpt_sum_full(x, p->numel, want);
      if (want[0] != have[0] || want[1] != have[1])
        rc = tsr_err(err, "%s: %s: checksum mismatch (a corrupt file)", path, name);
      for (size_t j = 0; !rc && j < p->numel; j++)
        if (!isfinite(x[j])) rc = tsr_err(err, "%s: %s: element %zu is not finite", path, name, j);
    }
    if (ds >= 0) H5Dclose(ds);
    if (rc) return rc;
  }
  return 0;
}

static int read_count(hid_t f, const char *path, const char *name, int64_t *out, TsrErr *err) {
  char why[H5_ERR];
  if (h5_attr_read_ints(f, name, 1, out, why) < 0) return tsr_err(err, "%s: %s", path, why);
  if (*out < 0) return tsr_err(err, "%s: attribute %s: expected a count >= 0, found %lld", path, name, (long long)*out);
  return 0;
}

int vae_ckpt_load(const char *path, Vae *v, VaeAdam *opt, VaeCkptState *s, TsrErr *err) {
  H5Quiet q = h5_quiet_begin();
  hid_t f = open_ckpt(path, err);
  if (f < 0) {
    h5_quiet_end(q);
    return -1;
  }
  float *host = malloc(v->params.total * sizeof(float));
  VaeCkptState st = {0};
  int64_t vals[7] = {0};
  const char *names[7] = {"step", "adam_step", "seed", "cursor_epoch", "cursor_position", "cursor_batches", NULL};
  int rc = 0;
  for (int i = 0; !rc && names[i]; i++) rc = read_count(f, path, names[i], &vals[i], err);
  char *id = NULL, why[H5_ERR];
  if (!rc && h5_attr_read_str(f, "run_id", sizeof st.run_id - 1, &id, why) < 0) rc = tsr_err(err, "%s: %s", path, why);
  if (!rc) {
    st = (VaeCkptState){.step = vals[0], .seed = (uint64_t)vals[2], .cursor_epoch = (uint64_t)vals[3],
                        .cursor_position = (uint64_t)vals[4], .cursor_batches = (uint64_t)vals[5]};
    snprintf(st.run_id, sizeof st.run_id, "%s", id);
  }
  free(id);
  if (!rc && !(rc = read_group(f, path, "params", v, host, err)))
    be_upload(v->be, v->params.data, host, v->params.total * sizeof(float));
  if (!rc && opt) {
    if (!h5_exists(f, "/optim")) rc = tsr_err(err, "%s: optim: missing (a checkpoint saved without optimizer state cannot resume)", path);
    if (!rc && !(rc = read_group(f, path, "optim/m", v, host, err))) be_upload(v->be, opt->m, host, v->params.total * sizeof(float));
    if (!rc && !(rc = read_group(f, path, "optim/v", v, host, err))) be_upload(v->be, opt->v, host, v->params.total * sizeof(float));
    if (!rc) opt->step = (int)vals[1];
  }
  free(host);
  h5_close_all(f);
  h5_quiet_end(q);
  if (!rc && s) *s = st;
  return rc;
}
