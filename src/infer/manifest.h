// The render manifest: what happened to each item of a prompt list, kept
// next to the outputs so that a killed job restarted with the same arguments
// skips finished items and redoes partial ones (docs/render.md).
//
// Each writer (one rank of one shard) owns one append-only JSON Lines file,
//   DIR/manifest-shard<K>of<N>-rank<R>.jsonl
// and appends one record per event with a single write(2) of a whole line
// (O_APPEND), then fdatasync: no lock, no shared file, and a job killed
// mid-write leaves at most one torn last line, which readers skip.
//   {"event":"start", "time", "shard", "shards", "rank", "ranks", "dp", "group",
//    "items" (this shard), "total" (whole list), "assigned" (this writer),
//    "prompts", "prompts_sha256", "ckpt", "ckpt_sha256", "job"}
//   {"event":"item", "time", "index", "line", "key", "status", "output",
//    "sha256", "bytes", "seconds", "error", "rank", "job"}
// Records are written and read with libjansson. A record of tessera before
// 0.2 (FNV-1a checksums) is ignored with that reason: its item is redone.
// status is running | done | failed | refused (by the safety policy; the reason in "error"); an item's state is its latest record
// (by time) over every manifest in DIR, so a restart on another layout or
// shard count still sees what is done. `key` is a hash of the item and the
// render settings: an item whose prompt or settings changed is redone.
// Item indices are 0-based positions in the prompt list; "pending" is every
// item of a shard with no record.
//
// Also here: a growable string (the provenance record is built in one).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

// A growable string (JSON lines are built here, then written in one call).
typedef struct {
  char *s;
  size_t n, cap;
} StrBuf;
void sb_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json_string(StrBuf *b, const char *s);  // a quoted, escaped JSON string
void sb_free(StrBuf *b);

// ------------------------------------------------------------------ manifest
// The most items a prompt list may hold and shards a queue may be cut into
// (bounds every manifest record is checked against).
#define MANIFEST_MAX_ITEMS (1 << 24)
#define MANIFEST_MAX_SHARDS (1 << 20)
typedef enum { ITEM_PENDING = 0, ITEM_RUNNING, ITEM_DONE, ITEM_FAILED, ITEM_REFUSED } ItemStatus;
const char *item_status_name(ItemStatus s);

// The latest record of one item, as folded from every manifest in DIR.
typedef struct {
  int index;
  ItemStatus status;
  double time;
  char key[65];      // SHA-256 of the item and the settings
  char output[512];
  char error[512];
  char sha256[65];   // of the output (done records)
  int line;
  int runs;  // "running" records seen: how many times the item was started
  long seq;  // reading order (ties in time: the later line wins)
} ItemRecord;

// One writer's start record (what `--status` needs to count pending items).
typedef struct {
  int shard, shards, rank, ranks, items, total;
  double time;
  char file[256];
} ShardStart;

typedef struct {
  ItemRecord *items;  // one per item with a record, by increasing index
  int nitems;
  ShardStart *starts; // latest start record per manifest file
  int nstarts;
  int total;          // items in the list the records were checked against
  int nfiles;
  int torn;           // unfinished last lines (a writer killed mid-record)
  int bad_lines;      // lines ignored: not JSON, or a field out of range
  char first_bad[640];// "FILE:LINE: why" of the first of them
} ManifestState;

// Read every DIR/manifest-*.jsonl. A missing DIR is an empty state. `total`
// is the number of items of the prompt list, or 0 for the latest valid start
// record's. Every field of every record is checked (types, ranges, an index
// below total, a known status, hex keys and checksums); a line that fails is
// ignored and counted, never trusted: its item is then pending (rendered again).
void manifest_load(const char *dir, int total, ManifestState *st);
// The folded record of item `index`, or NULL when it has none.
const ItemRecord *manifest_item(const ManifestState *st, int index);
void manifest_state_free(ManifestState *st);

// An open per-writer manifest file.
typedef struct {
  char path[1024];
  int fd;
} Manifest;

// Open (create or append) DIR/manifest-shard<K>of<N>-rank<R>.jsonl. Returns
// 0, or -1 with err (an unwritable directory).
int manifest_open(Manifest *m, const char *dir, int shard, int shards, int rank, char *err, int errlen);
// Append one record (an object; "time" is added to it) as one line. Returns 0 or -1 (errno).
int manifest_append(Manifest *m, json_t *record);
void manifest_close(Manifest *m);
