/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl-ferry's formatting: a PodMigration's progress (percent, rate, time
 * frozen, ETA) read from its status, the progress bar, human bytes and
 * durations, and JSON turned into YAML (kubectl-ferry/format.c, output.c). */
#include "testutil.h"

#include <yaml.h>

#include "format.h"
#include "kubectl_ferry.h"

static json_object *pm(const char *status)
{
  char text[2048];
  snprintf(text, sizeof text, "{\"metadata\":{\"name\":\"web-1\"},\"status\":%s}", status);
  json_object *o = json_tokener_parse(text);
  assert_non_null(o);
  return o;
}

#define T0 "2025-01-01T00:00:00Z"
#define T0_MS 1735689600000LL

static void test_progress_live(void **state)
{
  (void)state;
  /* post-copy under way: 8 MiB before, 16 during, 8 after, of 64 MiB */
  json_object *o = pm("{\"phase\":\"Restoring\",\"startTime\":\"" T0 "\",\"frozenAt\":\"2025-01-01T00:00:02.500Z\","
                      "\"memoryBytes\":1,\"bytesMoved\":{\"beforeFreeze\":8388608,\"duringFreeze\":16777216,"
                      "\"afterRestore\":8388608},\"progress\":{\"stage\":\"FetchingPages\",\"totalBytes\":67108864,"
                      "\"updateTime\":\"2025-01-01T00:00:04Z\"}}");
  struct kf_progress p;
  kf_progress_read(o, &p);
  assert_int_equal(p.phase, PM_RESTORING);
  assert_int_equal(p.stage, KF_STAGE_FETCHING_PAGES);
  assert_int_equal(kf_moved(&p), 33554432);
  assert_int_equal(p.total, 67108864); /* progress.totalBytes over memoryBytes */
  assert_true(kf_percent(&p) > 49.9 && kf_percent(&p) < 50.1);
  assert_int_equal(p.update_ms, T0_MS + 4000);
  /* frozen so far: not restored yet */
  assert_int_equal(kf_frozen_ms(&p, T0_MS + 4000), 1500);
  /* 32 MiB in 8 s: 4 MiB/s; 32 MiB left: 8 s */
  double rate = kf_rate_average(&p, T0_MS + 8000);
  assert_true(rate > 4194303 && rate < 4194305);
  assert_int_equal(kf_eta_ms(&p, rate), 8000);
  char buf[64];
  kf_fmt_moved(&p, buf, sizeof buf);
  assert_string_equal(buf, "32 MiB/64 MiB");
  json_object_put(o);
}

static void test_progress_checkpointing(void **state)
{
  (void)state;
  /* the source writing the image: its bytes so far are what moved during the freeze */
  json_object *o = pm("{\"phase\":\"Checkpointing\",\"memoryBytes\":4096,\"progress\":{\"stage\":"
                      "\"Checkpointing\",\"bytesDone\":1024,\"totalBytes\":4096}}");
  struct kf_progress p;
  kf_progress_read(o, &p);
  assert_int_equal(p.done, 1024);
  assert_int_equal(kf_moved(&p), 1024);
  assert_true(kf_percent(&p) == 25);
  json_object_put(o);
  /* Succeeded: all of it moved, whatever the estimate of the total said */
  o = pm("{\"phase\":\"Succeeded\",\"memoryBytes\":4096,\"bytesMoved\":{\"duringFreeze\":3000},"
         "\"progress\":{\"stage\":\"Checkpointing\",\"bytesDone\":2000,\"totalBytes\":4096}}");
  kf_progress_read(o, &p);
  assert_int_equal(p.stage, KF_STAGE_NONE); /* the stage left behind is not shown */
  assert_int_equal(kf_moved(&p), 3000);
  assert_true(kf_percent(&p) == 100);
  json_object_put(o);
}

/* A stage is shown while it can be under way; Verifying's total is its copy's, not the move's. */
static void test_progress_target_stages(void **state)
{
  (void)state;
  static const struct {
    const char *phase, *stage;
    int64_t done;
    enum kf_stage want;
  } cases[] = {
    { "Transferring", "Transferring", 100, KF_STAGE_TRANSFERRING },
    { "Restoring", "Transferring", 4096, KF_STAGE_NONE }, /* received: the restore is under way */
    { "Restoring", "Verifying", 1000, KF_STAGE_VERIFYING },
    { "Restoring", "Verifying", 2000, KF_STAGE_NONE }, /* the copy is whole: CRIU restores */
    { "Transferring", "Verifying", 1000, KF_STAGE_NONE },
    { "Succeeded", "Verifying", 1000, KF_STAGE_NONE },
    { "Restoring", "FetchingPages", 1000, KF_STAGE_FETCHING_PAGES },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char status[512];
    snprintf(status, sizeof status,
             "{\"phase\":\"%s\",\"memoryBytes\":8192,\"bytesMoved\":{\"duringFreeze\":4096},"
             "\"progress\":{\"stage\":\"%s\",\"bytesDone\":%lld,\"totalBytes\":%d}}",
             cases[i].phase, cases[i].stage, (long long)cases[i].done,
             !strcmp(cases[i].stage, "Verifying") ? 2000 : 8192);
    json_object *o = pm(status);
    struct kf_progress p;
    kf_progress_read(o, &p);
    assert_int_equal(p.stage, cases[i].want);
    assert_int_equal(p.done, cases[i].done);
    assert_int_equal(p.total, 8192); /* the move's: memoryBytes, whatever Verifying's copy holds */
    json_object_put(o);
  }
}

/* A direct move's Transferring: the image is whole on the source (duringFreeze
 * set by its checkpoint), what reached the target is what moved. */
static void test_progress_transferring(void **state)
{
  (void)state;
  json_object *o = pm("{\"phase\":\"Transferring\",\"memoryBytes\":8192,\"bytesMoved\":{\"duringFreeze\":8000},"
                      "\"progress\":{\"stage\":\"Transferring\",\"bytesDone\":2000,\"totalBytes\":8000}}");
  struct kf_progress p;
  kf_progress_read(o, &p);
  assert_int_equal(p.stage, KF_STAGE_TRANSFERRING);
  assert_int_equal(kf_moved(&p), 2000);
  assert_true(kf_percent(&p) == 25);
  json_object_put(o);
  /* received: Restoring, the whole image counts */
  o = pm("{\"phase\":\"Restoring\",\"memoryBytes\":8192,\"bytesMoved\":{\"duringFreeze\":8000},"
         "\"progress\":{\"stage\":\"Transferring\",\"bytesDone\":8000,\"totalBytes\":8000}}");
  kf_progress_read(o, &p);
  assert_int_equal(kf_moved(&p), 8000);
  json_object_put(o);
}

static void test_progress_degrades(void **state)
{
  (void)state;
  /* an older controller: no progress, no bytes, no times */
  json_object *o = pm("{\"phase\":\"Checkpointing\"}");
  struct kf_progress p;
  kf_progress_read(o, &p);
  assert_int_equal(p.stage, KF_STAGE_NONE);
  assert_int_equal(kf_moved(&p), -1);
  assert_true(kf_percent(&p) < 0);
  assert_true(kf_rate_average(&p, T0_MS) < 0);
  assert_int_equal(kf_frozen_ms(&p, T0_MS), -1);
  assert_int_equal(kf_eta_ms(&p, 1000), -1);
  char buf[64];
  kf_fmt_moved(&p, buf, sizeof buf);
  assert_string_equal(buf, "-");
  kf_fmt_percent(kf_percent(&p), buf, sizeof buf);
  assert_string_equal(buf, "-");
  json_object_put(o);
  /* memoryBytes is the total when progress is absent; more than the total reads 100% */
  o = pm("{\"phase\":\"Succeeded\",\"memoryBytes\":1000,\"bytesMoved\":{\"duringFreeze\":1500},"
         "\"startTime\":\"" T0 "\",\"completionTime\":\"2025-01-01T00:00:03Z\",\"frozenAt\":\"" T0 "\","
         "\"restoredAt\":\"2025-01-01T00:00:00.312Z\",\"progress\":{\"stage\":\"Mystery\"}}");
  kf_progress_read(o, &p);
  assert_int_equal(p.stage, KF_STAGE_NONE); /* ended: no stage under way */
  assert_int_equal(kf_stage_parse("Mystery"), KF_STAGE_OTHER);
  assert_true(kf_percent(&p) == 100);
  assert_int_equal(kf_frozen_ms(&p, T0_MS + 999999), 312); /* restoredAt - frozenAt once restored */
  assert_true(kf_rate_average(&p, T0_MS + 999999) == 500); /* to the completion, not now */
  assert_int_equal(kf_eta_ms(&p, 500), -1);                /* ended: no ETA */
  json_object_put(o);
}

static void test_rate_between(void **state)
{
  (void)state;
  assert_true(kf_rate_between(0, 1000, 2048, 3000) == 1024);
  assert_true(kf_rate_between(-1, 1000, 2048, 3000) < 0); /* no earlier observation */
  assert_true(kf_rate_between(10, 1000, 5, 3000) < 0);    /* bytes went back */
  assert_true(kf_rate_between(10, 3000, 20, 3000) < 0);   /* no time between */
}

/* The integer formats, each a function of (value, buf, len). */
static void fmt_bytes(double v, char *buf, size_t len) { kf_fmt_bytes((int64_t)v, buf, len); }
static void fmt_duration(double v, char *buf, size_t len) { kf_fmt_duration((int64_t)v, buf, len); }
static void fmt_age(double v, char *buf, size_t len) { kf_fmt_age((int64_t)v, buf, len); }

static void test_formats(void **state)
{
  (void)state;
  static const struct {
    void (*fmt)(double v, char *buf, size_t len);
    double v;
    const char *want;
  } cases[] = {
    { fmt_bytes, -1, "-" },
    { fmt_bytes, 512, "512 B" },
    { fmt_bytes, 1536.0 * 1024 * 1024, "1.5 GiB" },
    { kf_fmt_rate, 12.0 * 1024 * 1024, "12 MiB/s" },
    { kf_fmt_rate, -1, "-" },
    { fmt_duration, 850, "850ms" },
    { fmt_duration, 4200, "4.2s" },
    { fmt_duration, 192000, "3m12s" },
    { fmt_duration, 7500000, "2h05m" },
    { fmt_duration, -1, "-" },
    { fmt_age, 42000, "42s" },
    { fmt_age, 300000, "5m" },
    { fmt_age, 5 * 3600000.0, "5h" },
    { fmt_age, 3 * 86400000.0, "3d" },
    { kf_fmt_percent, 62.9, "62%" },
    { kf_fmt_percent, -1, "-" },
  };
  char buf[64];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cases[i].fmt(cases[i].v, buf, sizeof buf);
    assert_string_equal(buf, cases[i].want);
  }
  assert_string_equal(kf_stage_name(KF_STAGE_TRANSFERRING), "Transferring");
  assert_int_equal(kf_stage_parse("Verifying"), KF_STAGE_VERIFYING);
}

static void test_bar(void **state)
{
  (void)state;
  char buf[64];
  kf_fmt_bar(50, 10, buf, sizeof buf);
  assert_string_equal(buf, "[#####-----]");
  kf_fmt_bar(0, 4, buf, sizeof buf);
  assert_string_equal(buf, "[----]");
  kf_fmt_bar(100, 4, buf, sizeof buf);
  assert_string_equal(buf, "[####]");
  kf_fmt_bar(250, 4, buf, sizeof buf); /* never past the end */
  assert_string_equal(buf, "[####]");
  kf_fmt_bar(-1, 4, buf, sizeof buf); /* unknown */
  assert_string_equal(buf, "[    ]");
  char small[6];
  kf_fmt_bar(50, 10, small, sizeof small); /* cut to the buffer */
  assert_string_equal(small, "[##-]");     /* 1.5 of 3 cells rounds up */
}

/* Parses YAML text back into (key, scalar, quoted?) to check the emitter's choices. */
static int yaml_scalar_style(const char *text, const char *key, char *value, size_t len)
{
  yaml_parser_t parser;
  yaml_event_t ev;
  int want = 0, style = -1;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
  for (int done = 0; !done;) {
    if (!yaml_parser_parse(&parser, &ev))
      break;
    done = ev.type == YAML_STREAM_END_EVENT;
    if (ev.type == YAML_SCALAR_EVENT) {
      if (want && style < 0) {
        snprintf(value, len, "%s", (const char *)ev.data.scalar.value);
        style = ev.data.scalar.style;
      }
      want = !want && !strcmp((const char *)ev.data.scalar.value, key);
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&parser);
  return style;
}

static void test_yaml(void **state)
{
  (void)state;
  json_object *o = json_tokener_parse(
      "{\"kind\":\"PodMigration\",\"metadata\":{\"name\":\"web-1\",\"labels\":{\"ferry.dev/pod\":\"web\"}},"
      "\"status\":{\"phase\":\"Succeeded\",\"bytes\":123,\"ok\":true,\"none\":null,\"when\":\"2025-01-01T00:00:00Z\","
      "\"yes\":\"yes\",\"empty\":\"\",\"num\":\"0123\",\"msg\":\"a: b # c\\nline two\",\"list\":[\"x\",1]}}");
  char *y = kf_yaml(o);
  assert_non_null(y);
  /* strings that would read back as something else (a time, a bool, nothing, a number) are quoted */
  static const struct {
    const char *key, *value;
    int plain;
  } cases[] = {
    { "phase", "Succeeded", 1 }, { "bytes", "123", 1 }, { "ok", "true", 1 },  { "when", "2025-01-01T00:00:00Z", 0 },
    { "yes", "yes", 0 },         { "empty", "", 0 },    { "num", "0123", 0 }, { "msg", "a: b # c\nline two", 0 },
  };
  char v[128];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int style = yaml_scalar_style(y, cases[i].key, v, sizeof v);
    assert_int_equal(style == YAML_PLAIN_SCALAR_STYLE, cases[i].plain);
    assert_string_equal(v, cases[i].value);
  }
  assert_non_null(strstr(y, "ferry.dev/pod: web\n"));
  assert_non_null(strstr(y, "none: null\n"));
  free(y);
  json_object_put(o);
}

static void test_table(void **state)
{
  (void)state;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  struct kf_table *t = kf_table_new(3);
  const char *h[] = { "NAME", "PHASE", "AGE" }, *r[] = { "web-1a2b3", "", "5s" };
  kf_table_add(t, h);
  kf_table_add(t, r);
  kf_table_print(t, f);
  kf_table_free(t);
  fclose(f);
  assert_string_equal(text, "NAME        PHASE   AGE\nweb-1a2b3   -       5s\n");
  free(text);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_progress_live),
    cmocka_unit_test(test_progress_checkpointing),
    cmocka_unit_test(test_progress_target_stages),
    cmocka_unit_test(test_progress_transferring),
    cmocka_unit_test(test_progress_degrades),
    cmocka_unit_test(test_rate_between),
    cmocka_unit_test(test_formats),
    cmocka_unit_test(test_bar),
    cmocka_unit_test(test_yaml),
    cmocka_unit_test(test_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
