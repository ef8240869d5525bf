/* Human-readable views of a dump, in the spirit of crit's `x` commands:
 * the process tree, each process's memory, each process's fds. Read
 * through images/dump_read.h: what is shown passed the readers' checks. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "criu-lite/inspect/show.h"
#include "images/dump_read.h"
#include "images/log.h"

/* Process i's parts `what`, as far as they are there (a pre-dump has no
 * proc, threads nor files images), and its comm: proc-PID.img's, else the
 * leader's, else "?". A malformed image was logged by the reader and is
 * remembered in *err for the exit status; the summary goes on. */
static bool summary_load(struct dump_read *d, size_t i, unsigned what, struct dr_proc *p,
			 char *comm, size_t len, int *err)
{
	int r = dr_proc_load(d, i, what | DR_PROC | DR_THREADS | DR_MISSING_OK, p);

	snprintf(comm, len, "?");
	if (r < 0) {
		if (!*err)
			*err = r;
		return false;
	}
	if (p->pe && p->pe->comm[0])
		snprintf(comm, len, "%s", p->pe->comm);
	else if (p->nr_th && p->th[0]->comm && p->th[0]->comm[0])
		snprintf(comm, len, "%s", p->th[0]->comm);
	return true;
}

static void ps_print(struct dump_read *d, size_t i, int depth, bool *seen, FILE *out, int *err)
{
	const PstreeEntry *p = d->ps[i];
	struct dr_proc pr;
	char comm[64];

	seen[i] = true;
	if (summary_load(d, i, 0, &pr, comm, sizeof(comm), err))
		dr_proc_free(&pr);
	fprintf(out, "%7u %7u %7u %7u %7zu  %*s%s\n", p->pid, p->ppid, p->pgid, p->sid,
		p->n_threads, depth * 2, "", comm);
	for (size_t c = 0; c < d->nr_ps; c++)
		if (!seen[c] && d->ps[c]->ppid == p->pid && c != i)
			ps_print(d, c, depth + 1, seen, out, err);
}

int show_ps(const char *dir, FILE *out)
{
	struct dump_read d;
	bool *seen;
	int err = 0, r = dr_open(dir, DR_PREDUMP_OK, &d);

	if (r < 0)
		return r;
	seen = calloc(d.nr_ps, sizeof(*seen));
	if (!seen) {
		dr_close(&d);
		return -ENOMEM;
	}
	fprintf(out, "%7s %7s %7s %7s %7s  %s\n", "PID", "PPID", "PGID", "SID", "THREADS", "COMM");
	/* The reader ordered the tree parents first: the root leads. */
	for (size_t i = 0; i < d.nr_ps; i++)
		if (!seen[i])
			ps_print(&d, i, 0, seen, out, &err);
	free(seen);
	dr_close(&d);
	return err;
}

/* ---- --mem ---- */

struct vma_count {
	uint64_t present, zero, file, parent;
};

static void human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTP";
	double v = bytes / 1024.0;
	int u = 0;

	while (v >= 1024 && u < 4)
		v /= 1024, u++;
	if (v == (uint64_t)v)
		snprintf(buf, len, "%" PRIu64 "%c", (uint64_t)v, units[u]);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
}


/* Attribute one page run to the VMAs it covers (binary search for the
 * first; a run crossing VMA borders is split). Returns pages outside. */
static uint64_t count_run(VmaEntry **vmas, size_t nv, struct vma_count *cnt,
			  const struct dr_run *pe, uint64_t psz)
{
	uint64_t start = pe->start, end = pe->end, inside = 0;
	size_t lo = 0, hi = nv;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (vmas[mid]->end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < nv && vmas[i]->start < end; i++) {
		uint64_t s = start > vmas[i]->start ? start : vmas[i]->start;
		uint64_t e = end < vmas[i]->end ? end : vmas[i]->end;
		uint64_t pages = e > s ? (e - s) / psz : 0;

		inside += pages;
		if (pe->flags & PE_PRESENT)
			cnt[i].present += pages;
		else if (pe->flags & PE_ZERO)
			cnt[i].zero += pages;
		else if (pe->flags & PE_FILE)
			cnt[i].file += pages;
		else if (pe->flags & PE_PARENT)
			cnt[i].parent += pages;
	}
	return (end - start) / psz - inside;
}

/* Pages of a VMA; 0 for an inverted (corrupt) one rather than a wrap. */
static uint64_t vma_pages(const VmaEntry *v, uint64_t psz)
{
	return v->end > v->start ? (v->end - v->start) / psz : 0;
}

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static void print_vma(FILE *out, const VmaEntry *v, const struct vma_count *c, uint64_t psz,
		      struct vma_count *tot)
{
	uint64_t pages = vma_pages(v, psz);
	uint64_t stored = c->present + c->zero + c->file + c->parent;
	char size[16];

	human_size(pages * psz, size, sizeof(size));
	fprintf(out, "  %012" PRIx64 "-%012" PRIx64 " %c%c%c%c %7s %8" PRIu64 " %7" PRIu64
		" %7" PRIu64 " %7" PRIu64 " %8" PRIu64 "  %s\n",
		v->start, v->end, v->prot & PROT_READ ? 'r' : '-', v->prot & PROT_WRITE ? 'w' : '-',
		v->prot & PROT_EXEC ? 'x' : '-', v->flags & MAP_SHARED ? 's' : 'p', size,
		c->present, c->zero, c->file, c->parent, sub_sat(pages, stored),
		v->name ? v->name : "");
	tot->present += c->present;
	tot->zero += c->zero;
	tot->file += c->file;
	tot->parent += c->parent;
}

static int mem_one(struct dump_read *d, size_t idx, FILE *out)
{
	uint64_t psz = d->inv->page_size, outside = 0, vpages = 0;
	struct vma_count *cnt, tot = { 0 };
	struct dr_proc p;
	char comm[64];
	int err = 0;

	if (!summary_load(d, idx, DR_VMAS | DR_PAGES, &p, comm, sizeof(comm), &err)) {
		fprintf(out, "pid %u (%s)\n", d->ps[idx]->pid, comm);
		return err;
	}
	fprintf(out, "pid %u (%s)\n", p.ps->pid, comm);
	if (!(p.loaded & DR_VMAS)) {
		fprintf(out, "  no mm image\n");
		goto out;
	}
	cnt = calloc(p.nr_vma ? p.nr_vma : 1, sizeof(*cnt));
	if (!cnt) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; p.pages && i < p.pages->nr; i++)
		outside += count_run(p.vma, p.nr_vma, cnt, &p.pages->run[i], psz);
	fprintf(out, "  %-25s %-4s %7s %8s %7s %7s %7s %8s  %s\n", "RANGE", "PROT", "SIZE",
		"PRESENT", "ZERO", "FILE", "PARENT", "UNPOP", "NAME");
	for (size_t i = 0; i < p.nr_vma; i++) {
		print_vma(out, p.vma[i], &cnt[i], psz, &tot);
		vpages += vma_pages(p.vma[i], psz);
	}
	fprintf(out, "  %zu VMAs, %" PRIu64 " pages: %" PRIu64 " stored in %s, %" PRIu64
		" zero, %" PRIu64 " file, %" PRIu64 " in parent, %" PRIu64 " unpopulated\n",
		p.nr_vma, vpages, tot.present, p.pages ? p.pages->pages_file : "(no pagemap image)",
		tot.zero, tot.file, tot.parent,
		sub_sat(vpages, tot.present + tot.zero + tot.file + tot.parent));
	if (outside)
		fprintf(out, "  warning: %" PRIu64 " pagemap pages lie outside every VMA\n", outside);
	free(cnt);
out:
	dr_proc_free(&p);
	return err;
}

/* Each process in turn, a blank line between them; one bad process image
 * does not hide the others, the first error decides the exit status. */
static int per_process(const char *dir, FILE *out, int (*one)(struct dump_read *, size_t, FILE *),
		       int (*then)(struct dump_read *, FILE *))
{
	struct dump_read d;
	int r = dr_open(dir, DR_PREDUMP_OK, &d), err = 0;

	for (size_t i = 0; !r && i < d.nr_ps; i++) {
		int e;

		if (i)
			fputc('\n', out);
		e = one(&d, i, out);
		if (e < 0 && !err)
			err = e;
	}
	if (!r && then) {
		int e = then(&d, out);

		if (e < 0 && !err)
			err = e;
	}
	dr_close(&d);
	return r ? r : err;
}

int show_mem(const char *dir, FILE *out)
{
	return per_process(dir, out, mem_one, NULL);
}

/* ---- --files ---- */

/* Appending formatter: text past the end is cut, never overflows. */
struct sbuf {
	char *p;
	size_t len, used;
};

static void __attribute__((format(printf, 2, 3))) sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->used >= b->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->used, b->len - b->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->used += n;
}

static const char *name_of(const char *const *names, size_t n, uint32_t v)
{
	return v < n && names[v] ? names[v] : NULL;
}

#define NAME_OF(tbl, v) name_of(tbl, sizeof(tbl) / sizeof(tbl[0]), v)

static const char *const sock_families[] = {
	[AF_UNIX] = "unix", [AF_INET] = "inet", [AF_INET6] = "inet6",
	[AF_NETLINK] = "netlink", [AF_PACKET] = "packet", [AF_VSOCK] = "vsock",
};
static const char *const sock_types[] = {
	[SOCK_STREAM] = "stream", [SOCK_DGRAM] = "dgram", [SOCK_RAW] = "raw",
	[SOCK_SEQPACKET] = "seqpacket", [SOCK_PACKET] = "packet",
};
/* sock_diag reports unix sockets with the TCP state numbers too. */
static const char *const sock_states[] = {
	[1] = "ESTABLISHED", [2] = "SYN_SENT", [3] = "SYN_RECV", [4] = "FIN_WAIT1",
	[5] = "FIN_WAIT2", [6] = "TIME_WAIT", [7] = "CLOSE", [8] = "CLOSE_WAIT",
	[9] = "LAST_ACK", [10] = "LISTEN", [11] = "CLOSING",
};

static const char *const clock_names[] = {
	[CLOCK_REALTIME] = "realtime", [CLOCK_MONOTONIC] = "monotonic",
	[CLOCK_BOOTTIME] = "boottime", [CLOCK_REALTIME_ALARM] = "realtime-alarm",
	[CLOCK_BOOTTIME_ALARM] = "boottime-alarm",
};

static void sb_addr(struct sbuf *b, uint32_t family, const SockAddr *a)
{
	if (!a) {
		sb_add(b, "-");
	} else if (family == AF_UNIX) {
		sb_add(b, "%s", a->path && *a->path ? a->path : "(unnamed)");
	} else if (a->ip) {
		bool v6 = strchr(a->ip, ':') != NULL;

		sb_add(b, v6 ? "[%s]" : "%s", a->ip);
		if (a->has_port)
			sb_add(b, ":%u", a->port);
	} else {
		sb_add(b, "?");
	}
}

/* A peer worth printing: not the unnamed unix end nor the wildcard
 * 0.0.0.0:0 / [::]:0 that sock_diag gives listeners and unconnected UDP. */
static bool addr_named(uint32_t family, const SockAddr *a)
{
	if (!a)
		return false;
	if (family == AF_UNIX)
		return a->path && *a->path;
	if (!a->ip)
		return false;
	return (a->has_port && a->port) || (strcmp(a->ip, "0.0.0.0") && strcmp(a->ip, "::"));
}

static void sb_socket(struct sbuf *b, const SocketInfo *s)
{
	bool peer = addr_named(s->family, s->peer);

	const char *fam = NAME_OF(sock_families, s->family);
	const char *type = NAME_OF(sock_types, s->type);
	const char *state = s->has_state ? NAME_OF(sock_states, s->state) : NULL;

	fam ? sb_add(b, "%s", fam) : sb_add(b, "family%u", s->family);
	type ? sb_add(b, " %s", type) : sb_add(b, " type%u", s->type);
	if (s->has_state)
		state ? sb_add(b, " %s", state) : sb_add(b, " state%u", s->state);
	sb_add(b, " ");
	sb_addr(b, s->family, s->local);
	if (peer || (s->has_peer_ino && s->peer_ino)) {
		sb_add(b, " -> ");
		if (peer)
			sb_addr(b, s->family, s->peer);
		if (s->has_peer_ino && s->peer_ino)
			sb_add(b, "%speer ino %" PRIu64, peer ? " " : "", s->peer_ino);
	}
	if (s->has_backlog && s->has_state && s->state == 10)
		sb_add(b, " backlog %u", s->backlog);
	if ((s->has_rqueue && s->rqueue) || (s->has_wqueue && s->wqueue))
		sb_add(b, " rq %u wq %u", s->rqueue, s->wqueue);
	sb_add(b, " ino %" PRIu64, s->ino);
}

/* A pipe's unread bytes are stored once per process, with the lowest fd
 * on it; the other ends point there. */
static void sb_pipe(struct sbuf *b, FdEntry *const *fds, size_t i)
{
	const PipeInfo *p = fds[i]->pipe;

	sb_add(b, "pipe:[%" PRIu64 "]", p->ino);
	if (p->has_data) {
		sb_add(b, " %zu bytes queued%s", p->data.len,
		       p->has_data_truncated && p->data_truncated ? " (more not captured)" : "");
		return;
	}
	for (size_t j = 0; j < i; j++)
		if (fds[j]->pipe && fds[j]->pipe->ino == p->ino && fds[j]->pipe->has_data) {
			sb_add(b, " queued bytes recorded with fd %u", fds[j]->fd);
			return;
		}
	sb_add(b, " empty");
}

static void sb_access(struct sbuf *b, const FdEntry *fd)
{
	static const char *const acc[] = { "r", "w", "rw", "?" };

	sb_add(b, " (%s%s%s%s)", acc[fd->flags & O_ACCMODE], fd->flags & O_APPEND ? ",append" : "",
	       fd->flags & O_NONBLOCK ? ",nonblock" : "",
	       fd->has_fd_flags && (fd->fd_flags & FD_CLOEXEC) ? ",cloexec" : "");
}

static const char *path_of(const FdEntry *fd)
{
	if (fd->file && fd->file->path)
		return fd->file->path;
	return fd->link ? fd->link : "?";
}

static void sb_typed(struct sbuf *b, const FdEntry *fd)
{
	switch (fd->type) {
	case FD_TYPE__FD_EVENTFD:
		sb_add(b, "eventfd count %" PRIu64 "%s", fd->eventfd_count,
		       fd->has_eventfd_semaphore && fd->eventfd_semaphore ? " semaphore" : "");
		break;
	case FD_TYPE__FD_EPOLL:
		sb_add(b, "epoll watching");
		for (size_t i = 0; i < fd->n_epoll_tfds; i++)
			sb_add(b, "%s %u", i ? "," : "", fd->epoll_tfds[i]);
		if (!fd->n_epoll_tfds)
			sb_add(b, " nothing");
		break;
	case FD_TYPE__FD_SIGNALFD:
		sb_add(b, "signalfd mask %#" PRIx64, fd->signalfd_mask);
		break;
	case FD_TYPE__FD_TIMERFD:
		sb_add(b, "timerfd");
		if (fd->timerfd) {
			const char *clk = NAME_OF(clock_names, fd->timerfd->clockid);

			clk ? sb_add(b, " %s", clk) : sb_add(b, " clock %u", fd->timerfd->clockid);
			if (fd->timerfd->value_ns || fd->timerfd->interval_ns)
				sb_add(b, ", next in %.3f s, every %.3f s",
				       fd->timerfd->value_ns / 1e9, fd->timerfd->interval_ns / 1e9);
			else
				sb_add(b, ", disarmed");
		}
		break;
	case FD_TYPE__FD_INOTIFY:
		sb_add(b, "inotify, %zu watches", fd->n_inotify);
		break;
	case FD_TYPE__FD_PIDFD:
		sb_add(b, "pidfd of pid %d", fd->has_pidfd_pid ? fd->pidfd_pid : 0);
		break;
	case FD_TYPE__FD_MEMFD:
		sb_add(b, "memfd:%s", fd->memfd_name ? fd->memfd_name : "?");
		if (fd->has_pos)
			sb_add(b, " pos %" PRIu64, fd->pos);
		break;
	case FD_TYPE__FD_TTY:
		sb_add(b, "%s", path_of(fd));
		if (fd->has_tty_rdev)
			sb_add(b, " rdev %u:%u", major(fd->tty_rdev), minor(fd->tty_rdev));
		if (fd->has_tty_index)
			sb_add(b, " (master of /dev/pts/%d)", fd->tty_index);
		break;
	default:	/* regular files, dirs, devices */
		sb_add(b, "%s", path_of(fd));
		if (fd->has_pos && fd->type != FD_TYPE__FD_CHR)
			sb_add(b, " pos %" PRIu64, fd->pos);
		break;
	}
}

static const char *show_fd_desc(FdEntry *const *fds, size_t i, char *buf, size_t len)
{
	const FdEntry *fd = fds[i];
	struct sbuf b = { buf, len, 0 };

	buf[0] = '\0';
	if (fd->type == FD_TYPE__FD_UNSUPPORTED) {
		sb_add(&b, "%s (unsupported: %s)", fd->link ? fd->link : "?",
		       fd->unsupported_reason ? fd->unsupported_reason : "unknown kind");
		return buf;
	}
	if (fd->type == FD_TYPE__FD_FIFO)
		sb_add(&b, "%s ", path_of(fd));
	if ((fd->type == FD_TYPE__FD_PIPE || fd->type == FD_TYPE__FD_FIFO) && fd->pipe)
		sb_pipe(&b, fds, i);
	else if (fd->type == FD_TYPE__FD_SOCKET && fd->sock)
		sb_socket(&b, fd->sock);
	else if (fd->type != FD_TYPE__FD_FIFO)
		sb_typed(&b, fd);
	sb_access(&b, fd);
	return buf;
}

static int files_one(struct dump_read *d, size_t idx, FILE *out)
{
	char comm[64], desc[1024];
	struct dr_proc p;
	int err = 0;

	if (!summary_load(d, idx, DR_FDS, &p, comm, sizeof(comm), &err)) {
		fprintf(out, "pid %u (%s)\n", d->ps[idx]->pid, comm);
		return err;
	}
	fprintf(out, "pid %u (%s)\n", p.ps->pid, comm);
	if (!(p.loaded & DR_FDS)) {
		fprintf(out, "  no files image\n");
		dr_proc_free(&p);
		return err;
	}
	fprintf(out, "  %5s  %-11s %s\n", "FD", "TYPE", "DESCRIPTION");
	for (size_t i = 0; i < p.nr_fd; i++) {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(&fd_type__descriptor, p.fd[i]->type);
		const char *type = ev ? ev->name : "?";

		if (!strncmp(type, "FD_", 3))
			type += 3;
		fprintf(out, "  %5u  %-11s %s\n", p.fd[i]->fd, type,
			show_fd_desc(p.fd, i, desc, sizeof(desc)));
	}
	dr_proc_free(&p);
	return err;
}

/* The files the tree could write, as the dump copied them for a replay. */
static int fcopies(struct dump_read *d, FILE *out)
{
	FcopyEntry **v;
	size_t n;
	int r = dr_fcopy_load(d, &v, &n);

	if (r || !n)
		return r;
	fprintf(out, "\nfiles the tree could write, as of the dump (a replay's):\n");
	fprintf(out, "  %12s  %-16s %s\n", "BYTES", "COPY", "PATH");
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "  %12" PRIu64 "  %-16s %s%s\n", v[i]->size,
			v[i]->copy ? v[i]->copy : "not copied", v[i]->path,
			v[i]->mapped_shared ? " (mapped shared)" : "");
		if (!v[i]->copy && v[i]->why_not)
			fprintf(out, "  %12s  %-16s (%s)\n", "", "", v[i]->why_not);
	}
	img_free_all((void **)v, n);
	return 0;
}

int show_files(const char *dir, FILE *out)
{
	return per_process(dir, out, files_one, fcopies);
}
