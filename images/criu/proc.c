/* One process of a CRIU dump (dr_format.proc_load) and its ProcEntry:
 * identity from pstree.img; comm, personality, limits, signal handlers and
 * timers from the leader's core image; creds from the leader's thread part;
 * the mm layout and auxv from mm-PID.img; cwd and root from fs-PID.img.
 * CRIU does not store the command line or the environment: they are read
 * back from the dumped memory, where the kernel shows them from too. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/criu/criu.h"
#include "images/log.h"

#define TASK_ALIVE	1
#define TASK_DEAD	2
#define TASK_STOPPED	3
#define TASK_ZOMBIE	6
/* /proc/PID/cmdline and environ are at most this long (ARG_MAX-ish). */
#define ARGS_MAX	(2u << 20)

static bool is_zombie(const Criu__TaskCoreEntry *tc)
{
	return tc->task_state == TASK_DEAD || tc->task_state == TASK_ZOMBIE;
}

/* [start, end) of the dumped memory, if all of it is there. */
static int mem_bytes(const struct cmem *m, uint64_t start, uint64_t end,
		     ProtobufCBinaryData *b, protobuf_c_boolean *has)
{
	if (end <= start || end - start > ARGS_MAX)
		return 0;
	b->data = malloc(end - start);
	if (!b->data)
		return -ENOMEM;
	b->len = end - start;
	if (cmem_read(m, start, b->data, b->len) < 0) {
		free(b->data);
		b->data = NULL;
		b->len = 0;
		return 0;	/* not dumped: the core goes without */
	}
	*has = 1;
	return 0;
}

/* AT_* pairs as the kernel's NT_AUXV: CRIU leaves out the AT_NULL end. */
static int put_auxv(const Criu__MmEntry *mm, ProcEntry *pe)
{
	size_t n = mm->n_mm_saved_auxv;

	if (n % 2)
		return -EINVAL;
	while (n >= 2 && !mm->mm_saved_auxv[n - 2])
		n -= 2;
	pe->auxv.data = calloc(n + 2, sizeof(uint64_t));
	if (!pe->auxv.data)
		return -ENOMEM;
	memcpy(pe->auxv.data, mm->mm_saved_auxv, n * sizeof(uint64_t));
	pe->auxv.len = (n + 2) * sizeof(uint64_t);
	pe->has_auxv = 1;
	return 0;
}

static int put_mm(const struct cdump *cd, const Criu__MmEntry *mm, ProcEntry *pe)
{
	const Criu__FileEntry *exe = cfile_find(cd, mm->exe_file_id);
	MmFields *f = malloc(sizeof(*f));
	int r = 0;

	if (!f)
		return -ENOMEM;
	mm_fields__init(f);
	pe->mm = f;
	f->start_code = mm->mm_start_code;
	f->end_code = mm->mm_end_code;
	f->start_data = mm->mm_start_data;
	f->end_data = mm->mm_end_data;
	f->start_brk = mm->mm_start_brk;
	f->brk = mm->mm_brk;
	f->start_stack = mm->mm_start_stack;
	f->arg_start = mm->mm_arg_start;
	f->arg_end = mm->mm_arg_end;
	f->env_start = mm->mm_env_start;
	f->env_end = mm->mm_env_end;
	pe->has_dumpable = mm->has_dumpable;
	pe->dumpable = mm->dumpable;
	if (exe && exe->reg)
		pe->exe = cident_make(exe->reg, &r);
	if (!r)
		r = put_auxv(mm, pe);
	if (r == -EINVAL)
		pr_err("%s: mm-%u.img: auxv is corrupt", cd->src->label, pe->pid);
	return r;
}

/* A file name CRIU recorded for a files.img id, or NULL. */
static char *file_path(const struct cdump *cd, uint32_t id)
{
	const Criu__FileEntry *f = cfile_find(cd, id);

	return f && f->reg ? strdup(f->reg->name) : NULL;
}

static int put_fs(const struct cdump *cd, ProcEntry *pe)
{
	Criu__FsEntry *fs;
	int r = cimg_read_one(cd->src, CIMG_FS, pe->pid, false, (void **)&fs);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	pe->cwd = file_path(cd, fs->cwd_id);
	pe->root = file_path(cd, fs->root_id);
	pe->has_umask = fs->has_umask;
	pe->umask = fs->umask;
	cimg_free(fs);
	return 0;
}

static uint64_t cap64(const uint32_t *w, size_t n)
{
	return (n > 0 ? w[0] : 0) | (n > 1 ? (uint64_t)w[1] << 32 : 0);
}

static int put_creds(const Criu__CredsEntry *c, const Criu__ThreadCoreEntry *tc, ProcEntry *pe)
{
	CredsEntry *e;

	if (!c)
		return 0;
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	creds_entry__init(e);
	pe->creds = e;
	e->uid = c->uid, e->euid = c->euid, e->suid = c->suid, e->fsuid = c->fsuid;
	e->gid = c->gid, e->egid = c->egid, e->sgid = c->sgid, e->fsgid = c->fsgid;
	e->cap_inh = cap64(c->cap_inh, c->n_cap_inh);
	e->cap_prm = cap64(c->cap_prm, c->n_cap_prm);
	e->cap_eff = cap64(c->cap_eff, c->n_cap_eff);
	e->cap_bnd = cap64(c->cap_bnd, c->n_cap_bnd);
	e->cap_amb = cap64(c->cap_amb, c->n_cap_amb);
	e->has_seccomp_mode = tc->has_seccomp_mode;
	e->seccomp_mode = tc->seccomp_mode;
	if (c->n_groups) {
		e->groups = malloc(c->n_groups * sizeof(*e->groups));
		if (!e->groups)
			return -ENOMEM;
		memcpy(e->groups, c->groups, c->n_groups * sizeof(*e->groups));
		e->n_groups = c->n_groups;
	}
	return 0;
}

static int put_rlimits(const Criu__TaskRlimitsEntry *rl, ProcEntry *pe)
{
	if (!rl || !rl->n_rlimits)
		return 0;
	pe->rlimits = calloc(rl->n_rlimits, sizeof(*pe->rlimits));
	if (!pe->rlimits)
		return -ENOMEM;
	for (size_t i = 0; i < rl->n_rlimits; i++) {
		RlimitEntry *e = malloc(sizeof(*e));

		if (!e)
			return -ENOMEM;
		rlimit_entry__init(e);
		pe->rlimits[pe->n_rlimits++] = e;
		e->resource = i;
		e->cur = rl->rlimits[i]->cur;
		e->max = rl->rlimits[i]->max;
	}
	return 0;
}

static int put_sigactions(const Criu__TaskCoreEntry *tc, ProcEntry *pe)
{
	if (!tc->n_sigactions)
		return 0;
	pe->sigactions = calloc(tc->n_sigactions, sizeof(*pe->sigactions));
	if (!pe->sigactions)
		return -ENOMEM;
	for (size_t i = 0; i < tc->n_sigactions; i++) {
		const Criu__SaEntry *c = tc->sigactions[i];
		SigactionEntry *e = malloc(sizeof(*e));

		if (!e)
			return -ENOMEM;
		sigaction_entry__init(e);
		pe->sigactions[pe->n_sigactions++] = e;
		e->sig = i + 1;
		e->handler = c->sigaction;
		e->flags = c->flags;
		e->restorer = c->restorer;
		e->mask = c->mask;
	}
	return 0;
}

static int put_itimers(const Criu__TaskTimersEntry *t, ProcEntry *pe)
{
	const Criu__ItimerEntry *it[3];

	if (!t)
		return 0;
	it[0] = t->real, it[1] = t->virt, it[2] = t->prof;
	pe->itimers = calloc(3, sizeof(*pe->itimers));
	if (!pe->itimers)
		return -ENOMEM;
	for (uint32_t w = 0; w < 3; w++) {
		ItimerEntry *e = malloc(sizeof(*e));

		if (!e)
			return -ENOMEM;
		itimer_entry__init(e);
		pe->itimers[pe->n_itimers++] = e;
		e->which = w;	/* ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF */
		e->interval_us = it[w]->isec * 1000000 + it[w]->iusec;
		e->value_us = it[w]->vsec * 1000000 + it[w]->vusec;
	}
	return 0;
}

static int put_task(const Criu__CoreEntry *core, ProcEntry *pe)
{
	const Criu__TaskCoreEntry *tc = core->tc;
	const Criu__ThreadCoreEntry *th = core->thread_core;
	uint64_t mask;
	int r;

	pe->comm = strdup(tc->comm);
	pe->state = strdup(is_zombie(tc) ? "Z" : tc->task_state == TASK_STOPPED ? "T" : "S");
	if (!pe->comm || !pe->state)
		return -ENOMEM;
	pe->has_personality = 1;
	pe->personality = tc->personality;
	pe->has_nice = th->has_sched_nice;
	pe->nice = th->sched_nice;
	r = csig_queue(tc->signals_s, &pe->shared_pending, &pe->n_shared_pending, &mask);
	pe->has_shared_pending_mask = 1;
	pe->shared_pending_mask = mask;
	if (!r)
		r = put_creds(th->creds, th, pe);
	if (!r)
		r = put_rlimits(tc->rlimits, pe);
	if (!r)
		r = put_sigactions(tc, pe);
	if (!r)
		r = put_itimers(tc->timers, pe);
	return r;
}

int cproc_make(const struct cmem *m, const Criu__PstreeEntry *ps, const Criu__CoreEntry *core,
	       ProcEntry **out)
{
	const struct cdump *cd = m->cd;
	const Criu__MmEntry *mm = m->mm;
	ProcEntry *pe = malloc(sizeof(*pe));
	int r;

	*out = pe;
	if (!pe)
		return -ENOMEM;
	proc_entry__init(pe);
	pe->pid = ps->pid;
	pe->ppid = ps->ppid;
	pe->pgid = ps->pgid;
	pe->sid = ps->sid;
	r = put_task(core, pe);
	if (r == -EINVAL)
		pr_err("%s: core-%u.img: a queued signal is corrupt", cd->src->label, ps->pid);
	if (!r)
		r = put_fs(cd, pe);
	if (!r && mm)
		r = put_mm(cd, mm, pe);
	if (!r && mm)
		r = mem_bytes(m, mm->mm_arg_start, mm->mm_arg_end, &pe->cmdline, &pe->has_cmdline);
	if (!r && mm)
		r = mem_bytes(m, mm->mm_env_start, mm->mm_env_end, &pe->environ, &pe->has_environ);
	return r;
}

static int leader_core(const struct cdump *cd, uint32_t pid, Criu__CoreEntry **core)
{
	int r = cimg_read_one(cd->src, CIMG_CORE, pid, true, (void **)core);

	if (r < 0)
		return r;
	if ((*core)->mtype != CRIU__CORE_ENTRY__MARCH__X86_64 || !(*core)->tc ||
	    !(*core)->thread_core || !(*core)->thread_info) {
		pr_err("%s: core-%u.img: not the core of an x86_64 process", cd->src->label, pid);
		return -EINVAL;
	}
	return 0;
}

/* With DR_MISSING_OK an absent image leaves its part empty (bit clear in
 * p->loaded); else it is an error, said by the reader that looked. */
static int part(int r, unsigned what, unsigned bit, struct dr_proc *p)
{
	if (!r)
		p->loaded |= bit;
	return r == -ENOENT && (what & DR_MISSING_OK) ? 0 : r;
}

int cproc_load(struct dump_read *d, size_t idx, unsigned what, struct dr_proc *p)
{
	const struct cdump *cd = d->priv;
	const Criu__PstreeEntry *ps = NULL;
	bool must = !(what & DR_MISSING_OK), zombie;
	Criu__CoreEntry *core = NULL;
	Criu__MmEntry *mm = NULL;
	struct dr_pages *pg = NULL;
	struct cmem m;
	int r;

	/* The reader may have put d->ps in another order than pstree.img's. */
	p->ps = d->ps[idx];
	for (size_t i = 0; i < cd->nr_ps && !ps; i++)
		if (cd->cps[i]->pid == p->ps->pid)
			ps = cd->cps[i];
	if (!ps)
		return -EINVAL;
	r = leader_core(cd, ps->pid, &core);
	if (r < 0)
		goto out;
	/* A zombie has no memory: CRIU writes it none. */
	zombie = is_zombie(core->tc);
	/* The threads need the memory too: their registers may point into it
	 * (syscall restart), the process's command line is in it. */
	if (!zombie && (what & (DR_PROC | DR_THREADS | DR_VMAS | DR_PAGES)))
		r = part(cimg_read_one(cd->src, CIMG_MM, ps->pid, must, (void **)&mm), what, 0, p);
	if (!r && !zombie && (what & (DR_PROC | DR_THREADS | DR_PAGES)))
		r = part(cpages_load(cd->src, ps->pid, must, DR_MAX_CHAIN, &pg), what, 0, p);
	m = (struct cmem){ .cd = cd, .mm = mm, .pg = pg };
	if (!r && (what & DR_PROC))
		r = part(cproc_make(&m, ps, core, &p->pe), what, DR_PROC, p);
	if (!r && (what & DR_THREADS))
		r = part(cthreads_make(&m, ps, core, &p->th, &p->nr_th), what, DR_THREADS, p);
	if (!r && (what & DR_VMAS) && (mm || zombie))
		r = part(mm ? cvmas_make(cd, mm, &p->vma, &p->nr_vma) : 0, what, DR_VMAS, p);
	if (!r && (what & DR_FDS))
		r = part(cfds_make(cd, ps->pid, must, &p->fd, &p->nr_fd), what, DR_FDS, p);
	if (!r && (what & DR_PAGES) && (pg || zombie)) {
		p->pages = pg ? pg : cpages_empty(cd->src);
		pg = NULL;
		r = part(p->pages ? 0 : -ENOMEM, what, DR_PAGES, p);
	}
out:
	dr_pages_free(pg);
	cimg_free(mm);
	cimg_free(core);
	return r;
}
