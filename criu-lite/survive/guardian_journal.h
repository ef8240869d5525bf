/* The guardian's journal records (private to criu-lite/survive/). */
#ifndef CRIU_LITE_SURVIVE_GUARDIAN_JOURNAL_H
#define CRIU_LITE_SURVIVE_GUARDIAN_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum gj_kind { GJ_CGROUP = 1, GJ_SIGCONT, GJ_MAPPING, GJ_FD, GJ_COPY, GJ_FRAME, GJ_CLEAR,
	       GJ_DONE,
	       /* from the guardian, once, before criu-lite goes on: */
	       GJ_CGLEAF,	/* path: the cgroup it made for itself */
	       GJ_ACK,		/* out of criu-lite's cgroups; else flag: -errno,
			 * path: the cgroup it could not leave */
	       GJ_LOCK };	/* path: the lock kept for restore, in pid's netns */

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

/* guardian_cgroup.c. The guardian: leave criu-lite's cgroups, say so on
 * sock (GJ_CGLEAF, GJ_ACK). criu-lite: wait for that (0, or -ECHILD if the
 * guardian died; a cgroup it could not leave is one warning), and remove
 * the guardian's leaf (if any) once it is reaped. */
void gc_leave(int sock, pid_t dumper);
int gc_await(int sock, char *leaf, size_t len);
void gc_remove(const char *leaf);

/* Undo every live record (the guardian, criu-lite gone). */
void gj_repair(struct gj_rec *recs, int n, bool died);

/* guardian_tcp.c. criu-lite: the memory shared with the guardian, mapped
 * before its fork (-errno if it cannot be: no notes then), and the notes of
 * common/fd/socket.h's journal (in, out) written there. The guardian:
 * every connection noted in repair mode and still in it, out. */
int gt_make(void);
int gt_in(pid_t pid, int fd, int reuse, int peek_off);
void gt_out(int note);
void gt_undo(void);

#endif
