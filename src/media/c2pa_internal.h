// Shared by c2pa.c (signing) and c2pa_verify.c: the C2PA box type, the
// BMFF hash exclusions and the c2pa.hash.bmff.v2 hash.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "media/bmff.h"

#define MAX_BOXES 4096
#define DST_TRAINED "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
#define BMFF_LABEL "c2pa.hash.bmff.v2"

extern const uint8_t C2PA_UUID[16];

// A BMFF hash exclusion: top-level boxes of this type (and, with data_n, whose
// bytes at data_off equal data) are left out of the hash.
typedef struct {
  char xpath[32];
  uint32_t data_off;
  uint8_t data[32];
  size_t data_n;
} Exclusion;

// What tessera excludes, as the C2PA specification requires for MP4.
extern const Exclusion C2PA_STD_EXCL[3];

int c2pa_is_manifest_box(const BmffBox *b);
// c2pa.hash.bmff.v2 over a whole file: for every top-level box that is not
// excluded, in file order, its offset (8 bytes, big-endian) then its bytes.
void c2pa_bmff_v2_hash(const uint8_t *file, const BmffBox *box, int nb, const Exclusion *ex, int nex, uint8_t md[32]);
void c2pa_sha256(const void *p, size_t n, uint8_t md[32]);
