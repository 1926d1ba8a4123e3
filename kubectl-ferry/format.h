/* SPDX-License-Identifier: Apache-2.0 */
/* A PodMigration's progress as people read it: the bytes moved before, during
 * and after the freeze against the total the move carries (status.progress.
 * totalBytes but Verifying's, else status.memoryBytes), the rate, the time frozen so far and
 * the ETA; and the small formats these use. Pure functions (no API, no clock:
 * the caller passes "now"), unit-tested in tests/unit/test_kferry_format.c.
 * Anything unknown is -1 and prints as "-". */
#ifndef KFERRY_FORMAT_H
#define KFERRY_FORMAT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "api/podmigration.h"

/* status.progress.stage. */
enum kf_stage {
  KF_STAGE_NONE, /* no status.progress */
  KF_STAGE_CHECKPOINTING,
  KF_STAGE_TRANSFERRING,
  KF_STAGE_VERIFYING,
  KF_STAGE_FETCHING_PAGES,
  KF_STAGE_OTHER, /* a stage this plugin does not know */
};

struct kf_progress {
  enum pm_phase phase;
  enum kf_stage stage;           /* KF_STAGE_NONE too when the stage the status holds is over */
  int64_t before, during, after; /* status.bytesMoved.*; -1 absent */
  int64_t done;                  /* status.progress.bytesDone (the stage's bytes so far); -1 absent */
  int64_t total;                 /* progress.totalBytes (not Verifying's), else memoryBytes; -1 unknown */
  int64_t start_ms, frozen_ms, restored_ms, completion_ms, update_ms; /* unix ms; 0 absent */
};

/* Reads pm's status (pm may be NULL: all unknown). */
void kf_progress_read(json_object *pm, struct kf_progress *p);
/* before + during + after (the known ones; while the image is written, its
 * bytes so far count as during); -1 when none is known. */
int64_t kf_moved(const struct kf_progress *p);
/* 0..100 (moved against the total, at most 100; 100 once Succeeded: what had
 * to move did); -1 unknown. */
double kf_percent(const struct kf_progress *p);
/* Bytes a second: between two observations (moved0 at t0_ms, moved1 at
 * t1_ms); -1 when they cannot tell (no time between them, bytes went back). */
double kf_rate_between(int64_t moved0, int64_t t0_ms, int64_t moved1, int64_t t1_ms);
/* Bytes a second since the start (to its completion once ended); -1 unknown. */
double kf_rate_average(const struct kf_progress *p, int64_t now_ms);
/* How long the pod was frozen: now - frozenAt while not restored, restoredAt -
 * frozenAt after; -1 when it was never frozen. */
int64_t kf_frozen_ms(const struct kf_progress *p, int64_t now_ms);
/* What is left to move at the rate, in ms; -1 unknown (no total, no rate, ended). */
int64_t kf_eta_ms(const struct kf_progress *p, double rate);
const char *kf_stage_name(enum kf_stage s); /* "Checkpointing", ...; "-" for none */
enum kf_stage kf_stage_parse(const char *s);

/* "-" for a negative value in each. */
/* "40 MiB" (ferry_format_bytes). */
void kf_fmt_bytes(int64_t bytes, char *buf, size_t len);
/* "12 MiB/s". */
void kf_fmt_rate(double bytes_per_s, char *buf, size_t len);
/* "850ms", "4.2s", "3m12s", "2h05m". */
void kf_fmt_duration(int64_t ms, char *buf, size_t len);
/* kubectl's AGE: "42s", "5m", "3h", "2d". */
void kf_fmt_age(int64_t ms, char *buf, size_t len);
/* "62%". */
void kf_fmt_percent(double pct, char *buf, size_t len);
/* "40 MiB/64 MiB", "40 MiB" (no total), "-". */
void kf_fmt_moved(const struct kf_progress *p, char *buf, size_t len);
/* A bar of width cells between brackets: "[#######-------]"; unknown: "[" spaces "]". */
void kf_fmt_bar(double pct, int width, char *buf, size_t len);

#endif
