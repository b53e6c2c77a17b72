// core/jsonx.h, what tessera adds to libjansson, checked against Python's
// json module as the independent reader:
//  - jx_string: any bytes become a valid JSON string (invalid UTF-8 -> U+FFFD),
//    and what jx_dump writes, Python reads back as the same text;
//  - jx_parse: errors carry the parser's line and column;
//  - jx_int / jx_real / jx_str: types checked; jx_write_file replaces a file whole.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/jsonx.h"
#include "testlib.h"

static void python_reads(const char *line, const char *expect_repr) {
  char path[] = "build/tmp/jsonx/line.json";
  FILE *f = fopen(path, "w");
  fprintf(f, "%s", line);
  fclose(f);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import json,sys; print(ascii(json.load(open(sys.argv[1]))))' %s", path);
  FILE *p = popen(cmd, "r");
  char got[512] = "";
  if (p && fgets(got, sizeof got, p)) got[strcspn(got, "\n")] = 0;
  if (p) pclose(p);
  EXPECT(!strcmp(got, expect_repr), "python reads %s as %s, expected %s", line, got, expect_repr);
}

int main(void) {
  mkdir("build/tmp", 0755), mkdir("build/tmp/jsonx", 0755);
  // valid UTF-8 kept, a stray 0xff and a truncated sequence replaced, quotes/controls escaped
  json_t *o = json_object();
  json_object_set_new(o, "s", jx_string("caf\xc3\xa9 \xff\"x\"\n\xe2\x82"));
  char *line = jx_dump(o);
  python_reads(line, "{'s': 'caf\\xe9 \\ufffd\"x\"\\n\\ufffd\\ufffd'}");
  free(line);
  json_decref(o);

  char why[256];
  json_t *v = jx_parse("{\"a\": 1,\n \"a\": 2}", 17, why, sizeof why);
  EXPECT(!v && strstr(why, "line 2, column") && strstr(why, "duplicate"), "duplicate key: %s", why);
  v = jx_parse("{\"a\": [1, 2,]}", 14, why, sizeof why);
  EXPECT(!v && !strncmp(why, "line 1, column 13:", 18), "trailing comma: %s", why);
  const char *doc = "{\"i\": 3, \"r\": 2.0, \"f\": 2.5, \"s\": \"t\"}";
  v = jx_parse(doc, strlen(doc), why, sizeof why);
  EXPECT(v != NULL, "parse: %s", why);
  long long i;
  double d;
  EXPECT(!jx_int(v, "i", &i) && i == 3 && !jx_int(v, "r", &i) && i == 2 && jx_int(v, "f", &i) && jx_int(v, "s", &i) &&
             jx_int(v, "none", &i),
         "jx_int: integers and integral reals only");
  EXPECT(!jx_real(v, "f", &d) && d == 2.5 && jx_real(v, "s", &d), "jx_real");
  EXPECT(jx_str(v, "s") && !strcmp(jx_str(v, "s"), "t") && !jx_str(v, "i"), "jx_str");
  EXPECT(!strcmp(jx_kind(json_object_get(v, "r")), "real"), "jx_kind");

  EXPECT(!jx_write_file(v, "build/tmp/jsonx/doc.json", why, sizeof why), "write: %s", why);
  FILE *p = popen("/usr/bin/python3 -c 'import json; print(json.load(open(\"build/tmp/jsonx/doc.json\"))[\"f\"])'", "r");
  char got[64] = "";
  if (p && fgets(got, sizeof got, p)) got[strcspn(got, "\n")] = 0;
  if (p) pclose(p);
  EXPECT(!strcmp(got, "2.5"), "jx_write_file: python reads f = %s", got);
  struct stat st;
  EXPECT(stat("build/tmp/jsonx/doc.json.tmp", &st) != 0, "no temporary left behind");
  EXPECT(jx_write_file(v, "build/tmp/jsonx/no/such/dir/doc.json", why, sizeof why) && strstr(why, "cannot write"),
         "unwritable: %s", why);
  json_decref(v);
  return tl_finish("test_jsonx");
}
