// `tessera keys init DIR [--days N]`: a development signing key and
// certificate for C2PA manifests (docs/provenance.md). For testing only: the
// CA is made on this machine and nobody else trusts it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "media/keys.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera keys init DIR [--days N]\n"
          "Makes a development CA (self-signed, DIR/ca.pem) and an EC P-256 signing key (DIR/signing.key)\n"
          "with a certificate the CA issued (DIR/signing.pem), valid N days (default 365). FOR TESTING ONLY:\n"
          "nobody trusts this CA, so a manifest signed with it proves the file is intact, not who made it.\n"
          "Use: export TSR_SIGNING_KEY=DIR/signing.key TSR_SIGNING_CERT=DIR/signing.pem\n");
}

int cmd_keys(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "init")) {
    fprintf(stderr, "tessera: error: keys: unknown subcommand '%s' (expected init)\n", argv[1]);
    return 2;
  }
  const char *dir = NULL;
  int days = 365;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "--days") && i + 1 < argc) {
      char *end;
      long d = strtol(argv[++i], &end, 10);
      if (*end || d < 1 || d > 36500) {
        fprintf(stderr, "tessera: error: keys init: --days: expected 1 to 36500, got '%s'\n", argv[i]);
        return 2;
      }
      days = (int)d;
    } else if (argv[i][0] == '-' || dir) {
      fprintf(stderr, "tessera: error: keys init: unexpected argument '%s' (see tessera keys --help)\n", argv[i]);
      return 2;
    } else {
      dir = argv[i];
    }
  }
  if (!dir) {
    fprintf(stderr, "tessera: error: keys init: expected a directory\n");
    return 2;
  }
  TsrErr err = {0};
  if (keys_init_dir(dir, days, &err) != 0) {
    fprintf(stderr, "tessera: error: %s\n", err.msg);
    return 2;
  }
  fprintf(stderr,
          "tessera: WARNING: %s/signing.key is a DEVELOPMENT key, FOR TESTING ONLY. Its CA (%s/ca.pem) was made\n"
          "here and is trusted by nobody: videos signed with it prove they are intact, not who made them.\n",
          dir, dir);
  printf("wrote %s/ca.pem, %s/signing.key (mode 0600), %s/signing.pem (valid %d days)\n"
         "use: export TSR_SIGNING_KEY=%s/signing.key TSR_SIGNING_CERT=%s/signing.pem\n",
         dir, dir, dir, days, dir, dir);
  return 0;
}
