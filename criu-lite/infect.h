/* Run system calls inside a stopped tracee ("infect"): save its registers,
 * point it at a `syscall` instruction, let it execute exactly that syscall,
 * read the result and put everything back. Shared by dump (sigactions,
 * itimers, fork for --snapshot fork) and restore (building the address space). */
#ifndef CRIU_LITE_INFECT_H
#define CRIU_LITE_INFECT_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct infect {
	pid_t tid;			/* a thread in ptrace-stop (seized) */
	struct user_regs_struct saved;	/* registers to put back */
	uint64_t syscall_ip;		/* address of a `syscall` instruction */
	uint64_t scratch;		/* scratch page mapped in the tracee, or 0 */
	size_t scratch_len;
};

/* Find a `syscall` instruction (the vdso has one) and save registers. */
int infect_start(struct infect *inf, pid_t tid);
/* Execute syscall nr(args) in the tracee; returns its raw result
 * (negative errno on failure) in *ret. Returns <0 if the injection failed. */
int infect_syscall(struct infect *inf, long nr, uint64_t *ret, uint64_t a1, uint64_t a2,
		   uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6);
/* Map `len` bytes of anonymous RW scratch memory in the tracee. */
int infect_map_scratch(struct infect *inf, size_t len);
/* Unmap scratch memory and restore the saved registers. */
int infect_stop(struct infect *inf);

#endif
