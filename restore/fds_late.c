/* The kinds' late hooks (common/fd/fd.h): fds that name other processes
 * (pidfds, namespace fds) are made once every process of the tree exists,
 * by syscalls injected into the process that holds them, over what the
 * kind's open put at the fd's number. */
#include <errno.h>
#include <string.h>

#include "common/fd/fd.h"
#include "images/log.h"
#include "restore/rst.h"

struct late_ctx {
	struct rst_tree *t;
	struct rst_inj *j;
};

static int late_sys(void *ctx, long nr, uint64_t *ret, uint64_t a1, uint64_t a2, uint64_t a3,
		    uint64_t a4)
{
	return rst_sys(((struct late_ctx *)ctx)->j, nr, ret, a1, a2, a3, a4, 0, 0);
}

static pid_t late_real_pid(void *ctx, uint32_t pid)
{
	return rst_seen_pid(((struct late_ctx *)ctx)->t, pid);
}

static int late_put(void *ctx, const void *buf, size_t len, uint64_t *addr)
{
	struct rst_inj *j = ((struct late_ctx *)ctx)->j;

	if (len > 4096 || len > j->data_len)
		return -E2BIG;
	*addr = j->data;
	return rst_poke(j, j->data, buf, len) ? -EIO : 0;
}

int rst_fds_late(struct rst_tree *t, struct rst_proc *p, struct rst_inj *j)
{
	struct late_ctx c = { t, j };
	const struct fd_rst_late l = { &c, late_sys, late_real_pid, late_put };

	/* round 0 makes fds, round 1 ties them (kinds with a link hook) */
	for (size_t n = 0; n < 2 * p->nr_fd; n++) {
		size_t i = n % p->nr_fd;
		const struct fd_kind *k = fd_kind_of((int)p->fd[i]->type);
		char why[400] = "";
		int r;

		if (!k || !k->late || (n < p->nr_fd) != !k->link)
			continue;
		r = k->late(&t->fdr, p->fd[i], &l, why, sizeof(why));
		if (r < 0) {
			pr_err("cannot restore %u: fd %u: %s", p->ps->pid, p->fd[i]->fd,
			       why[0] ? why : strerror(-r));
			return r;
		}
	}
	return 0;
}
