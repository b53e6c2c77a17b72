// `tessera data <sub>` commands; each returns the process exit code.
#pragma once
int cmd_data(int argc, char **argv);           // dispatcher (cmd_data.c)
int data_cmd_synth(int argc, char **argv);     // synth_cmd.c
int data_cmd_ingest(int argc, char **argv);    // cmd_ingest.c
int data_cmd_recaption(int argc, char **argv); // recaption_cmd.c
int data_cmd_inspect(int argc, char **argv);   // inspect.c
int data_cmd_encode(int argc, char **argv);    // cmd_encode.c
