// Logging: rank 0 prints (info/warn); errors print from every rank.
#pragma once

// Set by the process context once the rank is known (default 0).
void log_set_rank(int rank);
int log_rank(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
