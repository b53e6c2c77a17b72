// C2PA manifests in MP4 files (C2PA specification 1.x/2.x): the manifest
// store in the top-level 'uuid' box the specification defines for ISO-BMFF,
// right after 'ftyp'; one manifest with a c2pa.actions assertion
// (c2pa.created, digital source type trainedAlgorithmicMedia, software agent
// "tessera <version>"), the generation record as the JSON assertion
// org.tessera.generation, the c2pa.hash.bmff.v2 hard binding over the file,
// a claim (c2pa.claim) listing their hashes, and its COSE_Sign1 ES256
// signature with the certificate chain (x5chain) in the protected header.
// docs/provenance.md describes what is signed and how it is checked.
#pragma once
#include <jansson.h>
#include <stddef.h>

#include "core/error.h"
#include "media/keys.h"

#include "media/version.h"

// Adds a signed manifest to the MP4 at path (a temporary output), rewriting
// it: read, removed, written again (path.tmp, then rename), so it never needs
// room for two copies. gen_json: the generation record (a JSON object);
// extra_json: a second JSON object recorded as org.tessera.watermark (NULL:
// none). 0, or -1 with err; after a failure to write, path is gone (before
// that, e.g. a file that is not an MP4, it is left as it was).
int c2pa_sign_mp4(const char *path, const Signer *s, const char *gen_json, size_t gen_len, const char *extra_json,
                  TsrErr *err);

typedef struct {
  int has_manifest;      // a C2PA manifest store was found
  int signature_ok;      // the claim's COSE signature checks with its certificate
  int assertions_ok;     // every assertion the claim lists is there with its hash
  int binding_ok;        // the c2pa.hash.bmff.v2 hash matches the file
  int cert_time_ok;      // the signer's certificate is valid now
  int development;       // the certificate says it is for testing only
  char problem[600];     // the first thing that failed, in words ("" when valid)
  char signer[256], issuer[256], not_after[64];
  json_t *manifest;      // {"label", "claim", "assertions": {label: content}, "signature": {...}}
} C2paReport;

// Reads and checks the manifest of the MP4 at path. Returns -1 with err only
// when the file cannot be read or is not a whole MP4 (truncated, not ISO-BMFF);
// a missing, tampered or badly signed manifest is reported in rep (problem set).
int c2pa_verify_mp4(const char *path, C2paReport *rep, TsrErr *err);
void c2pa_report_free(C2paReport *rep);
// Whether rep describes a valid manifest.
int c2pa_report_valid(const C2paReport *rep);
