// The latent attributes and float16 patches of a corpus.h5 (corpus_latent.h).
#include "data/corpus_latent.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "data/corpus_check.h"

hid_t corpus_f16_type(void) {
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  if (t < 0 || H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0 ||
      H5Tset_precision(t, 16) < 0)
    tsr_fatal(__FILE__, __LINE__, "HDF5", "cannot make the float16 type");
  return t;
}

// A float32 attribute of exactly n values into out.
static int attr_floats(const Corpus *c, const char *name, int n, float *out, TsrErr *err) {
  hid_t a = H5Aopen(c->file, name, H5P_DEFAULT);
  if (a < 0) return tsr_err(err, "%s: attribute /%s: missing (a latent corpus has it)", c->path, name);
  hid_t sp = H5Aget_space(a), t = H5Aget_type(a);
  hssize_t got = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
  int ok = t >= 0 && H5Tget_class(t) == H5T_FLOAT && got == n && H5Aread(a, H5T_NATIVE_FLOAT, out) >= 0;
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  H5Aclose(a);
  if (!ok)
    return tsr_err(err, "%s: attribute /%s: expected %d float32 values (one per latent channel), found %lld", c->path,
                   name, n, (long long)got);
  return 0;
}

int corpus_latent_open(Corpus *c, TsrErr *err) {
  const char *f = c->path;
  if (H5Aexists(c->file, "vae_sha256") <= 0) return 0;  // a pixel corpus
  char sha[256];
  int fixed = cc_attr_fixed_string(f, c->file, "/", "vae_sha256", sha, err);
  if (fixed < 0) return -1;
  size_t n = strlen(sha);
  int hex = fixed == 1 && n == 64;
  for (size_t i = 0; hex && i < n; i++) hex = (sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f');
  if (!hex) return tsr_err(err, "%s: attribute /vae_sha256: expected 64 lower-case hex digits (a SHA-256)", f);
  memcpy(c->vae_sha256, sha, 65);
  int64_t comp[3];
  if (cc_attr_ints(f, c->file, "/", "vae_compression", 3, comp, err)) return -1;
  if (comp[0] < 1 || comp[0] > 64 || comp[1] < 1 || comp[1] > 64 || comp[2] != comp[1])
    return tsr_err(err, "%s: attribute /vae_compression: expected [ct, cs, cs] in [1, 64], found [%lld, %lld, %lld]", f,
                   (long long)comp[0], (long long)comp[1], (long long)comp[2]);
  c->ct = (int)comp[0], c->cs = (int)comp[1];
  const int Z = c->channels;
  c->latent_mean = malloc(sizeof(float) * (size_t)Z);
  c->latent_std = malloc(sizeof(float) * (size_t)Z);
  TSR_ASSERT(c->latent_mean && c->latent_std, "out of memory");
  if (attr_floats(c, "latent_mean", Z, c->latent_mean, err) || attr_floats(c, "latent_std", Z, c->latent_std, err))
    return -1;
  for (int k = 0; k < Z; k++)
    if (!isfinite(c->latent_mean[k]) || !(c->latent_std[k] > 0) || !isfinite(c->latent_std[k]))
      return tsr_err(err, "%s: attributes /latent_mean, /latent_std: channel %d: expected a finite mean and a finite std "
                     "> 0, found %g and %g", f, k, c->latent_mean[k], c->latent_std[k]);
  c->latent = 1;
  return 0;
}

static herr_t attr(hid_t loc, const char *name, hid_t type, hid_t mtype, int n, const void *v) {
  hsize_t d = (hsize_t)n;
  hid_t sp = H5Screate_simple(1, &d, NULL);
  if (sp < 0) return -1;
  hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, mtype, v);
  if (a >= 0 && H5Aclose(a) < 0) rc = -1;
  H5Sclose(sp);
  return rc;
}

herr_t corpus_latent_write(hid_t file, const char *sha256, int ct, int cs, const float *mean, const float *std, int Z) {
  hid_t t = H5Tcopy(H5T_C_S1);  // fixed length, in the object header (as /format)
  if (t < 0 || H5Tset_size(t, strlen(sha256)) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) return -1;
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = sp < 0 ? -1 : H5Acreate2(file, "vae_sha256", t, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, t, sha256);
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  H5Tclose(t);
  const int64_t comp[3] = {ct, cs, cs};
  if (rc >= 0) rc = attr(file, "vae_compression", H5T_STD_I64LE, H5T_NATIVE_INT64, 3, comp);
  if (rc >= 0) rc = attr(file, "latent_mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, Z, mean);
  if (rc >= 0) rc = attr(file, "latent_std", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, Z, std);
  return rc;
}

int64_t corpus_latent_decode(const Corpus *c, const uint16_t *in, size_t m, float *out) {
  const int Z = c->channels;
  int64_t bad = -1;
  for (size_t i = 0; i < m; i++) {
    const float z = f16_to_f32(in[i]);
    if (!isfinite(z) && bad < 0) bad = (int64_t)i;
    const size_t k = i % (size_t)Z;
    out[i] = (z - c->latent_mean[k]) / c->latent_std[k];
  }
  return bad;
}
