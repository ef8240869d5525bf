/* What the replay suites share (test_replay.c, test_replay_apps.c): a
 * replay made with restore --replay -d, looked at from the host (its pids
 * in its namespace, its network, its files), gdb on it, and its end, which
 * must leave nothing behind. */
#ifndef TEST_REPLAY_UTIL_H
#define TEST_REPLAY_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct rp {
	pid_t root;	/* the replay's root, as we see it */
	pid_t init;	/* its pid 1 */
	pid_t keeper;	/* the criu-lite that stays its init's parent (-d) */
};

/* criu-lite restore --replay -d of img (extra args NULL-terminated); the
 * replay is stopped when it returns, what it said in rp_said. */
void rp_start(struct rp *r, const char *img, ...);
extern char rp_said[4096];
/* Kill it through its init: root, init and keeper gone, and so are its
 * copies (nothing of it mounted where the host sees). */
void rp_end(struct rp *r);
/* The suites' .fini: every replay a test left, ended. */
void rp_kill_leftovers(void);

/* gdb -batch attached to pid with gdb's SIGSTOP passed on never; cmds is
 * the rest of the command line ("-ex '...' ..."). gdb's exit status. */
int rp_gdb(pid_t pid, char *out, size_t len, const char *cmds);
/* Do pid and we have the same namespace ns ("net", "pid", "ipc", "mnt")? */
bool rp_same_ns(pid_t pid, const char *ns);
/* Connect to 127.0.0.1:port from pid's network namespace (0: pid 0, ours);
 * what the server says first (up to len), or NULL if the connection failed.
 * wait_reply: read its answer, else return once connected. */
char *rp_connect(pid_t pid, int port, bool wait_reply, char *buf, size_t len);

/* A whole file, malloc'd; NULL if it cannot be read. */
char *rp_slurp(const char *path, size_t *len);
/* path still holds exactly what it held (before, len). */
void rp_expect_same(const char *path, const char *before, size_t len);

#endif
