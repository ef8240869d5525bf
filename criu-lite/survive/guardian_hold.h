/* The guardian's hold on a process whose dumper died: every thread seized
 * and stopped, none executing inside a mapping about to go (a thread
 * healing itself may still be running the code page's batch when
 * criu-lite's death is noticed: it is let go on until it is out). */
#ifndef CRIU_LITE_SURVIVE_GUARDIAN_HOLD_H
#define CRIU_LITE_SURVIVE_GUARDIAN_HOLD_H

#include <stdint.h>
#include <sys/types.h>

#define GH_MAX_THREADS 1024

struct gh_hold {
	pid_t tids[GH_MAX_THREADS];
	int n;
};

/* Where a thread may be on its way home: rip in one of `ranges`
 * ([start, end): our code), or rsp at its frame (tid, frame). */
struct gh_busy {
	const uint64_t (*ranges)[2];
	int nr;
	const uint64_t (*frames)[2];
	int nf;
};

/* 0 with every thread of pid in an event stop and none on its way home;
 * -errno with nothing held. */
int gh_hold(pid_t pid, const struct gh_busy *busy, struct gh_hold *h);
void gh_release(struct gh_hold *h);

#endif
