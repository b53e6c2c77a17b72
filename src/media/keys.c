#include "media/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"

static const char *ssl_why(void) {
  static _Thread_local char buf[256];
  unsigned long e = ERR_get_error();
  if (!e) return "unknown OpenSSL error";
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

static int is_p256(EVP_PKEY *k) {
  char curve[64] = "";
  size_t len = 0;
  return EVP_PKEY_is_a(k, "EC") &&
         EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve, &len) == 1 &&
         (!strcmp(curve, "prime256v1") || !strcmp(curve, "P-256"));
}

void signer_free(Signer *s) {
  EVP_PKEY_free(s->key);
  X509_free(s->cert);
  if (s->chain) sk_X509_pop_free(s->chain, X509_free);
  memset(s, 0, sizeof *s);
}

int signer_load(Signer *s, const char *key_path, const char *cert_path, TsrErr *err) {
  memset(s, 0, sizeof *s);
  FILE *f = fopen(key_path, "r");
  if (!f) return tsr_err(err, "%s: signing key: cannot read: %s", key_path, strerror(errno));
  s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  if (!s->key) return tsr_err(err, "%s: signing key: not a PEM private key (%s)", key_path, ssl_why());
  if (!is_p256(s->key)) {
    signer_free(s);
    return tsr_err(err, "%s: signing key: expected an EC P-256 key (ES256)", key_path);
  }
  f = fopen(cert_path, "r");
  if (!f) {
    signer_free(s);
    return tsr_err(err, "%s: signing certificate: cannot read: %s", cert_path, strerror(errno));
  }
  s->cert = PEM_read_X509(f, NULL, NULL, NULL);
  s->chain = sk_X509_new_null();
  X509 *x;
  while (s->cert && (x = PEM_read_X509(f, NULL, NULL, NULL))) sk_X509_push(s->chain, x);
  ERR_clear_error();  // the loop ends on "no start line"
  fclose(f);
  if (!s->cert) {
    signer_free(s);
    return tsr_err(err, "%s: signing certificate: not a PEM certificate", cert_path);
  }
  if (X509_check_private_key(s->cert, s->key) != 1) {
    ERR_clear_error();
    signer_free(s);
    return tsr_err(err, "%s: signing certificate: does not match the key %s (it certifies another public key)",
                   cert_path, key_path);
  }
  if (X509_cmp_current_time(X509_get0_notAfter(s->cert)) < 0) {
    signer_free(s);
    return tsr_err(err, "%s: signing certificate: expired (notAfter is in the past)", cert_path);
  }
  if (X509_cmp_current_time(X509_get0_notBefore(s->cert)) > 0) {
    signer_free(s);
    return tsr_err(err, "%s: signing certificate: not valid yet (notBefore is in the future)", cert_path);
  }
  return 0;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!e) return -1;
  int ok = X509_add_ext(cert, e, -1);
  X509_EXTENSION_free(e);
  return ok == 1 ? 0 : -1;
}

// A certificate for key's public half, issued by (issuer, ikey), or
// self-signed when issuer is NULL. ca: a CA certificate (keyCertSign);
// otherwise a C2PA signer (digitalSignature, emailProtection + documentSigning).
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, int ca, int days) {
  X509 *x = X509_new();
  uint8_t serial[16];
  if (!x || RAND_bytes(serial, sizeof serial) != 1) goto fail;
  serial[0] &= 0x7f;
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  ASN1_INTEGER *sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
  BN_free(bn);
  if (!sn || X509_set_serialNumber(x, sn) != 1) { ASN1_INTEGER_free(sn); goto fail; }
  ASN1_INTEGER_free(sn);
  X509_NAME *name = X509_get_subject_name(x);
  if (X509_set_version(x, 2) != 1 ||
      !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||  // an hour back: clocks differ a little
      !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) || X509_set_pubkey(x, key) != 1 ||
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"tessera (development)", -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1 ||
      X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1)
    goto fail;
  X509 *iss = issuer ? issuer : x;
  if (add_ext(x, iss, NID_subject_key_identifier, "hash") != 0) goto fail;
  if (ca) {
    if (add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
        add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign") != 0)
      goto fail;
  } else {
    if (add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(x, iss, NID_key_usage, "critical,digitalSignature") != 0 ||
        add_ext(x, iss, NID_ext_key_usage, "emailProtection,1.3.6.1.5.5.7.3.36") != 0 ||
        add_ext(x, iss, NID_authority_key_identifier, "keyid:always") != 0)
      goto fail;
  }
  if (X509_sign(x, issuer ? ikey : key, EVP_sha256()) <= 0) goto fail;
  return x;
fail:
  X509_free(x);
  return NULL;
}

// A development CA and a signer it certifies, in memory.
static int make_dev(Signer *s, EVP_PKEY **ca_key, X509 **ca_cert, int days, const char *what, TsrErr *err) {
  memset(s, 0, sizeof *s);
  *ca_key = EVP_EC_gen("P-256");
  s->key = EVP_EC_gen("P-256");
  if (!*ca_key || !s->key) return tsr_err(err, "%s: cannot make an EC P-256 key: %s", what, ssl_why());
  *ca_cert = make_cert(*ca_key, "tessera development CA - FOR TESTING ONLY", NULL, NULL, 1, days + 1);
  s->cert = *ca_cert ? make_cert(s->key, "tessera development signer - FOR TESTING ONLY", *ca_cert, *ca_key, 0, days)
                     : NULL;
  if (!s->cert) return tsr_err(err, "%s: cannot make a certificate: %s", what, ssl_why());
  s->chain = sk_X509_new_null();
  X509_up_ref(*ca_cert);
  sk_X509_push(s->chain, *ca_cert);
  return 0;
}

int signer_from_env(Signer *s, int *warn, TsrErr *err) {
  const char *k = getenv("TSR_SIGNING_KEY"), *c = getenv("TSR_SIGNING_CERT");
  *warn = 0;
  if (k && *k && c && *c) return signer_load(s, k, c, err);
  if ((k && *k) || (c && *c))
    return tsr_err(err, "signing: TSR_SIGNING_KEY and TSR_SIGNING_CERT must be set together (only %s is set)",
                   k && *k ? "TSR_SIGNING_KEY" : "TSR_SIGNING_CERT");
  EVP_PKEY *ck = NULL;
  X509 *cc = NULL;
  int rc = make_dev(s, &ck, &cc, 1, "signing", err);
  EVP_PKEY_free(ck);
  X509_free(cc);
  if (rc != 0) {
    signer_free(s);
    return -1;
  }
  s->ephemeral = 1;
  *warn = 1;
  return 0;
}

int signer_sign(const Signer *s, const void *msg, size_t n, uint8_t sig[64], TsrErr *err) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  uint8_t der[128];
  size_t dn = sizeof der;
  int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->key) == 1 &&
           EVP_DigestSign(ctx, der, &dn, msg, n) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return tsr_err(err, "signing: ES256 failed: %s", ssl_why());
  const uint8_t *q = der;
  ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)dn);
  if (!es) return tsr_err(err, "signing: cannot decode the ECDSA signature");
  const BIGNUM *r, *sv;
  ECDSA_SIG_get0(es, &r, &sv);
  ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(sv, sig + 32, 32) == 32;
  ECDSA_SIG_free(es);
  return ok ? 0 : tsr_err(err, "signing: ECDSA signature does not fit 64 bytes");
}

int es256_verify(X509 *cert, const void *msg, size_t n, const uint8_t *sig, size_t sig_n) {
  if (sig_n != 64) return 0;
  EVP_PKEY *pk = X509_get0_pubkey(cert);
  if (!pk || !is_p256(pk)) return 0;
  ECDSA_SIG *es = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(sig, 32, NULL), *sv = BN_bin2bn(sig + 32, 32, NULL);
  if (!es || !r || !sv || ECDSA_SIG_set0(es, r, sv) != 1) {
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(es);
    return 0;
  }
  uint8_t *der = NULL;
  int dn = i2d_ECDSA_SIG(es, &der);
  ECDSA_SIG_free(es);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = dn > 0 && ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
           EVP_DigestVerify(ctx, der, (size_t)dn, msg, n) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  ERR_clear_error();
  return ok;
}

unsigned key_id16(X509 *cert) {
  uint8_t *der = NULL, md[32];
  int n = i2d_PUBKEY(X509_get0_pubkey(cert), &der);
  unsigned id = 0;
  if (n > 0 && EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL) == 1) id = (unsigned)md[0] << 8 | md[1];
  OPENSSL_free(der);
  return id;
}

static int write_pem(const char *path, int mode, EVP_PKEY *key, X509 *a, X509 *b, TsrErr *err) {
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    if (fd >= 0) close(fd);
    return tsr_err(err, "%s: cannot write: %s", path, strerror(errno));
  }
  int ok = (!key || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1) && (!a || PEM_write_X509(f, a) == 1) &&
           (!b || PEM_write_X509(f, b) == 1);
  ok = fflush(f) == 0 && ok;
  ok = fclose(f) == 0 && ok;
  if (ok && rename(tmp, path) == 0) return 0;
  unlink(tmp);
  return tsr_err(err, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
}

int keys_init_dir(const char *dir, int days, TsrErr *err) {
  char kp[1024], cp[1024], ap[1024];
  snprintf(kp, sizeof kp, "%s/signing.key", dir);
  snprintf(cp, sizeof cp, "%s/signing.pem", dir);
  snprintf(ap, sizeof ap, "%s/ca.pem", dir);
  if (days < 1 || days > 36500) return tsr_err(err, "keys init: --days: expected 1 to 36500, got %d", days);
  if (access(kp, F_OK) == 0) return tsr_err(err, "%s: exists (not overwriting a signing key; remove it first)", kp);
  if (fs_mkdirs(dir) != 0) return tsr_err(err, "%s: cannot create: %s", dir, strerror(errno));
  Signer s;
  EVP_PKEY *ck = NULL;
  X509 *cc = NULL;
  int rc = make_dev(&s, &ck, &cc, days, dir, err);
  if (rc == 0) rc = write_pem(ap, 0644, NULL, cc, NULL, err);
  if (rc == 0) rc = write_pem(cp, 0644, NULL, s.cert, cc, err);
  if (rc == 0) rc = write_pem(kp, 0600, s.key, NULL, NULL, err);
  signer_free(&s);
  EVP_PKEY_free(ck);
  X509_free(cc);
  return rc;
}
