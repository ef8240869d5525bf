/* Self-healing injection: see infect_heal.h. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <valgrind/memcheck.h>

#include "common/infect_heal.h"
#include "common/procfs.h"
#include "images/log.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

static const unsigned char syscall_ret[] = { 0x0f, 0x05, 0xc3 };
static const unsigned char sigreturn_insns[] = { 0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05 };

/* A mapping already scanned: its gadgets (0 where it has none). Threads of
 * one process and every dump step share the maps, so one scan serves all;
 * the bytes are checked again before each use (a restore remaps). */
struct scanned {
	uint64_t start, end, ino;
	uint64_t syscall_ret, sigreturn;
};
#define NR_SCANNED 16
static struct scanned scanned[NR_SCANNED];
static int nr_scanned;

/* Where pat starts in a chunk read at file offset base, as a 1-based
 * offset in the file (0: not in this chunk). */
static uint64_t find_bytes(const unsigned char *buf, size_t n, const unsigned char *pat,
			   size_t plen, uint64_t base)
{
	const unsigned char *at = memmem(buf, n, pat, plen);

	return at ? base + (uint64_t)(at - buf) + 1 : 0;
}

/* Scanned in the file (map_files: the very file mapped), not through
 * /proc/PID/mem: that would fault every page of libc into the process and
 * grow its RSS by what it never touched. Read in chunks through one small
 * buffer, until both gadgets are found: a buffer the size of libc's text
 * was 350 fresh pages, 4 ms of first-touch faults in this VM at every
 * dump. Each chunk starts with the previous one's last bytes, so a gadget
 * across two chunks is found too. */
#define SCAN_CHUNK (64u << 10)
static int scan_mapping(pid_t tid, struct scanned *s, uint64_t off)
{
	static unsigned char *buf;
	const size_t keep = sizeof(sigreturn_insns) - 1;
	uint64_t len = s->end - s->start, done = 0, sc = 0, sr = 0;
	size_t have = 0;
	char name[64];
	int fd;

	if (!buf && !(buf = malloc(SCAN_CHUNK)))
		return -ENOMEM;
	snprintf(name, sizeof(name), "map_files/%llx-%llx", (unsigned long long)s->start,
		 (unsigned long long)s->end);
	fd = procfs_open(tid, name, O_RDONLY | PROCFS_QUIET);
	while (fd >= 0 && done < len && !(sc && sr)) {
		size_t want = SCAN_CHUNK - have;
		ssize_t n = pread(fd, buf + have, want < len - done ? want : len - done,
				  (off_t)(off + done));
		uint64_t base = done - have;	/* the mapping offset of buf[0] */

		if (n <= 0)
			break;
		done += (uint64_t)n;
		have += (size_t)n;
		if (!sc)
			sc = find_bytes(buf, have, syscall_ret, sizeof(syscall_ret), base);
		if (!sr)
			sr = find_bytes(buf, have, sigreturn_insns, sizeof(sigreturn_insns), base);
		if (have > keep) {
			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
	if (fd >= 0)
		close(fd);
	s->syscall_ret = sc ? s->start + sc - 1 : 0;
	s->sigreturn = sr ? s->start + sr - 1 : 0;
	return 0;
}

static const struct scanned *lookup(pid_t tid, uint64_t start, uint64_t end, uint64_t off,
				    uint64_t ino)
{
	struct scanned *s;

	for (int i = 0; i < nr_scanned; i++)
		if (scanned[i].start == start && scanned[i].end == end && scanned[i].ino == ino)
			return &scanned[i];
	s = &scanned[nr_scanned < NR_SCANNED ? nr_scanned++ : NR_SCANNED - 1];
	*s = (struct scanned){ .start = start, .end = end, .ino = ino };
	return scan_mapping(tid, s, off) ? NULL : s;
}

static bool bytes_at(int mem_fd, uint64_t addr, const unsigned char *pat, size_t len)
{
	unsigned char buf[16];

	return addr && pread(mem_fd, buf, len, (off_t)addr) == (ssize_t)len && !memcmp(buf, pat, len);
}

static bool shadow_stack_on(pid_t tid)
{
	char *text = NULL;
	size_t len, vlen;
	const char *v;
	bool on = false;

	if (procfs_read(tid, "status", &text, &len) < 0)
		return false;
	v = procfs_field(text, "x86_Thread_features", &vlen);
	on = v && memmem(v, vlen, "shstk", 5);
	free(text);
	return on;
}

/* The last thread's gadgets: a dump borrows each thread of a process in
 * turn, and threads of one memory (kcmp KCMP_VM: exact, and false once
 * that thread is gone) have the same maps, which cost a read and a parse
 * of /proc/PID/maps per borrowing inside the freeze. */
static pid_t last_tid;
static struct heal_gadgets last;

static bool same_memory_as_last(pid_t tid, int mem_fd, struct heal_gadgets *g)
{
	if (!last_tid || syscall(SYS_kcmp, last_tid, tid, KCMP_VM, 0, 0) != 0 ||
	    !bytes_at(mem_fd, last.syscall_ret, syscall_ret, sizeof(syscall_ret)) ||
	    !bytes_at(mem_fd, last.sigreturn, sigreturn_insns, sizeof(sigreturn_insns)))
		return false;
	*g = last;
	return true;
}

int heal_find_gadgets(pid_t tid, int mem_fd, struct heal_gadgets *g)
{
	char line[512];
	FILE *maps;

	memset(g, 0, sizeof(*g));
	if (shadow_stack_on(tid))
		return -EOPNOTSUPP;
	if (same_memory_as_last(tid, mem_fd, g))
		return 0;
	maps = procfs_fopen(tid, "maps", PROCFS_QUIET);
	if (!maps)
		return -errno;
	while ((!g->syscall_ret || !g->sigreturn) && fgets(line, sizeof(line), maps)) {
		unsigned long long start, end, off, ino;
		char perms[8], dev[16];
		const struct scanned *s;

		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu", &start, &end, perms, &off, dev,
			   &ino) != 6 || perms[2] != 'x' || !ino)
			continue;	/* file mappings only: the vdso has neither */
		s = lookup(tid, start, end, off, ino);
		if (s && !g->syscall_ret && bytes_at(mem_fd, s->syscall_ret, syscall_ret,
						      sizeof(syscall_ret)))
			g->syscall_ret = s->syscall_ret;
		if (s && !g->sigreturn && bytes_at(mem_fd, s->sigreturn, sigreturn_insns, sizeof(sigreturn_insns)))
			g->sigreturn = s->sigreturn;
	}
	fclose(maps);
	if (!g->syscall_ret || !g->sigreturn)
		return -ENOENT;
	last_tid = tid;
	last = *g;
	return 0;
}

/* The kernel's x86_64 struct rt_sigframe up to the ucontext's mask (what
 * rt_sigreturn reads), with struct sigcontext as 32 words. */
enum { SC_R8, SC_R9, SC_R10, SC_R11, SC_R12, SC_R13, SC_R14, SC_R15, SC_RDI, SC_RSI, SC_RBP,
       SC_RBX, SC_RDX, SC_RAX, SC_RCX, SC_RSP, SC_RIP, SC_EFLAGS, SC_SEGS, SC_ERR, SC_TRAPNO,
       SC_OLDMASK, SC_CR2, SC_FPSTATE, SC_WORDS = 32 };
struct heal_frame {
	uint64_t pretcode;
	uint64_t uc_flags, uc_link;
	uint64_t ss_sp;
	int32_t ss_flags, ss_pad;
	uint64_t ss_size;
	uint64_t sc[SC_WORDS];
	uint64_t uc_sigmask;
};
_Static_assert(sizeof(struct heal_frame) == 8 + 304, "rt_sigframe up to uc_sigmask");

#define UC_FP_XSTATE		1
#define UC_SIGCONTEXT_SS	2
#define UC_STRICT_RESTORE_SS	4
#undef FP_XSTATE_MAGIC1
#define FP_XSTATE_MAGIC1	0x46505853u
#undef FP_XSTATE_MAGIC2
#define FP_XSTATE_MAGIC2	0x46505845u
#define SW_BYTES_OFF		464	/* fxsave's software-reserved bytes */
#define XSTATE_BV_OFF		512	/* the xsave header */
#define RED_ZONE		128
#define XSTATE_MAX		(64 << 10)

static void fill_regs(uint64_t *sc, const struct user_regs_struct *r)
{
	long long err = (long long)r->rax;

	sc[SC_R8] = r->r8, sc[SC_R9] = r->r9, sc[SC_R10] = r->r10, sc[SC_R11] = r->r11;
	sc[SC_R12] = r->r12, sc[SC_R13] = r->r13, sc[SC_R14] = r->r14, sc[SC_R15] = r->r15;
	sc[SC_RDI] = r->rdi, sc[SC_RSI] = r->rsi, sc[SC_RBP] = r->rbp, sc[SC_RBX] = r->rbx;
	sc[SC_RDX] = r->rdx, sc[SC_RAX] = r->rax, sc[SC_RCX] = r->rcx, sc[SC_RSP] = r->rsp;
	sc[SC_RIP] = r->rip, sc[SC_EFLAGS] = r->eflags;
	sc[SC_SEGS] = (r->cs & 0xffff) | (r->gs & 0xffff) << 16 | (r->fs & 0xffff) << 32 |
		      (r->ss & 0xffff) << 48;
	/* rt_sigreturn sets orig_rax to -1: nothing restarts after it. A
	 * syscall that was interrupted (-ERESTARTSYS/NOINTR/NOHAND/
	 * RESTART_BLOCK = -512/-513/-514/-516) runs again from its
	 * `syscall`, with its arguments still in place. The restart block
	 * itself is not used: rt_sigreturn resets it. */
	if ((long long)r->orig_rax >= 0 && (err == -512 || err == -513 || err == -514 || err == -516)) {
		sc[SC_RAX] = r->orig_rax;
		sc[SC_RIP] = r->rip - 2;
	}
}

/* The thread's xsave area as a signal frame carries it: the software bytes
 * say "xsave follows" and MAGIC2 closes it, else rt_sigreturn takes only
 * the legacy part and resets AVX and the rest. */
static int read_xstate(pid_t tid, unsigned char **out, size_t *len)
{
	unsigned char *buf = aligned_alloc(64, XSTATE_MAX);
	struct iovec iov = { buf, XSTATE_MAX - 64 };	/* a multiple of 8, room for MAGIC2 */
	uint32_t sw[12] = { 0 };
	uint64_t bv;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0, XSTATE_MAX);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)(long)NT_X86_XSTATE, &iov) ||
	    iov.iov_len < XSTATE_BV_OFF + 64) {
		pr_debug("task %d: no xsave state through ptrace: %m", tid);
		free(buf);
		return -EOPNOTSUPP;
	}
	VALGRIND_MAKE_MEM_DEFINED(buf, iov.iov_len);
	memcpy(&bv, buf + XSTATE_BV_OFF, sizeof(bv));
	bv |= 3;	/* x87 and SSE always */
	sw[0] = FP_XSTATE_MAGIC1;
	sw[1] = (uint32_t)iov.iov_len + 4;
	memcpy(&sw[2], &bv, sizeof(bv));
	sw[4] = (uint32_t)iov.iov_len;
	memcpy(buf + SW_BYTES_OFF, sw, sizeof(sw));
	sw[0] = FP_XSTATE_MAGIC2;
	memcpy(buf + iov.iov_len, &sw[0], 4);
	*out = buf;
	*len = iov.iov_len + 4;
	return 0;
}

static bool put(int mem_fd, const void *buf, size_t len, uint64_t at)
{
	return pwrite(mem_fd, buf, len, (off_t)at) == (ssize_t)len;
}

int heal_write_frame(pid_t tid, int mem_fd, const struct user_regs_struct *regs, uint64_t mask,
		     const struct heal_gadgets *g,
		     int (*unprotect)(pid_t tid, uint64_t addr, uint64_t len), uint64_t *frame)
{
	struct heal_frame f = { 0 };
	unsigned char *xs;
	size_t xlen;
	uint64_t fp, fr;
	int r = read_xstate(tid, &xs, &xlen);

	if (r)
		return r;
	fp = (regs->rsp - RED_ZONE - xlen) & ~63ull;
	fr = ((fp - sizeof(f)) & ~15ull) - 8;
	f.pretcode = g->sigreturn;
	f.uc_flags = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
	/* rt_sigreturn hands uc_stack to sigaltstack(); a mode that is none
	 * of 0, SS_ONSTACK, SS_DISABLE makes it change nothing (-EINVAL,
	 * kernel/signal.c do_sigaltstack), whatever the thread's is. */
	f.ss_flags = 3;
	fill_regs(f.sc, regs);
	f.sc[SC_FPSTATE] = fp;
	f.uc_sigmask = mask;
	if (!put(mem_fd, xs, xlen, fp) || !put(mem_fd, &f, sizeof(f), fr)) {
		/* write-protected (retried once lifted), or a stack too small
		 * for a signal frame */
		if (!unprotect || unprotect(tid, fr, fp + xlen - fr) ||
		    !put(mem_fd, xs, xlen, fp) || !put(mem_fd, &f, sizeof(f), fr))
			r = -EFAULT;
	}
	free(xs);
	if (!r)
		*frame = fr;
	return r;
}

static bool in_mask(const char *text, const char *key, int sig)
{
	uint64_t m = 0;

	return !procfs_field_u64(text, key, 16, &m) && (m & (1ull << (sig - 1)));
}

/* Neither blocked nor pending: ours is the only one that can turn up. */
static bool quiet(const char *text, int sig)
{
	return !in_mask(text, "SigBlk", sig) && !in_mask(text, "SigPnd", sig) &&
	       !in_mask(text, "ShdPnd", sig);
}

int heal_trap_signal(pid_t tid)
{
	/* Ignored ones first; then those whose default is to ignore. Never
	 * SIGCONT (it continues a stopped process even when ignored) nor a
	 * stop signal (it discards a pending SIGCONT). */
	static const int dfl_ignored[] = { SIGURG, SIGWINCH, SIGCHLD };
	char *text = NULL;
	size_t len;
	int sig = 0;

	if (procfs_read(tid, "status", &text, &len) < 0)
		return 0;
	for (int s = 1; s < 32 && !sig; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCONT && s != SIGTSTP && s != SIGTTIN &&
		    s != SIGTTOU && in_mask(text, "SigIgn", s) && quiet(text, s))
			sig = s;
	for (size_t i = 0; i < sizeof(dfl_ignored) / sizeof(*dfl_ignored) && !sig; i++)
		if (!in_mask(text, "SigCgt", dfl_ignored[i]) &&
		    !in_mask(text, "SigIgn", dfl_ignored[i]) && quiet(text, dfl_ignored[i]))
			sig = dfl_ignored[i];
	free(text);
	return sig;
}
