#pragma once
#include <stdio.h>
// One-line terminal progress bar, redrawn in place with "\r":
//   label [#########...........] 45/100 12.3s eta 15.0s
// A newline follows when done == total. Writes nothing at all when f is not a
// terminal (logs and pipes stay clean).
void progress_bar(FILE *f, const char *label, long done, long total, double elapsed_s);
// Erase the bar's line (before printing a log line), only on a terminal.
void progress_clear(FILE *f);
