/* criu-lite crash import: a stored crash -> criu-lite images, so that
 * `restore --stopped` brings the crashed process back at the faulting
 * instruction. The core gives memory (crash_import_mem.c) and, per thread,
 * the kernel's own regsets: NT_PRSTATUS (general registers, fs_base, the
 * blocked mask), NT_PRFPREG and NT_X86_XSTATE, which restore hands back
 * verbatim. The /proc record gives the rest: maps with file identities,
 * the process entry (creds, rlimits, mm layout, exe), fds with offsets.
 * What neither has (signal handlers, itimers, sigaltstack: they need code
 * run inside the process, which a crashing process cannot do) is left at
 * its default, and said. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/procfs.h>
#include <sys/stat.h>

#include "criu-lite/crash/crash_import.h"
#include "criu-lite/crash/crash_import_int.h"
#include "criu-lite/crash/crash_store.h"
#include "common/cpu.h"
#include "images/log.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#define XSAVE_SW_XFEATURES 472	/* fxsave sw_reserved: struct _fpx_sw_bytes.xfeatures */
#define MAX_THREADS 4096

struct notes {
	ThreadEntry **th;
	size_t nr;
	ProtobufCBinaryData auxv;
	struct elf_prpsinfo ps;
	bool have_ps;
	uint64_t xcr0;
	int err;
};

static int bytes_dup(ProtobufCBinaryData *b, protobuf_c_boolean *has, const uint8_t *p, size_t len)
{
	b->data = malloc(len ? len : 1);
	if (!b->data)
		return -ENOMEM;
	memcpy(b->data, p, len);
	b->len = len;
	*has = 1;
	return 0;
}

static int note_prstatus(struct notes *n, const uint8_t *desc, size_t len)
{
	struct elf_prstatus ps;
	ThreadEntry *te;

	if (len < sizeof(ps) || n->nr == MAX_THREADS)
		return -EBADMSG;
	memcpy(&ps, desc, sizeof(ps));
	te = malloc(sizeof(*te));
	if (!te)
		return -ENOMEM;
	thread_entry__init(te);
	te->tid = (uint32_t)ps.pr_pid;
	te->blocked = ps.pr_sighold;
	te->gpregs.data = malloc(sizeof(ps.pr_reg));
	if (!te->gpregs.data) {
		free(te);
		return -ENOMEM;
	}
	memcpy(te->gpregs.data, &ps.pr_reg, sizeof(ps.pr_reg));
	te->gpregs.len = sizeof(ps.pr_reg);
	n->th[n->nr++] = te;
	return 0;
}

/* Notes come in the kernel's order: NT_PRSTATUS opens a thread, and the
 * regsets that follow it are that thread's. */
static int on_note(void *ctx, uint32_t type, const char *name, const uint8_t *desc, size_t len)
{
	struct notes *n = ctx;
	ThreadEntry *cur = n->nr ? n->th[n->nr - 1] : NULL;

	if (!strcmp(name, "CORE")) {
		switch (type) {
		case NT_PRSTATUS:
			return note_prstatus(n, desc, len);
		case NT_PRFPREG:
			return cur && !cur->has_fpregs ?
			       bytes_dup(&cur->fpregs, &cur->has_fpregs, desc, len) : 0;
		case NT_AUXV:
			if (!n->auxv.data) {
				protobuf_c_boolean has;

				return bytes_dup(&n->auxv, &has, desc, len);
			}
			return 0;
		case NT_PRPSINFO:
			if (len >= sizeof(n->ps))
				memcpy(&n->ps, desc, sizeof(n->ps)), n->have_ps = true;
			return 0;
		}
	} else if (!strcmp(name, "LINUX") && type == NT_X86_XSTATE && cur && !cur->has_xstate) {
		if (len >= XSAVE_SW_XFEATURES + 8 && !n->xcr0)
			memcpy(&n->xcr0, desc + XSAVE_SW_XFEATURES, 8);
		return bytes_dup(&cur->xstate, &cur->has_xstate, desc, len);
	}
	return 0;
}

static void notes_free(struct notes *n)
{
	for (size_t i = 0; i < n->nr; i++)
		img_free(n->th[i]);
	free(n->th);
	free(n->auxv.data);
}

/* The thread-group leader first, as restore expects. */
static int order_threads(struct notes *n, uint32_t pid)
{
	for (size_t i = 0; i < n->nr; i++)
		if (n->th[i]->tid == pid) {
			ThreadEntry *t = n->th[0];

			n->th[0] = n->th[i];
			n->th[i] = t;
			return 0;
		}
	pr_err("the core has no registers for the main thread %u (it had exited?): cannot "
	       "import", pid);
	return -ENOTSUP;
}

/* A proc entry from the core alone, when the record has none. */
static ProcEntry *proc_from_core(const CrashEntry *ce, const struct notes *n)
{
	ProcEntry *pe = malloc(sizeof(*pe));

	if (!pe)
		return NULL;
	proc_entry__init(pe);
	pe->pid = ce->pid;
	if (n->have_ps) {
		pe->ppid = (uint32_t)n->ps.pr_ppid;
		pe->pgid = (uint32_t)n->ps.pr_pgrp;
		pe->sid = (uint32_t)n->ps.pr_sid;
	}
	pe->comm = strndup(n->have_ps ? n->ps.pr_fname : "?", sizeof(n->ps.pr_fname));
	pe->cwd = ce->cwd ? strdup(ce->cwd) : NULL;
	return pe;
}

static int write_proc(int dirfd, CrashEntry *ce, struct notes *n)
{
	ProcEntry *pe = ce->proc ? ce->proc : proc_from_core(ce, n);

	if (!pe)
		return -ENOMEM;
	ce->proc = pe;	/* freed with the record */
	pe->pid = ce->pid;
	if (!pe->has_auxv && n->auxv.data) {
		pe->auxv = n->auxv;
		pe->has_auxv = 1;
		n->auxv.data = NULL;
	}
	if (!pe->mm)
		pr_warn("no mm layout in the crash record: the replay keeps criu-lite's brk, "
			"argv/env bounds and /proc/PID/exe");
	return img_write_entries(dirfd, IMG_PROC, (int)ce->pid, (void *const *)&pe, 1);
}

static int write_threads(int dirfd, const CrashEntry *ce, struct notes *n)
{
	struct img *img = img_create(dirfd, IMG_THREADS, (int)ce->pid);
	int r = 0;

	if (!img)
		return -errno;
	for (size_t i = 0; !r && i < n->nr; i++) {
		ThreadEntry *te = n->th[i];

		if (!te->comm && te->tid == ce->pid && ce->comm)
			te->comm = strdup(ce->comm);
		r = img_write(img, te);
	}
	if (r) {
		img_abort(img, dirfd);
		return r;
	}
	return img_close(img);
}

/* Which recorded fds a replay gets back: what restore can reopen (files
 * by path at their offsets; stdin/out/err become restore's own when they
 * were a terminal, pipe or socket). The rest died with the process: a
 * pipe's other end, a socket's peer. Files are taken as they are now:
 * their size and mtime at the crash are not enforced. */
static bool fd_keep(FdEntry *e, char *why, size_t len)
{
	const char *link = e->link ? e->link : "?";
	struct stat st;

	switch (e->type) {
	case FD_TYPE__FD_REG:
	case FD_TYPE__FD_DIR:
	case FD_TYPE__FD_CHR:
		if (!e->file || strstr(link, " (deleted)") || stat(e->file->path, &st)) {
			snprintf(why, len, "%s is gone", link);
			return false;
		}
		e->file->has_size = e->file->has_mtime_ns = 0;
		return true;
	case FD_TYPE__FD_TTY:
	case FD_TYPE__FD_PIPE:
	case FD_TYPE__FD_SOCKET:
	case FD_TYPE__FD_UNSUPPORTED:
		if (e->fd <= 2)
			return true;
		snprintf(why, len, "%s cannot outlive the crashed process", link);
		return false;
	default:
		snprintf(why, len, "%s: not recreated from a crash record", link);
		return false;
	}
}

static int write_files(int dirfd, const CrashEntry *ce)
{
	struct img *img = img_create(dirfd, IMG_FILES, (int)ce->pid);
	char why[256];
	int r = 0;

	if (!img)
		return -errno;
	for (size_t i = 0; !r && i < ce->n_fds; i++) {
		if (!fd_keep(ce->fds[i], why, sizeof(why))) {
			pr_warn("fd %u left closed in the replay: %s", ce->fds[i]->fd, why);
			continue;
		}
		r = img_write(img, ce->fds[i]);
	}
	if (r) {
		img_abort(img, dirfd);
		return r;
	}
	return img_close(img);
}

static int write_pstree(int dirfd, const CrashEntry *ce, const struct notes *n)
{
	PstreeEntry ps = PSTREE_ENTRY__INIT;
	uint32_t *tids = calloc(n->nr, sizeof(*tids));
	int r;

	if (!tids)
		return -ENOMEM;
	for (size_t i = 0; i < n->nr; i++)
		tids[i] = n->th[i]->tid;
	ps.pid = ce->pid;
	ps.ppid = ce->proc->ppid;
	ps.pgid = ce->proc->pgid;
	ps.sid = ce->proc->sid;
	ps.threads = tids;
	ps.n_threads = n->nr;
	r = img_write_entries(dirfd, IMG_PSTREE, 0, (void *[]){ &ps }, 1);
	free(tids);
	return r;
}

static int write_inventory(int dirfd, const CrashEntry *ce, const struct notes *n)
{
	InventoryEntry *inv = malloc(sizeof(*inv));
	int r;

	if (!inv)
		return -ENOMEM;
	inventory_entry__init(inv);
	inv->format_version = IMG_FORMAT_VERSION;
	inv->tool_version = strdup(CRIU_LITE_VERSION);
	inv->root_pid = ce->pid;
	inv->page_size = (uint32_t)getpagesize();
	inv->has_kind = inv->has_dump_time_ns = 1;
	inv->kind = INVENTORY_KIND_DUMP;
	inv->dump_time_ns = ce->time_ns;
	r = cpu_fill_inventory(inv);
	/* The crash's kernel and XSAVE features, not this machine's: restore
	 * compares them with its own and refuses what cannot work. */
	if (!r && ce->kernel_release) {
		free(inv->kernel_release);
		inv->kernel_release = strdup(ce->kernel_release);
	}
	if (!r && n->xcr0)
		inv->xcr0 = n->xcr0;
	if (!r && ce->hostname)
		inv->hostname = strdup(ce->hostname);
	if (!r && (!inv->tool_version || !inv->kernel_release))
		r = -ENOMEM;
	if (!r)
		r = img_write_inventory(dirfd, inv);
	img_free(inv);
	return r;
}

static int load(const char *crash_dir, CrashEntry **ce, int *core_fd)
{
	int dfd = open(crash_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	*core_fd = -1;
	if (dfd < 0)
		return pr_perror("cannot open %s", crash_dir);
	r = img_read_one(dfd, IMG_CRASH, 0, true, (void **)ce);
	if (!r) {
		*core_fd = openat(dfd, (*ce)->core_file ? (*ce)->core_file : CRASH_CORE_NAME,
				  O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (*core_fd < 0)
			r = pr_perror("cannot open the core of %s", crash_dir);
	}
	close(dfd);
	return r;
}

static int import(int out, CrashEntry *ce, struct crash_elf *core, uint64_t *stored)
{
	struct notes n = { 0 };
	int r;

	n.th = calloc(MAX_THREADS, sizeof(*n.th));
	if (!n.th)
		return -ENOMEM;
	r = crash_elf_notes(core, on_note, &n);
	if (r) {
		pr_err("the core's notes are damaged: cannot import");
		goto out;
	}
	if (!ce->n_maps) {
		pr_err("the crash record has no mappings (/proc was gone): cannot import");
		r = -ENOTSUP;
		goto out;
	}
	r = order_threads(&n, ce->pid);
	if (!r)
		r = write_proc(out, ce, &n);
	if (!r)
		r = write_threads(out, ce, &n);
	if (!r)
		r = write_files(out, ce);
	if (!r)
		r = crash_import_mem(out, ce, core, stored);
	if (!r)
		r = write_pstree(out, ce, &n);
	if (!r)
		r = write_inventory(out, ce, &n);
	if (!r)
		pr_info("%zu thread%s", n.nr, n.nr == 1 ? "" : "s");
out:
	notes_free(&n);
	return r;
}

int crash_import(const char *crash_dir, const char *out_dir)
{
	struct crash_elf core = { .fd = -1 };
	CrashEntry *ce = NULL;
	uint64_t stored = 0;
	struct stat st;
	int out = -1, fd, r;

	r = load(crash_dir, &ce, &fd);
	if (!r && (r = crash_elf_open(fd, &core)))
		pr_err("%s: the core is not a readable x86_64 ELF core", crash_dir);
	if (!r && (fstat(fd, &st) || (uint64_t)st.st_size < crash_elf_end(&core))) {
		pr_err("%s: the core is truncated", crash_dir);
		r = -EBADMSG;
	}
	if (!r && (out = img_dir_create(out_dir, NULL)) < 0)
		r = out;
	if (!r)
		r = import(out, ce, &core, &stored);
	if (!r) {
		pr_warn("signal handlers, itimers and sigaltstack are not in a crash: the replay "
			"has the defaults");
		printf("imported crash of pid %u into %s (%llu KiB of memory); replay it with:\n"
		       "  criu-lite restore -D %s --stopped -d && gdb -p %u\n", ce->pid, out_dir,
		       (unsigned long long)(stored >> 10), out_dir, ce->pid);
	}
	crash_elf_close(&core);
	if (fd >= 0)
		close(fd);
	if (out >= 0)
		close(out);
	img_free(ce);
	return r;
}
