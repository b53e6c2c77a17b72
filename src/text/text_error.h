// Errors of the text layer are returned, not raised: a function that can fail
// on its input returns 0, or -1 with one line in TextErr::msg that names the
// file or item and what was expected. The command layer prints that line and
// exits 2 (tsr_user_error); a test reads it.
#pragma once

typedef struct {
  char msg[1024];
} TextErr;

// Formats the message into e (when e is not NULL) and returns -1.
int text_fail(TextErr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
