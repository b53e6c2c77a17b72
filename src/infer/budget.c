#include "infer/budget.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

// "Key:   123 kB" in a /proc file -> bytes (0 when absent).
static uint64_t proc_kb(const char *file, const char *key) {
  FILE *f = fopen(file, "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kb = 0;
  size_t n = strlen(key);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, n) && line[n] == ':' && sscanf(line + n + 1, "%llu", &kb) == 1) break;
  fclose(f);
  return (uint64_t)kb * 1024;
}

// A number in a file ("max" or unreadable: UINT64_MAX).
static uint64_t file_number(const char *dir, const char *name) {
  char path[700];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  unsigned long long v;
  int ok = f && fscanf(f, "%llu", &v) == 1;
  if (f) fclose(f);
  return ok ? (uint64_t)v : UINT64_MAX;
}

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t room(uint64_t limit, uint64_t used) { return limit == UINT64_MAX ? limit : limit > used ? limit - used : 0; }

// This process's memory cgroup limit: v2 ("0::/path") or v1 ("N:memory:/path").
// Its usage counts page cache the kernel would reclaim: this process's own
// resident size is what is subtracted.
static uint64_t cgroup_limit(void) {
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (!f) return UINT64_MAX;
  char line[512], dir[600];
  uint64_t r = UINT64_MAX;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    const char *p;
    if (!strncmp(line, "0::", 3)) {
      snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", line + 3);
      r = min64(r, file_number(dir, "memory.max"));
    } else if ((p = strstr(line, ":memory:"))) {
      snprintf(dir, sizeof dir, "/sys/fs/cgroup/memory%s", p + 8);
      r = min64(r, file_number(dir, "memory.limit_in_bytes"));
    }
  }
  fclose(f);
  return r;
}

static uint64_t rlimit_room(int resource, const char *used_key) {
  struct rlimit rl;
  if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  return room((uint64_t)rl.rlim_cur, proc_kb("/proc/self/status", used_key));
}

uint64_t mem_available(void) {
  uint64_t avail = proc_kb("/proc/meminfo", "MemAvailable");
  uint64_t r = avail ? avail : UINT64_MAX;
  r = min64(r, room(cgroup_limit(), proc_kb("/proc/self/status", "VmRSS")));
  r = min64(r, rlimit_room(RLIMIT_AS, "VmSize"));
  return min64(r, rlimit_room(RLIMIT_DATA, "VmData"));
}
