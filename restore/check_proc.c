/* Refusals about process state, decided before any process exists: what
 * the user did not accept to lose (common/ploss.c), timers this kernel
 * cannot recreate with their ids, and huge pages this machine does not
 * have free for the dumped hugetlb mappings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "common/procfs.h"
#include "images/log.h"
#include "restore/rst.h"

#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#endif
#define PR_TIMER_CREATE_RESTORE_IDS_GET 2

static void say(void *ctx, uint32_t pid, enum ploss_kind kind, const char *what, bool accepted)
{
	(void)ctx;
	if (accepted)
		pr_info("process %u: %s (accepted: --accept-loss %s)", pid, what, ploss_name(kind));
	else
		pr_err("cannot restore %u exactly: %s (--accept-loss %s to restore it anyway)", pid,
		       what, ploss_name(kind));
}

static int check_timers(const struct rst_proc *p)
{
	if (!p->pe->n_posix_timers || prctl(PR_TIMER_CREATE_RESTORE_IDS,
					    PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0) >= 0)
		return 0;
	pr_err("cannot restore %u: this kernel cannot create its POSIX timers with their ids "
	       "(PR_TIMER_CREATE_RESTORE_IDS, Linux 6.15+)", p->ps->pid);
	return -ENOTSUP;
}

/* Free huge pages of this size not promised to a mapping already. */
static long hugepages_free(uint32_t kb)
{
	char path[128], buf[32];
	long n[2];

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%ukB/%s", kb,
			 i ? "resv_hugepages" : "free_hugepages");
		if (procfs_read_small(path, buf, sizeof(buf)))
			return -1;
		n[i] = strtol(buf, NULL, 10);
	}
	return n[0] - n[1];
}

/* Each hugetlb mapping needs its pages reserved when it is mapped. */
static int check_hugetlb(const struct rst_proc *p)
{
	for (size_t i = 0; i < p->nr_vma; i++) {
		const VmaEntry *v = p->vma[i];
		uint64_t need = 0;
		long have;

		if (!v->has_page_kb || v->page_kb <= 4)
			continue;
		for (size_t k = i; k < p->nr_vma; k++)
			if (p->vma[k]->has_page_kb && p->vma[k]->page_kb == v->page_kb)
				need += (p->vma[k]->end - p->vma[k]->start) / (v->page_kb * 1024ull);
		have = hugepages_free(v->page_kb);
		if (have >= 0 && (uint64_t)have >= need)
			return 0;
		pr_err("cannot restore %u: its hugetlb mappings need %llu free %u kB huge pages, "
		       "this machine has %ld (/proc/sys/vm/nr_hugepages)", p->ps->pid,
		       (unsigned long long)need, v->page_kb, have < 0 ? 0 : have);
		return -ENOMEM;
	}
	return 0;
}

int rst_check_procstate(struct rst_tree *t, struct rst_proc *p)
{
	int r = check_timers(p);

	if (!r)
		r = check_hugetlb(p);
	if (!r && ploss_check(&t->opts.ploss, p->pe, p->th, p->nr_th, say, NULL))
		r = -ENOTSUP;
	return r;
}
