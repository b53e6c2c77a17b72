#include "train/signals.h"

#include <signal.h>
#include <string.h>

// The one piece of process state a signal handler may touch.
static volatile sig_atomic_t g_pending = 0;

static void on_signal(int sig) { g_pending = sig; }

void train_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;  // a system call the signal interrupts is resumed, not failed
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
}

int train_signal_pending(void) { return g_pending; }
