/* Run system calls inside a stopped tracee ("infect"): save its registers,
 * point it at a `syscall` instruction, let it execute exactly that syscall,
 * read the result and put everything back. Shared by dump (sigactions,
 * itimers, fork for --snapshot fork) and restore (building the address space).
 *
 * Preconditions (x86_64 tracees only):
 *  - `tid` was attached with PTRACE_SEIZE (PTRACE_INTERRUPT is used to bring
 *    it back into a stop at the end), by infect_seize where a tracer's
 *    death must leave it unharmed (the dump's tracers).
 *  - it sits in a PTRACE_EVENT_STOP (PTRACE_INTERRUPT stop or seized
 *    group-stop), a syscall-stop or an event stop (fork/clone/exec), and the
 *    caller has already reaped that stop with waitpid(). Never a
 *    signal-delivery-stop: resuming it would discard the signal.
 *  - no other code waits for this tid while an injection runs.
 * After infect_stop() the thread is again in a PTRACE_EVENT_STOP with exactly
 * the registers and blocked mask it had before, so that a syscall it was
 * interrupted in restarts as the kernel would have restarted it.
 *
 * During an injection every signal is blocked (PTRACE_SETSIGMASK), so nothing
 * is delivered meanwhile; a SIGSTOP that still turns up is re-sent to the
 * thread at infect_stop(). A fork/clone injected with PTRACE_O_TRACEFORK /
 * TRACECLONE set gives a traced child that inherits the injected register
 * state and the all-blocked mask: the caller owns that child. */
#ifndef CRIU_LITE_INFECT_H
#define CRIU_LITE_INFECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct infect {
	pid_t tid;			/* a thread in ptrace-stop (seized) */
	struct user_regs_struct saved;	/* registers to put back */
	uint64_t syscall_ip;		/* address of a `syscall` instruction */
	uint64_t scratch;		/* scratch page mapped in the tracee, or 0 */
	size_t scratch_len;
	uint64_t code;			/* infect_map_code page (R-X), or 0 */
	/* private to infect.c */
	uint64_t saved_sigmask;		/* blocked mask to put back */
	uint64_t set_sigmask;		/* the mask we last gave it */
	int mem_fd;			/* /proc/tid/mem, or -1 */
	int deferred_sig;		/* a stop signal met during injection */
	bool started, resumed;
	bool heal;			/* a frame to return to is in place */
	int trap_sig;			/* the batch's closing signal */
	uint64_t frame, heal_ret, heal_sigret;
};

/* If the tracer dies: with healing on (infect_set_healing), a thread that
 * criu-lite has borrowed and dies holding finishes the syscall or batch it
 * was given and returns by rt_sigreturn to exactly the registers, mask and
 * FPU state it had (infect_heal.h says how). A thread that never left its
 * stop keeps its own registers: they are set only after its frame is
 * written, and put back before the mask. When the process lacks the
 * gadgets it needs (`syscall; ret` and glibc's __restore_rt in a file
 * mapping) or uses shadow stacks, injection works as without healing and
 * says so at info level. Off by default: restore builds address spaces
 * where a frame on the stack may be unmapped under it. */
void infect_set_healing(bool on);

/* Told of each mapping infect puts in a tracee, before the mmap runs (at
 * an address picked in advance, MAP_FIXED_NOREPLACE, so that a death
 * between the mmap and reading its result leaves nothing unknown), and of
 * each it takes away, after munmap. The dump's guardian keeps these. */
struct infect_journal {
	void (*mapping)(pid_t tid, uint64_t addr, uint64_t len);
	void (*unmapped)(pid_t tid, uint64_t addr);
	/* A thread's frame is in place (while its rsp is frame or frame + 8
	 * it is on its way home), and it is back with its registers. */
	void (*frame)(pid_t tid, uint64_t frame);
	void (*home)(pid_t tid);
};
void infect_set_journal(const struct infect_journal *j);

/* Memory that a userfaultfd of ours write-protects (--snapshot wp)
 * refuses writes through /proc/PID/mem (a remote fault is not sent to a
 * handler): infect asks this to lift the protection of [addr, addr + len)
 * of tid before it puts the thread's frame there. 0 when lifted. */
void infect_set_unprotect(int (*fn)(pid_t tid, uint64_t addr, uint64_t len));

/* PTRACE_SEIZE as a dump's tracers do it: 0, or -1 with errno. With
 * PTRACE_O_TRACESYSGOOD: a thread whose tracer dies just as it enters a
 * syscall stop (gone between the kernel's two looks at the tracer) sends
 * itself the stop's code as a signal. A plain SIGTRAP killed the process
 * once the thread's mask was back (one dump in ~45 SIGKILLed at random
 * moments); SIGTRAP | 0x80 is no signal, and the kernel drops it. */
int infect_seize(pid_t tid);

/* Find a `syscall` instruction (the vdso has one) and save registers. */
int infect_start(struct infect *inf, pid_t tid);
/* Same with a known `syscall` instruction address (restore: an address it
 * mapped itself, when the vdso is gone or not yet in place). */
int infect_start_at(struct infect *inf, pid_t tid, uint64_t syscall_ip);
/* Address of a `0f 05` byte pair in an executable mapping of tid ([vdso]
 * first). */
int infect_find_syscall(pid_t tid, uint64_t *ip);
/* Execute syscall nr(args) in the tracee; returns its raw result
 * (negative errno on failure) in *ret. Returns <0 if the injection failed. */
int infect_syscall(struct infect *inf, long nr, uint64_t *ret, uint64_t a1, uint64_t a2,
		   uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6);
/* clone() with exit signal 0 (a fork whose death sends no SIGCHLD). The
 * child starts with the injected registers; with healing, from the code
 * page, so that a child that ever runs untraced exits at once instead of
 * running the parent's code (the parent goes back to its own registers). */
int infect_fork(struct infect *inf, uint64_t *ret);
/* Map `len` bytes of anonymous RW scratch memory in the tracee. */
int infect_map_scratch(struct infect *inf, size_t len);

/* Many syscalls for the price of one stop: a small loop copied into a R-X
 * page of the tracee runs a table of calls and traps (int3) at the end.
 * Each injected syscall otherwise costs two stops, and a stop costs a
 * scheduling round trip: under load that is the bulk of a dump's downtime. */
struct infect_call {
	uint64_t nr, args[6];
	uint64_t ret;		/* raw result, -errno on failure */
};
/* Map the loop's code page (once per address space); unmapped by
 * infect_stop unless the caller clears inf->code to keep it for another
 * thread of the same process (set inf->code on that thread's struct). */
int infect_map_code(struct infect *inf);
/* Run calls[0..n) in order inside the tracee; the table is staged at
 * `table` (n * 64 bytes of scratch memory); each ret is filled in. */
int infect_batch(struct infect *inf, uint64_t table, struct infect_call *calls, int n);

/* The same in two halves, so that many threads (each with a table of its
 * own) run at once and their stops overlap: send to all, then receive. */
int infect_batch_send(struct infect *inf, uint64_t table, const struct infect_call *calls, int n);
int infect_batch_recv(struct infect *inf, uint64_t table, struct infect_call *calls, int n);
/* Copy to/from tracee memory through /proc/tid/mem (writes work on
 * read-only mappings too, as for a debugger). 0 or -errno. */
int infect_read(struct infect *inf, uint64_t addr, void *buf, size_t len);
int infect_write(struct infect *inf, uint64_t addr, const void *buf, size_t len);
/* Unmap scratch memory (and the code page) and restore the saved
 * registers and mask. */
int infect_stop(struct infect *inf);
/* infect_stop in two halves, likewise: send lets the thread go back to its
 * event stop, recv waits for it to get there. Always call both. */
int infect_stop_send(struct infect *inf);
int infect_stop_recv(struct infect *inf);

/* What the kernel does to a thread's registers when it returns to user mode
 * from a syscall interrupted with -ERESTART* and no handler runs: back up
 * rip onto the `syscall` instruction and reload rax. Restore needs it for a
 * thread dumped inside a syscall (dump keeps gpregs verbatim). Returns true
 * if regs were changed. */
bool infect_fixup_restart(struct user_regs_struct *regs);

#endif
