#include "vae/vae_latent_file.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/h5io.h"

int vae_latent_write(const char *path, const VaeLatentFile *l, const VaeConfig *cfg, TsrErr *err) {
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  const char *slash = strrchr(path, '/');
  char dir[1100];
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
  if (fs_check_writable(dir)) return tsr_err(err, "%s: cannot write the latent: %s", path, strerror(errno));
  hid_t f = h5_create(tmp);
  h5_attr_str(f, "format", VAE_LATENT_FORMAT);
  h5_attr_int(f, "version", 1);
  h5_attr_int(f, "frames", l->T);
  h5_attr_int(f, "height", l->H);
  h5_attr_int(f, "width", l->W);
  h5_attr_double(f, "fps", l->fps);
  h5_attr_str(f, "vae_sha256", l->vae_sha256);
  char *yaml = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&yaml, &len);
  vae_config_write(cfg, mem);
  fclose(mem);
  h5_attr_str(f, "vae_config", yaml);
  free(yaml);
  const int64_t dims[4] = {l->t, l->h, l->w, l->z};
  h5_write_checked(f, "/latent", H5T_NATIVE_FLOAT, l->latent, 4, dims, 1);
  const int closed = H5Fclose(f) >= 0;
  if (!closed || fs_sync_file(tmp) || rename(tmp, path)) {
    const int e = errno;
    unlink(tmp);
    return tsr_err(err, "%s: cannot write the latent: %s", path, e ? strerror(e) : "I/O error");
  }
  return 0;
}

int vae_latent_read(const char *path, const VaeConfig *cfg, VaeLatentFile *l, TsrErr *err) {
  *l = (VaeLatentFile){0};
  H5Quiet q = h5_quiet_begin();
  hid_t f = h5_open_read(path, err);
  int rc = f < 0 ? -1 : 0;
  char why[H5_ERR], *fmt = NULL, *sha = NULL;
  int64_t v[3] = {0};
  const char *names[3] = {"frames", "height", "width"};
  if (!rc && (h5_attr_read_str(f, "format", 64, &fmt, why) < 0 || strcmp(fmt, VAE_LATENT_FORMAT)))
    rc = tsr_err(err, "%s: attribute format: expected '%s' (a file of `tessera vae encode`), found %s", path,
                 VAE_LATENT_FORMAT, fmt ? fmt : "none");
  for (int i = 0; !rc && i < 3; i++)
    if (h5_attr_read_ints(f, names[i], 1, &v[i], why) < 0 || v[i] < 1 || v[i] > 65536)
      rc = tsr_err(err, "%s: attribute %s: expected a size in [1, 65536]", path, names[i]);
  if (!rc && h5_attr_read_str(f, "vae_sha256", 80, &sha, why) < 0) rc = tsr_err(err, "%s: %s", path, why);
  if (!rc) {
    l->T = (int)v[0], l->H = (int)v[1], l->W = (int)v[2];
    snprintf(l->vae_sha256, sizeof l->vae_sha256, "%s", sha);
    rc = vae_check_clip(cfg, l->T, l->H, l->W, path, err);
  }
  if (!rc) {
    l->t = vae_latent_t(cfg, l->T), l->h = l->H / cfg->cs, l->w = l->W / cfg->cs, l->z = cfg->latent_channels;
    double fps = 0;
    hid_t a = H5Aopen(f, "fps", H5P_DEFAULT);
    if (a < 0 || H5Aread(a, H5T_NATIVE_DOUBLE, &fps) < 0 || !(fps > 0 && fps < 1000)) fps = 8;
    if (a >= 0) H5Aclose(a);
    l->fps = (float)fps;
    hsize_t dims[H5S_MAX_RANK];
    hid_t ds = h5_open_kind(f, "/latent", H5I_DATASET, why);
    int nd = ds < 0 ? -1 : h5_check_dataset(ds, "/latent", H5T_NATIVE_FLOAT, 4, dims, why);
    if (nd < 0)
      rc = tsr_err(err, "%s: %s", path, why);
    else if (dims[0] != (hsize_t)l->t || dims[1] != (hsize_t)l->h || dims[2] != (hsize_t)l->w || dims[3] != (hsize_t)l->z)
      rc = tsr_err(err, "%s: /latent: expected %dx%dx%dx%d for the checkpoint's VAE, found %llux%llux%llux%llu", path, l->t,
                   l->h, l->w, l->z, (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2],
                   (unsigned long long)dims[3]);
    else {
      const size_t n = (size_t)l->t * l->h * l->w * l->z;
      l->latent = malloc(n * sizeof(float));
      if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, l->latent) < 0)
        rc = tsr_err(err, "%s: /latent: unreadable (checksum mismatch: a corrupt file)", path);
      for (size_t i = 0; !rc && i < n; i++)
        if (!isfinite(l->latent[i])) rc = tsr_err(err, "%s: /latent: element %zu is not finite (expected finite values)", path, i);
    }
    if (ds >= 0) H5Dclose(ds);
  }
  free(fmt);
  free(sha);
  if (f >= 0) h5_close_all(f);
  h5_quiet_end(q);
  if (rc) {
    free(l->latent);
    l->latent = NULL;
  }
  return rc;
}
