/* Image stores. dir://PATH: a directory every node mounts (a ReadWriteMany
 * volume). Images are published atomically: written under a temporary name,
 * fsynced, then renamed into place, never over an existing image. */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include "error.h"

struct ferry_store {
  char *url;
  char *path; /* dir:// */
};

int ferry_store_parse(const char *url, struct ferry_store *s, ferry_error *err);
void ferry_store_free(struct ferry_store *s);
/* 1..128 of [A-Za-z0-9._-], not starting with '.' or '-'. */
int ferry_image_name_valid(const char *name, ferry_error *err);
/* The directory of a published image (which may not exist). Caller frees. */
char *ferry_store_image_dir(const struct ferry_store *s, const char *name);
/* Checks the store is a writable directory and NAME is free, then creates the
 * temporary directory to write the image into. */
int ferry_store_begin(const struct ferry_store *s, const char *name, char **tmpdir, ferry_error *err);
/* fsyncs tmpdir's tree, renames it to NAME (failing if NAME appeared meanwhile),
 * fsyncs the store directory. */
int ferry_store_publish(const struct ferry_store *s, const char *name, const char *tmpdir, ferry_error *err);
/* Removes a temporary directory left by a failed checkpoint (errors logged). */
void ferry_store_abort(const char *tmpdir);
/* Checks a published image exists. */
int ferry_store_open(const struct ferry_store *s, const char *name, char **dir, ferry_error *err);

#endif
