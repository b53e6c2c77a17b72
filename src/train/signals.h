// SIGTERM, SIGINT and SIGUSR1 ask the trainer to finish the current step,
// checkpoint and exit (Slurm sends USR1 before a time limit or preemption).
#pragma once
void train_signals_install(void);
int train_signal_pending(void);  // the signal number received, or 0
