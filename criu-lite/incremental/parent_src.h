/* The parent images as a page source (memory/page_src.h), for an
 * incremental dump or pre-dump: it lies over the live process, whose
 * pagemap says which pages were not written since the parent dump (per
 * `track`, enum kd_track_mem); those the parent holds become PE_PARENT.
 * With KD_TRACK_HASHES every page is read and compared with the parent's
 * bytes instead: equal ones become PE_PARENT. */
#ifndef CRIU_LITE_INCREMENTAL_PARENT_SRC_H
#define CRIU_LITE_INCREMENTAL_PARENT_SRC_H

#include <stdint.h>
#include <sys/types.h>

#include "criu-lite/memory/page_src.h"
#include "images/dump_read.h"

struct parent_src {
	struct page_src s;
	struct page_src *below;
	int track;		/* enum kd_track_mem */
	struct dr_pages *pm;	/* the parent's runs of the process */
	uint8_t *cmp;		/* KD_TRACK_HASHES: the parent's bytes, a chunk at a time */
};

/* Holds nothing: parent_src_close is a no-op on it. */
#define PARENT_SRC_NULL ((struct parent_src){ .pm = NULL })

/* The runs of pid in the dump at dirfd (named dir in messages). 0 or
 * -errno (logged); on failure too, parent_src_close. */
int parent_src_open(struct parent_src *p, int dirfd, const char *dir, pid_t pid, int track,
		    struct page_src *below);
void parent_src_close(struct parent_src *p);

#endif
