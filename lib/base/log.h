/* SPDX-License-Identifier: Apache-2.0 */
/* Leveled logging to stderr, text or JSON lines (one object per line, the way
 * Kubernetes components log with --logging-format=json). */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

enum ferry_log_level { FERRY_LOG_DEBUG, FERRY_LOG_INFO, FERRY_LOG_WARN, FERRY_LOG_ERROR };

void ferry_log_set_level(enum ferry_log_level level);
/* Returns -1 for an unknown name. */
int ferry_log_parse_level(const char *name, enum ferry_log_level *out);
void ferry_log_set_json(int on);
/* The --log-level and --log-format options every binary takes: applies value,
 * or prints "PROG: --OPTION is ..." to stderr and returns -1 for a bad one. */
int ferry_log_level_option(const char *prog, const char *value);
int ferry_log_format_option(const char *prog, const char *value);
void ferry_log(enum ferry_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) ferry_log(FERRY_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) ferry_log(FERRY_LOG_INFO, __VA_ARGS__)
#define log_warn(...) ferry_log(FERRY_LOG_WARN, __VA_ARGS__)
#define log_error(...) ferry_log(FERRY_LOG_ERROR, __VA_ARGS__)

#endif
