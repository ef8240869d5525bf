/* The guardian's journal records (private to criu-lite/survive/). */
#ifndef CRIU_LITE_SURVIVE_GUARDIAN_JOURNAL_H
#define CRIU_LITE_SURVIVE_GUARDIAN_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum gj_kind { GJ_CGROUP = 1, GJ_SIGCONT, GJ_MAPPING, GJ_FD, GJ_COPY, GJ_FRAME, GJ_CLEAR,
	       GJ_DONE };

/* One SOCK_SEQPACKET message each: never torn, never merged. */
struct gj_rec {
	uint32_t kind, id;
	int32_t pid;
	int32_t flag;		/* cgroup: v2; clear without id: the kind */
	uint64_t a, b;		/* mapping: addr, len; fd: fd; copy: pid;
				 * cgroup: was frozen; frame: its address
				 * (pid is then a thread's) */
	char path[512];
};

/* Undo every live record (the guardian, criu-lite gone). */
void gj_repair(struct gj_rec *recs, int n, bool died);

#endif
