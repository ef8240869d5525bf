/* Paths named in images are looked up as the process being restored would,
 * never as root (issue 15): a dump a user could write must not get the
 * user's process a root-only file open, mapped or bound to.
 *
 * fscreds_enter() gives the calling thread the process's filesystem
 * identity: its fsuid, fsgid and supplementary groups, and its own
 * effective capabilities (plus the network ones restoring sockets needs,
 * which name no path). The kernel drops the filesystem capabilities when
 * fsuid leaves 0; the others (CAP_SYS_PTRACE reaches /proc/PID/root, ...)
 * go with the capset. Everything is done with raw syscalls on this thread
 * only: glibc would broadcast setgroups to every thread of criu-lite.
 * fscreds_leave() puts back what was before. */
#ifndef CRIU_LITE_COMMON_FSCREDS_H
#define CRIU_LITE_COMMON_FSCREDS_H

#include <stddef.h>
#include <stdint.h>

struct fscreds {
	uint32_t uid, gid;		/* fsuid, fsgid */
	const uint32_t *groups;
	size_t n_groups;
	uint64_t cap_eff;
};

/* Look paths up as c (NULL: as criu-lite) from now on, in this thread:
 * 0, or -errno with nothing changed. *prev gets what was in force, for
 * fscreds_leave(prev) to put back: so they nest, and criu-lite's own files
 * (an image) are read as criu-lite with fscreds_enter(NULL, &prev). c must
 * live until it is left. */
int fscreds_enter(const struct fscreds *c, const struct fscreds **prev);
void fscreds_leave(const struct fscreds *prev);
/* What is in force in this thread (NULL: criu-lite's own). */
const struct fscreds *fscreds_current(void);

#endif
