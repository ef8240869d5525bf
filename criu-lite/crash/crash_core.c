/* Receive the kernel's ELF core from a socket or pipe into the store. The
 * kernel writes holes (unpopulated pages) as zeros on a socket or pipe, so
 * all-zero blocks are turned back into holes: the stored core takes what
 * the process really used. A stream that ends early is told apart from a
 * complete core by the headers: the file must reach past every segment. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/procfs.h>
#include <sys/stat.h>

#include "common/fault.h"
#include "criu-lite/crash/crash.h"
#include "criu-lite/crash/crash_elf.h"
#include "images/log.h"

#define BLK	4096u
#define BUF	(1u << 20)

long crash_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	static const uint8_t zero[BLK];

	for (size_t off = 0; off < len; off += BLK) {
		size_t n = len - off < BLK ? len - off : BLK;

		if (memcmp(p + off, zero, n))
			return false;
	}
	return true;
}

/* Write buf (stream offset `at`) skipping all-zero blocks; runs of data
 * blocks go out in one pwrite. */
static int put_sparse(int fd, const uint8_t *buf, size_t len, uint64_t at)
{
	size_t i = 0;

	while (i < len) {
		size_t start, n;

		while (i < len && all_zero(buf + i, len - i < BLK ? len - i : BLK))
			i += BLK;
		if (i >= len)
			break;
		start = i;
		while (i < len && !all_zero(buf + i, len - i < BLK ? len - i : BLK))
			i += BLK;
		if (i > len)
			i = len;
		for (n = start; n < i;) {
			ssize_t w = pwrite(fd, buf + n, i - n, (off_t)(at + n));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return w < 0 ? -errno : -EIO;
			n += (size_t)w;
		}
	}
	return 0;
}

/* Fault injection: stop reading, as a stuck server would, until the peer
 * hangs up or the deadline passes. */
static void stall(int in, uint64_t at, long deadline_ms)
{
	pr_warn("fault injection: core intake stalls after %llu bytes", (unsigned long long)at);
	for (;;) {
		struct pollfd p = { .fd = in, .events = POLLRDHUP };
		long left = deadline_ms - crash_now_ms();
		int n;

		if (left <= 0)
			return;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return;
		if (n > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return;
	}
}

/* 1 data read, 0 end of stream, <0 error. */
static int read_some(int in, uint8_t *buf, size_t room, size_t *got, long deadline_ms)
{
	for (;;) {
		struct pollfd p = { .fd = in, .events = POLLIN };
		long left = deadline_ms - crash_now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		if (!p.revents)
			continue;
		n = read(in, buf, room);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return errno == ECONNRESET ? 0 : -errno;
		*got = (size_t)n;
		return n > 0;
	}
}

static int check_complete(int fd, uint64_t size, struct crash_core_result *res)
{
	struct crash_elf e;
	int r = crash_elf_open(fd, &e);

	if (r == -ENOMEM)
		return r;
	if (r) {
		if (size < sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr))
			pr_err("the core stream ended after %llu bytes, before its headers: the "
			       "crashing process was killed or the kernel gave up", (unsigned long long)size);
		else
			pr_err("what came in (%llu bytes) is not an x86_64 ELF core",
			       (unsigned long long)size);
		return size < 4096 ? -EPIPE : -EBADMSG;
	}
	res->expected = crash_elf_end(&e);
	crash_elf_close(&e);
	if (size < res->expected) {
		pr_err("the core stopped after %llu of %llu bytes: the peer went away mid-core "
		       "(the crashing process was killed?); discarded", (unsigned long long)size,
		       (unsigned long long)res->expected);
		return -EPIPE;
	}
	return 0;
}

int crash_core_receive(int in, int dirfd, const char *name, long deadline_ms,
		       struct crash_core_result *res)
{
	uint64_t off = 0, stall_at = fault_core_stall();
	uint8_t *buf = malloc(BUF);
	size_t fill = 0, got = 0;
	struct stat st;
	int fd, r;

	memset(res, 0, sizeof(*res));
	if (!buf)
		return -ENOMEM;
	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(buf);
		return pr_perror("cannot create the core file");
	}
	for (;;) {
		if (stall_at && off + fill >= stall_at) {
			stall(in, off + fill, deadline_ms);
			stall_at = 0;
		}
		r = read_some(in, buf + fill, BUF - fill, &got, deadline_ms);
		if (r > 0)
			fill += got;
		if (fill && (fill == BUF || r <= 0)) {
			int w = put_sparse(fd, buf, fill, off);

			if (w < 0) {
				errno = -w;
				r = pr_perror("cannot write the core into the store");
				break;
			}
			off += fill;
			fill = 0;
		}
		if (r == -ETIMEDOUT)
			pr_err("the core took longer than the time limit (%llu bytes in): given up",
			       (unsigned long long)(off + fill));
		else if (r < 0)
			pr_err("reading the core: %s", strerror(-r));
		if (r <= 0)
			break;
	}
	free(buf);
	if (!r && ftruncate(fd, (off_t)off))
		r = pr_perror("cannot write the core into the store");
	res->size = off;
	if (!r)
		r = check_complete(fd, off, res);
	if (!r && fsync(fd))
		r = pr_perror("cannot write the core into the store");
	if (!r && !fstat(fd, &st))
		res->disk = (uint64_t)st.st_blocks * 512;
	close(fd);
	return r;
}

struct summary {
	CrashEntry *ce;
	bool prstatus;
};

static int summary_note(void *ctx, uint32_t type, const char *name, const uint8_t *desc, size_t len)
{
	struct summary *s = ctx;
	struct elf_prstatus ps;
	siginfo_t si;

	if (strcmp(name, "CORE"))
		return 0;
	if (type == NT_PRSTATUS && !s->prstatus && len >= sizeof(ps)) {
		memcpy(&ps, desc, sizeof(ps));
		s->prstatus = true;	/* the first thread is the one that crashed */
		s->ce->has_tid = 1;
		s->ce->tid = (uint32_t)ps.pr_pid;
		if (!s->ce->has_signal && ps.pr_cursig)
			s->ce->has_signal = 1, s->ce->signal = (uint32_t)ps.pr_cursig;
	} else if (type == NT_SIGINFO && len >= sizeof(si)) {
		memcpy(&si, desc, sizeof(si));
		if (!s->ce->has_signal)
			s->ce->has_signal = 1, s->ce->signal = (uint32_t)si.si_signo;
		s->ce->has_si_code = 1;
		s->ce->si_code = si.si_code;
		if (si.si_signo == SIGSEGV || si.si_signo == SIGBUS || si.si_signo == SIGILL ||
		    si.si_signo == SIGFPE)
			s->ce->has_fault_addr = 1, s->ce->fault_addr = (uint64_t)(uintptr_t)si.si_addr;
	}
	return 0;
}

int crash_core_summary(int dirfd, const char *name, CrashEntry *ce)
{
	struct summary s = { .ce = ce };
	struct crash_elf e;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = crash_elf_open(fd, &e);
	if (!r) {
		r = crash_elf_notes(&e, summary_note, &s);
		crash_elf_close(&e);
	}
	close(fd);
	return r;
}
