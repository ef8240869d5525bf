/* Human-readable views of a dump directory, in the spirit of crit's `x`
 * commands: the process tree, each process's memory, each process's fds. */
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
#include "images/image.h"
#include "images/log.h"

struct tree {
	PstreeEntry **procs;
	size_t n;
};

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		img_free(t->procs[i]);
	free(t->procs);
	t->procs = NULL;
	t->n = 0;
}

static int tree_load(int dirfd, struct tree *t)
{
	int r = img_read_all(dirfd, IMG_PSTREE, 0, false, NULL, (void ***)&t->procs, &t->n);

	if (r == -ENOENT)
		pr_err("no pstree.img: not a criu-lite dump directory");
	else if (!r && !t->n)
		return pr_err("pstree.img has no process"), -EINVAL;
	return r;
}

/* comm from proc-PID.img, else the leader's from threads-PID.img, else "?".
 * A missing image is fine (a pre-dump has none); a malformed one was
 * logged by the reader and is remembered in *err for the exit status. */
static void proc_comm(int dirfd, int pid, char *buf, size_t len, int *err)
{
	ProcEntry *pe;
	ThreadEntry *te;
	int r;

	snprintf(buf, len, "?");
	r = img_read_one(dirfd, IMG_PROC, pid, false, (void **)&pe);
	if (r == 0) {
		if (pe->comm[0])
			snprintf(buf, len, "%s", pe->comm);
		img_free(pe);
		if (buf[0] != '?')
			return;
	} else if (r != -ENOENT && !*err) {
		*err = r;
	}
	r = img_read_one(dirfd, IMG_THREADS, pid, false, (void **)&te);
	if (r == 0) {
		if (te->comm && te->comm[0])
			snprintf(buf, len, "%s", te->comm);
		img_free(te);
	} else if (r != -ENOENT && !*err) {
		*err = r;
	}
}

static ssize_t tree_find(const struct tree *t, uint32_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i]->pid == pid)
			return i;
	return -1;
}

static void ps_print(int dirfd, const struct tree *t, size_t i, int depth, bool *seen, FILE *out,
		     int *err)
{
	const PstreeEntry *p = t->procs[i];
	char comm[64];

	seen[i] = true;
	proc_comm(dirfd, p->pid, comm, sizeof(comm), err);
	fprintf(out, "%7u %7u %7u %7u %7zu  %*s%s\n", p->pid, p->ppid, p->pgid, p->sid,
		p->n_threads, depth * 2, "", comm);
	for (size_t c = 0; c < t->n; c++)
		if (!seen[c] && t->procs[c]->ppid == p->pid && c != i)
			ps_print(dirfd, t, c, depth + 1, seen, out, err);
}

int show_ps(int dirfd, FILE *out)
{
	struct tree t = { 0 };
	bool *seen;
	int err = 0, r = tree_load(dirfd, &t);

	if (r < 0)
		return r;
	seen = calloc(t.n, sizeof(*seen));
	if (!seen) {
		tree_free(&t);
		return -ENOMEM;
	}
	fprintf(out, "%7s %7s %7s %7s %7s  %s\n", "PID", "PPID", "PGID", "SID", "THREADS", "COMM");
	/* Roots are processes whose parent is not in the tree; `seen` keeps a
	 * corrupt image with a ppid cycle from recursing forever. */
	for (size_t i = 0; i < t.n; i++)
		if (!seen[i] && tree_find(&t, t.procs[i]->ppid) < 0)
			ps_print(dirfd, &t, i, 0, seen, out, &err);
	for (size_t i = 0; i < t.n; i++)
		if (!seen[i])
			ps_print(dirfd, &t, i, 0, seen, out, &err);
	free(seen);
	tree_free(&t);
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

static int vma_cmp(const void *a, const void *b)
{
	const VmaEntry *x = *(VmaEntry *const *)a, *y = *(VmaEntry *const *)b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Attribute one pagemap run to the VMAs it covers (binary search for the
 * first; a run crossing VMA borders is split). Returns pages outside. */
static uint64_t count_run(VmaEntry **vmas, size_t nv, struct vma_count *cnt,
			  const PagemapEntry *pe, uint64_t psz)
{
	uint64_t start = pe->vaddr, end = start + (uint64_t)pe->nr_pages * psz, inside = 0;
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
	return pe->nr_pages - inside;
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

/* The pagemap image: its head first, then runs. */
static int read_pagemap(int dirfd, int pid, PagemapHead **head, void ***runs, size_t *n)
{
	int r = img_read_all(dirfd, IMG_PAGEMAP, pid, false, &pagemap_head__descriptor, runs, n);

	*head = NULL;
	if (r < 0 || !*n)
		return r;
	*head = (*runs)[0];
	memmove(*runs, *runs + 1, --*n * sizeof(**runs));
	return 0;
}

static int mem_one(int dirfd, int pid, uint64_t psz, FILE *out)
{
	VmaEntry **vmas;
	PagemapHead *head;
	void **runs;
	size_t nv, nr;
	struct vma_count *cnt, tot = { 0 };
	uint64_t outside = 0, vpages = 0;
	char comm[64];
	int err = 0, r;

	proc_comm(dirfd, pid, comm, sizeof(comm), &err);
	fprintf(out, "pid %d (%s)\n", pid, comm);
	r = img_read_all(dirfd, IMG_MM, pid, false, NULL, (void ***)&vmas, &nv);
	if (r == -ENOENT)
		return fprintf(out, "  no mm image\n"), err;
	if (r < 0)
		return r;
	r = read_pagemap(dirfd, pid, &head, &runs, &nr);
	if (r == -ENOENT)
		head = NULL, runs = NULL, nr = 0;
	else if (r < 0) {
		img_free_all((void **)vmas, nv);
		return r;
	}
	cnt = calloc(nv ? nv : 1, sizeof(*cnt));
	if (!cnt) {
		img_free_all((void **)vmas, nv);
		img_free_all(runs, nr);
		img_free(head);
		return -ENOMEM;
	}
	qsort(vmas, nv, sizeof(*vmas), vma_cmp);
	for (size_t i = 0; i < nr; i++)
		outside += count_run(vmas, nv, cnt, runs[i], psz);
	fprintf(out, "  %-25s %-4s %7s %8s %7s %7s %7s %8s  %s\n", "RANGE", "PROT", "SIZE",
		"PRESENT", "ZERO", "FILE", "PARENT", "UNPOP", "NAME");
	for (size_t i = 0; i < nv; i++) {
		print_vma(out, vmas[i], &cnt[i], psz, &tot);
		vpages += vma_pages(vmas[i], psz);
	}
	fprintf(out, "  %zu VMAs, %" PRIu64 " pages: %" PRIu64 " stored in %s, %" PRIu64
		" zero, %" PRIu64 " file, %" PRIu64 " in parent, %" PRIu64 " unpopulated\n",
		nv, vpages, tot.present, head ? head->pages_file : "(no pagemap image)", tot.zero,
		tot.file, tot.parent, sub_sat(vpages, tot.present + tot.zero + tot.file + tot.parent));
	if (outside)
		fprintf(out, "  warning: %" PRIu64 " pagemap pages lie outside every VMA\n", outside);
	free(cnt);
	img_free_all((void **)vmas, nv);
	img_free_all(runs, nr);
	img_free(head);
	return err;
}

/* The dump's page size; this machine's without an inventory (an incomplete
 * dump), with a malformed one remembered in *err. */
static uint64_t dump_page_size(int dirfd, int *err)
{
	InventoryEntry *inv;
	uint64_t psz = sysconf(_SC_PAGESIZE);
	int r = img_read_one(dirfd, IMG_INVENTORY, 0, false, (void **)&inv);

	if (r < 0 && r != -ENOENT)
		*err = r;
	if (r == 0) {
		/* only a power of two keeps the arithmetic above sane */
		if (inv->page_size >= 1024 && !(inv->page_size & (inv->page_size - 1)))
			psz = inv->page_size;
		img_free(inv);
	}
	return psz;
}

int show_mem(int dirfd, FILE *out)
{
	struct tree t = { 0 };
	int r = 0, r0 = tree_load(dirfd, &t);
	uint64_t psz = dump_page_size(dirfd, &r);

	/* one bad process image does not hide the others; the first error
	 * decides the exit status */
	for (size_t i = 0; !r0 && i < t.n; i++) {
		int e;

		if (i)
			fputc('\n', out);
		e = mem_one(dirfd, t.procs[i]->pid, psz, out);
		if (e < 0 && !r)
			r = e;
	}
	tree_free(&t);
	return r0 ? r0 : r;
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

static int files_one(int dirfd, int pid, FILE *out)
{
	FdEntry **fds;
	size_t n;
	char comm[64], desc[1024];
	int err = 0, r;

	proc_comm(dirfd, pid, comm, sizeof(comm), &err);
	fprintf(out, "pid %d (%s)\n", pid, comm);
	r = img_read_all(dirfd, IMG_FILES, pid, false, NULL, (void ***)&fds, &n);
	if (r == -ENOENT)
		return fprintf(out, "  no files image\n"), err;
	if (r < 0)
		return r;
	fprintf(out, "  %5s  %-11s %s\n", "FD", "TYPE", "DESCRIPTION");
	for (size_t i = 0; i < n; i++) {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(&fd_type__descriptor, fds[i]->type);
		const char *type = ev ? ev->name : "?";

		if (!strncmp(type, "FD_", 3))
			type += 3;
		fprintf(out, "  %5u  %-11s %s\n", fds[i]->fd, type,
			show_fd_desc(fds, i, desc, sizeof(desc)));
	}
	img_free_all((void **)fds, n);
	return err;
}

int show_files(int dirfd, FILE *out)
{
	struct tree t = { 0 };
	int r = 0, r0 = tree_load(dirfd, &t);

	/* one bad process image does not hide the others; the first error
	 * decides the exit status */
	for (size_t i = 0; !r0 && i < t.n; i++) {
		int e;

		if (i)
			fputc('\n', out);
		e = files_one(dirfd, t.procs[i]->pid, out);
		if (e < 0 && !r)
			r = e;
	}
	tree_free(&t);
	return r0 ? r0 : r;
}
