#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdirs(const char *dir) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return errno = ENAMETOOLONG, -1;
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int fs_mkdirs_for(const char *file) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", file);
  char *slash = strrchr(buf, '/');
  if (!slash || slash == buf) return 0;
  *slash = 0;
  return fs_mkdirs(buf);
}

int fs_check_writable(const char *dir) {
  char probe[4200];
  if (snprintf(probe, sizeof probe, "%s/.tessera-probe-%ld", dir, (long)getpid()) >= (int)sizeof probe)
    return errno = ENAMETOOLONG, -1;
  int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  close(fd);
  unlink(probe);
  return 0;
}

void fs_project_path(const char *env, const char *rel, char *out, size_t size) {
  const char *v = env ? getenv(env) : NULL;
  if (v && *v) {
    snprintf(out, size, "%s", v);
    return;
  }
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    exe[len] = '\0';
    for (int up = 0; up < 2; up++) {  // .../bin/tessera -> the folder holding bin/
      char *slash = strrchr(exe, '/');
      if (slash) *slash = '\0';
    }
    snprintf(out, size, "%s/%s", exe, rel);
    if (access(out, R_OK) == 0) return;
  }
  snprintf(out, size, "%s", rel);
}

int fs_sync_file(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}
