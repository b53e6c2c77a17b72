// Signing credentials for C2PA manifests: an EC P-256 private key and its
// certificate chain (PEM), loaded from files named in the environment or
// made here (`tessera keys init`, or a throwaway key when none is configured;
// docs/provenance.md).
#pragma once
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
  EVP_PKEY *key;
  X509 *cert;               // the signer's certificate
  STACK_OF(X509) *chain;    // the certificates after it (its issuers), may be empty
  int ephemeral;            // made in memory for this process: no identity at all
} Signer;

// Loads a PEM private key and a PEM certificate file (the signer's certificate
// first, then its issuers). Checks: both readable, the key is EC P-256, the
// certificate is for that key, and it is valid now (not expired, not yet
// valid). 0, or -1 with one line naming the file and what is wrong.
int signer_load(Signer *s, const char *key_path, const char *cert_path, TsrErr *err);
// The signer the environment asks for: TSR_SIGNING_KEY and TSR_SIGNING_CERT
// (both, or neither). Neither: a throwaway development key and certificate
// made in memory (once per process), and *warn set to 1 so the caller warns.
int signer_from_env(Signer *s, int *warn, TsrErr *err);
void signer_free(Signer *s);
// ES256 over msg: the 64-byte r||s signature COSE uses. 0 or -1 with err.
int signer_sign(const Signer *s, const void *msg, size_t n, uint8_t sig[64], TsrErr *err);
// ES256 check of a raw r||s signature with the certificate's key: 1 valid, 0 not.
int es256_verify(X509 *cert, const void *msg, size_t n, const uint8_t *sig, size_t sig_n);
// A 16-bit identifier of a public key (the first two bytes of the SHA-256 of
// its DER encoding): carried by the watermark.
unsigned key_id16(X509 *cert);

// `tessera keys init DIR`: a development CA (self-signed) and an EC P-256
// signing key with a certificate it issued, valid for `days` days:
// DIR/ca.pem, DIR/signing.key (mode 0600), DIR/signing.pem (signer then CA).
// Refuses to overwrite an existing signing.key. 0 or -1 with err.
int keys_init_dir(const char *dir, int days, TsrErr *err);
