#include <openssl/evp.h>
#include <string.h>

#include "core/error.h"
#include "media/bytes.h"
#include "media/c2pa_internal.h"

// The user type of the C2PA 'uuid' box: d8fec3d6-1b0e-483c-9297-5828877ec481.
const uint8_t C2PA_UUID[16] = {0xd8, 0xfe, 0xc3, 0xd6, 0x1b, 0x0e, 0x48, 0x3c,
                               0x92, 0x97, 0x58, 0x28, 0x87, 0x7e, 0xc4, 0x81};

const Exclusion C2PA_STD_EXCL[3] = {
    {"/uuid", 8, {0xd8, 0xfe, 0xc3, 0xd6, 0x1b, 0x0e, 0x48, 0x3c, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7e, 0xc4, 0x81}, 16},
    {"/ftyp", 0, {0}, 0},
    {"/mfra", 0, {0}, 0}};

int c2pa_is_manifest_box(const BmffBox *b) { return !strcmp(b->type, "uuid") && !memcmp(b->uuid, C2PA_UUID, 16); }

static int excluded(const uint8_t *file, const BmffBox *b, const Exclusion *ex, int nex) {
  for (int i = 0; i < nex; i++) {
    if (strlen(ex[i].xpath) != 5 || ex[i].xpath[0] != '/' || memcmp(ex[i].xpath + 1, b->type, 4)) continue;
    if (ex[i].data_n &&
        (ex[i].data_off + ex[i].data_n > b->size || memcmp(file + b->off + ex[i].data_off, ex[i].data, ex[i].data_n)))
      continue;
    return 1;
  }
  return 0;
}

void c2pa_bmff_v2_hash(const uint8_t *file, const BmffBox *box, int nb, const Exclusion *ex, int nex, uint8_t md[32]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  TSR_ASSERT(ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1, "EVP sha256");
  for (int i = 0; i < nb; i++) {
    if (excluded(file, &box[i], ex, nex)) continue;
    uint8_t off[8];
    be64_put(off, box[i].off);
    EVP_DigestUpdate(ctx, off, 8);
    EVP_DigestUpdate(ctx, file + box[i].off, (size_t)box[i].size);
  }
  unsigned len = 32;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
}

void c2pa_sha256(const void *p, size_t n, uint8_t md[32]) {
  TSR_ASSERT(EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL) == 1, "EVP sha256");
}
