// A small mutation loop over the corpus reader (issue 14 item 5): a valid
// synthetic corpus, then MUTANTS copies (default 500, fixed seed) each with
// 1-16 random bytes replaced, each run through `data inspect` (open, every
// caption and token row, a contact sheet that reads patches) in a forked
// child. A corrupt corpus may be refused (exit 2, one line) or, where the
// damage hits nothing that is read, accepted (exit 0); it must never crash
// (a signal), hang, or end any other way.
//   MUTANTS=N      number of mutants (default 500)
//   FUZZ_KEEP=DIR  copy every mutant that crashed or hung into DIR
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/commands.h"
#include "testlib.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void) {  // xorshift64*: the mutants depend only on the seed above
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)len);
  if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *n = (size_t)len;
  return buf;
}

static int spit(const char *path, const unsigned char *buf, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fwrite(buf, 1, n, f) == n;
  return fclose(f) == 0 && ok ? 0 : -1;
}

// Runs `data inspect FILE --sheet SHEET --clips 3 --frames 2` in a child; returns its wait status
// (-1: it hung past the alarm).
static int inspect_in_child(const char *file, const char *sheet) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1), dup2(null, 2);
    alarm(5);
    char *argv[] = {"inspect", (char *)file, "--sheet", (char *)sheet, "--clips", "3", "--frames", "2", NULL};
    _exit(data_cmd_inspect(8, argv));
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) return -1;
  return st;
}

int main(void) {
  const char *env = getenv("MUTANTS");
  const int mutants = env && atoi(env) > 0 ? atoi(env) : 500;
  const char *keep = getenv("FUZZ_KEEP");
  char dir[] = "build/tmp/test_corpus_fuzz_XXXXXX";
  mkdir("build", 0755);
  mkdir("build/tmp", 0755);
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char good[256], mut[256], sheet[256];
  snprintf(good, sizeof good, "%s/good.h5", dir);
  snprintf(mut, sizeof mut, "%s/mutant.h5", dir);
  snprintf(sheet, sizeof sheet, "%s/sheet.png", dir);

  // The valid corpus, written in a child (synth uses OpenMP; the children below fork).
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    char *argv[] = {"synth", "--out", good, "--clips", "6", "--frames", "4", "--size", "8x8", "--patch", "2x4x4",
                    "--text-length", "8", "--seed", "3", NULL};
    _exit(data_cmd_synth(15, argv));
  }
  int st = 0;
  waitpid(pid, &st, 0);
  size_t n = 0;
  unsigned char *orig = slurp(good, &n);
  EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0 && orig && n > 0, "data synth wrote %s", good);
  if (!orig) return tl_finish("test_corpus_fuzz");
  st = inspect_in_child(good, sheet);
  EXPECT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the unmutated corpus inspects (status %d)", st);

  unsigned char *buf = malloc(n);
  int ok = 0, refused = 0, crashed = 0, hung = 0, other = 0, by_signal[65] = {0};
  for (int m = 0; m < mutants; m++) {
    memcpy(buf, orig, n);
    int flips = 1 + (int)(next_u64() % 16);
    for (int k = 0; k < flips; k++) buf[next_u64() % n] = (unsigned char)next_u64();
    if (spit(mut, buf, n) != 0) {
      EXPECT(0, "cannot write %s", mut);
      break;
    }
    st = inspect_in_child(mut, sheet);
    const char *bad = NULL;
    if (st < 0) hung++, bad = "hung";
    else if (WIFSIGNALED(st)) crashed++, by_signal[WTERMSIG(st) & 63]++, bad = strsignal(WTERMSIG(st));
    else if (WEXITSTATUS(st) == 0) ok++;
    else if (WEXITSTATUS(st) == 2) refused++;
    else other++, bad = "exit code other than 0 and 2";
    if (bad && keep) {
      char path[512];
      snprintf(path, sizeof path, "%s/mutant_%03d.h5", keep, m);
      mkdir(keep, 0755);
      spit(path, buf, n);
    }
    if (bad) printf("  mutant %d (%d bytes replaced): %s\n", m, flips, bad);
  }
  printf("  %d mutants of a %zu-byte corpus: %d accepted, %d refused (exit 2), %d crashed, %d hung, %d other\n", mutants,
         n, ok, refused, crashed, hung, other);
  for (int s = 1; s < 65; s++)
    if (by_signal[s]) printf("    signal %d (%s): %d\n", s, strsignal(s), by_signal[s]);
  EXPECT(crashed == 0 && hung == 0 && other == 0, "every mutant accepted or refused with exit 2 (%d crashed, %d hung, %d other)",
         crashed, hung, other);
  free(buf);
  free(orig);
  unlink(good);
  unlink(mut);
  unlink(sheet);
  rmdir(dir);
  return tl_finish("test_corpus_fuzz");
}
