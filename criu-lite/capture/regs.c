/* A stopped thread's register sets and signal state, through ptrace.
 * Register sets are kept as the kernel's regset bytes: convert copies them
 * into core notes and restore hands them back, so no field (fs_base,
 * AVX-512, PKRU, AMX) can be lost by a translation. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <elf.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <valgrind/memcheck.h>

#include "common/cpu.h"
#include "common/procfs.h"
#include "criu-lite/capture/capture.h"
#include "images/log.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#endif
#ifndef PTRACE_PEEKSIGINFO
#define PTRACE_PEEKSIGINFO 0x4209
#endif
#ifndef PTRACE_PEEKSIGINFO_SHARED
#define PTRACE_PEEKSIGINFO_SHARED 1
#endif

#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif

/* uapi struct ptrace_rseq_configuration (Linux 5.13+). */
struct rseq_config_ {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

#define SIGINFO_SIZE 128
#define PEEK_BATCH 32

struct peeksiginfo_args_ {
	uint64_t off;
	uint32_t flags;
	int32_t nr;
};

/* Read one regset into a malloc'ed buffer of the size the kernel reports. */
static int get_regset(pid_t tid, int type, size_t size, ProtobufCBinaryData *out)
{
	struct iovec iov;
	void *buf = calloc(1, size);

	if (!buf)
		return -ENOMEM;
	iov.iov_base = buf;
	iov.iov_len = size;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)(long)type, &iov)) {
		int r = -errno;

		free(buf);
		return r;
	}
	out->data = buf;
	out->len = iov.iov_len;
	return 0;
}

/* Signals queued for tid alone (flags 0) or for its whole process
 * (PTRACE_PEEKSIGINFO_SHARED), each as the raw 128-byte siginfo. */
static int peek_siginfos(pid_t tid, uint32_t flags, ProtobufCBinaryData **out, size_t *n)
{
	unsigned char buf[PEEK_BATCH * SIGINFO_SIZE];
	struct peeksiginfo_args_ a = { .off = 0, .flags = flags, .nr = PEEK_BATCH };

	*out = NULL;
	*n = 0;
	for (;;) {
		long got = ptrace(PTRACE_PEEKSIGINFO, tid, &a, buf);
		ProtobufCBinaryData *arr;

		if (got < 0)
			return pr_perror("cannot peek pending signals of %d", tid);
		if (got == 0)
			return 0;
		/* valgrind 3.19 does not know PTRACE_PEEKSIGINFO fills got siginfos */
		VALGRIND_MAKE_MEM_DEFINED(buf, got * SIGINFO_SIZE);
		arr = realloc(*out, (*n + got) * sizeof(*arr));
		if (!arr)
			return -ENOMEM;
		*out = arr;
		for (long i = 0; i < got; i++) {
			void *si = malloc(SIGINFO_SIZE);

			if (!si)
				return -ENOMEM;
			memcpy(si, buf + i * SIGINFO_SIZE, SIGINFO_SIZE);
			arr[*n].data = si;
			arr[(*n)++].len = SIGINFO_SIZE;
		}
		a.off += got;
	}
}

/* A hex mask line ("SigPnd:") of /proc/PID/task/TID/status. */
static int status_mask(pid_t pid, pid_t tid, const char *key, uint64_t *mask)
{
	char name[64], line[256];
	size_t kl = strlen(key);
	int r = -ENOENT;
	FILE *f;

	snprintf(name, sizeof(name), "task/%d/status", tid);
	f = procfs_fopen(pid, name, PROCFS_QUIET);
	if (!f)
		return -errno;
	while (r && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			r = sscanf(line + kl + 1, "%lx", mask) == 1 ? 0 : -EIO;
	fclose(f);
	return r;
}

/* /proc/PID/task/TID/name into buf (NUL-terminated); its path stays in path
 * for the caller's messages. */
static int read_task_file(pid_t pid, pid_t tid, const char *name, char *path, size_t plen,
			  char *buf, size_t len)
{
	size_t n;
	FILE *f;

	snprintf(path, plen, "/proc/%d/task/%d/%s", pid, tid, name);
	f = procfs_fopen(pid, strstr(path, "task/"), 0);
	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* state, utime, stime, nice from stat; comm from comm. */
static int thread_proc_info(pid_t pid, pid_t tid, ThreadEntry *te)
{
	char path[64], buf[1024], state, *p;
	unsigned long long utime, stime;
	long nice;
	int r;

	r = read_task_file(pid, tid, "stat", path, sizeof(path), buf, sizeof(buf));
	if (r)
		return r;
	p = strrchr(buf, ')');
	/* after ')': state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice */
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %ld",
			 &state, &utime, &stime, &nice) != 4) {
		pr_err("cannot parse %s", path);
		return -EIO;
	}
	te->state = malloc(2);
	if (!te->state)
		return -ENOMEM;
	te->state[0] = state;
	te->state[1] = '\0';
	te->has_utime = te->has_stime = 1;
	te->utime = utime;
	te->stime = stime;
	te->has_nice = 1;
	te->nice = (int32_t)nice;

	r = read_task_file(pid, tid, "comm", path, sizeof(path), buf, sizeof(buf));
	if (r)
		return r;
	buf[strcspn(buf, "\n")] = '\0';
	te->comm = strdup(buf);
	return te->comm ? 0 : -ENOMEM;
}

static void thread_sched(pid_t tid, ThreadEntry *te)
{
	struct sched_param sp;
	int policy = sched_getscheduler(tid);

	if (policy >= 0) {
		te->has_sched_policy = 1;
		te->sched_policy = policy;
	}
	if (!sched_getparam(tid, &sp)) {
		te->has_sched_priority = 1;
		te->sched_priority = sp.sched_priority;
	}
}

/* The rseq area glibc registered for the thread: restore registers it
 * again. Older kernels lack the request; then nothing is recorded. */
static void thread_rseq(pid_t tid, ThreadEntry *te)
{
	struct rseq_config_ rc = { 0 };
	long got = ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(rc), &rc);

	if (got < 0) {
		pr_debug("thread %d: no rseq configuration: %s", tid, strerror(errno));
		return;
	}
	/* valgrind 3.19 does not model this request; the kernel copied
	 * min(its struct size (returned), ours) bytes into rc */
	VALGRIND_MAKE_MEM_DEFINED(&rc, (size_t)got < sizeof(rc) ? (size_t)got : sizeof(rc));
	te->has_rseq_ptr = te->has_rseq_len = te->has_rseq_sig = 1;
	te->rseq_ptr = rc.rseq_abi_pointer;
	te->rseq_len = rc.rseq_abi_size;
	te->rseq_sig = rc.signature;
}

static int thread_regsets(pid_t tid, ThreadEntry *te)
{
	int r;

	r = get_regset(tid, NT_PRSTATUS, sizeof(struct user_regs_struct), &te->gpregs);
	if (r) {
		errno = -r;
		return pr_perror("cannot read registers of thread %d", tid);
	}
	r = get_regset(tid, NT_PRFPREG, sizeof(struct user_fpregs_struct), &te->fpregs);
	if (r) {
		errno = -r;
		return pr_perror("cannot read FPU registers of thread %d", tid);
	}
	te->has_fpregs = 1;
	/* The kernel trims iov_len to what its XSTATE regset holds. */
	r = get_regset(tid, NT_X86_XSTATE, cpu_xsave_max_size(), &te->xstate);
	if (r == -ENODEV || r == -EINVAL) {
		pr_debug("thread %d: no XSTATE regset", tid);
		return 0;
	}
	if (r) {
		errno = -r;
		return pr_perror("cannot read XSTATE of thread %d", tid);
	}
	te->has_xstate = 1;
	return 0;
}

static int thread_signals(pid_t pid, pid_t tid, ThreadEntry *te)
{
	uint64_t mask;
	int r;

	if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(mask), &mask))
		return pr_perror("cannot read blocked mask of thread %d", tid);
	/* valgrind 3.19 does not know PTRACE_GETSIGMASK writes the 8-byte mask */
	VALGRIND_MAKE_MEM_DEFINED(&mask, sizeof(mask));
	te->blocked = mask;
	r = peek_siginfos(tid, 0, &te->pending, &te->n_pending);
	if (r)
		return r;
	if (!status_mask(pid, tid, "SigPnd", &mask)) {
		te->has_pending_mask = 1;
		te->pending_mask = mask;
	}
	return 0;
}

int regs_dump_thread(pid_t pid, pid_t tid, ThreadEntry **out)
{
	ThreadEntry *te = malloc(sizeof(*te));
	struct user_regs_struct *regs;
	uint64_t head;
	size_t len;
	int r;

	if (!te)
		return -ENOMEM;
	thread_entry__init(te);
	te->tid = tid;
	r = thread_regsets(tid, te);
	if (!r)
		r = thread_signals(pid, tid, te);
	if (!r)
		r = thread_proc_info(pid, tid, te);
	if (r) {
		img_free(te);
		return r;
	}
	thread_sched(tid, te);
	thread_rseq(tid, te);
	if (!syscall(SYS_get_robust_list, tid, &head, &len)) {
		te->has_robust_list = te->has_robust_list_len = 1;
		te->robust_list = head;
		te->robust_list_len = len;
	}
	regs = (struct user_regs_struct *)te->gpregs.data;
	if (te->gpregs.len >= sizeof(*regs) && (long long)regs->orig_rax >= 0) {
		te->has_syscall_nr = 1;
		te->syscall_nr = regs->orig_rax;
	}
	*out = te;
	return 0;
}

int regs_shared_pending(pid_t pid, ProcEntry *pe)
{
	uint64_t mask;
	int r;

	r = peek_siginfos(pid, PTRACE_PEEKSIGINFO_SHARED, &pe->shared_pending, &pe->n_shared_pending);
	if (r)
		return r;
	if (!pe->has_shared_pending_mask && !status_mask(pid, pid, "ShdPnd", &mask)) {
		pe->has_shared_pending_mask = 1;
		pe->shared_pending_mask = mask;
	}
	return 0;
}
