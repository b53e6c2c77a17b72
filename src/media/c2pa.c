#include "media/c2pa.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/bmff.h"
#include "media/cbor.h"
#include "media/c2pa_internal.h"
#include "media/jumbf.h"

// ---------------------------------------------------------------- writing

static void uuid_v4(char out[37]) {
  uint8_t u[16];
  TSR_ASSERT(RAND_bytes(u, 16) == 1, "RAND_bytes");
  u[6] = (u[6] & 0x0f) | 0x40;
  u[8] = (u[8] & 0x3f) | 0x80;
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4],
           u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

static void actions_cbor(Bytes *b) {
  cbor_map(b, 1);
  cbor_tstr(b, "actions");
  cbor_array(b, 1);
  cbor_map(b, 3);
  cbor_tstr(b, "action");
  cbor_tstr(b, "c2pa.created");
  cbor_tstr(b, "digitalSourceType");
  cbor_tstr(b, DST_TRAINED);
  cbor_tstr(b, "softwareAgent");
  cbor_tstr(b, "tessera " TESSERA_VERSION);
}

static void bmff_hash_cbor(Bytes *b, const uint8_t hash[32]) {
  cbor_map(b, 4);
  cbor_tstr(b, "exclusions");
  cbor_array(b, 3);
  for (int i = 0; i < 3; i++) {
    const Exclusion *e = &C2PA_STD_EXCL[i];
    cbor_map(b, e->data_n ? 2 : 1);
    cbor_tstr(b, "xpath");
    cbor_tstr(b, e->xpath);
    if (e->data_n) {
      cbor_tstr(b, "data");
      cbor_array(b, 1);
      cbor_map(b, 2);
      cbor_tstr(b, "offset");
      cbor_uint(b, e->data_off);
      cbor_tstr(b, "value");
      cbor_bstr(b, e->data, e->data_n);
    }
  }
  cbor_tstr(b, "alg");
  cbor_tstr(b, "sha256");
  cbor_tstr(b, "hash");
  cbor_bstr(b, hash, 32);
  cbor_tstr(b, "name");
  cbor_tstr(b, "jumbf manifest");
}

typedef struct {
  const char *label, *kind;  // kind "cbor" or "json"
  Bytes content;
} Assertion;

// The DER certificates of the signer then its issuers, as COSE x5chain.
static void x5chain(Bytes *b, const Signer *s) {
  int n = 1 + (s->chain ? sk_X509_num(s->chain) : 0);
  if (n > 1) cbor_array(b, (size_t)n);
  for (int i = 0; i < n; i++) {
    X509 *x = i == 0 ? s->cert : sk_X509_value(s->chain, i - 1);
    uint8_t *der = NULL;
    int dn = i2d_X509(x, &der);
    TSR_ASSERT(dn > 0, "i2d_X509");
    cbor_bstr(b, der, (size_t)dn);
    OPENSSL_free(der);
  }
}

static void sig_structure(Bytes *out, const uint8_t *prot, size_t pn, const uint8_t *payload, size_t n) {
  cbor_array(out, 4);
  cbor_tstr(out, "Signature1");
  cbor_bstr(out, prot, pn);
  cbor_bstr(out, "", 0);
  cbor_bstr(out, payload, n);
}

// The manifest store (JUMBF) for these assertions, the claim signed by s.
static int build_store(Bytes *store, Assertion *as, int na, const char *urn, const Signer *s, TsrErr *err) {
  size_t top = jumbf_begin(store, "c2pa", "c2pa");
  size_t man = jumbf_begin(store, "c2ma", urn);
  size_t ast = jumbf_begin(store, "c2as", "c2pa.assertions");
  uint8_t hashes[8][32];
  for (int i = 0; i < na; i++) {
    size_t a = jumbf_begin(store, as[i].kind, as[i].label);
    jumbf_content(store, as[i].kind, as[i].content.p, as[i].content.n);
    jumbf_end(store, a);
    c2pa_sha256(store->p + a + 8, store->n - a - 8, hashes[i]);  // the superbox without its header
  }
  jumbf_end(store, ast);
  Bytes claim = {0};
  char iid[80], url[160];
  snprintf(iid, sizeof iid, "xmp:iid:%s", urn + 9);
  cbor_map(&claim, 7);
  cbor_tstr(&claim, "claim_generator");
  cbor_tstr(&claim, "tessera/" TESSERA_VERSION);
  cbor_tstr(&claim, "claim_generator_info");
  cbor_array(&claim, 1);
  cbor_map(&claim, 2);
  cbor_tstr(&claim, "name");
  cbor_tstr(&claim, "tessera");
  cbor_tstr(&claim, "version");
  cbor_tstr(&claim, TESSERA_VERSION);
  cbor_tstr(&claim, "signature");
  cbor_tstr(&claim, "self#jumbf=c2pa.signature");
  cbor_tstr(&claim, "assertions");
  cbor_array(&claim, (size_t)na);
  for (int i = 0; i < na; i++) {
    snprintf(url, sizeof url, "self#jumbf=c2pa.assertions/%s", as[i].label);
    cbor_map(&claim, 2);
    cbor_tstr(&claim, "url");
    cbor_tstr(&claim, url);
    cbor_tstr(&claim, "hash");
    cbor_bstr(&claim, hashes[i], 32);
  }
  cbor_tstr(&claim, "dc:format");
  cbor_tstr(&claim, "video/mp4");
  cbor_tstr(&claim, "instanceID");
  cbor_tstr(&claim, iid);
  cbor_tstr(&claim, "alg");
  cbor_tstr(&claim, "sha256");
  size_t cl = jumbf_begin(store, "c2cl", "c2pa.claim");
  jumbf_content(store, "cbor", claim.p, claim.n);
  jumbf_end(store, cl);

  Bytes prot = {0}, tbs = {0}, cose = {0};
  cbor_map(&prot, 2);
  cbor_int(&prot, 1);
  cbor_int(&prot, -7);  // ES256
  cbor_int(&prot, 33);  // x5chain
  x5chain(&prot, s);
  sig_structure(&tbs, prot.p, prot.n, claim.p, claim.n);
  uint8_t sig[64];
  int rc = signer_sign(s, tbs.p, tbs.n, sig, err);
  cbor_tag(&cose, 18);
  cbor_array(&cose, 4);
  cbor_bstr(&cose, prot.p, prot.n);
  cbor_map(&cose, 0);
  cbor_null(&cose);  // detached payload: the claim
  cbor_bstr(&cose, sig, 64);
  size_t sg = jumbf_begin(store, "c2cs", "c2pa.signature");
  jumbf_content(store, "cbor", cose.p, cose.n);
  jumbf_end(store, sg);
  jumbf_end(store, man);
  jumbf_end(store, top);
  bytes_free(&claim);
  bytes_free(&prot);
  bytes_free(&tbs);
  bytes_free(&cose);
  return rc;
}

// The 'uuid' box around a manifest store.
static void uuid_box(Bytes *out, const Bytes *store) {
  bytes_be32(out, (uint32_t)(8 + 16 + 4 + 9 + 8 + store->n));
  bytes_put(out, "uuid", 4);
  bytes_put(out, C2PA_UUID, 16);
  bytes_be32(out, 0);              // version 0, flags 0
  bytes_put(out, "manifest", 9);   // purpose, with its NUL
  bytes_be64(out, 0);              // no auxiliary (Merkle) box
  bytes_put(out, store->p, store->n);
}

int c2pa_sign_mp4(const char *path, const Signer *s, const char *gen_json, size_t gen_len, const char *extra_json,
                  TsrErr *err) {
  uint8_t *in;
  size_t n;
  if (file_read_all(path, &in, &n, err) != 0) return -1;
  BmffBox *box = calloc(MAX_BOXES, sizeof *box);
  int nb = 0, rc = -1;
  Bytes out = {0}, store = {0}, ubox = {0};
  Assertion as[4] = {{"c2pa.actions", "cbor", {0}}, {"org.tessera.generation", "json", {0}}, {BMFF_LABEL, "cbor", {0}}, {0}};
  int na = 3;
  if (!box || bmff_boxes(in, n, 0, box, MAX_BOXES, &nb, path, err) != 0) goto done;
  if (nb < 2 || strcmp(box[0].type, "ftyp")) {
    tsr_err(err, "%s: not an MP4 (no ftyp box first)", path);
    goto done;
  }
  for (int i = 0; i < nb; i++)
    if (c2pa_is_manifest_box(&box[i])) {
      tsr_err(err, "%s: already holds a C2PA manifest", path);
      goto done;
    }
  actions_cbor(&as[0].content);
  bytes_put(&as[1].content, gen_json, gen_len);
  if (extra_json) {
    as[3] = (Assertion){"org.tessera.watermark", "json", {0}};
    bytes_put(&as[3].content, extra_json, strlen(extra_json));
    na = 4;
  }
  char urn[64], id[37];
  uuid_v4(id);
  snprintf(urn, sizeof urn, "urn:uuid:%s", id);
  // Pass 1 with a zero hash fixes the size of the store (every field that
  // changes in pass 2 has a fixed length), so the file layout is known.
  uint8_t hash[32] = {0};
  bmff_hash_cbor(&as[2].content, hash);
  if (build_store(&store, as, na, urn, s, err) != 0) goto done;
  uuid_box(&ubox, &store);
  size_t f0 = (size_t)box[0].size, delta = ubox.n;
  bytes_put(&out, in, f0);
  bytes_put(&out, ubox.p, ubox.n);
  bytes_put(&out, in + f0, n - f0);
  for (int i = 1; i < nb; i++)
    if (!strcmp(box[i].type, "moov") &&
        bmff_shift_chunk_offsets(out.p + box[i].off + delta, (size_t)box[i].size, (int64_t)delta, path, err) != 0)
      goto done;
  BmffBox *nbx = calloc(MAX_BOXES, sizeof *nbx);
  int nn = 0;
  if (!nbx || bmff_boxes(out.p, out.n, 0, nbx, MAX_BOXES, &nn, path, err) != 0) {
    free(nbx);
    goto done;
  }
  c2pa_bmff_v2_hash(out.p, nbx, nn, C2PA_STD_EXCL, 3, hash);
  free(nbx);
  as[2].content.n = 0;
  bmff_hash_cbor(&as[2].content, hash);
  size_t n1 = store.n;
  store.n = 0;
  if (build_store(&store, as, na, urn, s, err) != 0) goto done;
  TSR_ASSERT(store.n == n1, "manifest size changed between passes (%zu, %zu)", n1, store.n);
  memcpy(out.p + f0 + (ubox.n - store.n), store.p, store.n);
  // The unsigned bytes are in memory: free their room first, so that signing
  // needs no more disk than the signed file (a disk that holds the outputs
  // does not fill up in between).
  unlink(path);
  rc = file_write_all(path, out.p, out.n, err);
done:
  for (int i = 0; i < 4; i++) bytes_free(&as[i].content);
  bytes_free(&out);
  bytes_free(&store);
  bytes_free(&ubox);
  free(box);
  free(in);
  return rc;
}
