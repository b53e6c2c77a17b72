#pragma once
// mkdir -p DIR; returns 0, or -1 with errno set.
int fs_mkdirs(const char *dir);
// mkdir -p of the directory part of FILE (nothing when it has none).
int fs_mkdirs_for(const char *file);
// Whether files can be created in DIR: creates and removes a probe file.
// Returns 0, or -1 with errno set (EROFS, EACCES, ENOSPC...).
int fs_check_writable(const char *dir);
