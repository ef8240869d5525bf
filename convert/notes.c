/* The PT_NOTE of a process, in the order and sizes of the kernel's
 * fill_note_info()/write_note_info() (fs/binfmt_elf.c), which gdb, lldb and
 * elfutils expect:
 *   first thread: PRSTATUS, PRPSINFO, SIGINFO, AUXV, FILE, PRFPREG, X86_XSTATE
 *   every other:  PRSTATUS, PRFPREG, X86_XSTATE
 *   then once:    X86_XSAVE_LAYOUT (kernels since 6.12 emit it)
 *
 * A snapshot has no fatal signal. The signal we report is SIGSTOP with
 * si_code SI_USER and no sender (si_pid 0): what the process would show had
 * someone stopped it to look, which is what a dump does. gdb then says
 * "Program terminated with signal SIGSTOP". */
#include <elf.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>

#include "convert/convert.h"
#include "images/log.h"

#ifndef NT_X86_XSAVE_LAYOUT
#define NT_X86_XSAVE_LAYOUT 0x205
#endif

/* /proc's utime/stime are in USER_HZ ticks, a fixed 100 Hz ABI on x86. */
#define USER_HZ 100
/* The kernel drops NT_FILE above core_file_note_size_limit's default. */
#define FILE_NOTE_MAX (4u << 20)

_Static_assert(sizeof(struct elf_prstatus) == 336, "prstatus is 336 bytes on x86_64");
_Static_assert(sizeof(struct elf_prpsinfo) == 136, "prpsinfo is 136 bytes on x86_64");
_Static_assert(sizeof(siginfo_t) == 128, "siginfo is 128 bytes");

int conv_buf_put(struct conv_buf *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *n;

		while (cap < b->len + len)
			cap *= 2;
		n = realloc(b->p, cap);
		if (!n)
			return -ENOMEM;
		b->p = n;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

void conv_buf_free(struct conv_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int put_pad4(struct conv_buf *b, size_t len)
{
	static const uint8_t zero[4];

	return conv_buf_put(b, zero, (4 - len % 4) % 4);
}

/* Name and descriptor each padded to 4 bytes; the sizes in the header are
 * the exact ones (a descsz that counted padding is what makes gdb call an
 * NT_FILE "malformed"). */
static int put_note(struct conv_buf *b, const char *name, uint32_t type, const void *desc,
		    size_t len)
{
	Elf64_Nhdr nh = { .n_namesz = strlen(name) + 1, .n_descsz = len, .n_type = type };
	int r;

	if ((r = conv_buf_put(b, &nh, sizeof(nh))) || (r = conv_buf_put(b, name, nh.n_namesz)) ||
	    (r = put_pad4(b, nh.n_namesz)) || (r = conv_buf_put(b, desc, len)) ||
	    (r = put_pad4(b, len)))
		return r;
	return 0;
}

static struct timeval ticks_to_tv(uint64_t ticks)
{
	return (struct timeval){ .tv_sec = ticks / USER_HZ,
				 .tv_usec = (ticks % USER_HZ) * (1000000 / USER_HZ) };
}

/* SigPnd, plus whatever queued siginfo says, in case only one was recorded. */
static uint64_t thread_sigpend(const ThreadEntry *t)
{
	uint64_t mask = t->has_pending_mask ? t->pending_mask : 0;

	for (size_t i = 0; i < t->n_pending; i++) {
		int sig;

		if (t->pending[i].len < sizeof(int))
			continue;
		memcpy(&sig, t->pending[i].data, sizeof(sig));
		if (sig > 0 && sig <= 64)
			mask |= 1ull << (sig - 1);
	}
	return mask;
}

static int put_prstatus(struct conv_buf *b, const struct dr_proc *p, const ThreadEntry *t,
			bool leader)
{
	const ProcEntry *pe = p->pe;
	struct elf_prstatus ps;

	memset(&ps, 0, sizeof(ps));
	ps.pr_info.si_signo = SIGSTOP;
	ps.pr_cursig = SIGSTOP;
	ps.pr_sigpend = thread_sigpend(t);
	ps.pr_sighold = t->blocked;
	ps.pr_pid = t->tid;
	ps.pr_ppid = pe->ppid;
	ps.pr_pgrp = pe->pgid;
	ps.pr_sid = pe->sid;
	/* As the kernel: the leader reports the whole group's times. */
	ps.pr_utime = ticks_to_tv(leader ? pe->utime : t->utime);
	ps.pr_stime = ticks_to_tv(leader ? pe->stime : t->stime);
	memcpy(&ps.pr_reg, t->gpregs.data, sizeof(ps.pr_reg));
	ps.pr_fpvalid = (t->has_fpregs && t->fpregs.len) || (t->has_xstate && t->xstate.len);
	return put_note(b, "CORE", NT_PRSTATUS, &ps, sizeof(ps));
}

/* The kernel's state number and letter: index into "RSDTZW". */
static void psinfo_state(const char *state, struct elf_prpsinfo *pi)
{
	static const char letters[] = "RSDTZW";
	char c = state && *state ? *state : 'R';
	const char *at;

	if (c == 't')
		c = 'T';
	if (c == 'I')
		c = 'D';	/* TASK_IDLE is an uninterruptible sleep */
	at = strchr(letters, c);
	pi->pr_state = at ? at - letters : 0;
	pi->pr_sname = at ? c : '.';
	pi->pr_zomb = c == 'Z';
}

static int put_prpsinfo(struct conv_buf *b, const struct dr_proc *p)
{
	const ProcEntry *pe = p->pe;
	struct elf_prpsinfo pi;
	size_t n;

	memset(&pi, 0, sizeof(pi));
	psinfo_state(pe->state, &pi);
	pi.pr_nice = pe->has_nice ? pe->nice : 0;
	if (pe->creds) {
		pi.pr_uid = pe->creds->uid;
		pi.pr_gid = pe->creds->gid;
	}
	pi.pr_pid = pe->pid;
	pi.pr_ppid = pe->ppid;
	pi.pr_pgrp = pe->pgid;
	pi.pr_sid = pe->sid;
	n = strnlen(pe->comm, sizeof(pi.pr_fname));
	memcpy(pi.pr_fname, pe->comm, n);
	/* The argument area, NULs turned into spaces, at most 79 bytes: the
	 * kernel's psargs, trailing space included. */
	if (pe->has_cmdline) {
		n = pe->cmdline.len < sizeof(pi.pr_psargs) - 1 ? pe->cmdline.len
							       : sizeof(pi.pr_psargs) - 1;
		memcpy(pi.pr_psargs, pe->cmdline.data, n);
		for (size_t i = 0; i < n; i++)
			if (!pi.pr_psargs[i])
				pi.pr_psargs[i] = ' ';
	}
	return put_note(b, "CORE", NT_PRPSINFO, &pi, sizeof(pi));
}

static int put_siginfo(struct conv_buf *b)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGSTOP;
	si.si_code = SI_USER;
	return put_note(b, "CORE", NT_SIGINFO, &si, sizeof(si));
}

/* The kernel names a mapped file by d_path(), which says " (deleted)" for
 * every object without a name in a directory: unlinked files, and also
 * shared anonymous memory (/dev/zero), memfd and SysV shm. */
static bool vma_unlinked(const VmaEntry *v, const char *path)
{
	size_t n = strlen(path);

	if (n >= 10 && !strcmp(path + n - 10, " (deleted)"))
		return false;
	return v->status & (VMA_FILE_DELETED | VMA_ANON_SHARED);
}

/* NT_FILE: count, page size, (start, end, offset in pages) per mapped
 * file, then the names, each NUL-terminated, nothing after the last. */
static int put_file_note(struct conv_buf *b, const struct dr_proc *p, uint64_t page_size)
{
	struct conv_buf d = { 0 };
	uint64_t hdr[2] = { 0, page_size };
	int r;

	for (size_t i = 0; i < p->nr_vma; i++)
		hdr[0] += conv_vma_path(p->vma[i]) != NULL;
	r = conv_buf_put(&d, hdr, sizeof(hdr));
	for (size_t i = 0; i < p->nr_vma && !r; i++) {
		const VmaEntry *v = p->vma[i];
		uint64_t e[3] = { v->start, v->end, v->pgoff / page_size };

		if (conv_vma_path(v))
			r = conv_buf_put(&d, e, sizeof(e));
	}
	for (size_t i = 0; i < p->nr_vma && !r; i++) {
		const VmaEntry *v = p->vma[i];
		const char *path = conv_vma_path(v);

		if (!path)
			continue;
		r = conv_buf_put(&d, path, strlen(path));
		if (!r && vma_unlinked(v, path))
			r = conv_buf_put(&d, " (deleted)", 10);
		if (!r)
			r = conv_buf_put(&d, "", 1);
	}
	if (!r && d.len > FILE_NOTE_MAX)
		pr_warn("process %u maps too many files for an NT_FILE note; left out", p->ps->pid);
	else if (!r)
		r = put_note(b, "CORE", NT_FILE, d.p, d.len);
	conv_buf_free(&d);
	return r;
}

static int put_fpregs(struct conv_buf *b, const ThreadEntry *t)
{
	/* The FXSAVE image is also the first 512 bytes of the XSAVE area. */
	if (t->has_fpregs && t->fpregs.len == 512)
		return put_note(b, "CORE", NT_PRFPREG, t->fpregs.data, 512);
	if (t->has_xstate && t->xstate.len >= 512)
		return put_note(b, "CORE", NT_PRFPREG, t->xstate.data, 512);
	return 0;
}

static int put_xstate(struct conv_buf *b, const struct conv_xlayout *xl, const ThreadEntry *t)
{
	uint8_t *x;
	size_t len;
	int r;

	if (!t->has_xstate || !t->xstate.len)
		return 0;
	r = conv_xstate_bytes(xl, t->xstate.data, t->xstate.len, &x, &len);
	if (r < 0)
		return r;
	r = put_note(b, "LINUX", NT_X86_XSTATE, x, len);
	free(x);
	return r;
}

/* struct x86_xfeat_component {u32 type, size, offset, flags} per feature. */
static int put_xsave_layout(struct conv_buf *b, const struct conv_xlayout *xl)
{
	uint32_t v[64][4];

	if (!xl->nr)
		return 0;
	for (uint32_t i = 0; i < xl->nr; i++) {
		v[i][0] = xl->comp[i].feature;
		v[i][1] = xl->comp[i].size;
		v[i][2] = xl->comp[i].offset;
		v[i][3] = xl->comp[i].flags;
	}
	return put_note(b, "LINUX", NT_X86_XSAVE_LAYOUT, v, xl->nr * sizeof(v[0]));
}

static int put_thread(struct conv_buf *b, const struct dump_read *d, const struct dr_proc *p,
		      const struct conv_xlayout *xl, size_t i)
{
	const ThreadEntry *t = p->th[i];
	const ProcEntry *pe = p->pe;
	int r;

	r = put_prstatus(b, p, t, i == 0);
	if (!r && i == 0) {
		r = put_prpsinfo(b, p);
		if (!r)
			r = put_siginfo(b);
		if (!r && pe->has_auxv && pe->auxv.len)
			r = put_note(b, "CORE", NT_AUXV, pe->auxv.data, pe->auxv.len);
		else if (!r)
			pr_warn("proc-%u.img has no auxv: debuggers cannot place a PIE executable",
				p->ps->pid);
		if (!r)
			r = put_file_note(b, p, d->inv->page_size);
	}
	if (!r)
		r = put_fpregs(b, t);
	if (!r)
		r = put_xstate(b, xl, t);
	return r;
}

int conv_notes_build(const struct dump_read *d, const struct dr_proc *p,
		     const struct conv_xlayout *xl, struct conv_buf *out)
{
	int r = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < p->nr_th && !r; i++)
		r = put_thread(out, d, p, xl, i);
	if (!r)
		r = put_xsave_layout(out, xl);
	if (r < 0)
		conv_buf_free(out);
	return r;
}
