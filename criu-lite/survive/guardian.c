/* The guardian process and criu-lite's side of its journal: see guardian.h. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/fault.h"
#include "common/fd/socket.h"
#include "common/infect.h"
#include "common/procfs.h"
#include "criu-lite/survive/guardian.h"
#include "criu-lite/survive/guardian_journal.h"
#include "images/log.h"

/* How long the guardian waits, once the journal ends, for criu-lite's
 * last thread to exit (the kernel detaches tracees as each thread exits). */
#define DEATH_WAIT_MS 10000

static int sock = -1;
static pid_t guard_pid;
static char guard_leaf[512];
static uint32_t next_id;

static void guardian_main(int fd, pid_t dumper) __attribute__((noreturn));
static int send_rec(struct gj_rec *r);

/* Records kept until cleared; undone on criu-lite's death. */
static void keep(struct gj_rec **recs, int *n, int *cap, const struct gj_rec *r)
{
	if (r->kind == GJ_CLEAR) {
		for (int i = 0; i < *n; i++)
			if ((*recs)[i].id == r->id ||
			    (!r->id && (*recs)[i].kind == (uint32_t)r->flag &&
			     (!r->pid || (*recs)[i].pid == r->pid) &&
			     ((*recs)[i].a == r->a || r->flag != GJ_MAPPING)))
				(*recs)[i--] = (*recs)[--*n];
		return;
	}
	if (*n == *cap) {
		struct gj_rec *m = realloc(*recs, (*cap * 2 + 16) * sizeof(*m));

		if (!m)
			return;	/* cannot happen in practice; keep what we have */
		*recs = m;
		*cap = *cap * 2 + 16;
	}
	(*recs)[(*n)++] = *r;
}

static void guardian_main(int fd, pid_t dumper)
{
	struct gj_rec *recs = NULL, r;
	int n = 0, cap = 0, pidfd;
	struct pollfd pfd;

	/* Out of criu-lite's process group, session and cgroups: a kill of
	 * any (^C, kill -- -PGID, systemd stop) leaves the guardian to clean
	 * up. */
	fault_off();
	gc_leave(fd, dumper);
	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "criu-lite-guard");
	pidfd = (int)syscall(SYS_pidfd_open, dumper, 0);
	for (;;) {
		ssize_t k = recv(fd, &r, sizeof(r), 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (k != sizeof(r))
			continue;
		if (r.kind == GJ_DONE)
			break;
		keep(&recs, &n, &cap, &r);
	}
	if (r.kind == GJ_DONE) {
		/* criu-lite lives and is done: what it failed to undo is left */
		gt_undo();
		if (n)
			gj_repair(recs, n, false);
		free(recs);
		_exit(0);
	}
	/* criu-lite's files are closed before its tracees are detached: wait
	 * for the whole of it to be gone (the pidfd is readable then). */
	pfd = (struct pollfd){ .fd = pidfd, .events = POLLIN };
	if (pidfd >= 0)
		poll(&pfd, 1, DEATH_WAIT_MS);
	/* first: a cgroup gj_repair thaws would run on with them in repair mode */
	gt_undo();
	if (n)
		gj_repair(recs, n, true);
	free(recs);
	_exit(0);
}

/* infect tells thread ids; the journal keeps processes. */
static pid_t tgid_of(pid_t tid)
{
	char *text = NULL;
	size_t len;
	uint64_t tgid = 0;

	if (procfs_read(tid, "status", &text, &len) >= 0)
		procfs_field_u64(text, "Tgid", 10, &tgid);
	free(text);
	return tgid ? (pid_t)tgid : tid;
}

static void on_mapping(pid_t tid, uint64_t addr, uint64_t len)
{
	guardian_note_mapping(tgid_of(tid), addr, len);
}

static void on_unmapped(pid_t tid, uint64_t addr)
{
	guardian_clear_mapping(tgid_of(tid), addr);
}

static void clear_kind(enum gj_kind kind, pid_t pid, uint64_t a)
{
	/* id 0: the guardian drops the note of that kind for pid (at a) */
	struct gj_rec r = { .kind = GJ_CLEAR, .flag = kind, .pid = pid, .a = a };

	if (sock >= 0 && send(sock, &r, sizeof(r), MSG_NOSIGNAL) < 0)
		pr_debug("guardian: %m");
}

static void on_frame(pid_t tid, uint64_t frame)
{
	struct gj_rec r = { .kind = GJ_FRAME, .pid = tid, .a = frame };

	clear_kind(GJ_FRAME, tid, 0);
	send_rec(&r);
}

static void on_home(pid_t tid)
{
	clear_kind(GJ_FRAME, tid, 0);
}

static const struct infect_journal hooks = { on_mapping, on_unmapped, on_frame, on_home };

static int on_lock_kept(pid_t pid, const char *table)
{
	struct gj_rec r = { .kind = GJ_LOCK, .pid = pid };
	int id;

	snprintf(r.path, sizeof(r.path), "%s", table);
	id = send_rec(&r);
	return id ? id : -1;
}

static const struct sk_journal sk_hooks = { gt_in, gt_out, on_lock_kept, guardian_clear };

int guardian_start(void)
{
	pid_t dumper = getpid(), pid;
	int sv[2];

	if (guard_pid)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return pr_perror("cannot make the guardian's socket");
	if (gt_make())
		pr_warn("no memory shared with the guardian: a death of criu-lite while TCP "
			"connections are in repair mode would leave them in it");
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return pr_perror("cannot fork the guardian");
	}
	if (pid == 0) {
		close(sv[0]);
		guardian_main(sv[1], dumper);
	}
	close(sv[1]);
	sock = sv[0];
	guard_pid = pid;
	if (gc_await(sock, guard_leaf, sizeof(guard_leaf))) {
		close(sock);
		sock = -1;
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		guard_pid = 0;
		gc_remove(guard_leaf);
		return -ECHILD;
	}
	infect_set_journal(&hooks);
	sk_journal_set(&sk_hooks);
	return 0;
}

static int send_rec(struct gj_rec *r)
{
	if (sock < 0)
		return 0;
	r->id = r->id ? r->id : ++next_id;
	if (send(sock, r, sizeof(*r), MSG_NOSIGNAL) != (ssize_t)sizeof(*r)) {
		pr_warn("the guardian is gone (%s): a death of criu-lite now would not be undone",
			strerror(errno));
		close(sock);
		sock = -1;
		return 0;
	}
	return (int)r->id;
}

void guardian_stop(bool keep_fds)
{
	struct gj_rec r = { .kind = GJ_DONE };
	int st;

	if (!guard_pid)
		return;
	if (keep_fds)
		clear_kind(GJ_FD, 0, 0);
	infect_set_journal(NULL);
	sk_journal_set(NULL);
	send_rec(&r);
	if (sock >= 0)
		close(sock);
	sock = -1;
	while (waitpid(guard_pid, &st, 0) < 0 && errno == EINTR)
		;
	guard_pid = 0;
	gc_remove(guard_leaf);
	guard_leaf[0] = 0;
}

int guardian_note_cgroup(const char *dir, bool v2, bool was_frozen)
{
	struct gj_rec r = { .kind = GJ_CGROUP, .flag = v2, .a = was_frozen };

	snprintf(r.path, sizeof(r.path), "%s", dir);
	return send_rec(&r);
}

int guardian_note_sigcont(pid_t pid)
{
	struct gj_rec r = { .kind = GJ_SIGCONT, .pid = pid };

	return send_rec(&r);
}

int guardian_note_mapping(pid_t pid, uint64_t addr, uint64_t len)
{
	struct gj_rec r = { .kind = GJ_MAPPING, .pid = pid, .a = addr, .b = len };

	return send_rec(&r);
}

void guardian_clear_mapping(pid_t pid, uint64_t addr)
{
	clear_kind(GJ_MAPPING, pid, addr);
}

/* The number the next fd of pid gets (it is stopped: nothing takes it). */
static int lowest_free_fd(pid_t pid)
{
	char name[32];
	int fd = 0;

	for (;; fd++) {
		char *link = NULL;

		snprintf(name, sizeof(name), "fd/%d", fd);
		if (procfs_readlink(pid, name, &link) < 0)
			return fd;
		free(link);
	}
}

int guardian_note_fd(pid_t pid, int fd)
{
	struct gj_rec r = { .kind = GJ_FD, .pid = pid };

	r.a = (uint64_t)(fd < 0 ? lowest_free_fd(pid) : fd);
	return send_rec(&r);
}

int guardian_renote_fd(int id, pid_t pid, int fd)
{
	struct gj_rec r = { .kind = GJ_FD, .pid = pid, .a = (uint64_t)fd };
	int n;

	if (id <= 0 || fd < 0)
		return id;
	n = send_rec(&r);
	guardian_clear(id);
	return n;
}

int guardian_note_copy(pid_t parent, pid_t copy)
{
	struct gj_rec r = { .kind = GJ_COPY, .pid = parent, .a = (uint64_t)copy };

	return send_rec(&r);
}

void guardian_clear(int id)
{
	struct gj_rec r = { .kind = GJ_CLEAR, .id = (uint32_t)id };

	if (id > 0)
		send_rec(&r);
}
