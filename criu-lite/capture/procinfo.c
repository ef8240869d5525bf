/* Everything /proc and libcap tell about one (frozen) process: identity,
 * cmdline/environ/auxv, cwd/root/exe, mm layout, personality, rlimits,
 * creds, coredump_filter, umask. Signal state (sigactions, itimers, the
 * shared queue) is sigstate.c's; it needs code run inside the target. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "common/buildid.h"
#include "common/procfs.h"
#include "criu-lite/capture/capture.h"
#include "criu-lite/capture/procinfo.h"
#include "common/vma.h"
#include "images/log.h"

/* proc(5) numbers of /proc/PID/stat fields. */
enum {
	ST_STATE = 3, ST_PPID = 4, ST_PGRP = 5, ST_SESSION = 6, ST_TTY_NR = 7, ST_TPGID = 8,
	ST_UTIME = 14, ST_STIME = 15,
	ST_NICE = 19, ST_STARTTIME = 22, ST_STARTCODE = 26, ST_ENDCODE = 27,
	ST_STARTSTACK = 28, ST_EXIT_SIGNAL = 38, ST_START_DATA = 45, ST_END_DATA = 46,
	ST_START_BRK = 47, ST_ARG_START = 48, ST_ARG_END = 49, ST_ENV_START = 50,
	ST_ENV_END = 51,
};

static int read_bytes(pid_t pid, const char *name, ProtobufCBinaryData *b, protobuf_c_boolean *has)
{
	char *buf;
	size_t len;
	int r = procfs_read(pid, name, &buf, &len);

	if (r < 0)
		return procfs_log_err(pid, name, r);
	b->data = (uint8_t *)buf;
	b->len = len;
	*has = 1;
	return 0;
}

static int read_hex(pid_t pid, const char *name, uint32_t *val, protobuf_c_boolean *has)
{
	char *buf;
	int r = procfs_read(pid, name, &buf, NULL);

	if (r < 0)
		return procfs_log_err(pid, name, r);
	*val = (uint32_t)strtoul(buf, NULL, 16);
	*has = 1;
	free(buf);
	return 0;
}

static int exe_identity(pid_t pid, FileIdentity **out)
{
	static const char deleted[] = " (deleted)";
	char *link;
	size_t n;
	int fd, r;

	r = procfs_readlink(pid, "exe", &link);
	if (r < 0)
		return procfs_log_err(pid, "exe", r);
	n = strlen(link);
	if (n >= sizeof(deleted) - 1 && !strcmp(link + n - (sizeof(deleted) - 1), deleted))
		link[n - (sizeof(deleted) - 1)] = '\0';
	/* Opening the link gives the very inode running, even if replaced. */
	fd = procfs_open(pid, "exe", O_RDONLY);
	if (fd < 0) {
		r = fd;
	} else {
		r = fileid_from_fd(fd, link, true, out);
		close(fd);
	}
	free(link);
	return r;
}

/* /proc/PID/stat has start_brk but not the current brk. The [heap] VMA is
 * what brk() maps: it ends at PAGE_ALIGN(brk). That is the brk recorded,
 * exact whenever brk is page-aligned (glibc's malloc only moves it in page
 * multiples) and otherwise at most a page above it; PR_SET_MM_BRK accepts
 * it, and the bytes in between are mapped either way. With no [heap], brk
 * never moved: it is start_brk. */
static int mm_brk(pid_t pid, uint64_t start_brk, uint64_t *brk)
{
	struct vma_list vl;
	int r = vma_list_read(pid, false, &vl);

	if (r < 0)
		return r;
	*brk = start_brk;
	for (size_t i = 0; i < vl.nr; i++)
		if (vl.v[i].kind == VMAK_HEAP)
			*brk = vl.v[i].end;
	vma_list_free(&vl);
	return 0;
}

static int fill_mm(pid_t pid, const struct procfs_stat *st, MmFields **out)
{
	MmFields *mm = malloc(sizeof(*mm));
	int r;

	if (!mm)
		return -ENOMEM;
	mm_fields__init(mm);
	mm->start_code = procfs_stat_u64(st, ST_STARTCODE);
	mm->end_code = procfs_stat_u64(st, ST_ENDCODE);
	mm->start_data = procfs_stat_u64(st, ST_START_DATA);
	mm->end_data = procfs_stat_u64(st, ST_END_DATA);
	mm->start_brk = procfs_stat_u64(st, ST_START_BRK);
	mm->start_stack = procfs_stat_u64(st, ST_STARTSTACK);
	mm->arg_start = procfs_stat_u64(st, ST_ARG_START);
	mm->arg_end = procfs_stat_u64(st, ST_ARG_END);
	mm->env_start = procfs_stat_u64(st, ST_ENV_START);
	mm->env_end = procfs_stat_u64(st, ST_ENV_END);
	r = mm_brk(pid, mm->start_brk, &mm->brk);
	if (r < 0) {
		img_free(mm);
		return r;
	}
	*out = mm;
	return 0;
}

/* /proc/PID/limits: a header, then one line per resource in RLIMIT_*
 * order, "%-25s %-20s %-20s %-10s" (name, soft, hard, units). */
static int limits_text(pid_t pid, struct rlimit rl[RLIM_NLIMITS])
{
	char *text, *line, *save = NULL;
	int r = procfs_read(pid, "limits", &text, NULL), res = -1;

	if (r < 0)
		return procfs_log_err(pid, "limits", r);
	for (line = strtok_r(text, "\n", &save); line && res < RLIM_NLIMITS;
	     line = strtok_r(NULL, "\n", &save), res++) {
		char *p = line + 26, *end;

		if (res < 0)
			continue;	/* the header */
		if (strlen(line) < 48)
			break;
		for (int k = 0; k < 2; k++) {
			rlim_t v = RLIM_INFINITY;

			p += strspn(p, " ");
			if (strncmp(p, "unlimited", 9))
				v = strtoull(p, &end, 10);
			else
				end = p + 9;
			*(k ? &rl[res].rlim_max : &rl[res].rlim_cur) = v;
			p = end;
		}
	}
	free(text);
	if (res < RLIM_NLIMITS) {
		pr_err("/proc/%d/limits: %d limits, expected %d", pid, res < 0 ? 0 : res, RLIM_NLIMITS);
		return -EINVAL;
	}
	return 0;
}

/* prlimit() wants matching uids/gids or CAP_SYS_RESOURCE, which a root
 * without that capability (containers) lacks for a setuid target;
 * /proc/PID/limits has the same numbers for anyone. */
static int read_rlimits(pid_t pid, struct rlimit rl[RLIM_NLIMITS])
{
	for (int res = 0; res < RLIM_NLIMITS; res++) {
		if (!prlimit(pid, res, NULL, &rl[res]))
			continue;
		if (errno == EPERM)
			return limits_text(pid, rl);
		return pr_perror("cannot read rlimit %d of %d", res, pid);
	}
	return 0;
}

static int fill_rlimits(pid_t pid, ProcEntry *pe)
{
	struct rlimit rl[RLIM_NLIMITS];
	int r = read_rlimits(pid, rl);

	if (r < 0)
		return r;
	pe->rlimits = calloc(RLIM_NLIMITS, sizeof(*pe->rlimits));
	if (!pe->rlimits)
		return -ENOMEM;
	for (int res = 0; res < RLIM_NLIMITS; res++) {
		RlimitEntry *re = malloc(sizeof(*re));

		if (!re)
			return -ENOMEM;
		rlimit_entry__init(re);
		pe->rlimits[pe->n_rlimits++] = re;
		re->resource = res;
		re->cur = rl[res].rlim_cur;
		re->max = rl[res].rlim_max;
	}
	return 0;
}

static int fill_from_stat(const struct dump_proc *p, const struct procfs_stat *st, ProcEntry *pe)
{
	char state[2] = { p->state ? p->state : st->field[ST_STATE - 1][0], '\0' };

	pe->pid = p->pid;
	pe->ppid = (uint32_t)procfs_stat_u64(st, ST_PPID);
	pe->pgid = (uint32_t)procfs_stat_u64(st, ST_PGRP);
	pe->sid = (uint32_t)procfs_stat_u64(st, ST_SESSION);
	pe->has_tty_nr = pe->has_tpgid = 1;
	pe->tty_nr = (uint32_t)procfs_stat_u64(st, ST_TTY_NR);
	pe->tpgid = (int32_t)procfs_stat_s64(st, ST_TPGID);
	pe->comm = strdup(st->field[1]);
	/* Now the process is stopped ('t'); the orchestrator knows what it
	 * was before the freeze. */
	pe->state = strdup(state);
	if (!pe->comm || !pe->state)
		return -ENOMEM;
	pe->has_nice = pe->has_start_time = pe->has_utime = pe->has_stime = 1;
	pe->nice = (int32_t)procfs_stat_s64(st, ST_NICE);
	pe->start_time = procfs_stat_u64(st, ST_STARTTIME);
	pe->utime = procfs_stat_u64(st, ST_UTIME);
	pe->stime = procfs_stat_u64(st, ST_STIME);
	pe->has_exit_signal = 1;
	pe->exit_signal = (uint32_t)procfs_stat_u64(st, ST_EXIT_SIGNAL);
	return fill_mm(p->pid, st, &pe->mm);
}

static int fill_status(pid_t pid, ProcEntry *pe)
{
	char *status;
	uint64_t v;
	int r = procfs_read(pid, "status", &status, NULL);

	if (r < 0)
		return procfs_log_err(pid, "status", r);
	if (!procfs_field_u64(status, "Umask", 8, &v))
		pe->has_umask = 1, pe->umask = (uint32_t)v;
	if (!procfs_field_u64(status, "ShdPnd", 16, &v))
		pe->has_shared_pending_mask = 1, pe->shared_pending_mask = v;
	r = procinfo_creds(pid, status, &pe->creds);
	free(status);
	return r;
}

static int fill_paths(pid_t pid, ProcEntry *pe)
{
	int r;

	if ((r = procfs_readlink(pid, "cwd", &pe->cwd)) < 0 ||
	    (r = procfs_readlink(pid, "root", &pe->root)) < 0) {
		if (r == -ESRCH)
			return procfs_log_err(pid, "cwd", r);
		errno = -r;
		return pr_perror("cannot read the cwd/root of %d", pid);
	}
	return exe_identity(pid, &pe->exe);
}

int procinfo_collect(const struct dump_proc *p, ProcEntry **out)
{
	ProcEntry *pe = malloc(sizeof(*pe));
	struct procfs_stat st;
	int r;

	*out = NULL;
	if (!pe)
		return -ENOMEM;
	proc_entry__init(pe);
	r = procfs_stat_read(p->pid, &st);
	if (r < 0) {
		free(pe);
		return procfs_log_err(p->pid, "stat", r);
	}
	if (st.nr < ST_ENV_END) {
		pr_err("/proc/%d/stat has %d fields, too few", p->pid, st.nr);
		r = -EINVAL;
	} else {
		r = fill_from_stat(p, &st, pe);
	}
	procfs_stat_free(&st);
	if (r >= 0)
		r = fill_status(p->pid, pe);
	if (r >= 0)
		r = read_bytes(p->pid, "cmdline", &pe->cmdline, &pe->has_cmdline);
	if (r >= 0)
		r = read_bytes(p->pid, "environ", &pe->environ, &pe->has_environ);
	if (r >= 0)
		r = read_bytes(p->pid, "auxv", &pe->auxv, &pe->has_auxv);
	if (r >= 0)
		r = fill_paths(p->pid, pe);
	if (r >= 0)
		r = read_hex(p->pid, "personality", &pe->personality, &pe->has_personality);
	if (r >= 0)
		r = read_hex(p->pid, "coredump_filter", &pe->coredump_filter,
			     &pe->has_coredump_filter);
	if (r >= 0)
		r = fill_rlimits(p->pid, pe);
	if (r < 0) {
		img_free(pe);
		return r;
	}
	*out = pe;
	return 0;
}
