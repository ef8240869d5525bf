/* `criu-lite show`: images as JSON (show.c) and the human-readable
 * --ps / --mem / --files summaries of a dump directory (show_summary.c). */
#ifndef CRIU_LITE_SHOW_H
#define CRIU_LITE_SHOW_H

#include <stdio.h>

/* The dump at dir (a pre-dump too). Each prints to `out` and returns 0, or
 * -errno after logging once. */
int show_ps(const char *dir, FILE *out);
int show_mem(const char *dir, FILE *out);
int show_files(const char *dir, FILE *out);

#endif
