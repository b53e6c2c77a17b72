// `tessera text encode --prompt P`: a prompt through the WordPiece tokenizer
// and the pretrained encoder; prints the pieces, their ids and the first
// values of the mean-pooled vector. For looking at what the model reads, and
// for the end-to-end test of bad input (tests/test_text_cmd.sh).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_error.h"
#include "core/error.h"
#include "core/log.h"
#include "app/flags.h"
#include "core/parse.h"
#include "text/minilm.h"
#include "text/minilm_weights.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera text encode --prompt P [--model DIR] [--window L] [--values K]\n"
          "Tokenizes P with the encoder's WordPiece vocabulary and runs the pretrained text encoder\n"
          "(all-MiniLM-L6-v2, installed by `make deps`; docs/text_encoder.md). Prints the word pieces,\n"
          "their ids and the first K values of the mean-pooled sentence vector.\n"
          "  --model DIR   a BERT model folder (config.json, model.safetensors, vocab.txt); default\n"
          "                " MINILM_L6_DIR ", whose SHA-256 is checked (another folder's is printed)\n"
          "  --window L    at most L ids, [CLS] and [SEP] included (default 128; longer prompts are cut)\n"
          "  --values K    how many pooled values to print (default 8)\n");
}

static int text_encode(int argc, char **argv) {
  const char *prompt = NULL, *dir = NULL;
  int window = 128, nvalues = 8;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "--prompt") && strcmp(a, "--model") && strcmp(a, "--window") && strcmp(a, "--values"))
      app_user_error("text encode: unknown option '%s' (see tessera text encode --help)", a);
    if (i + 1 >= argc) app_user_error("text encode: %s: expected a value after it", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--prompt")) prompt = v;
    else if (!strcmp(a, "--model")) dir = v;
    else if (!strcmp(a, "--window")) window = parse_flag_int("text encode", a, v, 2, 512);
    else nvalues = parse_flag_int("text encode", a, v, 0, 4096);
  }
  if (!prompt) app_user_error("text encode: --prompt: expected the text to encode");
  TextEncoder te;
  TsrErr err;
  if (dir && strcmp(dir, MINILM_L6_DIR) ? text_encoder_load(&te, dir, NULL, NULL, &err) : minilm_load(&te, dir, &err))
    app_user_error("%s", err.msg);
  if (window > te.cfg.max_pos) app_user_error("text encode: --window %d: expected at most %d (the encoder's positions)", window, te.cfg.max_pos);
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)window);
  WpResult r;
  if (wordpiece_encode(&te.wp, prompt, strlen(prompt), "prompt", ids, window, &r, &err)) app_user_error("%s", err.msg);
  if (r.pieces == 0)
    app_user_error("prompt: no words (empty, or only spaces and control characters), expected text to encode");
  if (r.truncated)
    log_warn("prompt: %d word pieces, cut to the window of %d (%d pieces and [CLS], [SEP])", r.pieces, window, window - 2);
  const int H = te.cfg.hidden;
  float *hidden = malloc(sizeof(float) * (size_t)r.n * H), *pooled = malloc(sizeof(float) * H);
  if (text_encoder_forward(&te, ids, &r.n, 1, r.n, hidden, pooled, &err)) app_user_error("%s", err.msg);
  printf("encoder: %s (%d layers, width %d, vocabulary %d, SHA-256 %s)\n", te.dir, te.cfg.layers, H, te.cfg.vocab,
         te.weights_sha256);
  printf("pieces:");
  for (int i = 0; i < r.n; i++) printf(" %s", wordpiece_token(&te.wp, ids[i]));
  printf("\nids:");
  for (int i = 0; i < r.n; i++) printf(" %d", ids[i]);
  printf("\npooled[0:%d]:", nvalues < H ? nvalues : H);
  for (int i = 0; i < nvalues && i < H; i++) printf(" %.6f", pooled[i]);
  printf("\n");
  free(ids), free(hidden), free(pooled);
  text_encoder_free(&te);
  return 0;
}

int cmd_text(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "encode")) return text_encode(argc - 1, argv + 1);
  app_user_error("unknown text command '%s' (expected encode; see tessera text --help)", argv[1]);
}
