#include "core/progress.h"

#include <unistd.h>

void progress_bar(FILE *f, const char *label, long done, long total, double elapsed_s) {
  if (!f || !isatty(fileno(f))) return;
  enum { WIDTH = 20 };
  long d = done < 0 ? 0 : done, t = total > 0 ? total : 0;
  if (t && d > t) d = t;
  int fill = t ? (int)(d * WIDTH / t) : 0;
  char bar[WIDTH + 1];
  for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : '.';
  bar[WIDTH] = '\0';
  fprintf(f, "\r%s [%s] %ld/%ld %.1fs", label ? label : "", bar, done, total, elapsed_s);
  if (d > 0 && d < t) fprintf(f, " eta %.1fs", elapsed_s * (double)(t - d) / (double)d);
  fputs("\033[K", f);  // clear what a longer previous line left behind
  if (done == total) fputc('\n', f);
  fflush(f);
}

void progress_clear(FILE *f) {
  if (f && isatty(fileno(f))) fputs("\r\033[K", f);
}
