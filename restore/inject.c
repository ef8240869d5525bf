/* Restore's side of syscall injection: seizing the paused children and
 * small wrappers over criu-lite/infect.h that log failed syscalls once. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "common/fault.h"
#include "images/log.h"
#include "restore/rst.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

int rst_wait_event_stop(pid_t tid)
{
	int st;

	for (;;) {
		if (waitpid(tid, &st, __WALL) < 0)
			return pr_perror("waitpid(%d)", tid);
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			pr_err("task %d died while being restored", tid);
			return -ESRCH;
		}
		if (st >> 16 == PTRACE_EVENT_STOP)
			return 0;
		/* Everything is blocked in our children; pass on what still
		 * comes (SIGSTOP): a seized group-stop is an event stop too. */
		if (ptrace(PTRACE_CONT, tid, NULL,
			   (void *)(long)(st >> 16 ? 0 : WSTOPSIG(st))))
			return pr_perror("cannot resume task %d", tid);
	}
}

int rst_seize(pid_t pid)
{
	/* EXITKILL: if criu-lite dies mid-restore, the half-built process
	 * dies too instead of running criu-lite's code on a torn address
	 * space. TRACECLONE: threads we create come seized. */
	if (ptrace(PTRACE_SEIZE, pid, NULL,
		   (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL)))
		return pr_perror("cannot seize restored process %d", pid);
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL))
		return pr_perror("cannot stop restored process %d", pid);
	return rst_wait_event_stop(pid);
}

int rst_sys(struct rst_inj *j, long nr, uint64_t *ret, uint64_t a1, uint64_t a2, uint64_t a3,
	    uint64_t a4, uint64_t a5, uint64_t a6)
{
	uint64_t dummy;

	return infect_syscall(&j->inf, nr, ret ? ret : &dummy, a1, a2, a3, a4, a5, a6);
}

int rst_sys_ok(struct rst_inj *j, const char *what, long nr, uint64_t *ret, uint64_t a1,
	       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	uint64_t r;
	int e = rst_sys(j, nr, &r, a1, a2, a3, a4, a5, a6);

	if (e)
		return e;
	if (ret)
		*ret = r;
	if (r > (uint64_t)-4096) {
		pr_err("task %d: %s: %s", j->inf.tid, what, strerror((int)-(int64_t)r));
		return (int)(int64_t)r;
	}
	return 0;
}

int rst_poke(struct rst_inj *j, uint64_t addr, const void *buf, size_t len)
{
	return infect_write(&j->inf, addr, buf, len);
}

int rst_batch_run(struct rst_inj *j, struct rst_batch *b)
{
	int n = b->n, r;

	b->n = 0;
	if (!n)
		return 0;
	if ((r = fault_step("restore: injected batch")))
		return r;
	r = infect_batch(&j->inf, j->table, b->calls, n);
	if (r)
		return r;
	for (int i = 0; i < n; i++) {
		uint64_t ret = b->calls[i].ret;

		if (ret > (uint64_t)-4096) {
			pr_err("task %d: %s: %s", j->inf.tid, b->what[i],
			       strerror((int)-(int64_t)ret));
			return (int)(int64_t)ret;
		}
	}
	return 0;
}

int rst_batch_add(struct rst_inj *j, struct rst_batch *b, const char *what, long nr, uint64_t a1,
		  uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	if (b->n == RST_BATCH_MAX) {
		int r = rst_batch_run(j, b);

		if (r)
			return r;
	}
	b->calls[b->n] = (struct infect_call){ .nr = (uint64_t)nr,
					       .args = { a1, a2, a3, a4, a5, a6 } };
	b->what[b->n++] = what;
	return 0;
}
