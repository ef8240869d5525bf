/* TCP connections, dump: the network lock over a process's connections,
 * and reading them ahead on two threads.
 *
 * A connection costs some two dozen syscalls (stat and fdinfo, borrowing
 * the socket, its signal owner, its options, the repair-mode reads), each
 * about a microsecond in a guest. The process is frozen and locked, and
 * the connections are independent: from PRE_MIN connections on
 * (CRIU_LITE_TCP_PREFETCH), the walk's reads of them are done first, by
 * criu-lite and one worker thread taking chunks of them in turn, into one
 * record each. A chunk is read step by step over all its connections, so
 * that what needs no answer but a result (the socket-level options, the
 * repair-mode switches) goes to the ring for the whole chunk at once. The walk
 * (criu-lite/files/) then goes over the fds in order as before and takes
 * a record where there is one, so what is written, logged and held stays
 * serial and in fd order. A record not read whole (the fd closed
 * meanwhile, criu-lite's fd limit) is simply not taken: the walk reads
 * that fd itself and says what failed.
 *
 * Where the BPF iterator read the process's sockets first (socket_bpf.c),
 * a connection costs one syscall here, borrowing it: its stat, fdinfo,
 * owner, options and repair values are taken from its record.
 *
 * What the threads share is read-only while they run: the sock_diag
 * table, the BPF records, the reference sockets (socket_opts.c, made for
 * every kind first) and the fd limit; each has its own dump ring
 * (socket_ring.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/types.h>

#include "common/fd/bpf/sock_fds.h"
#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "common/procfs.h"
#include "images/log.h"

/* A connection read costs ~35 us (~24 syscalls), half of it spared on two
 * threads; a process's first thread costs 0.25 to 1.2 ms to start and join
 * here (later ones ~50 us): below a few dozen connections, one thread. */
#define PRE_MIN 32

/* How many sockets a process needs for the read ahead: PRE_MIN, or
 * CRIU_LITE_TCP_PREFETCH (0: never; the tests set 1 to read every
 * connection ahead, and 0 to read none). */
static size_t pre_min(void)
{
	const char *v = getenv("CRIU_LITE_TCP_PREFETCH");
	char *end;
	unsigned long n;

	if (!v || !*v)
		return PRE_MIN;
	n = strtoul(v, &end, 10);
	return *end ? PRE_MIN : n ? n : (size_t)-1;
}

/* One connection read ahead. */
struct sk_pre {
	int fd;
	const struct sk_rec *rec;
	bool desc_ok;			/* st and fdinfo read */
	struct stat st;
	char *fdinfo;
	int s;				/* the borrowed copy, or -1: not read ahead */
	bool lent;			/* s is the walk's now (sk_pre_getfd) */
	bool own_ok;			/* own and sig read (lock.c's owner) */
	struct f_owner_ex own;
	int sig;
	int opts_r;			/* sk_opts_dump's result, opts what it made */
	SkOpts *opts;
	int tcp_r;			/* sk_tcp_read's result and what it read */
	bool refused;
	uint32_t state;
	SkTcp *tcp;
};

struct sk_pre_set {
	struct sk_pre *v;
	size_t n;
	pid_t pid;
	int pidfd;
	int fdinfo_dir;			/* /proc/PID/fdinfo, or -1 */
	const struct sk_cache *sk;	/* its BPF records (socket_bpf.c) */
	bool check;			/* CRIU_LITE_TCP_BPF=check */
	size_t chunk;			/* connections a read_chunk */
	rlim_t fd_limit;
};

static int add_conn(const struct sk_rec *rec, struct sk_conn **conns, size_t *n, size_t *cap)
{
	if (rec->protocol != IPPROTO_TCP || rec->state == SK_LISTEN || rec->state == SK_CLOSE)
		return 0;
	if (*n == *cap) {
		struct sk_conn *nc = realloc(*conns, (*cap = *cap ? *cap * 2 : 64) * sizeof(*nc));

		if (!nc)
			return -ENOMEM;
		*conns = nc;
	}
	(*conns)[*n] = (struct sk_conn){ .family = (int)rec->family, .lport = rec->lport,
					  .pport = rec->pport };
	memcpy((*conns)[*n].lip, rec->lip, sizeof(rec->lip));
	memcpy((*conns)[*n].pip, rec->pip, sizeof(rec->pip));
	(*n)++;
	return 0;
}

/* Every TCP connection the process holds, locked in one go: one nftables
 * transaction per process, not per socket (each costs milliseconds). */
int sk_tcp_lock_process(struct fd_dump *c)
{
	struct sk_conn *conns = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	for (size_t i = 0; i < c->nr_fds && !r; i++) {
		unsigned long long ino;
		const struct sk_rec *rec;

		if (c->links[i] && sscanf(c->links[i], "socket:[%llu]", &ino) == 1 &&
		    (rec = sk_find(c->sk, ino)))
			r = add_conn(rec, &conns, &n, &cap);
	}
	if (!r)
		r = sk_lock_add(c->pid, conns, n);
	free(conns);
	return r;
}

/* ---- reading ahead ---- */

/* A connection the walk reads in repair mode (sk_inet_dump's cases). */
static bool read_in_repair(const struct sk_rec *r)
{
	return (r->family == AF_INET || r->family == AF_INET6) && r->type == SOCK_STREAM &&
	       r->protocol == IPPROTO_TCP && r->state != SK_LISTEN && r->state != SK_CLOSE &&
	       r->state != TCP_SYN_SENT && r->state != TCP_SYN_RECV;
}

/* What fill_from_rec gives sk_opts_dump to go by. */
static void basics(const struct sk_rec *r, SocketInfo *si)
{
	socket_info__init(si);
	si->family = r->family;
	si->type = r->type;
	si->protocol = r->protocol;
	si->has_protocol = si->has_state = true;
	si->state = r->state;
}

/* The walk's stat and fdinfo of p->fd: as the BPF iterator read them (b:
 * of a socket, the walk takes its type and inode number), or the stat
 * through /proc/PID/fd/N, which is the stat of the file it links to (the
 * copy's, when there is one) and fdinfo relative to the process's fdinfo
 * directory (each spares a path walk from /, several microseconds in a
 * guest). */
static bool read_desc(const struct sk_pre_set *set, struct sk_pre *p,
		      const struct sock_fd_rec *b)
{
	char path[64];

	if (!set->check && (p->fdinfo = sk_bpf_fdinfo(b))) {
		memset(&p->st, 0, sizeof(p->st));
		p->st.st_mode = b->mode;
		p->st.st_ino = b->ino;
		return true;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", set->pid, p->fd);
	if (p->s >= 0 ? fstat(p->s, &p->st) : stat(path, &p->st))
		return false;
	if (set->fdinfo_dir >= 0)
		return !fd_dump_read_fdinfo_at(set->fdinfo_dir, p->fd, &p->fdinfo);
	return !fd_dump_read_fdinfo(set->pid, p->fd, &p->fdinfo);
}

/* The fd's description, its copy and its signal owner: true when the
 * copy is there to read its options and repair-mode values. */
static bool read_one(struct sk_pre_set *set, struct sk_pre *p)
{
	const struct sock_fd_rec *b = sk_bpf_fd(set->sk, p->fd);

	/* (a thread with an fd table of its own lists its fds too) */
	if (b && b->ino != p->rec->ino)
		b = NULL;

	p->s = (int)syscall(SYS_pidfd_getfd, set->pidfd, p->fd, 0);
	p->desc_ok = read_desc(set, p, b);
	/* the walk keeps what it reads for the end of the dump: the room it
	 * leaves under criu-lite's fd limit is fd_dump_keep's */
	if (p->s >= 0 && (rlim_t)p->s + 256 > set->fd_limit) {
		close(p->s);
		p->s = -1;
	}
	if (p->s < 0)
		return false;
	/* the signal owner, as lock.c reads it (O_PATH: none); none when the
	 * BPF iterator saw none */
	p->own_ok = true;
	memset(&p->own, 0, sizeof(p->own));
	p->sig = 0;
	if (b && !(b->flags & SFD_OWNER) && !set->check)
		return true;
	if (fcntl(p->s, F_GETOWN_EX, &p->own) < 0)
		p->own.pid = 0;
	p->sig = fcntl(p->s, F_GETSIG);
	if (b && set->check && !sk_bpf_desc_agrees(b, p->desc_ok ? p->fdinfo : NULL,
						   p->desc_ok ? &p->st : NULL, &p->own, p->sig))
		p->desc_ok = p->own_ok = false;
	return true;
}

/* Chunk k of the connections, step by step over all of them: each
 * read_one, their options (sk_opts_dump_many), their repair-mode reads
 * (sk_tcp_read_many): what only sets, or asks the ring, for the whole
 * chunk in a few ring runs. */
static void read_chunk(void *arg, size_t k)
{
	struct sk_pre_set *set = arg;
	struct sk_opts_job oj[SK_TCP_MANY];
	struct sk_tcp_job tj[SK_TCP_MANY];
	SocketInfo si[SK_TCP_MANY];
	struct sk_pre *of[SK_TCP_MANY];
	size_t n = 0, m = 0, end = (k + 1) * set->chunk < set->n ? (k + 1) * set->chunk : set->n;

	for (size_t i = k * set->chunk; i < end; i++) {
		if (!read_one(set, &set->v[i]))
			continue;
		of[n] = &set->v[i];
		basics(of[n]->rec, &si[n]);
		oj[n] = (struct sk_opts_job){ .s = of[n]->s, .si = &si[n], .rec = of[n]->rec };
		n++;
	}
	sk_opts_dump_many(oj, n);
	for (size_t i = 0; i < n; i++) {
		struct sk_pre *p = of[i];

		p->opts_r = oj[i].r;
		p->opts = si[i].opts;
		p->state = si[i].state;
		if (p->opts_r)
			continue;
		if (!(p->tcp = malloc(sizeof(*p->tcp)))) {
			p->tcp_r = -ENOMEM;
			continue;
		}
		sk_tcp__init(p->tcp);
		tj[m] = (struct sk_tcp_job){ .s = p->s, .pid = set->pid, .fd = p->fd, .rec = p->rec,
					     .o = p->opts, .t = p->tcp, .state = p->state };
		of[m++] = p;
	}
	sk_tcp_read_many(tj, m);
	for (size_t i = 0; i < m; i++) {
		of[i]->tcp_r = tj[i].r;
		of[i]->state = tj[i].state;
		of[i]->refused = tj[i].refused;
	}
}

/* What the worker thread kept for its chunks. */
static void worker_done(void)
{
	sk_ring_dump_done();
	sk_opts_dump_many_done();
}

/* Our fd table big enough for every copy first (fd_table_reserve), under
 * the room the walk keeps (fd_dump_keep). */
static void grow_fd_table(const struct sk_pre_set *set)
{
	rlim_t want = (rlim_t)set->pidfd + set->n + 64;

	if (want + 256 > set->fd_limit)
		want = set->fd_limit > 256 ? set->fd_limit - 256 : 0;
	if (want > (rlim_t)set->pidfd)
		fd_table_reserve(set->pidfd, want);
}

/* The walk's candidates: TCP connections of c in fd order; their kinds'
 * reference sockets made now, before any thread reads them. */
static int candidates(struct fd_dump *c, struct sk_pre_set *set)
{
	for (size_t i = 0; i < c->nr_fds; i++) {
		unsigned long long ino;
		const struct sk_rec *rec;
		SocketInfo si;

		if (!c->links[i] || sscanf(c->links[i], "socket:[%llu]", &ino) != 1 ||
		    !(rec = sk_find(c->sk, ino)) || !read_in_repair(rec))
			continue;
		basics(rec, &si);
		if (sk_opts_prepare(&si))
			return -ENOMEM;
		set->v[set->n++] = (struct sk_pre){ .fd = c->fds[i], .rec = rec, .s = -1 };
	}
	return 0;
}

/* The reads, on par_run's two threads, or (o) on this one alone while
 * another thread does something else and helps once free (o's). */
static int prefetch(struct fd_dump *c, struct par_offer *o)
{
	size_t min = pre_min(), chunks;
	struct sk_pre_set *set;
	int r, threads;

	if (c->own || c->pidfd < 0 || fd_links_sockets(c->links, c->nr_fds) < min)
		return 0;
	if (!c->sk_loaded) {
		c->sk_loaded = true;
		if ((r = sk_cache_load(c)) < 0)
			return r;
	}
	if (!c->sk || c->sk->pre)
		return 0;
	if (!(set = calloc(1, sizeof(*set))) || !(set->v = calloc(c->nr_fds, sizeof(*set->v)))) {
		free(set);
		return -ENOMEM;
	}
	c->sk->pre = set;
	set->pid = c->pid;
	set->pidfd = c->pidfd;
	set->fdinfo_dir = -1;
	set->fd_limit = fd_dump_fd_limit();
	if ((r = candidates(c, set)) || set->n < min)
		return r;
	set->fdinfo_dir = procfs_open(c->pid, "fdinfo", O_PATH | O_DIRECTORY | PROCFS_QUIET);
	/* the lock first: nothing may move in a connection being read */
	if (!c->sk->locked) {
		if (sk_tcp_lock_process(c)) {
			set->n = 0;	/* the walk tries again, and says why */
			return 0;
		}
		c->sk->locked = true;
	}
	/* their values in one read, when BPF is here (socket_bpf.c) */
	sk_bpf_read(c, set->n);
	set->sk = c->sk;
	set->check = sk_bpf_mode() == SK_BPF_CHECK;
	grow_fd_table(set);
	/* chunks small enough for both threads to share a few dozen; the
	 * worker's own dump ring goes with it */
	set->chunk = set->n / 16 < 8 ? 8 : set->n / 16 > SK_TCP_MANY ? SK_TCP_MANY : set->n / 16;
	chunks = (set->n + set->chunk - 1) / set->chunk;
	if (o) {
		threads = par_offer_run(o, chunks, read_chunk, set);
		worker_done();		/* (this thread ends soon after) */
	} else {
		threads = par_run(chunks, read_chunk, worker_done, set);
		sk_opts_dump_many_done();
	}
	pr_debug("pid %d: %zu TCP connections read ahead on %d threads%s", c->pid, set->n,
		 threads, o ? ", beside the memory dump" : "");
	return 0;
}

int fd_dump_prefetch(struct fd_dump *c)
{
	return prefetch(c, NULL);
}

int fd_dump_prefetch_beside(struct fd_dump *c, struct par_offer *o)
{
	return prefetch(c, o);
}

void fd_dump_prefetch_help(struct par_offer *o)
{
	par_offer_help(o);
	sk_opts_dump_many_done();
}

static struct sk_pre *find(const struct fd_dump *c, int fd)
{
	/* (files in flight share c's tables, not its fd numbers) */
	const struct sk_pre_set *set = c->sk && !c->own ? c->sk->pre : NULL;
	size_t lo = 0, hi = set ? set->n : 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (set->v[mid].fd == fd)
			return &set->v[mid];
		if (set->v[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool fd_dump_pre_desc(struct fd_dump *c, int fd, struct stat *st, char **fdinfo)
{
	struct sk_pre *p = find(c, fd);

	if (!p || !p->desc_ok)
		return false;
	*st = p->st;
	*fdinfo = p->fdinfo;
	p->fdinfo = NULL;
	p->desc_ok = false;
	return true;
}

bool fd_dump_pre_owner(struct fd_dump *c, int fd, struct f_owner_ex *own, int *sig)
{
	struct sk_pre *p = find(c, fd);

	if (!p || !p->own_ok)
		return false;
	*own = p->own;
	*sig = p->sig;
	p->own_ok = false;
	return true;
}

int sk_pre_getfd(struct fd_dump *c, int fd)
{
	struct sk_pre *p = find(c, fd);

	if (!p || p->s < 0)
		return fd_dump_getfd(c, fd);
	fd_dump_return(c);
	c->lent = p->s;
	c->lent_num = fd + 1;
	p->s = -1;
	p->lent = true;
	return c->lent;
}

int sk_pre_opts(struct fd_dump *c, int fd, int s, SocketInfo *si, const struct sk_rec *rec)
{
	struct sk_pre *p = find(c, fd);

	/* only for the copy read ahead, lent by sk_pre_getfd */
	if (!p || !p->lent || c->lent_num != fd + 1 || c->lent != s)
		return sk_opts_dump(s, si, rec);
	p->lent = false;
	si->opts = p->opts;
	p->opts = NULL;
	return p->opts_r;
}

SkTcp *sk_tcp_pre_take(struct fd_dump *c, int fd, uint32_t *state, int *r, bool *refused)
{
	struct sk_pre *p = find(c, fd);
	SkTcp *t;

	if (!p || !p->tcp)
		return NULL;
	t = p->tcp;
	p->tcp = NULL;
	*state = p->state;
	*r = p->tcp_r;
	*refused = p->refused;
	return t;
}

void sk_pre_free(struct sk_cache *sk)
{
	struct sk_pre_set *set = sk ? sk->pre : NULL;

	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		struct sk_pre *p = &set->v[i];

		if (p->s >= 0)
			close(p->s);
		free(p->fdinfo);
		if (p->opts)
			sk_opts__free_unpacked(p->opts, NULL);
		if (p->tcp)
			sk_tcp__free_unpacked(p->tcp, NULL);
	}
	if (set->fdinfo_dir >= 0)
		close(set->fdinfo_dir);
	free(set->v);
	free(set);
	sk->pre = NULL;
}
