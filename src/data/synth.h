// The shapes world: procedural clips with known ground truth (issue 3).
// Each clip: a flat background, 1-3 objects (circle/square/triangle, 8
// colours, small/large) each with a motion (left/right/up/down/still/bounce);
// objects may pass behind one another. Deterministic for (seed, clip index).
#pragma once
#include <stdint.h>

enum { SYNTH_MAX_OBJECTS = 3 };

typedef struct {
  int shape, colour, size, motion;  // indices into the name tables below
  int depth;                        // drawing order: higher is in front
  float x0, y0, vx, vy;             // start centre (pixels) and velocity (pixels/frame)
} SynthObject;

typedef struct {
  int background;
  int nobjects;
  SynthObject obj[SYNTH_MAX_OBJECTS];
} SynthScene;

extern const char *const SYNTH_SHAPES[3];
extern const char *const SYNTH_COLOURS[8];
extern const uint8_t SYNTH_COLOUR_RGB[8][3];
extern const char *const SYNTH_SIZES[2];
extern const char *const SYNTH_MOTIONS[6];
extern const char *const SYNTH_BACKGROUNDS[3];
extern const uint8_t SYNTH_BACKGROUND_RGB[3][3];

// Draw the scene of clip `index` for (seed, T, H, W).
void synth_scene(SynthScene *s, uint64_t seed, uint64_t index, int T, int H, int W);
// The same with the object count drawn from [min_objects, max_objects] (1..3);
// synth_scene is synth_scene_range(..., 1, 3).
void synth_scene_range(SynthScene *s, uint64_t seed, uint64_t index, int T, int H, int W, int min_objects,
                       int max_objects);
// Object permanence: behind[i] = the index of a nearer object that object i
// passes behind and comes out from again (hidden in one frame, no overlap in a
// later one; datasets/shapes.md), -1 if none. Returns how many objects do.
int synth_occlusions(const SynthScene *s, int T, int H, int W, int behind[SYNTH_MAX_OBJECTS]);
// Object centre at frame f (bounces reflect at the walls).
void synth_position(const SynthObject *o, int f, int H, int W, float *x, float *y);
// Render pixels [T,H,W,3].
void synth_render(const SynthScene *s, int T, int H, int W, uint8_t *pixels);
// "a red circle moves left" (the first object; "and" for more).
void synth_caption(const SynthScene *s, char *out, int outlen);
// Descriptive recaption from the ground truth (sizes, colours, where each
// object starts and ends, speed, background, who passes in front of whom).
void synth_recaption(const SynthScene *s, int T, int H, int W, char *out, int outlen);
