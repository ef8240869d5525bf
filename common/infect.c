/* Syscall injection through ptrace, x86_64. See infect.h for the contract. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <valgrind/memcheck.h>

#include "common/fault.h"
#include "common/infect.h"
#include "common/infect_heal.h"
#include "common/procfs.h"
#include "images/log.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif

/* The kernel's internal restart codes, visible in rax of a thread stopped on
 * its way out of an interrupted syscall. */
#define ERESTARTSYS		512
#define ERESTARTNOINTR		513
#define ERESTARTNOHAND		514
#define ERESTART_RESTARTBLOCK	516

#define SYSCALL_INSN_LEN 2

/* What the kernel keeps of an all-ones PTRACE_SETSIGMASK. */
#define ALL_BLOCKABLE (~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1))))

static bool healing;
static const struct infect_journal *journal;

void infect_set_healing(bool on)
{
	healing = on;
}

void infect_set_journal(const struct infect_journal *j)
{
	journal = j;
}

static int (*unprotect)(pid_t tid, uint64_t addr, uint64_t len);

void infect_set_unprotect(int (*fn)(pid_t tid, uint64_t addr, uint64_t len))
{
	unprotect = fn;
}

static int scan_range(int mem_fd, uint64_t start, uint64_t end, uint64_t *ip)
{
	unsigned char buf[4096];

	for (uint64_t a = start; a < end; a += sizeof(buf)) {
		size_t len = end - a < sizeof(buf) ? end - a : sizeof(buf);
		ssize_t n = pread(mem_fd, buf, len, (off_t)a);

		if (n < SYSCALL_INSN_LEN)
			return -EIO;
		/* A pair split across two chunks is missed; the vdso has many. */
		for (ssize_t i = 0; i + 1 < n; i++)
			if (buf[i] == 0x0f && buf[i + 1] == 0x05)
				return *ip = a + i, 0;
	}
	return -ENOENT;
}

int infect_find_syscall(pid_t tid, uint64_t *ip)
{
	char line[512];
	int mem_fd, r = -ENOENT;
	FILE *maps;

	maps = procfs_fopen(tid, "maps", 0);
	if (!maps)
		return -errno;
	mem_fd = procfs_open(tid, "mem", O_RDONLY);
	if (mem_fd < 0) {
		fclose(maps);
		return mem_fd;
	}
	/* Two passes: the vdso is always mapped and never changes under us;
	 * any other executable mapping will do when it is absent. */
	for (int pass = 0; pass < 2 && r; pass++) {
		rewind(maps);
		while (r && fgets(line, sizeof(line), maps)) {
			unsigned long long start, end;
			char perms[8];

			if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3 || perms[2] != 'x')
				continue;
			if (pass == 0 && !strstr(line, "[vdso]"))
				continue;
			if (strstr(line, "[vsyscall]"))
				continue;	/* not readable through mem, and emulated */
			r = scan_range(mem_fd, start, end, ip);
		}
	}
	close(mem_fd);
	fclose(maps);
	if (r)
		pr_err("no syscall instruction found in task %d", tid);
	return r;
}

int infect_start(struct infect *inf, pid_t tid)
{
	uint64_t ip;
	int r;

	/* infect_stop on a failed start must see a stopped-state struct. */
	memset(inf, 0, sizeof(*inf));
	inf->mem_fd = -1;
	r = infect_find_syscall(tid, &ip);
	return r ? r : infect_start_at(inf, tid, ip);
}

/* The frame goes on the stack now, while the thread holds its own
 * registers; nothing borrows them before it is there. */
static void heal_setup(struct infect *inf)
{
	struct heal_gadgets g;
	int r = heal_find_gadgets(inf->tid, inf->mem_fd, &g);

	if (!r)
		r = heal_write_frame(inf->tid, inf->mem_fd, &inf->saved, inf->saved_sigmask, &g,
				     unprotect, &inf->frame);
	if (r) {
		pr_info("task %d: injecting without a way back if criu-lite dies (%s)", inf->tid,
			r == -ENOENT ? "no syscall;ret and rt_sigreturn gadgets" : strerror(-r));
		return;
	}
	inf->heal = true;
	if (journal)
		journal->frame(inf->tid, inf->frame);
	inf->heal_ret = g.syscall_ret;
	inf->heal_sigret = g.sigreturn;
	inf->trap_sig = heal_trap_signal(inf->tid);
}

int infect_seize(pid_t tid)
{
	return (int)ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD);
}

int infect_start_at(struct infect *inf, pid_t tid, uint64_t syscall_ip)
{
	int fd;

	memset(inf, 0, sizeof(*inf));
	inf->tid = tid;
	inf->mem_fd = -1;
	inf->syscall_ip = syscall_ip;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &inf->saved))
		return pr_perror("cannot read registers of task %d", tid);
	if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(uint64_t), &inf->saved_sigmask))
		return pr_perror("cannot read blocked mask of task %d", tid);
	/* valgrind 3.19 does not know PTRACE_GETSIGMASK writes the 8-byte mask */
	VALGRIND_MAKE_MEM_DEFINED(&inf->saved_sigmask, sizeof(uint64_t));
	fd = procfs_open(tid, "mem", O_RDWR | PROCFS_QUIET);
	/* ESRCH here means the task died after it was seized: say so plainly. */
	if (fd == -ESRCH)
		return pr_err("task %d exited during the dump", tid), -ESRCH;
	if (fd < 0)
		return procfs_log_err(tid, "mem", fd);
	inf->mem_fd = fd;
	inf->started = true;
	inf->trap_sig = SIGTRAP;
	if (healing)
		heal_setup(inf);
	return 0;
}

/* The next stop of the injected thread: its signal and ptrace event (the
 * status bits above the stop signal). -ESRCH if the thread died instead. */
static int wait_injected(struct infect *inf, int *sig, int *event)
{
	int st;

	if (waitpid(inf->tid, &st, __WALL) < 0)
		return pr_perror("waitpid(%d)", inf->tid);
	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		pr_err("task %d died during syscall injection", inf->tid);
		return -ESRCH;
	}
	*sig = WSTOPSIG(st);
	*event = st >> 16;
	return 0;
}

/* Wait for the next stop of the injected thread. Returns 1 for a syscall
 * stop, 0 for any other stop that was already resumed with PTRACE_SYSCALL
 * (the caller waits again), <0 if the thread is gone. */
static int wait_syscall_stop(struct infect *inf)
{
	int r, sig, event;

	r = wait_injected(inf, &sig, &event);
	if (r)
		return r;
	if (event == 0 && (sig == SIGTRAP || sig == (SIGTRAP | 0x80)))
		return 1;
	/* With all signals blocked only SIGSTOP can be delivered here (and
	 * SIGKILL, which does not stop). Hold it back; infect_stop re-sends. */
	if (event == 0 && sig != SIGTRAP)
		inf->deferred_sig = sig;
	/* Group-stops and fork/clone/exec events: just go on. */
	if (ptrace(PTRACE_SYSCALL, inf->tid, NULL, NULL))
		return pr_perror("cannot resume task %d", inf->tid);
	return 0;
}

static int run_to_syscall_stop(struct infect *inf)
{
	int r;

	if (ptrace(PTRACE_SYSCALL, inf->tid, NULL, NULL))
		return pr_perror("cannot resume task %d", inf->tid);
	while ((r = wait_syscall_stop(inf)) == 0)
		;
	return r < 0 ? r : 0;
}

/* Run one syscall with rip at `ip` (a `syscall` instruction) and rsp at
 * `sp`. The registers go first, the all-blocked mask second: a tracer
 * dying in between leaves a thread that heals itself (or, without
 * healing, one on borrowed registers either way). */
static int inject_at(struct infect *inf, uint64_t ip, uint64_t sp, long nr, uint64_t *ret,
		     const uint64_t *a)
{
	struct user_regs_struct regs = inf->saved;
	uint64_t all = ALL_BLOCKABLE;
	int r;

	if (!inf->started)
		return -EINVAL;
	if ((r = fault_step("infect: syscall")))
		return r;
	regs.rip = ip;
	regs.rsp = sp;
	regs.rax = nr;
	regs.rdi = a[0];
	regs.rsi = a[1];
	regs.rdx = a[2];
	regs.r10 = a[3];
	regs.r8 = a[4];
	regs.r9 = a[5];
	/* orig_rax = -1: the thread may sit on the way out of an interrupted
	 * syscall; without this the kernel would "restart" it on our
	 * registers (rax = orig_rax, rip -= 2) before running ours. */
	regs.orig_rax = (uint64_t)-1;
	if (ptrace(PTRACE_SETREGS, inf->tid, NULL, &regs))
		return pr_perror("cannot set registers of task %d", inf->tid);
	if (inf->heal)
		fault_point("infect: registers borrowed");
	/* Block everything so that no handler runs on our borrowed registers;
	 * the real mask is put back by infect_stop. */
	if (ptrace(PTRACE_SETSIGMASK, inf->tid, sizeof(all), &all))
		return pr_perror("cannot block signals of task %d", inf->tid);
	inf->set_sigmask = all;

	r = run_to_syscall_stop(inf);		/* entry */
	if (r)
		return r;
	if (inf->heal)
		fault_point("infect: syscall entered");
	if (ptrace(PTRACE_GETREGS, inf->tid, NULL, &regs))
		return pr_perror("cannot read registers of task %d", inf->tid);
	if ((long)regs.orig_rax != nr) {
		pr_err("task %d: expected entry to syscall %ld, got %lld", inf->tid, nr,
		       (long long)regs.orig_rax);
		return -EIO;
	}
	r = run_to_syscall_stop(inf);		/* exit */
	if (r)
		return r;
	if (inf->heal)
		fault_point("infect: syscall returned");
	if (ptrace(PTRACE_GETREGS, inf->tid, NULL, &regs))
		return pr_perror("cannot read registers of task %d", inf->tid);
	if (regs.rip != ip + SYSCALL_INSN_LEN) {
		pr_err("task %d: injected syscall %ld ended at %#llx", inf->tid, nr,
		       (unsigned long long)regs.rip);
		return -EIO;
	}
	*ret = regs.rax;
	return 0;
}

int infect_syscall(struct infect *inf, long nr, uint64_t *ret, uint64_t a1, uint64_t a2,
		   uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	const uint64_t a[6] = { a1, a2, a3, a4, a5, a6 };

	/* healing: `syscall; ret` with rsp at the frame, whose first word
	 * leads to rt_sigreturn */
	if (inf->heal)
		return inject_at(inf, inf->heal_ret, inf->frame, nr, ret, a);
	return inject_at(inf, inf->syscall_ip, inf->saved.rsp, nr, ret, a);
}

/* The middle of the widest gap below the top of user space: far from
 * every mapping, so the kernel's own placement never lands there. */
#define USER_TOP 0x7ffffffff000ull	/* 47-bit user space */

static uint64_t pick_hole(pid_t tid, size_t len)
{
	unsigned long long start, end, prev = 0x10000, best = 0, best_len = 0;
	char line[512];
	FILE *maps = procfs_fopen(tid, "maps", PROCFS_QUIET);

	if (!maps)
		return 0;
	while (fgets(line, sizeof(line), maps) && sscanf(line, "%llx-%llx", &start, &end) == 2) {
		if (start > USER_TOP)	/* [vsyscall]: the gap to it is not user space */
			start = USER_TOP;
		if (start > prev && start - prev > best_len)
			best = prev, best_len = start - prev;
		prev = end > prev ? end : prev;
	}
	fclose(maps);
	if (best_len < 2 * len + (1ull << 20))
		return 0;
	return (best + best_len / 2) & ~0xfffull;
}

static int map_anon(struct infect *inf, size_t len, int prot, const char *what, uint64_t *out)
{
	uint64_t hint = journal ? pick_hole(inf->tid, len) : 0, addr;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (hint ? MAP_FIXED_NOREPLACE : 0);
	int r;

	if (hint)
		journal->mapping(inf->tid, hint, len);
	r = infect_syscall(inf, __NR_mmap, &addr, hint, len, prot, flags, (uint64_t)-1, 0);
	if (r)
		return r;
	if (addr > (uint64_t)-4096) {
		if (hint)
			journal->unmapped(inf->tid, hint);
		pr_err("mmap of %s in task %d failed: %s", what, inf->tid, strerror((int)-addr));
		return (int)addr;
	}
	if (hint && addr != hint) {	/* a kernel that took it as a hint */
		journal->unmapped(inf->tid, hint);
		journal->mapping(inf->tid, addr, len);
	} else if (!hint && journal) {
		journal->mapping(inf->tid, addr, len);
	}
	*out = addr;
	return 0;
}

int infect_map_scratch(struct infect *inf, size_t len)
{
	int r = map_anon(inf, len, PROT_READ | PROT_WRITE, "scratch memory", &inf->scratch);

	if (!r)
		inf->scratch_len = len;
	return r;
}

/* The batch loop, position-independent so that its bytes can be copied
 * into the tracee: rbx walks a table of struct infect_call, r12 counts.
 * It ends by sending itself signal r13 with tkill, which ptrace reports as
 * a signal-delivery-stop that we swallow. Not int3: a forced SIGTRAP that
 * is blocked or ignored resets the target's SIGTRAP disposition to SIG_DFL.
 * With healing r13 is a signal the kernel drops untraced and rsp points
 * 8 bytes into the thread's frame: if we are gone, the loop finishes and
 * rt_sigreturn takes the thread home.
 * infect_fork_entry: a clone whose child exits if it ever runs untraced
 * (only the tracer may run it), the parent going home likewise. */
#define STR_(x) #x
#define STR(x) STR_(x)
extern const unsigned char infect_batch_code[], infect_batch_trap[], infect_batch_end[],
	infect_fork_entry[], infect_code_end[];
__asm__(".pushsection .text\n"
	".globl infect_batch_code, infect_batch_trap, infect_batch_end\n"
	".globl infect_fork_entry, infect_code_end\n"
	".hidden infect_batch_code, infect_batch_trap, infect_batch_end\n"
	".hidden infect_fork_entry, infect_code_end\n"
	"infect_batch_code:\n"
	"1:	test %r12, %r12\n"
	"	jz 2f\n"
	"	mov 0(%rbx), %rax\n"
	"	mov 8(%rbx), %rdi\n"
	"	mov 16(%rbx), %rsi\n"
	"	mov 24(%rbx), %rdx\n"
	"	mov 32(%rbx), %r10\n"
	"	mov 40(%rbx), %r8\n"
	"	mov 48(%rbx), %r9\n"
	"	syscall\n"
	"	mov %rax, 56(%rbx)\n"
	"	add $64, %rbx\n"
	"	dec %r12\n"
	"	jmp 1b\n"
	"infect_batch_trap:\n"
	"2:	mov $" STR(__NR_gettid) ", %eax\n"
	"	syscall\n"
	"	mov %rax, %rdi\n"
	"	mov %r13d, %esi\n"
	"	mov $" STR(__NR_tkill) ", %eax\n"
	"	syscall\n"
	"infect_batch_end:\n"
	"	mov $" STR(__NR_rt_sigreturn) ", %eax\n"
	"	syscall\n"
	"infect_fork_entry:\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 3f\n"
	"	mov $" STR(__NR_exit_group) ", %eax\n"
	"	xor %edi, %edi\n"
	"	syscall\n"
	"3:	mov $" STR(__NR_rt_sigreturn) ", %eax\n"
	"	syscall\n"
	"infect_code_end:\n"
	".popsection\n");

_Static_assert(sizeof(struct infect_call) == 64, "the batch loop strides 64 bytes");

int infect_map_code(struct infect *inf)
{
	size_t len = infect_code_end - infect_batch_code;
	uint64_t addr;
	int r;

	if (inf->code)
		return 0;
	r = map_anon(inf, 4096, PROT_READ | PROT_EXEC, "a code page", &addr);
	if (r)
		return r;
	inf->code = addr;
	/* /proc/PID/mem writes through read-only mappings, like a debugger's
	 * breakpoints: the page never needs to be writable in the tracee. */
	return infect_write(inf, addr, infect_batch_code, len);
}

/* Wait for the loop's closing SIGTRAP. 0 when it came from there. */
static int wait_batch(struct infect *inf)
{
	uint64_t end = inf->code + (infect_batch_end - infect_batch_code);
	struct user_regs_struct regs;
	int r, sig, event;

	for (;;) {
		r = wait_injected(inf, &sig, &event);
		if (r)
			return r;
		if (event == 0 && sig == inf->trap_sig) {
			if (ptrace(PTRACE_GETREGS, inf->tid, NULL, &regs))
				return pr_perror("cannot read registers of task %d", inf->tid);
			if (regs.rip == end && regs.orig_rax == __NR_tkill)
				return 0;
			/* someone else's: held back like any other */
		}
		if (event == 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE)) {
			/* never delivered: the registers go back before it runs */
			pr_err("task %d: injected code got signal %d", inf->tid, sig);
			return -EFAULT;
		}
		if (event == 0)
			inf->deferred_sig = sig;
		if (ptrace(PTRACE_CONT, inf->tid, NULL, NULL))
			return pr_perror("cannot resume task %d", inf->tid);
	}
}

int infect_batch_send(struct infect *inf, uint64_t table, const struct infect_call *calls, int n)
{
	struct user_regs_struct regs = inf->saved;
	uint64_t all;
	int r;

	if (!inf->started || !inf->code)
		return -EINVAL;
	if (inf->heal && !inf->trap_sig)
		return 0;	/* no trap that is harmless untraced: one by one */
	/* Marked where a death can be survived (dump): restore's sweep counts
	 * its own steps without these. */
	if (inf->heal && (r = fault_step("infect: batch")))
		return r;
	r = infect_write(inf, table, calls, n * sizeof(*calls));
	if (r)
		return r;
	regs.rip = inf->code;
	if (inf->heal)
		regs.rsp = inf->frame + 8;
	regs.rbx = table;
	regs.r12 = n;
	regs.r13 = inf->trap_sig;
	regs.orig_rax = (uint64_t)-1;	/* no restart on our registers: see inject_at */
	if (ptrace(PTRACE_SETREGS, inf->tid, NULL, &regs))
		return pr_perror("cannot set registers of task %d", inf->tid);
	if (inf->heal)
		fault_point("infect: batch registers borrowed");
	all = ALL_BLOCKABLE & ~(1ULL << (inf->trap_sig - 1));
	if (ptrace(PTRACE_SETSIGMASK, inf->tid, sizeof(all), &all))
		return pr_perror("cannot block signals of task %d", inf->tid);
	inf->set_sigmask = all;
	if (ptrace(PTRACE_CONT, inf->tid, NULL, NULL))
		return pr_perror("cannot resume task %d", inf->tid);
	return 0;
}

int infect_batch_recv(struct infect *inf, uint64_t table, struct infect_call *calls, int n)
{
	int r = 0;

	if (inf->heal && !inf->trap_sig) {
		for (int i = 0; i < n && !r; i++)
			r = infect_syscall(inf, (long)calls[i].nr, &calls[i].ret, calls[i].args[0],
					   calls[i].args[1], calls[i].args[2], calls[i].args[3],
					   calls[i].args[4], calls[i].args[5]);
		return r;
	}
	r = wait_batch(inf);
	if (!r)
		if (inf->heal)
			fault_point("infect: batch done");
	return r ? r : infect_read(inf, table, calls, n * sizeof(*calls));
}

int infect_fork(struct infect *inf, uint64_t *ret)
{
	static const uint64_t a[6] = { 0 };
	int r;

	if (!inf->heal)
		return infect_syscall(inf, __NR_clone, ret, 0, 0, 0, 0, 0, 0);
	r = infect_map_code(inf);
	if (r)
		return r;
	return inject_at(inf, inf->code + (infect_fork_entry - infect_batch_code), inf->frame + 8,
			 __NR_clone, ret, a);
}

int infect_batch(struct infect *inf, uint64_t table, struct infect_call *calls, int n)
{
	int r = infect_batch_send(inf, table, calls, n);

	return r ? r : infect_batch_recv(inf, table, calls, n);
}

int infect_read(struct infect *inf, uint64_t addr, void *buf, size_t len)
{
	ssize_t n = pread(inf->mem_fd, buf, len, (off_t)addr);

	if (n == (ssize_t)len)
		return 0;
	if (n >= 0)
		errno = EIO;
	return pr_perror("cannot read %zu bytes at %#llx of task %d", len,
			 (unsigned long long)addr, inf->tid);
}

int infect_write(struct infect *inf, uint64_t addr, const void *buf, size_t len)
{
	ssize_t n = pwrite(inf->mem_fd, buf, len, (off_t)addr);

	if (n == (ssize_t)len)
		return 0;
	if (n >= 0)
		errno = EIO;
	return pr_perror("cannot write %zu bytes at %#llx of task %d", len,
			 (unsigned long long)addr, inf->tid);
}

/* Put the thread back into a PTRACE_EVENT_STOP with its own registers. Merely
 * setting them in our syscall-exit-stop is not enough: a thread interrupted
 * inside a syscall has rax = -ERESTART*, and the kernel turns that into a
 * restart only on its way through signal handling. PTRACE_INTERRUPT then
 * resume sends it through get_signal() again, where it stops exactly as it
 * was stopped before we borrowed it. */
static int wait_event_stop(struct infect *inf)
{
	int st;

	for (;;) {
		if (waitpid(inf->tid, &st, __WALL) < 0)
			return pr_perror("waitpid(%d)", inf->tid);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return -ESRCH;
		if (st >> 16 == PTRACE_EVENT_STOP)
			return 0;
		/* A signal-delivery-stop cannot come first: get_signal() serves
		 * the pending trap before dequeuing signals. Anything else (a
		 * syscall stop is impossible after PTRACE_CONT) is passed on. */
		if (ptrace(PTRACE_CONT, inf->tid, NULL,
			   (void *)(long)((st >> 16) ? 0 : WSTOPSIG(st))))
			return pr_perror("cannot resume task %d", inf->tid);
	}
}

static int unmap_ours(struct infect *inf)
{
	uint64_t ret;
	int r = 0, r1;

	if (inf->code) {
		r = infect_syscall(inf, __NR_munmap, &ret, inf->code, 4096, 0, 0, 0, 0);
		if (!r && ret)
			r = -EIO;
		if (!r && journal)
			journal->unmapped(inf->tid, inf->code);
		inf->code = 0;
	}
	if (inf->scratch) {
		r1 = infect_syscall(inf, __NR_munmap, &ret, inf->scratch, inf->scratch_len,
				    0, 0, 0, 0);
		r = r ? r : r1;
		if (!r1 && ret) {
			pr_err("munmap of scratch in task %d failed: %s", inf->tid,
			       strerror((int)-ret));
			r = -EIO;
		}
		if (!r1 && !ret && journal)
			journal->unmapped(inf->tid, inf->scratch);
		inf->scratch = 0;
	}
	return r;
}

int infect_stop_send(struct infect *inf)
{
	uint64_t mask;
	int r;

	if (!inf->started)
		return 0;
	r = unmap_ours(inf);
	/* If it was stopped in rt_sigsuspend/ppoll/pselect, its blocked mask
	 * was the temporary one and the kernel restored the saved one into
	 * `blocked` when we first resumed it (not the one we set): keep
	 * that, the restarted syscall installs its temporary mask again. */
	if (inf->set_sigmask && !ptrace(PTRACE_GETSIGMASK, inf->tid, sizeof(mask), &mask)) {
		/* valgrind 3.19 does not know PTRACE_GETSIGMASK writes the 8-byte mask */
		VALGRIND_MAKE_MEM_DEFINED(&mask, sizeof(mask));
		if (mask != inf->set_sigmask)
			inf->saved_sigmask = mask;
	}
	inf->resumed = false;
	/* The mask first: a tracer dying in between leaves borrowed
	 * registers that lead home, never a thread of its own with
	 * everything blocked. */
	if (ptrace(PTRACE_SETSIGMASK, inf->tid, sizeof(uint64_t), &inf->saved_sigmask))
		return pr_perror("cannot restore blocked mask of task %d", inf->tid);
	if (inf->heal)
		fault_point("infect: mask given back");
	if (ptrace(PTRACE_SETREGS, inf->tid, NULL, &inf->saved))
		return pr_perror("cannot restore registers of task %d", inf->tid);
	if (ptrace(PTRACE_INTERRUPT, inf->tid, NULL, NULL))
		return pr_perror("cannot interrupt task %d", inf->tid);
	if (ptrace(PTRACE_CONT, inf->tid, NULL, NULL))
		return pr_perror("cannot resume task %d", inf->tid);
	inf->resumed = true;
	return r;
}

int infect_stop_recv(struct infect *inf)
{
	int r = 0;

	if (!inf->started)
		return 0;
	if (inf->resumed)
		r = wait_event_stop(inf);
	if (!r && inf->heal && journal)
		journal->home(inf->tid);
	if (inf->deferred_sig)
		syscall(SYS_tkill, inf->tid, inf->deferred_sig);
	if (inf->mem_fd >= 0)
		close(inf->mem_fd);
	inf->mem_fd = -1;
	inf->started = inf->resumed = false;
	return r;
}

int infect_stop(struct infect *inf)
{
	int r = infect_stop_send(inf), r2 = infect_stop_recv(inf);

	return r ? r : r2;
}

bool infect_fixup_restart(struct user_regs_struct *regs)
{
	if ((long long)regs->orig_rax < 0)
		return false;
	switch ((long long)regs->rax) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		regs->rax = regs->orig_rax;
		break;
	case -ERESTART_RESTARTBLOCK:
		regs->rax = __NR_restart_syscall;
		break;
	default:
		return false;
	}
	regs->rip -= SYSCALL_INSN_LEN;
	return true;
}
