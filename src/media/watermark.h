// An invisible, keyed spread-spectrum watermark carrying 32 bits (a 16-bit
// key id and a 16-bit render id) in the luma of a video's frames, and its
// detector, which needs only the pixels (docs/provenance.md).
//
// Each frame is divided into a WM_GRID x WM_GRID grid of cells, in
// coordinates relative to the frame (so the mark scales with the video);
// frames repeat with period WM_PERIOD. Every (frame mod period, cell) is one
// chip: the key assigns it to one of the 32 bits (each bit the same number of
// chips) and a sign s = +-1; embedding adds amp * s * (+1 for bit 1, -1 for 0)
// to the cell's luma. The detector averages each cell, removes the local
// mean (the mean of the 8 neighbouring cells), weights by the inverse local
// activity, and correlates: for bit b, z_b = sum s*r / sqrt(sum r^2) over b's
// chips. Without the mark the signs are
// independent of the picture, so each z_b is a Rademacher sum with variance 1
// and S = sum z_b^2 has the chi-square(32) Chernoff tail; the threshold on S
// comes from that bound, for a false-detection rate <= 1e-6 over all the
// crop and frame-offset hypotheses the detector tries.
#pragma once
#include <stdint.h>

#define WM_BITS 32
#define WM_GRID 16
#define WM_PERIOD 8
#define WM_AMP 3.0f       // luma levels (of 255) added or taken per cell, at least
#define WM_AMP_MAX 6.0f   // at most (busy pictures, where the eye does not see it)
#define WM_TARGET_Z 8.0   // the margin per bit the embedder aims for before any attack

typedef struct {
  uint8_t key[32];
} WmKey;

// The key from a passphrase (its SHA-256).
void wm_key_from_string(WmKey *k, const char *pass);
// TSR_WATERMARK_KEY when set, else tessera's public default key (anyone can
// detect; a deployment sets its own secret).
void wm_key_from_env(WmKey *k);
// Marks rgb [T,H,W,3] in place: amp per cell, raised per bit (informed
// embedding) where the picture hides the mark, up to WM_AMP_MAX.
void wm_embed(const WmKey *k, uint32_t payload, uint8_t *rgb, int T, int H, int W, float amp);

typedef struct {
  int detected;            // score > threshold
  double score, threshold; // S and the threshold it is compared with
  double fa_bound;         // the false-detection bound at this score (all hypotheses)
  uint32_t payload;        // the bits (meaningful when detected)
  double z[WM_BITS];
  float crop[4];           // left, right, top, bottom fractions of the best hypothesis
  int shift;               // frame offset of the best hypothesis
  int hypotheses;
} WmResult;

// Looks for the mark in rgb [T,H,W,3]. Frames smaller than 2 px per cell
// (32 px) are too small: nothing is detected (score 0).
void wm_detect(const WmKey *k, const uint8_t *rgb, int T, int H, int W, WmResult *out);
// The threshold on S for false-detection rate fa over n hypotheses.
double wm_threshold(double fa, int n);
