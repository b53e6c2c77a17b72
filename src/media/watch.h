// What a person watches, shared by `generate` and `render`: frames scaled up
// (nearest neighbour) for the MP4, and a PNG contact sheet.
#pragma once
#include <stdint.h>

// Upscale factor for a frame H pixels high: `upscale` when given, else the
// smallest k that makes the frame at least 256 pixels high.
int watch_upscale_factor(int H, int upscale);
// video [frames,H,W,3] -> new buffer [frames,H*k,W*k,3] (tsr_free it).
uint8_t *watch_upscale(const uint8_t *video, int frames, int H, int W, int k);
// Up to 8 evenly spaced frames side by side, each scaled to at least 64
// pixels high (2x for frames of 32 and more), written as an RGB PNG.
// Returns 0, or -1 with the reason in err.
int watch_contact_sheet(const char *path, const uint8_t *video, int frames, int H, int W, char *err, int errlen);
