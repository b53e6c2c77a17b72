// Video files through FFmpeg's libraries (libavformat, libavcodec, libswscale).
#pragma once
#include <stdint.h>

typedef struct {
  int T, H, W;     // frames, height, width (RGB, 3 channels)
  float fps;       // frames per second of `pixels`
  uint8_t *pixels; // [T,H,W,3]
} VideoFrames;

// Decode PATH into RGB frames resampled to target_fps (<= 0: keep the
// source rate), at most max_frames (<= 0: all). Returns 0 on success; on
// failure returns -1 with a one-line reason in err (file named by the caller).
// Frames come upright: a display-matrix rotation (phone videos) is applied,
// as the ffmpeg command line does.
int video_read(const char *path, float target_fps, int max_frames, VideoFrames *out, char *err, int errlen);
void video_frames_free(VideoFrames *v);
// Frame size of PATH's video stream from its headers (upright), without decoding.
// Returns 0, or -1 with a one-line reason in err.
int video_probe(const char *path, int *H, int *W, char *err, int errlen);
// video_read with every frame scaled (bicubic, aspect kept) straight from the
// decoder to the size video_resize_crop(.., fit_h, fit_w, ..) scales to before
// its centre crop (the smallest that covers fit_h x fit_w), so the crop that
// follows copies pixels only. Much faster than full-size RGB for small clips.
int video_read_fit(const char *path, float target_fps, int max_frames, int fit_h, int fit_w, VideoFrames *out,
                   char *err, int errlen);
// Scale (bicubic) and centre-crop every frame to h x w, preserving aspect.
void video_resize_crop(const VideoFrames *in, int h, int w, VideoFrames *out);
// Encode frames as H.264 MP4 (libx264, yuv420p; odd sizes padded to even) at
// fps, written to PATH.tmp and renamed. Returns 0 or -1 with err.
int video_write_mp4(const char *path, const uint8_t *pixels, int T, int H, int W, float fps, char *err, int errlen);
