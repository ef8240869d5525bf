/* `criu-lite show`: images as JSON (show.c) and the human-readable
 * --ps / --mem / --files summaries of a dump directory (show_summary.c). */
#ifndef CRIU_LITE_SHOW_H
#define CRIU_LITE_SHOW_H

#include <stdio.h>

/* Each prints to `out` and returns 0, or -errno after logging once. */
int show_ps(int dirfd, FILE *out);
int show_mem(int dirfd, FILE *out);
int show_files(int dirfd, FILE *out);

#endif
