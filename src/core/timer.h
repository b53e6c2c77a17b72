#pragma once
// Monotonic wall clock in seconds.
double timer_now(void);
// Peak resident set size of this process in MiB (from getrusage).
double peak_rss_mb(void);
