/* `criu-lite import`: a dump of any format the reader opens, written as
 * criu-lite images (import.c; the pages in import_pages.c). */
#ifndef CRIU_LITE_IMPORT_H
#define CRIU_LITE_IMPORT_H

#include <stdint.h>

#include "images/dump_read.h"

struct import_stats {
	uint64_t bytes;		/* page bytes copied */
	uint64_t threads;
};

/* 0, or -errno after one line. */
int import_dump(const char *src, const char *dst);
/* pagemap-PID.img and pages-PID.img in dirfd from pg, its parents' pages
 * copied in so the result stands alone. */
int import_pages(int dirfd, int pid, const struct dr_pages *pg, struct import_stats *st);

#endif
