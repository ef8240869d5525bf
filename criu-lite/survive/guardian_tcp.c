/* TCP connections criu-lite put in repair mode, taken out by the guardian
 * if criu-lite dies first (issue 12; see guardian.h).
 *
 * A dump reads each connection in repair mode, and silences those restore
 * brings back before a kill by putting them in it again: a thousand
 * connections, in and out within milliseconds, on two threads. A message
 * to the guardian each was a syscall each; the notes are written instead
 * to memory the guardian shares (mapped before its fork), one slot a
 * connection in repair mode, its state set last. Left in repair mode by a
 * dead criu-lite, a connection would neither send nor take what arrives:
 * the guardian borrows each socket still noted (pidfd_getfd) and, if it is
 * in repair mode, takes it out as the dump would have (no window probe),
 * with the program's SO_REUSEADDR and SO_PEEK_OFF, which repair mode
 * changes. It does so before it thaws a frozen cgroup. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "common/fd/socket.h"
#include "criu-lite/survive/guardian_journal.h"
#include "images/log.h"

#define SLOTS (1u << 16)	/* a dump of more notes no more (one warning) */

enum { FREE, IN, OUT };

struct slot {
	int32_t pid, fd, reuse, peek_off;
	_Atomic uint32_t state;
};

struct table {
	_Atomic uint32_t used;
	struct slot s[SLOTS];
};

static struct table *table;

int gt_make(void)
{
	/* untouched pages cost nothing: a dump of few connections maps one */
	void *p = mmap(NULL, sizeof(*table), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	table = p;
	return 0;
}

int gt_in(pid_t pid, int fd, int reuse, int peek_off)
{
	static atomic_bool warned;
	uint32_t i;

	if (!table)
		return -1;
	i = atomic_fetch_add(&table->used, 1);
	if (i >= SLOTS) {
		if (!atomic_exchange(&warned, true))
			pr_warn("over %u TCP connections in repair mode: a death of criu-lite "
				"now would leave the rest in it", SLOTS);
		return -1;
	}
	table->s[i].pid = pid;
	table->s[i].fd = fd;
	table->s[i].reuse = reuse;
	table->s[i].peek_off = peek_off;
	atomic_store_explicit(&table->s[i].state, IN, memory_order_release);
	return (int)i;
}

void gt_out(int i)
{
	atomic_store_explicit(&table->s[i].state, OUT, memory_order_release);
}

/* Slot i's connection out of repair mode, if it still is: 1 if taken out,
 * 0 if not in it (or gone), -errno. pidfd: its process's, or -1. */
static int take_out(const struct slot *s, int pidfd)
{
	int on = 0, sk, r = 0;
	socklen_t l = sizeof(on);

	sk = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, s->fd, 0);
	if (sk < 0)
		return 0;
	if (!getsockopt(sk, SOL_TCP, TCP_REPAIR, &on, &l) && on == 1)
		r = sk_repair_leave(sk, (struct sk_repair_vals){ s->reuse, s->peek_off }) ?: 1;
	close(sk);
	return r;
}

void gt_undo(void)
{
	uint32_t n = table ? atomic_load(&table->used) : 0;
	int pidfd = -1, out = 0, failed = 0;
	pid_t pid = 0;

	if (n > SLOTS)
		n = SLOTS;
	for (uint32_t i = 0; i < n; i++) {
		const struct slot *s = &table->s[i];
		int r;

		if (atomic_load_explicit(&table->s[i].state, memory_order_acquire) != IN)
			continue;
		/* slots come a process at a time: one pidfd for a run of them */
		if (s->pid != pid) {
			if (pidfd >= 0)
				close(pidfd);
			pid = s->pid;
			pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		}
		r = take_out(s, pidfd);
		out += r > 0;
		failed += r < 0;
	}
	if (pidfd >= 0)
		close(pidfd);
	if (out)
		pr_warn("guardian: %d TCP connections taken out of repair mode", out);
	if (failed)
		pr_warn("guardian: %d TCP connections left in repair mode: cannot take them out",
			failed);
}
