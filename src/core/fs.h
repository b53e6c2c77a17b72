#pragma once
// mkdir -p DIR; returns 0, or -1 with errno set.
int fs_mkdirs(const char *dir);
// mkdir -p of the directory part of FILE (nothing when it has none).
int fs_mkdirs_for(const char *file);
