/* The registers a restored thread resumes with. The dumped regsets are the
 * kernel's own bytes, handed back verbatim: general registers (with
 * fs_base, the TLS pointer), the whole XSAVE area (x87, SSE, AVX, AVX-512
 * and whatever else XCR0 enables), the blocked mask.
 *
 * A thread dumped inside an interrupted syscall has rax = -ERESTART* and
 * orig_rax = the syscall. Those are kept as they are: every restored
 * thread is finally left in a PTRACE_EVENT_STOP, inside the kernel's signal
 * handling, so when it is let go the kernel applies its own restart rules
 * (rip back onto the `syscall`, rax = orig_rax; or -EINTR when a handler
 * without SA_RESTART runs first), exactly as if it had never stopped. The
 * one exception is -ERESTART_RESTARTBLOCK: its restart_syscall() continues
 * from kernel state (a sleep's remaining time) that died with the dumped
 * thread, and would just return -EINTR; we restart the original syscall
 * with its original arguments instead (a relative sleep starts over). */
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#include "images/log.h"
#include "restore/rst.h"

#ifndef PTRACE_SETSIGMASK
#define PTRACE_SETSIGMASK 0x420b
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

#define ERESTARTNOINTR		513
#define ERESTART_RESTARTBLOCK	516
#define XSTATE_PROBE_LEN	(64 * 1024)

int rst_regs_prepare(const ThreadEntry *te, struct user_regs_struct *regs)
{
	if (te->gpregs.len != sizeof(*regs)) {
		pr_err("thread %u: %zu bytes of general registers, expected %zu", te->tid,
		       te->gpregs.len, sizeof(*regs));
		return -EINVAL;
	}
	memcpy(regs, te->gpregs.data, sizeof(*regs));
	if ((long long)regs->orig_rax >= 0 && (long long)regs->rax == -ERESTART_RESTARTBLOCK) {
		pr_debug("thread %u: syscall %lld restarts from its start", te->tid,
			 (long long)regs->orig_rax);
		regs->rax = (unsigned long long)-ERESTARTNOINTR;
	}
	return 0;
}

int rst_xstate_size(pid_t tid)
{
	static char buf[XSTATE_PROBE_LEN];
	struct iovec iov = { buf, sizeof(buf) };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov))
		return pr_perror("cannot read the XSAVE area of task %d", tid);
	return (int)iov.iov_len;
}

int rst_regs_finish(struct rst_tree *t, const ThreadEntry *te, pid_t tid)
{
	uint64_t blocked = te->blocked;

	if (te->has_xstate && te->xstate.len) {
		struct iovec iov = { te->xstate.data, te->xstate.len };

		if (!t->xstate_size)
			t->xstate_size = rst_xstate_size(tid);
		if ((int)te->xstate.len != t->xstate_size) {
			pr_err("thread %u: the dumped XSAVE area is %zu bytes, this CPU's %d: "
			       "cannot restore its FPU/vector registers", te->tid, te->xstate.len,
			       t->xstate_size);
			return -ENOTSUP;
		}
		if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov))
			return pr_perror("cannot set the XSAVE area of thread %d", tid);
	} else if (te->has_fpregs && te->fpregs.len == sizeof(struct user_fpregs_struct)) {
		if (ptrace(PTRACE_SETFPREGS, tid, NULL, te->fpregs.data))
			return pr_perror("cannot set the FPU registers of thread %d", tid);
	}
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(blocked), &blocked))
		return pr_perror("cannot set the blocked mask of thread %d", tid);
	return 0;
}
