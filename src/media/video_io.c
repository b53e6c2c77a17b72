// Video files through FFmpeg's libraries: decode (libavformat + libavcodec,
// send/receive API) to RGB24 with libswscale, resample to a target frame
// rate by timestamps, bicubic resize + centre crop, and H.264 MP4 encoding
// (libx264) written to PATH.tmp and renamed.
#include "media/video_io.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

// FFmpeg's own log lines would break the one-line error rule; errors are
// reported through `err` instead. TESSERA_FFMPEG_LOG=1 keeps them (debugging).
static void quiet_ffmpeg(void) {
  const char *e = getenv("TESSERA_FFMPEG_LOG");
  av_log_set_level(e && *e && strcmp(e, "0") ? AV_LOG_INFO : AV_LOG_QUIET);
}

static void set_err(char *err, int errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, int errlen, const char *fmt, ...) {
  if (!err || errlen <= 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, (size_t)errlen, fmt, ap);
  va_end(ap);
  // keep it one line
  for (char *p = err; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
}

static void set_averr(char *err, int errlen, const char *what, int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE];
  if (av_strerror(code, buf, sizeof buf) < 0) snprintf(buf, sizeof buf, "error %d", code);
  set_err(err, errlen, "%s: %s", what, buf);
}

// ------------------------------------------------------------------ decoding

typedef struct {
  uint8_t *pixels;
  int T, cap, H, W;  // output frames (display orientation)
  size_t frame_bytes;
  struct SwsContext *sws;
  int max_frames;
  int fit_h, fit_w;  // > 0: scale to cover fit_h x fit_w (video_read_fit)
  int rot;           // clockwise rotation for display: 0, 90, 180, 270
  int sH, sW;        // converted size before rotation (stored orientation)
  uint8_t *tmp;      // [sH, sW, 3] when rot != 0
} Sink;

// The clockwise rotation (0, 90, 180 or 270) a player applies to the stream's
// frames, from its display matrix, as the ffmpeg command line does by default.
static int stream_rotation(const AVStream *st) {
  const int32_t *m = NULL;
#if LIBAVFORMAT_VERSION_INT >= AV_VERSION_INT(60, 15, 100)
  const AVPacketSideData *sd = av_packet_side_data_get(st->codecpar->coded_side_data, st->codecpar->nb_coded_side_data,
                                                       AV_PKT_DATA_DISPLAYMATRIX);
  if (sd && sd->size >= 9 * sizeof(int32_t)) m = (const int32_t *)sd->data;
#else
  size_t size = 0;
  const uint8_t *sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (sd && size >= 9 * sizeof(int32_t)) m = (const int32_t *)sd;
#endif
  if (!m) return 0;
  double theta = -round(av_display_rotation_get(m));
  if (isnan(theta)) return 0;
  theta -= 360 * floor(theta / 360 + 0.9 / 360);
  if (fabs(theta - 90) < 1.0) return 90;
  if (fabs(theta - 180) < 1.0) return 180;
  if (fabs(theta - 270) < 1.0) return 270;
  return 0;
}

// Rotate an RGB frame [h, w, 3] clockwise by rot into dst.
static void rotate_rgb(uint8_t *dst, const uint8_t *src, int h, int w, int rot) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const uint8_t *p = src + ((size_t)y * w + x) * 3;
      size_t o;
      if (rot == 90) o = (size_t)x * h + (h - 1 - y);  // out is w x h
      else if (rot == 270) o = (size_t)(w - 1 - x) * h + y;
      else o = (size_t)(h - 1 - y) * w + (w - 1 - x);
      memcpy(dst + o * 3, p, 3);
    }
}

// The size video_resize_crop scales an H x W frame to before cropping h x w.
static void cover_size(int H, int W, int h, int w, int *sh, int *sw) {
  double s = fmax((double)h / H, (double)w / W);
  *sh = (int)lround(H * s);
  *sw = (int)lround(W * s);
  if (*sh < h) *sh = h;
  if (*sw < w) *sw = w;
}

static int is_full_range(const AVFrame *f) {
  switch (f->format) {
    case AV_PIX_FMT_YUVJ420P:
    case AV_PIX_FMT_YUVJ422P:
    case AV_PIX_FMT_YUVJ444P:
    case AV_PIX_FMT_YUVJ440P:
    case AV_PIX_FMT_YUVJ411P:
      return 1;
    default:
      return f->color_range == AVCOL_RANGE_JPEG;
  }
}

static int sws_colorspace_of(enum AVColorSpace cs) {
  switch (cs) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return SWS_CS_ITU601;
  }
}

// Room for one more frame.
static int sink_reserve(Sink *s, char *err, int errlen) {
  if (s->T == s->cap) {
    int ncap = s->cap ? s->cap * 2 : 16;
    if (s->max_frames > 0 && ncap > s->max_frames) ncap = s->max_frames;
    if (ncap <= s->T) ncap = s->T + 1;
    uint8_t *p = realloc(s->pixels, (size_t)ncap * s->frame_bytes);
    if (!p) {
      set_err(err, errlen, "out of memory holding %d frames of %dx%d", ncap, s->W, s->H);
      return -1;
    }
    s->pixels = p;
    s->cap = ncap;
  }
  return 0;
}

// Append a copy of output frame i (a source frame held for several output times).
static int sink_repeat(Sink *s, int i, char *err, int errlen) {
  if (sink_reserve(s, err, errlen)) return -1;
  memcpy(s->pixels + (size_t)s->T * s->frame_bytes, s->pixels + (size_t)i * s->frame_bytes, s->frame_bytes);
  s->T++;
  return 0;
}

// Convert one decoded frame to RGB24 and append it.
static int sink_append(Sink *s, const AVFrame *f, char *err, int errlen) {
  if (s->T == 0) {
    if (f->height <= 0 || f->width <= 0) {
      set_err(err, errlen, "decoded frame has no size");
      return -1;
    }
    const int quarter = s->rot == 90 || s->rot == 270;
    s->H = quarter ? f->width : f->height;  // display orientation
    s->W = quarter ? f->height : f->width;
    if (s->fit_h > 0 && s->fit_w > 0) cover_size(s->H, s->W, s->fit_h, s->fit_w, &s->H, &s->W);
    s->sH = quarter ? s->W : s->H;
    s->sW = quarter ? s->H : s->W;
    s->frame_bytes = (size_t)s->H * s->W * 3;
    if (s->rot && !(s->tmp = malloc(s->frame_bytes))) {
      set_err(err, errlen, "out of memory");
      return -1;
    }
  }
  if (sink_reserve(s, err, errlen)) return -1;
  const int full = is_full_range(f);
  enum AVPixelFormat src = (enum AVPixelFormat)f->format;
  // Frames of another size (a resolution change mid-stream) are scaled to the first frame's size.
  s->sws = sws_getCachedContext(s->sws, f->width, f->height, src, s->sW, s->sH, AV_PIX_FMT_RGB24,
                                SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP, NULL,
                                NULL, NULL);
  if (!s->sws) {
    set_err(err, errlen, "cannot convert pixel format %s to RGB", av_get_pix_fmt_name(src) ? av_get_pix_fmt_name(src) : "?");
    return -1;
  }
  const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(src);
  if (d && !(d->flags & AV_PIX_FMT_FLAG_RGB) && !(d->flags & AV_PIX_FMT_FLAG_PAL)) {
    const int *coef = sws_getCoefficients(sws_colorspace_of(f->colorspace));
    // (the destination is RGB: its table and range are ignored but must be valid)
    sws_setColorspaceDetails(s->sws, coef, full, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
  }
  uint8_t *out = s->pixels + (size_t)s->T * s->frame_bytes;
  uint8_t *dst[4] = {s->rot ? s->tmp : out, NULL, NULL, NULL};
  int dst_stride[4] = {s->sW * 3, 0, 0, 0};
  int h = sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
  if (h <= 0) {
    set_err(err, errlen, "pixel conversion to RGB failed");
    return -1;
  }
  if (s->rot) rotate_rgb(out, s->tmp, s->sH, s->sW, s->rot);
  s->T++;
  return 0;
}

static int64_t frame_duration(const AVFrame *f) {
#if LIBAVUTIL_VERSION_MAJOR >= 58
  return f->duration;
#else
  return f->pkt_duration;
#endif
}

typedef struct {
  double fps;           // target (<= 0: every frame)
  double src_period;    // nominal seconds per source frame
  AVRational tb;
  int have_t0;
  double t0;            // first frame's time: output time 0
  double last_t;        // time of the held / last frame
  AVFrame *held;        // latest decoded frame (resampling mode)
  int held_out;         // output frame it was converted into, -1 if not yet
  double held_end;      // its end time (time + duration)
  int64_t k;            // next output index (time k / fps)
} Resampler;

// Emit the held frame for every output time before `until`.
static int emit_until(Resampler *r, Sink *s, double until, char *err, int errlen) {
  while (r->held && (s->max_frames <= 0 || s->T < s->max_frames)) {
    double ot = (double)r->k / r->fps;
    if (ot >= until - 1e-6) break;
    if (r->held_out >= 0) {
      if (sink_repeat(s, r->held_out, err, errlen)) return -1;
    } else {
      if (sink_append(s, r->held, err, errlen)) return -1;
      r->held_out = s->T - 1;
    }
    r->k++;
  }
  return 0;
}

static int on_frame(Resampler *r, Sink *s, AVFrame *f, char *err, int errlen) {
  int64_t ts = f->best_effort_timestamp;
  if (ts == AV_NOPTS_VALUE) ts = f->pts;
  double t;
  if (ts == AV_NOPTS_VALUE) {
    t = r->have_t0 ? r->last_t + r->src_period : 0.0;
  } else {
    t = ts * av_q2d(r->tb);
    if (!r->have_t0) {
      r->t0 = t;
    }
    t -= r->t0;
  }
  r->have_t0 = 1;
  if (r->fps <= 0) {
    r->last_t = t;
    return sink_append(s, f, err, errlen);
  }
  if (r->held && t > r->last_t) {
    if (emit_until(r, s, t, err, errlen)) return -1;
  }
  // (a timestamp that goes backwards replaces the held frame without emitting)
  if (!r->held) {
    r->held = av_frame_alloc();
    if (!r->held) {
      set_err(err, errlen, "out of memory");
      return -1;
    }
  } else {
    av_frame_unref(r->held);
  }
  r->held_out = -1;
  int rc = av_frame_ref(r->held, f);
  if (rc < 0) {
    set_averr(err, errlen, "av_frame_ref", rc);
    return -1;
  }
  int64_t dur = frame_duration(f);
  r->last_t = t;
  r->held_end = t + (dur > 0 ? dur * av_q2d(r->tb) : r->src_period);
  return 0;
}

// Receive every frame the decoder has ready. Returns 0, 1 at end of stream (or
// max_frames reached), -1 on a decoding error, -2 on a conversion/memory error.
static int drain(AVCodecContext *dec, AVFrame *frame, Resampler *r, Sink *s, int *decoded, char *err, int errlen) {
  for (;;) {
    int rc = avcodec_receive_frame(dec, frame);
    if (rc == AVERROR(EAGAIN)) return 0;
    if (rc == AVERROR_EOF) return 1;
    if (rc < 0) {
      set_averr(err, errlen, "decoding failed", rc);
      return -1;
    }
    (*decoded)++;
    rc = on_frame(r, s, frame, err, errlen);
    av_frame_unref(frame);
    if (rc) return -2;
    if (s->max_frames > 0 && s->T >= s->max_frames) return 1;
  }
}

void video_frames_free(VideoFrames *v) {
  if (!v) return;
  free(v->pixels);
  memset(v, 0, sizeof *v);
}

int video_probe(const char *path, int *H, int *W, char *err, int errlen) {
  *H = *W = 0;
  if (err && errlen > 0) err[0] = 0;
  quiet_ffmpeg();
  AVFormatContext *fmt = NULL;
  int rc, ret = -1;
  if ((rc = avformat_open_input(&fmt, path, NULL, NULL)) < 0) {
    set_averr(err, errlen, "cannot open", rc);
    return -1;
  }
  if ((rc = avformat_find_stream_info(fmt, NULL)) < 0) {
    set_averr(err, errlen, "cannot read stream info", rc);
  } else {
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si < 0) {
      set_err(err, errlen, "no video stream");
    } else if (fmt->streams[si]->codecpar->width <= 0 || fmt->streams[si]->codecpar->height <= 0) {
      set_err(err, errlen, "the video stream has no frame size");
    } else {
      const int rot = stream_rotation(fmt->streams[si]);
      *H = fmt->streams[si]->codecpar->height;
      *W = fmt->streams[si]->codecpar->width;
      if (rot == 90 || rot == 270) {
        int t = *H;
        *H = *W;
        *W = t;
      }
      ret = 0;
    }
  }
  avformat_close_input(&fmt);
  return ret;
}

int video_read(const char *path, float target_fps, int max_frames, VideoFrames *out, char *err, int errlen) {
  return video_read_fit(path, target_fps, max_frames, 0, 0, out, err, errlen);
}

int video_read_fit(const char *path, float target_fps, int max_frames, int fit_h, int fit_w, VideoFrames *out,
                   char *err, int errlen) {
  memset(out, 0, sizeof *out);
  if (err && errlen > 0) err[0] = 0;
  quiet_ffmpeg();
  AVFormatContext *fmt = NULL;
  AVCodecContext *dec = NULL;
  AVPacket *pkt = NULL;
  AVFrame *frame = NULL;
  Sink s = {.max_frames = max_frames, .fit_h = fit_h, .fit_w = fit_w};
  Resampler r = {.fps = target_fps > 0 ? target_fps : 0};
  int ret = -1, rc;

  if ((rc = avformat_open_input(&fmt, path, NULL, NULL)) < 0) {
    set_averr(err, errlen, "cannot open", rc);
    goto done;
  }
  if ((rc = avformat_find_stream_info(fmt, NULL)) < 0) {
    set_averr(err, errlen, "cannot read stream info", rc);
    goto done;
  }
  const AVCodec *codec = NULL;
  int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (si < 0) {
    if (si == AVERROR_DECODER_NOT_FOUND)
      set_err(err, errlen, "no decoder for its video stream");
    else
      set_err(err, errlen, "no video stream");
    goto done;
  }
  AVStream *st = fmt->streams[si];
  if (!(dec = avcodec_alloc_context3(codec))) {
    set_err(err, errlen, "out of memory");
    goto done;
  }
  if ((rc = avcodec_parameters_to_context(dec, st->codecpar)) < 0) {
    set_averr(err, errlen, "bad codec parameters", rc);
    goto done;
  }
  dec->thread_count = 0;  // auto
  dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  if ((rc = avcodec_open2(dec, codec, NULL)) < 0) {
    set_averr(err, errlen, "cannot open the decoder", rc);
    goto done;
  }
  AVRational rate = st->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = st->r_frame_rate;
  double src_fps = (rate.num > 0 && rate.den > 0) ? av_q2d(rate) : 25.0;
  if (!(src_fps > 0 && src_fps < 10000)) src_fps = 25.0;
  r.src_period = 1.0 / src_fps;
  r.tb = st->time_base;
  s.rot = stream_rotation(st);
  if (r.tb.num <= 0 || r.tb.den <= 0) r.tb = (AVRational){1, AV_TIME_BASE};

  pkt = av_packet_alloc();
  frame = av_frame_alloc();
  if (!pkt || !frame) {
    set_err(err, errlen, "out of memory");
    goto done;
  }
  int decoded = 0, bad_packets = 0, last_bad = 0, finished = 0;
  while (!finished) {
    rc = av_read_frame(fmt, pkt);
    if (rc == AVERROR_EOF) break;
    if (rc < 0) {
      // a read error after some frames ends the stream (truncated file); before any, it is fatal
      if (decoded == 0) {
        set_averr(err, errlen, "cannot read", rc);
        goto done;
      }
      break;
    }
    if (pkt->stream_index != si) {
      av_packet_unref(pkt);
      continue;
    }
    rc = avcodec_send_packet(dec, pkt);
    av_packet_unref(pkt);
    if (rc < 0 && rc != AVERROR(EAGAIN)) {
      bad_packets++;  // a damaged packet: skip it, keep decoding
      last_bad = rc;
      continue;
    }
    int d = drain(dec, frame, &r, &s, &decoded, err, errlen);
    if (d == -2) goto done;
    if (d < 0) {
      if (s.T > 0 || r.held) {  // damage after good frames: keep what we have
        if (err && errlen > 0) err[0] = 0;
        finished = 1;
        break;
      }
      goto done;
    }
    if (d == 1) finished = 1;
  }
  if (!finished) {  // flush the decoder
    rc = avcodec_send_packet(dec, NULL);
    if (rc >= 0 || rc == AVERROR_EOF) {
      int d = drain(dec, frame, &r, &s, &decoded, err, errlen);
      if (d == -2 || (d < 0 && s.T == 0 && !r.held)) goto done;
      if (err && errlen > 0) err[0] = 0;
    }
  }
  if (r.fps > 0 && r.held && (max_frames <= 0 || s.T < max_frames)) {
    if (emit_until(&r, &s, r.held_end, err, errlen)) goto done;
  }
  if (s.T == 0) {
    if (bad_packets)
      set_averr(err, errlen, "no frame could be decoded", last_bad);
    else
      set_err(err, errlen, "no frame could be decoded");
    goto done;
  }
  out->T = s.T;
  out->H = s.H;
  out->W = s.W;
  out->fps = r.fps > 0 ? (float)r.fps : (float)src_fps;
  out->pixels = s.pixels;
  s.pixels = NULL;
  ret = 0;

done:
  free(s.pixels);
  free(s.tmp);
  if (s.sws) sws_freeContext(s.sws);
  if (r.held) av_frame_free(&r.held);
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&fmt);
  return ret;
}

// ------------------------------------------------------------------ resize + crop

void video_resize_crop(const VideoFrames *in, int h, int w, VideoFrames *out) {
  TSR_ASSERT(in && in->T > 0 && in->H > 0 && in->W > 0 && in->pixels, "video_resize_crop: empty input");
  TSR_ASSERT(h > 0 && w > 0, "video_resize_crop: target %dx%d", h, w);
  // Scale so the frame covers h x w (the shorter side relative to the target fits), then crop the centre.
  int sh, sw;
  cover_size(in->H, in->W, h, w, &sh, &sw);
  int y0 = (sh - h) / 2, x0 = (sw - w) / 2;
  out->T = in->T;
  out->H = h;
  out->W = w;
  out->fps = in->fps;
  out->pixels = malloc((size_t)in->T * h * w * 3);
  TSR_ASSERT(out->pixels, "video_resize_crop: out of memory");
  const size_t in_bytes = (size_t)in->H * in->W * 3;
  if (sh == in->H && sw == in->W) {  // crop only
    for (int t = 0; t < in->T; t++)
      for (int y = 0; y < h; y++)
        memcpy(out->pixels + (((size_t)t * h + y) * w) * 3,
               in->pixels + t * in_bytes + (((size_t)(y + y0)) * in->W + x0) * 3, (size_t)w * 3);
    return;
  }
  // Scale in planar RGB (GBRP) so swscale filters each colour channel without a YUV round trip.
  struct SwsContext *to_planar = sws_getContext(in->W, in->H, AV_PIX_FMT_RGB24, in->W, in->H, AV_PIX_FMT_GBRP,
                                                SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP, NULL, NULL, NULL);
  struct SwsContext *scale = sws_getContext(in->W, in->H, AV_PIX_FMT_GBRP, sw, sh, AV_PIX_FMT_GBRP,
                                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP, NULL, NULL, NULL);
  TSR_ASSERT(to_planar && scale, "swscale: cannot scale %dx%d to %dx%d", in->W, in->H, sw, sh);
  const int ipad = (in->W + 63) & ~63, spad = (sw + 63) & ~63;
  uint8_t *pin = av_malloc((size_t)ipad * in->H * 3 + 64);
  uint8_t *rgb = av_malloc(in_bytes + 64);  // a padded copy: swscale's SIMD may read past a frame's end
  uint8_t *pout = av_malloc((size_t)spad * sh * 3 + 64);
  TSR_ASSERT(pin && pout && rgb, "video_resize_crop: out of memory");
  uint8_t *ip[4] = {pin, pin + (size_t)ipad * in->H, pin + 2 * (size_t)ipad * in->H, NULL};  // G, B, R
  int is[4] = {ipad, ipad, ipad, 0};
  uint8_t *op[4] = {pout, pout + (size_t)spad * sh, pout + 2 * (size_t)spad * sh, NULL};
  int os[4] = {spad, spad, spad, 0};
  for (int t = 0; t < in->T; t++) {
    memcpy(rgb, in->pixels + t * in_bytes, in_bytes);
    const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
    int src_stride[4] = {in->W * 3, 0, 0, 0};
    TSR_ASSERT(sws_scale(to_planar, src, src_stride, 0, in->H, ip, is) > 0, "swscale: RGB to planar failed");
    TSR_ASSERT(sws_scale(scale, (const uint8_t *const *)ip, is, 0, in->H, op, os) > 0, "swscale: scaling failed");
    uint8_t *dst = out->pixels + (size_t)t * h * w * 3;
    for (int y = 0; y < h; y++) {
      const uint8_t *g = op[0] + (size_t)(y + y0) * spad + x0;
      const uint8_t *b = op[1] + (size_t)(y + y0) * spad + x0;
      const uint8_t *r = op[2] + (size_t)(y + y0) * spad + x0;
      uint8_t *d = dst + (size_t)y * w * 3;
      for (int x = 0; x < w; x++) {
        d[3 * x] = r[x];
        d[3 * x + 1] = g[x];
        d[3 * x + 2] = b[x];
      }
    }
  }
  av_free(pin);
  av_free(pout);
  av_free(rgb);
  sws_freeContext(to_planar);
  sws_freeContext(scale);
}

// ------------------------------------------------------------------ encoding

int video_write_mp4(const char *path, const uint8_t *pixels, int T, int H, int W, float fps, char *err, int errlen) {
  if (err && errlen > 0) err[0] = 0;
  if (T <= 0 || H <= 0 || W <= 0 || !pixels) {
    set_err(err, errlen, "nothing to encode (%d frames of %dx%d)", T, W, H);
    return -1;
  }
  if (!(fps > 0 && fps <= 1000)) {
    set_err(err, errlen, "frame rate %g is not in (0, 1000]", (double)fps);
    return -1;
  }
  quiet_ffmpeg();
  const int W2 = (W + 1) & ~1, H2 = (H + 1) & ~1;
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 5);
  if (!tmp) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);

  AVFormatContext *oc = NULL;
  AVCodecContext *enc = NULL;
  AVFrame *frame = NULL;
  AVPacket *pkt = NULL;
  struct SwsContext *sws = NULL;
  uint8_t *padded = NULL;
  int opened = 0, ret = -1, rc;

  const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
  if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_H264);
  if (!codec) {
    set_err(err, errlen, "no H.264 encoder (libx264) in this FFmpeg build");
    goto done;
  }
  if ((rc = avformat_alloc_output_context2(&oc, NULL, "mp4", tmp)) < 0 || !oc) {
    set_averr(err, errlen, "cannot set up the MP4 muxer", rc < 0 ? rc : AVERROR(ENOMEM));
    goto done;
  }
  AVStream *st = avformat_new_stream(oc, NULL);
  if (!st || !(enc = avcodec_alloc_context3(codec))) {
    set_err(err, errlen, "out of memory");
    goto done;
  }
  AVRational rate = av_d2q(fps, 1 << 16);
  enc->width = W2;
  enc->height = H2;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->framerate = rate;
  enc->time_base = av_inv_q(rate);
  enc->gop_size = 32;
  enc->color_range = AVCOL_RANGE_MPEG;
  enc->colorspace = AVCOL_SPC_SMPTE170M;  // swscale's RGB->YUV default (BT.601, limited range)
  enc->color_primaries = AVCOL_PRI_SMPTE170M;
  enc->color_trc = AVCOL_TRC_SMPTE170M;
  enc->thread_count = 0;
  if (oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (enc->priv_data) {
    av_opt_set(enc->priv_data, "preset", "veryfast", 0);
    av_opt_set(enc->priv_data, "crf", "18", 0);
  }
  if ((rc = avcodec_open2(enc, codec, NULL)) < 0) {
    set_averr(err, errlen, "cannot open the H.264 encoder", rc);
    goto done;
  }
  if ((rc = avcodec_parameters_from_context(st->codecpar, enc)) < 0) {
    set_averr(err, errlen, "codec parameters", rc);
    goto done;
  }
  st->time_base = enc->time_base;
  st->avg_frame_rate = rate;
  if ((rc = avio_open(&oc->pb, tmp, AVIO_FLAG_WRITE)) < 0) {
    set_averr(err, errlen, "cannot create the output file", rc);
    goto done;
  }
  opened = 1;
  if ((rc = avformat_write_header(oc, NULL)) < 0) {
    set_averr(err, errlen, "cannot write the MP4 header", rc);
    goto done;
  }
  frame = av_frame_alloc();
  pkt = av_packet_alloc();
  padded = malloc((size_t)H2 * W2 * 3 + 64);  // swscale's SIMD reads a little past the end
  sws = sws_getContext(W2, H2, AV_PIX_FMT_RGB24, W2, H2, AV_PIX_FMT_YUV420P,
                       SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, NULL, NULL, NULL);
  if (!frame || !pkt || !padded || !sws) {
    set_err(err, errlen, "out of memory");
    goto done;
  }
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = W2;
  frame->height = H2;
  if ((rc = av_frame_get_buffer(frame, 0)) < 0) {
    set_averr(err, errlen, "frame buffer", rc);
    goto done;
  }
  for (int t = 0; t <= T; t++) {
    if (t < T) {
      // pad odd sizes by repeating the last row / column
      const uint8_t *src = pixels + (size_t)t * H * W * 3;
      for (int y = 0; y < H2; y++) {
        const uint8_t *row = src + (size_t)(y < H ? y : H - 1) * W * 3;
        uint8_t *d = padded + (size_t)y * W2 * 3;
        memcpy(d, row, (size_t)W * 3);
        if (W2 > W) memcpy(d + (size_t)W * 3, row + (size_t)(W - 1) * 3, 3);
      }
      if ((rc = av_frame_make_writable(frame)) < 0) {
        set_averr(err, errlen, "frame buffer", rc);
        goto done;
      }
      const uint8_t *sp[4] = {padded, NULL, NULL, NULL};
      int ss[4] = {W2 * 3, 0, 0, 0};
      sws_scale(sws, sp, ss, 0, H2, frame->data, frame->linesize);
      frame->pts = t;
      rc = avcodec_send_frame(enc, frame);
    } else {
      rc = avcodec_send_frame(enc, NULL);
    }
    if (rc < 0) {
      set_averr(err, errlen, "encoding failed", rc);
      goto done;
    }
    for (;;) {
      rc = avcodec_receive_packet(enc, pkt);
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) break;
      if (rc < 0) {
        set_averr(err, errlen, "encoding failed", rc);
        goto done;
      }
      av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      rc = av_interleaved_write_frame(oc, pkt);
      if (rc < 0) {
        set_averr(err, errlen, "cannot write", rc);
        goto done;
      }
    }
  }
  if ((rc = av_write_trailer(oc)) < 0) {
    set_averr(err, errlen, "cannot finish the MP4", rc);
    goto done;
  }
  rc = avio_closep(&oc->pb);
  opened = 0;
  if (rc < 0) {
    set_averr(err, errlen, "cannot close the output file", rc);
    unlink(tmp);
    goto done;
  }
  if (rename(tmp, path) != 0) {
    set_averr(err, errlen, "cannot rename the finished file into place", AVERROR(errno));
    unlink(tmp);
    goto done;
  }
  ret = 0;

done:
  if (opened) {
    avio_closep(&oc->pb);
    unlink(tmp);
  }
  sws_freeContext(sws);
  free(padded);
  av_packet_free(&pkt);
  av_frame_free(&frame);
  avcodec_free_context(&enc);
  avformat_free_context(oc);
  free(tmp);
  return ret;
}
