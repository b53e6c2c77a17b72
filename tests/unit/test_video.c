// Video I/O (FFmpeg) and the measured-attribute recaptioner.
// Run from the repository root; temporary files go under build/tmp/.
// Real clips come from Debian's python3-imageio package (`make deps`).
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/recaption.h"
#include "media/video_io.h"
#include "testlib.h"

#define IMAGEIO "/usr/lib/python3/dist-packages/imageio/resources/images/"
#define TMPDIR "build/tmp"

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

// Frame count, width, height and duration (s) as ffprobe reports them (decoding every frame).
static int probe(const char *path, int *frames, int *w, int *h, double *duration) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=width,height,nb_read_frames "
           "-show_entries format=duration -of default=noprint_wrappers=1 '%s' 2>/dev/null",
           path);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[256];
  int got = 0;
  *frames = *w = *h = 0;
  *duration = 0;
  while (fgets(line, sizeof line, p)) {
    if (sscanf(line, "width=%d", w) == 1) got |= 1;
    else if (sscanf(line, "height=%d", h) == 1) got |= 2;
    else if (sscanf(line, "nb_read_frames=%d", frames) == 1) got |= 4;
    else if (sscanf(line, "duration=%lf", duration) == 1) got |= 8;
  }
  int rc = pclose(p);
  return (rc == 0 && got == 15) ? 0 : -1;
}

static int frames_equal(const VideoFrames *a, int i, const VideoFrames *b, int j) {
  size_t n = (size_t)a->H * a->W * 3;
  return a->H == b->H && a->W == b->W && !memcmp(a->pixels + i * n, b->pixels + j * n, n);
}

static int one_line(const char *s) { return s[0] && !strchr(s, '\n'); }

// ------------------------------------------------------------------ decoding

static void test_decode_file(const char *name, float fps_check) {
  char path[512];
  snprintf(path, sizeof path, IMAGEIO "%s", name);
  int nf, w, h;
  double dur;
  if (probe(path, &nf, &w, &h, &dur) != 0) {
    EXPECT(0, "%s: ffprobe failed (is python3-imageio installed? `make deps`)", path);
    return;
  }
  char err[256];
  VideoFrames v;
  // source rate; cockatoo (1280x720) is checked on its first 50 frames to keep memory small
  int maxf = nf > 100 ? 50 : 0;
  int rc = video_read(path, 0, maxf, &v, err, sizeof err);
  EXPECT(rc == 0, "%s: video_read: %s", name, err);
  if (rc) return;
  int want = maxf ? maxf : nf;
  EXPECT(v.T == want && v.W == w && v.H == h, "%s: got %d frames %dx%d, ffprobe says %d frames %dx%d", name, v.T, v.W,
         v.H, want, w, h);
  printf("  ok  %-20s %d frames %dx%d at %.2f fps (ffprobe: %d frames, %.3f s)\n", name, v.T, v.W, v.H, v.fps, nf, dur);
  // the frames are not all the same (it is a video)
  EXPECT(!frames_equal(&v, 0, &v, v.T - 1), "%s: first and last frame identical", name);
  video_frames_free(&v);
  int ph, pw;
  rc = video_probe(path, &ph, &pw, err, sizeof err);
  EXPECT(rc == 0 && ph == h && pw == w, "%s: video_probe: rc %d %dx%d (%s)", name, rc, pw, ph, err);
  // resampled: duration * fps frames (within one)
  rc = video_read(path, fps_check, 0, &v, err, sizeof err);
  EXPECT(rc == 0, "%s at %g fps: %s", name, fps_check, err);
  if (rc) return;
  double expect = dur * fps_check;
  EXPECT(fabs(v.T - expect) <= 1.0 && fabs(v.fps - fps_check) < 1e-4, "%s at %g fps: %d frames, expected %.2f", name,
         fps_check, v.T, expect);
  printf("  ok  %-20s at %g fps: %d frames (duration x fps = %.2f)\n", name, fps_check, v.T, expect);
  video_frames_free(&v);
}

// GIF with variable frame durations: 0.05 s, then 0.02 s each. At 100 fps the
// output holds each source frame for its duration (the latest frame at or
// before each output time).
static void test_gif_timing(void) {
  const char *path = IMAGEIO "newtonscradle.gif";
  char err[256];
  VideoFrames src, r100, r8;
  if (video_read(path, 0, 0, &src, err, sizeof err)) {
    EXPECT(0, "gif: %s", err);
    return;
  }
  int rc = video_read(path, 100, 0, &r100, err, sizeof err);
  EXPECT(rc == 0, "gif at 100 fps: %s", err);
  if (rc == 0) {
    EXPECT(r100.T == 82, "gif at 100 fps: %d frames, expected 82 (0.82 s)", r100.T);
    int ok = 1;
    for (int k = 0; k < 5; k++) ok &= frames_equal(&r100, k, &src, 0);
    ok &= frames_equal(&r100, 5, &src, 1) && frames_equal(&r100, 6, &src, 1) && frames_equal(&r100, 7, &src, 2);
    ok &= frames_equal(&r100, r100.T - 1, &src, src.T - 1);
    EXPECT(ok, "gif at 100 fps: output frames are not the latest source frame at or before each time");
    if (ok) printf("  ok  gif resampling picks the latest frame at or before each output time\n");
    video_frames_free(&r100);
  }
  rc = video_read(path, 8, 3, &r8, err, sizeof err);
  EXPECT(rc == 0 && r8.T == 3, "gif max_frames 3: rc %d, %d frames", rc, r8.T);
  if (rc == 0) {
    // output times 0, 0.125, 0.25 -> source frames at 0.11 (index 4) and 0.25 (index 10)
    EXPECT(frames_equal(&r8, 0, &src, 0) && frames_equal(&r8, 1, &src, 4) && frames_equal(&r8, 2, &src, 10),
           "gif at 8 fps: wrong frames picked");
    video_frames_free(&r8);
  }
  video_frames_free(&src);
}

// video_read_fit scales while decoding to what video_resize_crop would scale to:
// the crop that follows is a copy, and the result is close to resize_crop of the full frames.
static void test_read_fit(void) {
  const char *path = IMAGEIO "realshort.mp4";
  char err[256];
  VideoFrames full, fit, a, b;
  if (video_read(path, 8, 4, &full, err, sizeof err) || video_read_fit(path, 8, 4, 32, 48, &fit, err, sizeof err)) {
    EXPECT(0, "read_fit: %s", err);
    return;
  }
  // 240x320 covering 32x48: scale 0.15 -> 36x48
  EXPECT(fit.T == full.T && fit.H == 36 && fit.W == 48, "read_fit: %d frames %dx%d, expected %d of 48x36", fit.T,
         fit.W, fit.H, full.T);
  video_resize_crop(&full, 32, 48, &a);
  video_resize_crop(&fit, 32, 48, &b);
  double e = 0;
  size_t n = (size_t)a.T * 32 * 48 * 3;
  for (size_t i = 0; i < n; i++) e += abs((int)a.pixels[i] - (int)b.pixels[i]);
  e /= (double)n;
  EXPECT(a.T == b.T && e < 4.0, "read_fit + crop vs read + resize_crop: mean abs difference %.2f", e);
  printf("  ok  video_read_fit + crop vs video_read + resize_crop: mean abs difference %.2f / 255\n", e);
  video_frames_free(&a);
  video_frames_free(&b);
  video_frames_free(&full);
  video_frames_free(&fit);
  int ph, pw;
  EXPECT(video_probe(TMPDIR "/no-such-file.mp4", &ph, &pw, err, sizeof err) == -1 && one_line(err), "probe of a missing file");
}

// Phone videos carry a display-matrix rotation; frames come out upright, as
// the ffmpeg command line shows them (checked against its output when present).
static void test_rotation(void) {
  if (system("command -v ffmpeg >/dev/null 2>&1") != 0) {
    printf("  skip rotation (no ffmpeg command line)\n");
    return;
  }
  char cmd[1024], err[256];
  VideoFrames up;
  if (video_read(IMAGEIO "realshort.mp4", 0, 1, &up, err, sizeof err)) {
    EXPECT(0, "realshort: %s", err);
    return;
  }
  static const int rots[3] = {90, 180, 270};
  for (int k = 0; k < 3; k++) {
    snprintf(cmd, sizeof cmd,
             "ffmpeg -v error -y -i " IMAGEIO "realshort.mp4 -c copy -metadata:s:v:0 rotate=%d " TMPDIR "/rot.mp4 && "
             "ffmpeg -v error -y -i " TMPDIR "/rot.mp4 -frames:v 1 -f rawvideo -pix_fmt rgb24 " TMPDIR "/rot.rgb",
             rots[k]);
    if (system(cmd) != 0) {
      EXPECT(0, "ffmpeg could not write a rotated copy (rotate=%d)", rots[k]);
      continue;
    }
    VideoFrames v;
    int ph = 0, pw = 0;
    int rc = video_read(TMPDIR "/rot.mp4", 0, 1, &v, err, sizeof err);
    video_probe(TMPDIR "/rot.mp4", &ph, &pw, err, sizeof err);
    int quarter = rots[k] != 180;
    int eh = quarter ? up.W : up.H, ew = quarter ? up.H : up.W;
    EXPECT(rc == 0 && v.H == eh && v.W == ew && ph == eh && pw == ew, "rotate=%d: read %dx%d, probe %dx%d, expected %dx%d",
           rots[k], v.W, v.H, pw, ph, ew, eh);
    FILE *f = fopen(TMPDIR "/rot.rgb", "rb");
    size_t n = (size_t)eh * ew * 3;
    uint8_t *ref = malloc(n);
    size_t got = f ? fread(ref, 1, n, f) : 0;
    if (f) fclose(f);
    if (rc == 0 && got == n && v.H == eh && v.W == ew) {
      double e = 0;
      for (size_t i = 0; i < n; i++) e += abs((int)v.pixels[i] - (int)ref[i]);
      e /= (double)n;
      EXPECT(e < 4.0, "rotate=%d: mean abs difference to ffmpeg's upright frame %.2f", rots[k], e);
      printf("  ok  rotate=%d: %dx%d upright, mean abs difference to ffmpeg's frame %.2f / 255\n", rots[k], v.W, v.H, e);
    } else {
      EXPECT(0, "rotate=%d: no frame to compare (%zu bytes from ffmpeg)", rots[k], got);
    }
    free(ref);
    if (rc == 0) video_frames_free(&v);
    // fitted decoding keeps the orientation
    if (video_read_fit(TMPDIR "/rot.mp4", 8, 2, 32, 32, &v, err, sizeof err) == 0) {
      EXPECT(quarter ? (v.H > v.W && v.W == 32) : (v.W > v.H && v.H == 32), "rotate=%d fit: %dx%d", rots[k], v.W, v.H);
      video_frames_free(&v);
    }
  }
  video_frames_free(&up);
  unlink(TMPDIR "/rot.mp4");
  unlink(TMPDIR "/rot.rgb");
}

static void test_decode_errors(void) {
  char err[256] = "";
  VideoFrames v;
  int rc = video_read(TMPDIR "/no-such-file.mp4", 8, 0, &v, err, sizeof err);
  EXPECT(rc == -1 && one_line(err) && v.pixels == NULL, "missing file: rc %d err '%s'", rc, err);
  printf("  ok  missing file: %s\n", err);
  FILE *f = fopen(TMPDIR "/garbage.mp4", "wb");
  for (int i = 0; i < 5000; i++) fputc((i * 7919) & 255, f);
  fclose(f);
  err[0] = 0;
  rc = video_read(TMPDIR "/garbage.mp4", 8, 0, &v, err, sizeof err);
  EXPECT(rc == -1 && one_line(err), "garbage file: rc %d err '%s'", rc, err);
  printf("  ok  garbage file: %s\n", err);
  unlink(TMPDIR "/garbage.mp4");
}

// ------------------------------------------------------------------ resize + crop

static void test_resize_crop(void) {
  // 40 x 80: red | green | blue columns (0-19, 20-59, 60-79); target 20x20
  // scales by 0.5 to 20x40 and keeps the middle 20 columns: green.
  VideoFrames in = {.T = 2, .H = 40, .W = 80, .fps = 8}, out;
  in.pixels = malloc((size_t)in.T * in.H * in.W * 3);
  for (int t = 0; t < in.T; t++)
    for (int y = 0; y < in.H; y++)
      for (int x = 0; x < in.W; x++) {
        uint8_t *p = in.pixels + (((size_t)t * in.H + y) * in.W + x) * 3;
        p[0] = x < 20 ? 220 : 10;
        p[1] = x >= 20 && x < 60 ? 200 : 10;
        p[2] = x >= 60 ? 230 : 10;
      }
  video_resize_crop(&in, 20, 20, &out);
  EXPECT(out.T == 2 && out.H == 20 && out.W == 20 && out.fps == 8, "resize 40x80 -> 20x20: got %d %dx%d", out.T,
         out.H, out.W);
  int bad = 0;
  for (int y = 0; y < 20; y++)
    for (int x = 2; x < 18; x++) {
      const uint8_t *p = out.pixels + ((size_t)(20 * 20) + y * 20 + x) * 3;
      if (abs(p[0] - 10) > 3 || abs(p[1] - 200) > 3 || abs(p[2] - 10) > 3) bad++;
    }
  EXPECT(bad == 0, "resize 40x80 -> 20x20: %d interior pixels not the centre colour", bad);
  video_frames_free(&out);
  // wider target keeps more: 40x80 -> 10x40 (scale 0.5 -> 20x40, rows 5..14): red, green and blue all in view
  video_resize_crop(&in, 10, 40, &out);
  EXPECT(out.H == 10 && out.W == 40, "resize 40x80 -> 10x40: got %dx%d", out.H, out.W);
  const uint8_t *p0 = out.pixels + (5 * 40 + 2) * 3, *p1 = out.pixels + (5 * 40 + 20) * 3,
                *p2 = out.pixels + (5 * 40 + 37) * 3;
  EXPECT(p0[0] > 200 && p1[1] > 190 && p2[2] > 210, "resize 40x80 -> 10x40: left red, middle green, right blue");
  video_frames_free(&out);
  free(in.pixels);

  // tall: 80x40 with a horizontal ramp in rows; 40x40 keeps rows 20..59 of the source
  in = (VideoFrames){.T = 1, .H = 80, .W = 40, .fps = 1};
  in.pixels = malloc((size_t)in.H * in.W * 3);
  for (int y = 0; y < in.H; y++)
    for (int x = 0; x < in.W; x++)
      for (int c = 0; c < 3; c++) in.pixels[((size_t)y * in.W + x) * 3 + c] = (uint8_t)(y * 3);
  video_resize_crop(&in, 40, 40, &out);  // crop only: exact
  int exact = out.H == 40 && out.W == 40;
  for (int y = 0; exact && y < 40; y++) exact = out.pixels[(size_t)y * 40 * 3] == (uint8_t)((y + 20) * 3);
  EXPECT(exact, "crop-only 80x40 -> 40x40 is not rows 20..59");
  video_frames_free(&out);
  video_resize_crop(&in, 20, 20, &out);  // scale 0.5 then rows 10..29 of 40: source rows ~20..59
  EXPECT(out.H == 20 && out.W == 20, "80x40 -> 20x20: got %dx%d", out.H, out.W);
  float top = out.pixels[(2 * 20 + 10) * 3], bottom = out.pixels[(17 * 20 + 10) * 3];
  // scaled row r covers source rows 2r..2r+1; output row y is scaled row y+10 -> source ~2(y+10)+0.5
  EXPECT(fabsf(top - 3.0f * (2 * 12 + 0.5f)) < 4 && fabsf(bottom - 3.0f * (2 * 27 + 0.5f)) < 4,
         "80x40 -> 20x20 ramp: top %.0f bottom %.0f", top, bottom);
  video_frames_free(&out);
  free(in.pixels);

  // upscale 10x10 -> 20x30 (scale 3 -> 30x30, rows 5..24); a solid colour stays put
  in = (VideoFrames){.T = 1, .H = 10, .W = 10, .fps = 1};
  in.pixels = malloc(300);
  for (int i = 0; i < 100; i++) in.pixels[3 * i] = 200, in.pixels[3 * i + 1] = 30, in.pixels[3 * i + 2] = 60;
  video_resize_crop(&in, 20, 30, &out);
  int solid = out.H == 20 && out.W == 30;
  for (int i = 0; solid && i < 20 * 30; i++)
    solid = abs(out.pixels[3 * i] - 200) <= 2 && abs(out.pixels[3 * i + 1] - 30) <= 2 && abs(out.pixels[3 * i + 2] - 60) <= 2;
  EXPECT(solid, "upscale 10x10 -> 20x30 of a solid colour: size %dx%d or colour changed", out.H, out.W);
  video_frames_free(&out);
  free(in.pixels);
  printf("  ok  resize_crop geometry (scale so the target is covered, centre crop)\n");
}

// ------------------------------------------------------------------ encoding

static uint8_t *smooth_clip(int T, int H, int W) {
  uint8_t *p = malloc((size_t)T * H * W * 3);
  for (int t = 0; t < T; t++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        uint8_t *q = p + (((size_t)t * H + y) * W + x) * 3;
        q[0] = (uint8_t)(128 + 90 * sin(0.15 * x + 0.2 * t));
        q[1] = (uint8_t)(128 + 90 * cos(0.12 * y - 0.1 * t));
        q[2] = (uint8_t)(128 + 60 * sin(0.08 * (x + y)));
      }
  return p;
}

static void test_write_mp4(void) {
  char err[256];
  const int T = 16, H = 48, W = 64;
  uint8_t *clip = smooth_clip(T, H, W);
  const char *path = TMPDIR "/roundtrip.mp4";
  unlink(path);
  int rc = video_write_mp4(path, clip, T, H, W, 8.0f, err, sizeof err);
  EXPECT(rc == 0 && exists(path), "write_mp4: %s", err);
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  EXPECT(!exists(tmp), "write_mp4 left %s behind", tmp);
  int nf, w, h;
  double dur;
  EXPECT(probe(path, &nf, &w, &h, &dur) == 0 && nf == T && w == W && h == H,
         "ffprobe of the written file: %d frames %dx%d", nf, w, h);
  VideoFrames v;
  rc = video_read(path, 0, 0, &v, err, sizeof err);
  EXPECT(rc == 0, "read back: %s", err);
  if (rc == 0) {
    EXPECT(v.T == T && v.H == H && v.W == W && fabsf(v.fps - 8.0f) < 0.01f, "round trip: %d frames %dx%d at %g fps",
           v.T, v.H, v.W, v.fps);
    if (v.T == T && v.H == H && v.W == W) {
      double e = 0;
      for (size_t i = 0; i < (size_t)T * H * W * 3; i++) e += abs((int)v.pixels[i] - (int)clip[i]);
      e /= (double)T * H * W * 3;
      EXPECT(e < 3.0, "round trip mean abs error %.2f >= 3", e);
      printf("  ok  write_mp4 -> video_read: %d frames %dx%d, mean abs error %.2f / 255\n", v.T, v.W, v.H, e);
    }
    video_frames_free(&v);
  }
  unlink(path);
  // odd sizes are padded to even
  rc = video_write_mp4(path, clip, 4, 15, 21, 10.0f, err, sizeof err);
  EXPECT(rc == 0, "write_mp4 15x21: %s", err);
  if (rc == 0 && video_read(path, 0, 0, &v, err, sizeof err) == 0) {
    EXPECT(v.T == 4 && v.H == 16 && v.W == 22, "15x21 read back as %d frames %dx%d (expected 4 of 16x22)", v.T, v.H,
           v.W);
    video_frames_free(&v);
  }
  unlink(path);

  // no partial file: a missing directory, an unwritable directory (not as root),
  // a target that is a directory (the finished temp file must be removed), bad arguments
  const char *missing = TMPDIR "/no-such-dir/x.mp4";
  err[0] = 0;
  rc = video_write_mp4(missing, clip, T, H, W, 8.0f, err, sizeof err);
  EXPECT(rc == -1 && one_line(err) && !exists(missing), "write into a missing directory: rc %d '%s'", rc, err);
  printf("  ok  write into a missing directory: %s\n", err);
  if (geteuid() != 0) {
    mkdir(TMPDIR "/ro", 0555);
    chmod(TMPDIR "/ro", 0555);
    rc = video_write_mp4(TMPDIR "/ro/x.mp4", clip, T, H, W, 8.0f, err, sizeof err);
    EXPECT(rc == -1 && !exists(TMPDIR "/ro/x.mp4") && !exists(TMPDIR "/ro/x.mp4.tmp"),
           "write into a read-only directory: rc %d", rc);
    rmdir(TMPDIR "/ro");
  }
  const char *dirpath = TMPDIR "/is-a-dir.mp4";
  mkdir(dirpath, 0755);
  err[0] = 0;
  rc = video_write_mp4(dirpath, clip, T, H, W, 8.0f, err, sizeof err);
  EXPECT(rc == -1 && one_line(err) && !exists(TMPDIR "/is-a-dir.mp4.tmp"),
         "write over a directory: rc %d, tmp left: %d ('%s')", rc, exists(TMPDIR "/is-a-dir.mp4.tmp"), err);
  printf("  ok  write over a directory: %s (no temp file left)\n", err);
  rmdir(dirpath);
  rc = video_write_mp4(TMPDIR "/bad.mp4", clip, T, H, W, 0.0f, err, sizeof err);
  EXPECT(rc == -1 && !exists(TMPDIR "/bad.mp4") && !exists(TMPDIR "/bad.mp4.tmp"), "fps 0: rc %d", rc);
  free(clip);
}

// ------------------------------------------------------------------ recaptioner

static void fill(uint8_t *p, int n, uint8_t r, uint8_t g, uint8_t b) {
  for (int i = 0; i < n; i++) p[3 * i] = r, p[3 * i + 1] = g, p[3 * i + 2] = b;
}

static int has_colour(const ClipAttributes *a, const char *name) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(a->colours[i], name)) return 1;
  return 0;
}

// A cheap deterministic texture: random colour blocks of 4x4 over a large canvas.
static void texture_at(int X, int Y, uint8_t *q) {
  uint32_t h = (uint32_t)((X >> 2) * 73856093u) ^ (uint32_t)((Y >> 2) * 19349663u);
  h ^= h >> 13;
  h *= 0x5bd1e995u;
  h ^= h >> 15;
  q[0] = (uint8_t)h;
  q[1] = (uint8_t)(h >> 8);
  q[2] = (uint8_t)(h >> 16);
}

static void test_recaption(void) {
  ClipAttributes a;
  char text[1024];
  // named colours: each palette colour of the shapes world gets its name
  {
    static const struct {
      const char *name;
      uint8_t rgb[3];
    } pal[] = {{"red", {230, 40, 40}},    {"green", {40, 200, 60}},   {"blue", {50, 90, 230}},
               {"yellow", {240, 220, 40}}, {"cyan", {40, 210, 220}},  {"magenta", {220, 50, 200}},
               {"white", {245, 245, 245}}, {"orange", {245, 140, 30}}, {"black", {0, 0, 0}},
               {"gray", {96, 96, 96}},     {"navy", {20, 24, 70}}};
    uint8_t px[2 * 4 * 4 * 3];
    int ok = 1;
    for (size_t i = 0; i < sizeof pal / sizeof pal[0]; i++) {
      fill(px, 32, pal[i].rgb[0], pal[i].rgb[1], pal[i].rgb[2]);
      recaption_measure(px, 2, 4, 4, &a);
      if (strcmp(a.colours[0], pal[i].name) || a.colours[1][0]) {
        ok = 0;
        printf("      (%d,%d,%d) named '%s' / '%s', expected '%s'\n", pal[i].rgb[0], pal[i].rgb[1], pal[i].rgb[2],
               a.colours[0], a.colours[1], pal[i].name);
      }
    }
    EXPECT(ok, "palette colours named wrongly");
  }

  // a red 6x6 square moving right at 2 px/frame on black
  const int T = 16, H = 32, W = 48, S = 6;
  const float speed = 2.0f;
  uint8_t *clip = calloc((size_t)T * H * W * 3, 1);
  for (int t = 0; t < T; t++)
    for (int y = 13; y < 13 + S; y++)
      for (int x = 0; x < S; x++) {
        int X = 4 + (int)(speed * t) + x;
        uint8_t *q = clip + (((size_t)t * H + y) * W + X) * 3;
        q[0] = 230, q[1] = 40, q[2] = 40;
      }
  recaption_measure(clip, T, H, W, &a);
  printf("  measured red square: colours %s/%s/%s dx %.2f dy %.2f pan %d cuts %d brightness %.3f\n", a.colours[0],
         a.colours[1], a.colours[2], a.motion_dx, a.motion_dy, a.camera_pan, a.scene_cuts, a.brightness);
  EXPECT(!strcmp(a.colours[0], "black") && has_colour(&a, "red"), "red square: colours %s, %s", a.colours[0],
         a.colours[1]);
  EXPECT(a.motion_dx > 0 && fabsf(a.motion_dx - speed) <= 0.3f * speed && fabsf(a.motion_dy) < 0.3f,
         "red square: dx %.2f dy %.2f, expected dx %.1f", a.motion_dx, a.motion_dy, speed);
  EXPECT(!a.camera_pan && a.scene_cuts == 0, "red square: pan %d cuts %d", a.camera_pan, a.scene_cuts);
  EXPECT(a.brightness < 0.1f, "red square: brightness %.3f", a.brightness);
  recaption_compose("a red square moves right", &a, text, sizeof text);
  printf("  recaption: %s\n", text);
  EXPECT(!strncmp(text, "a red square moves right. ", 26) && strstr(text, "moves right") && strstr(text, "red") &&
             strstr(text, "camera is static"),
         "red square recaption: %s", text);
  // the same square moving up-left, and a square that stays still
  memset(clip, 0, (size_t)T * H * W * 3);
  for (int t = 0; t < T; t++)
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        int X = 40 - t * 2 + x - S, Y = 30 - t + y - S;
        uint8_t *q = clip + (((size_t)t * H + Y) * W + X) * 3;
        q[0] = 40, q[1] = 200, q[2] = 60;
      }
  recaption_measure(clip, T, H, W, &a);
  EXPECT(fabsf(a.motion_dx + 2) < 0.6f && fabsf(a.motion_dy + 1) < 0.3f && !a.camera_pan,
         "green square up-left: dx %.2f dy %.2f pan %d", a.motion_dx, a.motion_dy, a.camera_pan);
  recaption_compose("", &a, text, sizeof text);
  EXPECT(strstr(text, "moves up and to the left") && text[0] == 'T', "up-left recaption: %s", text);
  for (int t = 1; t < T; t++) memcpy(clip + (size_t)t * H * W * 3, clip, (size_t)H * W * 3);
  recaption_measure(clip, T, H, W, &a);
  EXPECT(a.motion_speed < 0.05f && !a.camera_pan, "still square: speed %.2f pan %d", a.motion_speed, a.camera_pan);
  recaption_compose("a square.", &a, text, sizeof text);
  EXPECT(strstr(text, "a square. The scene is dark") && strstr(text, "little motion"), "still recaption: %s", text);

  // a whole textured frame shifting left by 2 px/frame: camera pan (the camera turns right)
  for (int t = 0; t < T; t++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) texture_at(x + 2 * t + 100, y + 50, clip + (((size_t)t * H + y) * W + x) * 3);
  recaption_measure(clip, T, H, W, &a);
  printf("  measured textured shift: dx %.2f dy %.2f pan %d cuts %d\n", a.motion_dx, a.motion_dy, a.camera_pan,
         a.scene_cuts);
  EXPECT(a.camera_pan && a.motion_dx < 0 && fabsf(a.motion_dx + 2) < 0.6f && a.scene_cuts == 0,
         "textured shift left: pan %d dx %.2f cuts %d", a.camera_pan, a.motion_dx, a.scene_cuts);
  recaption_compose("a street", &a, text, sizeof text);
  printf("  recaption: %s\n", text);
  EXPECT(strstr(text, "The camera pans right"), "pan recaption: %s", text);
  // textured background, static camera, a small object moving down: not a pan
  for (int t = 0; t < T; t++) {
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) texture_at(x, y, clip + (((size_t)t * H + y) * W + x) * 3);
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) fill(clip + (((size_t)t * H + 2 + t + y) * W + 20 + x) * 3, 1, 255, 255, 255);
  }
  recaption_measure(clip, T, H, W, &a);
  EXPECT(!a.camera_pan && fabsf(a.motion_dy - 1) < 0.3f && fabsf(a.motion_dx) < 0.3f,
         "object on a static texture: pan %d dx %.2f dy %.2f", a.camera_pan, a.motion_dx, a.motion_dy);

  // an abrupt change halfway (two static textured scenes with a little noise): one cut
  for (int t = 0; t < T; t++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        uint8_t *q = clip + (((size_t)t * H + y) * W + x) * 3;
        texture_at(x + (t < T / 2 ? 0 : 1000), y, q);
        for (int c = 0; c < 3; c++) q[c] = (uint8_t)(q[c] / 2 + ((x * 31 + y * 17 + t * 7 + c) % 5));
      }
  recaption_measure(clip, T, H, W, &a);
  EXPECT(a.scene_cuts == 1, "abrupt change halfway: %d cuts", a.scene_cuts);
  recaption_compose("two shots", &a, text, sizeof text);
  EXPECT(strstr(text, "There is one scene cut."), "cut recaption: %s", text);
  // no cuts in a smooth fade
  for (int t = 0; t < T; t++) fill(clip + (size_t)t * H * W * 3, H * W, (uint8_t)(t * 16), (uint8_t)(t * 16), 0);
  recaption_measure(clip, T, H, W, &a);
  EXPECT(a.scene_cuts == 0, "fade: %d cuts", a.scene_cuts);

  // all white: brightness ~1, colour white
  memset(clip, 255, (size_t)T * H * W * 3);
  recaption_measure(clip, T, H, W, &a);
  EXPECT(fabsf(a.brightness - 1.0f) < 0.01f && !strcmp(a.colours[0], "white") && a.motion_speed == 0,
         "all white: brightness %.3f colour %s", a.brightness, a.colours[0]);
  recaption_compose("snow", &a, text, sizeof text);
  EXPECT(!strcmp(text, "snow. The scene is bright, mostly white. There is little motion and the camera is static."),
         "white recaption: %s", text);
  recaption_short(&a, text, sizeof text);
  EXPECT(!strcmp(text, "a bright video, mostly white"), "short caption: %s", text);
  // truncation keeps the output NUL-terminated
  char small[12];
  recaption_compose("a very long caption indeed", &a, small, sizeof small);
  EXPECT(strlen(small) == sizeof small - 1, "truncated recaption: '%s'", small);
  // a single frame and a larger frame (working copy downsampled)
  recaption_measure(clip, 1, H, W, &a);
  EXPECT(a.motion_speed == 0 && a.scene_cuts == 0, "single frame");
  free(clip);
  {
    const int T2 = 8, H2 = 180, W2 = 320;
    uint8_t *big = calloc((size_t)T2 * H2 * W2 * 3, 1);
    for (int t = 0; t < T2; t++)
      for (int y = 60; y < 120; y++)
        for (int x = 0; x < 40; x++) fill(big + (((size_t)t * H2 + y) * W2 + 20 + 25 * t + x) * 3, 1, 50, 90, 230);
    recaption_measure(big, T2, H2, W2, &a);
    EXPECT(fabsf(a.motion_dx - 25) < 5 && fabsf(a.motion_dy) < 1 && !a.camera_pan && has_colour(&a, "blue"),
           "180x320 blue block at 25 px/frame: dx %.2f dy %.2f pan %d", a.motion_dx, a.motion_dy, a.camera_pan);
    recaption_compose("", &a, text, sizeof text);
    EXPECT(strstr(text, "moves right quickly"), "fast block: %s", text);
    free(big);
  }
  printf("  ok  recaptioner on synthetic clips\n");
}

// The real clips: the recaptioner runs and names something sensible.
static void test_recaption_real(void) {
  char err[256], text[1024];
  VideoFrames v, s;
  if (video_read(IMAGEIO "realshort.mp4", 8, 8, &v, err, sizeof err)) {
    EXPECT(0, "realshort: %s", err);
    return;
  }
  video_resize_crop(&v, 32, 32, &s);
  ClipAttributes a;
  recaption_measure(s.pixels, s.T, s.H, s.W, &a);
  recaption_compose("a short clip", &a, text, sizeof text);
  printf("  realshort.mp4: %s\n", text);
  EXPECT(a.colours[0][0] && a.brightness > 0 && a.brightness < 1, "realshort: no colours / brightness");
  video_frames_free(&v);
  video_frames_free(&s);
}

int main(void) {
  mkdir("build", 0755);
  mkdir(TMPDIR, 0755);
  test_decode_file("realshort.mp4", 8);
  test_decode_file("newtonscradle.gif", 12);
  test_decode_file("cockatoo.mp4", 4);
  test_gif_timing();
  test_read_fit();
  test_rotation();
  test_decode_errors();
  test_resize_crop();
  test_write_mp4();
  test_recaption();
  test_recaption_real();
  return tl_finish("test_video");
}
