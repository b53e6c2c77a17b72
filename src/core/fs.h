#pragma once
#include <stddef.h>
// mkdir -p DIR; returns 0, or -1 with errno set.
int fs_mkdirs(const char *dir);
// mkdir -p of the directory part of FILE (nothing when it has none).
int fs_mkdirs_for(const char *file);
// Whether files can be created in DIR: creates and removes a probe file.
// Returns 0, or -1 with errno set (EROFS, EACCES, ENOSPC...).
int fs_check_writable(const char *dir);

// A file shipped with tessera (models/..., configs/...): $ENV when the
// variable `env` is set and not empty, else `rel` beside the folder that holds
// bin/ (so the binary works from any directory), else `rel` itself (a run from
// the repository root). env may be NULL.
void fs_project_path(const char *env, const char *rel, char *out, size_t size);
// fsync(2) of the file at path (its bytes on the disk before a rename gives it
// its final name). 0, or -1 with errno set.
int fs_sync_file(const char *path);
