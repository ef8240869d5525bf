/* What the restore suites share (test_restore.c, test_restore_refuse.c):
 * starting targets with clean fds, dumping with --kill, running criu-lite
 * restore in the foreground with its output back to us, and killing what a
 * test restored even when an assertion ends it early. */
#ifndef TEST_RESTORE_UTIL_H
#define TEST_RESTORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "test/helpers.h"

/* Killed by rt_kill_leftovers (the suites' .fini): the pid in rt_pidfile
 * (or the last one read from a pidfile) with every process below it, the
 * criu-lite rt_criu, the target rt_target (with its process group). */
extern char rt_pidfile[300];
extern pid_t rt_criu;
extern pid_t rt_target;
void rt_kill_leftovers(void);
/* A suite's .fini: rt_kill_leftovers, then rt_dir (a test's temp dir) removed. */
extern char rt_dir[256];
void rt_fini(void);
/* Lines of criu-lite's stderr that are not warnings: 1 for a refusal. */
int rt_error_lines(const char *err);

/* A target with only stdin/stderr on /dev/null, stdout on a pipe to us and
 * no other fd (restore would refuse a stray one), leading its own group;
 * waits for READY. */
void rt_start(struct target *t, const char *path, ...);
/* A copy of a target under a name (and so a comm) unique to this test. */
void rt_copy_target(const char *name, const char *dir, char *out, size_t len);
const char *rt_base(const char *path);
/* Processes whose comm is `comm`, zombies included. */
int rt_count_comm(const char *comm);
/* The same, each sent sig (0: none). */
int rt_signal_comm(const char *comm, int sig);
/* mkdir dir, dump t into it with --kill, reap t. */
void rt_dump_kill(struct target *t, const char *dir);
void rt_dump_then_kill(struct target *t, const char *dir);
/* t, which ended (a dump --kill run by hand killed it, or it exited on
 * its own), reaped: its pid free again for a restore, rt_target cleared,
 * its stdout pipe closed. */
void rt_reap(struct target *t);

/* criu-lite restore in the foreground, --pidfile dir/pid: its stdout (the
 * restored tree's, shell-job style) and stderr come back to us. */
struct rt_run {
	pid_t pid;
	struct target out;	/* only out_fd is used, for target_read_line */
	int err_fd;
};
void rt_restore_start(struct rt_run *r, const char *dir, ...);
/* Read its stderr, reap it: its exit status. */
int rt_restore_finish(struct rt_run *r, char *err, size_t len);
pid_t rt_read_pidfile(const char *path);
/* rt_pidfile once the restore wrote it (the tree is restored then). */
bool rt_wait_pidfile(pid_t *pid);
/* The restored root from rt_pidfile; without one, r killed and the test
 * failed with "what: " and what restore said. */
pid_t rt_restored_root(struct rt_run *r, const char *what);
/* Kill a restored process that is not our child, and every process below
 * it; wait until it is gone. */
void rt_kill_wait(pid_t pid);

/* The counter target's file: lines, and whether line i reads i. */
long rt_count_lines(const char *path, bool *contiguous);
long rt_wait_lines(const char *path, long want);

#endif
