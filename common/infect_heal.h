/* Self-healing injection, private to infect.c (see infect.h, "If the
 * tracer dies").
 *
 * When a tracer dies the kernel detaches its tracees and they run on with
 * whatever registers they hold (kernel/ptrace.c: exit_ptrace ->
 * __ptrace_detach -> __ptrace_unlink wakes a traced task). A thread we
 * borrowed would then run on our registers. So every borrowed thread gets,
 * below its red zone, a signal frame (struct rt_sigframe as the kernel
 * builds one: registers, blocked mask, xsave area) holding what it had, and
 * is only ever pointed at code that ends in rt_sigreturn on that frame:
 *  - a single syscall runs at a `syscall; ret` gadget of the process with
 *    rsp at the frame, whose first word is the address of a
 *    `mov $15,%eax; syscall` gadget (glibc's __restore_rt): the syscall
 *    finishes, ret pops into rt_sigreturn, the thread is back;
 *  - the batch loop of the code page ends likewise.
 * Whether traced or not when it gets there, the thread ends where it was. */
#ifndef CRIU_LITE_INFECT_HEAL_H
#define CRIU_LITE_INFECT_HEAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct heal_gadgets {
	uint64_t syscall_ret;	/* 0f 05 c3 */
	uint64_t sigreturn;	/* 48 c7 c0 0f 00 00 00 0f 05 */
};

/* Both gadgets in an executable file mapping of tid, or -ENOENT. A process
 * with user shadow stacks enabled gets -EOPNOTSUPP: its `ret` would not
 * match a `call`. Cached per mapping and checked by its bytes each time. */
int heal_find_gadgets(pid_t tid, int mem_fd, struct heal_gadgets *g);

/* Write tid's frame below its red zone (if refused, once more after
 * `unprotect`, when given, lifted a write protection there): regs (with a syscall interrupted by
 * -ERESTART* set to run again, as the kernel does when no handler runs),
 * mask (as PTRACE_GETSIGMASK gives it: for a thread parked in
 * rt_sigsuspend, ppoll, pselect6 or epoll_pwait, its own mask, not the
 * syscall's temporary one, which the restarted syscall sets again) and
 * its xsave state; the first word points at g->sigreturn. *frame
 * is its address: rsp for a `syscall; ret` gadget, frame + 8 for a plain
 * `rt_sigreturn`. */
int heal_write_frame(pid_t tid, int mem_fd, const struct user_regs_struct *regs, uint64_t mask,
		     const struct heal_gadgets *g,
		     int (*unprotect)(pid_t tid, uint64_t addr, uint64_t len), uint64_t *frame);

/* A signal that, sent to tid untraced, the kernel drops at once (ignored,
 * neither blocked nor pending, without side effects as SIGCONT has): the
 * batch loop's closing trap. Traced, it is reported like any other (kernel
 * sig_ignored: "Tracers may want to know about even ignored signal").
 * 0 if there is none. */
int heal_trap_signal(pid_t tid);

#endif
