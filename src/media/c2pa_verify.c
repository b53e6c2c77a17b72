// Reading and checking a C2PA manifest in an MP4 (c2pa.h).
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/bmff.h"
#include "media/c2pa.h"
#include "media/c2pa_internal.h"
#include "media/cbor.h"
#include "media/jumbf.h"

static int fail(C2paReport *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(C2paReport *r, const char *fmt, ...) {
  if (!r->problem[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problem, sizeof r->problem, fmt, ap);
    va_end(ap);
    // labels and names come from the file: keep the line printable
    for (char *c = r->problem; *c; c++)
      if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
  }
  return -1;
}

void c2pa_report_free(C2paReport *rep) {
  json_decref(rep->manifest);
  rep->manifest = NULL;
}

int c2pa_report_valid(const C2paReport *r) {
  return r->has_manifest && r->signature_ok && r->assertions_ok && r->binding_ok && r->cert_time_ok && !r->problem[0];
}

static void name_of(X509_NAME *n, char *out, size_t len) {
  int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
  ASN1_STRING *s = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)) : NULL;
  snprintf(out, len, "%.*s", s ? ASN1_STRING_length(s) : 0, s ? (const char *)ASN1_STRING_get0_data(s) : "");
  if (!out[0]) X509_NAME_oneline(n, out, (int)len);
}

// The signer's certificate from the COSE headers (x5chain, label 33: one
// bstr or an array whose first element is the signer's).
static X509 *cert_from(CborReader hdr) {
  CborReader r = hdr;
  CborItem m, k, v;
  if (cbor_next(&r, &m) != 0 || m.major != CBOR_MAP) return NULL;
  for (uint64_t i = 0; i < m.len; i++) {
    if (cbor_next(&r, &k) != 0) return NULL;
    if (k.major == CBOR_UINT && k.len == 33) {
      CborReader q = r;
      if (cbor_next(&q, &v) != 0) return NULL;
      if (v.major == CBOR_ARRAY && (v.len < 1 || cbor_next(&q, &v) != 0)) return NULL;
      if (v.major != CBOR_BSTR) return NULL;
      const unsigned char *p = v.p;
      return d2i_X509(NULL, &p, (long)v.len);
    }
    if (k.major == CBOR_ARRAY || k.major == CBOR_MAP || cbor_skip(&r) != 0) return NULL;
  }
  return NULL;
}

static int alg_of(CborReader hdr) {
  CborReader r = hdr;
  CborItem m, k, v;
  if (cbor_next(&r, &m) != 0 || m.major != CBOR_MAP) return 0;
  for (uint64_t i = 0; i < m.len; i++) {
    if (cbor_next(&r, &k) != 0) return 0;
    if (k.major == CBOR_UINT && k.len == 1) {
      if (cbor_next(&r, &v) != 0) return 0;
      return v.major == CBOR_NINT ? -1 - (int)v.len : (int)v.len;
    }
    if (k.major == CBOR_ARRAY || k.major == CBOR_MAP || cbor_skip(&r) != 0) return 0;
  }
  return 0;
}

// COSE_Sign1 over the claim: signature and certificate.
static void check_signature(C2paReport *rep, const uint8_t *cose, size_t cn, const uint8_t *claim, size_t cl) {
  CborReader r = {cose, cn, 0};
  CborItem it, prot, sig;
  if (cbor_next(&r, &it) != 0) { fail(rep, "signature: not CBOR"); return; }
  if (it.major == CBOR_TAG && (it.len != 18 || cbor_next(&r, &it) != 0)) { fail(rep, "signature: not a COSE_Sign1"); return; }
  if (it.major != CBOR_ARRAY || it.len != 4 || cbor_next(&r, &prot) != 0 || prot.major != CBOR_BSTR) {
    fail(rep, "signature: not a COSE_Sign1 (expected [protected, unprotected, payload, signature])");
    return;
  }
  CborReader unprot = r;
  if (cbor_skip(&r) != 0 || cbor_next(&r, &it) != 0 || cbor_next(&r, &sig) != 0 || sig.major != CBOR_BSTR) {
    fail(rep, "signature: malformed COSE_Sign1");
    return;
  }
  const uint8_t *payload = claim;
  size_t pn = cl;
  if (it.major == CBOR_BSTR) { payload = it.p; pn = (size_t)it.len; }  // attached payload: must be the claim
  if (pn != cl || memcmp(payload, claim, cl)) { fail(rep, "signature: signs another claim"); return; }
  CborReader ph = {prot.p, (size_t)prot.len, 0};
  int alg = alg_of(ph);
  if (alg != -7) { fail(rep, "signature: algorithm %d is not ES256 (-7), the one tessera checks", alg); return; }
  X509 *cert = cert_from(ph);
  if (!cert) cert = cert_from(unprot);
  if (!cert) { fail(rep, "signature: no signing certificate (x5chain)"); return; }
  name_of(X509_get_subject_name(cert), rep->signer, sizeof rep->signer);
  name_of(X509_get_issuer_name(cert), rep->issuer, sizeof rep->issuer);
  rep->development = strstr(rep->signer, "FOR TESTING ONLY") != NULL;
  BIO *b = BIO_new(BIO_s_mem());
  if (b && ASN1_TIME_print(b, X509_get0_notAfter(cert)) == 1) {
    int k = BIO_read(b, rep->not_after, sizeof rep->not_after - 1);
    rep->not_after[k > 0 ? k : 0] = 0;
  }
  BIO_free(b);
  Bytes tbs = {0};
  cbor_array(&tbs, 4);
  cbor_tstr(&tbs, "Signature1");
  cbor_bstr(&tbs, prot.p, (size_t)prot.len);
  cbor_bstr(&tbs, "", 0);
  cbor_bstr(&tbs, claim, cl);
  rep->signature_ok = es256_verify(cert, tbs.p, tbs.n, sig.p, (size_t)sig.len);
  bytes_free(&tbs);
  if (!rep->signature_ok) fail(rep, "signature: does not match the claim (the claim or the signature was changed)");
  rep->cert_time_ok = X509_cmp_current_time(X509_get0_notBefore(cert)) <= 0 &&
                      X509_cmp_current_time(X509_get0_notAfter(cert)) >= 0;
  if (!rep->cert_time_ok) fail(rep, "signature: the certificate \"%s\" is not valid now (until %s)", rep->signer, rep->not_after);
  X509_free(cert);
}

// The exclusions of a c2pa.hash.bmff.v2 assertion (top-level xpaths with
// optional data matches; anything else is refused).
static int read_exclusions(C2paReport *rep, json_t *a, Exclusion *ex, int max, int *n) {
  json_t *list = json_object_get(a, "exclusions"), *e;
  size_t i;
  *n = 0;
  if (!json_is_array(list)) return fail(rep, BMFF_LABEL ": no exclusions list");
  json_array_foreach(list, i, e) {
    const char *xp = json_string_value(json_object_get(e, "xpath"));
    if (!xp || strlen(xp) != 5 || xp[0] != '/' || (int)i >= max) return fail(rep, BMFF_LABEL ": unsupported exclusion xpath");
    if (json_object_get(e, "subset") || json_object_get(e, "length") || json_object_get(e, "flags"))
      return fail(rep, BMFF_LABEL ": exclusion %s uses subset/length/flags, which tessera does not check", xp);
    Exclusion *x = &ex[(*n)++];
    memset(x, 0, sizeof *x);
    snprintf(x->xpath, sizeof x->xpath, "%s", xp);
    json_t *data = json_object_get(e, "data");
    if (data) {
      json_t *d0 = json_array_get(data, 0);
      const char *hex = json_string_value(json_object_get(d0, "value"));
      json_int_t off = json_integer_value(json_object_get(d0, "offset"));
      size_t hl = hex ? strlen(hex) : 0;
      if (json_array_size(data) != 1 || !hex || hl % 2 || hl / 2 > sizeof x->data || off < 0)
        return fail(rep, BMFF_LABEL ": exclusion %s: unsupported data match", xp);
      x->data_off = (uint32_t)off;
      x->data_n = hl / 2;
      for (size_t k = 0; k < x->data_n; k++) sscanf(hex + 2 * k, "%2hhx", &x->data[k]);
    }
  }
  return 0;
}

static int hex_eq(const char *hex, const uint8_t *b, size_t n) {
  if (!hex || strlen(hex) != 2 * n) return 0;
  char h[3];
  for (size_t i = 0; i < n; i++) {
    snprintf(h, 3, "%02x", b[i]);
    if (memcmp(h, hex + 2 * i, 2)) return 0;
  }
  return 1;
}

static void check_manifest(C2paReport *rep, const uint8_t *file, const BmffBox *box, int nb, const Jumbf *man) {
  Jumbf ast, cl, sg, a;
  const uint8_t *claim, *cose;
  size_t cln, cn;
  if (strcmp(man->type4, "c2ma")) {
    fail(rep, "manifest %s: not a standard manifest box (type '%s')", man->label, man->type4);
    return;
  }
  if (jumbf_child(man, "c2pa.assertions", &ast) != 0 || jumbf_child(man, "c2pa.claim", &cl) != 0 ||
      strcmp(ast.type4, "c2as") || strcmp(cl.type4, "c2cl") || jumbf_data(&cl, "cbor", &claim, &cln) != 0) {
    fail(rep, "manifest %s: no assertion store or claim", man->label);
    return;
  }
  if (jumbf_child(man, "c2pa.signature", &sg) != 0 || strcmp(sg.type4, "c2cs") || jumbf_data(&sg, "cbor", &cose, &cn) != 0) {
    fail(rep, "manifest %s: no signature", man->label);
    return;
  }
  check_signature(rep, cose, cn, claim, cln);
  CborReader r = {claim, cln, 0};
  json_t *cj = cbor_to_json(&r), *asj = json_object();
  json_object_set_new(rep->manifest, "label", json_string(man->label));
  json_object_set_new(rep->manifest, "claim", cj ? cj : json_null());
  json_object_set_new(rep->manifest, "assertions", asj);
  json_t *list = json_object_get(cj, "assertions"), *ref;
  if (!json_is_array(list)) list = json_object_get(cj, "created_assertions");
  if (!json_is_array(list)) { fail(rep, "claim: no assertions list"); return; }
  size_t i;
  int bound = 0;
  rep->assertions_ok = 1;
  json_array_foreach(list, i, ref) {
    const char *url = json_string_value(json_object_get(ref, "url"));
    const char *slash = url ? strrchr(url, '/') : NULL;
    if (!slash || jumbf_child(&ast, slash + 1, &a) != 0) {
      rep->assertions_ok = 0;
      fail(rep, "claim: assertion %s is missing", url ? url : "(no url)");
      continue;
    }
    uint8_t md[32];
    c2pa_sha256(a.box + 8, a.size - 8, md);
    if (!hex_eq(json_string_value(json_object_get(ref, "hash")), md, 32)) {
      rep->assertions_ok = 0;
      fail(rep, "assertion %s: its hash differs from the claim's (the assertion was changed)", a.label);
    }
    const uint8_t *d;
    size_t dn;
    json_t *content = NULL;
    if (jumbf_data(&a, "cbor", &d, &dn) == 0) {
      CborReader q = {d, dn, 0};
      content = cbor_to_json(&q);
    } else if (jumbf_data(&a, "json", &d, &dn) == 0) {
      content = json_loadb((const char *)d, dn, 0, NULL);
    }
    if (!content) {
      rep->assertions_ok = 0;
      fail(rep, "assertion %s: unreadable content", a.label);
      continue;
    }
    json_object_set_new(asj, a.label, content);
    if (!strcmp(a.label, BMFF_LABEL)) {
      Exclusion ex[8];
      int nex;
      bound = 1;
      if (read_exclusions(rep, content, ex, 8, &nex) != 0) continue;
      const char *alg = json_string_value(json_object_get(content, "alg"));
      if (alg && strcmp(alg, "sha256")) { fail(rep, BMFF_LABEL ": algorithm %s (tessera checks sha256)", alg); continue; }
      c2pa_bmff_v2_hash(file, box, nb, ex, nex, md);
      rep->binding_ok = hex_eq(json_string_value(json_object_get(content, "hash")), md, 32);
      if (!rep->binding_ok) fail(rep, "hard binding: the file's hash differs from the signed " BMFF_LABEL " (the video was changed)");
    }
  }
  if (!bound) fail(rep, "claim: no " BMFF_LABEL " hard binding");
}

int c2pa_verify_mp4(const char *path, C2paReport *rep, TsrErr *err) {
  memset(rep, 0, sizeof *rep);
  uint8_t *file;
  size_t n;
  if (file_read_all(path, &file, &n, err) != 0) return -1;
  BmffBox *box = calloc(MAX_BOXES, sizeof *box);
  int nb = 0, rc = -1;
  TSR_ASSERT(box, "out of memory");
  if (n < 8 || memcmp(file + 4, "ftyp", 4)) {
    tsr_err(err, "%s: not an MP4 (no ftyp box at the start)", path);
    goto done;
  }
  if (bmff_boxes(file, n, 0, box, MAX_BOXES, &nb, path, err) != 0) goto done;
  rc = 0;
  rep->manifest = json_object();
  const BmffBox *mb = NULL;
  for (int i = 0; i < nb; i++)
    if (c2pa_is_manifest_box(&box[i])) {
      if (mb) { fail(rep, "more than one C2PA manifest box"); goto done; }
      mb = &box[i];
    }
  if (!mb) { fail(rep, "unsigned: no C2PA manifest in the file"); goto done; }
  rep->has_manifest = 1;
  const uint8_t *p = file + mb->off + mb->hdr;
  size_t pn = (size_t)(mb->size - mb->hdr);
  if (pn < 4 + 9 + 8 || memcmp(p + 4, "manifest", 9)) { fail(rep, "C2PA box: not a manifest box"); goto done; }
  Jumbf store, man;
  if (jumbf_parse(p + 4 + 9 + 8, pn - 4 - 9 - 8, &store) != 0 || strcmp(store.type4, "c2pa")) {
    fail(rep, "C2PA box: not a JUMBF manifest store");
    goto done;
  }
  int k = 0;
  while (jumbf_child_at(&store, k, &man) == 0) k++;  // the active manifest is the last
  if (k == 0 || jumbf_child_at(&store, k - 1, &man) != 0) { fail(rep, "manifest store: no manifest"); goto done; }
  check_manifest(rep, file, box, nb, &man);
done:
  free(box);
  free(file);
  return rc;
}
