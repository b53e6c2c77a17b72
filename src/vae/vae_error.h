// Errors of the vae layer are returned, not raised (as text/text_error.h):
// a function that can fail on its input returns 0, or -1 with one line in
// VaeErr::msg naming the file or item and what was expected. The command
// layer prints the line and exits 2; a test reads it.
#pragma once

typedef struct {
  char msg[1024];
} VaeErr;

// Formats the message into e (when e is not NULL) and returns -1.
int vae_fail(VaeErr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
