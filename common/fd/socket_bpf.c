/* Sockets, dump: a process's socket fds read by a BPF iterator.
 *
 * A TCP connection read by syscalls costs some two dozen of them: its
 * fdinfo (open, read, close), its signal owner (two fcntl), its options,
 * repair mode on, tcp_info, MSS, timestamp, windows, each queue's
 * sequence, repair mode off; each about a microsecond in a guest, 25 ms of
 * CPU for a server with a thousand connections, and a readlink each when
 * its fds are listed. The iterators (bpf/sock_fds.bpf.c, over the
 * process's fds) read the same fields of every socket in one read of their
 * fd: sock_inos when the fds are listed (the links), sock_tcp when the
 * socket tables are read (their TCP part, socket_tables.c), sock_fds
 * after the network lock, as the repair-mode reads are: nothing moves in
 * a connection then. Loading them costs ~3 ms: from before the freeze when
 * the process has many fds (sk_bpf_load_early), else on the tables' thread
 * when they show many connections (BPF_MIN), else at the read.
 *
 * It only reads: a connection it gives is never put in repair mode, and
 * its values go where the syscalls' would: the stat, fdinfo text and owner
 * to the read ahead (socket_tcp_pre.c), the repair values by
 * sk_tcp_from_bpf, the options by socket_opts_known.c's from_bpf. What it
 * cannot say exactly goes to the syscalls as before: a file with locks or
 * a signal owner, a connection with bytes queued, ...
 *
 * CRIU_LITE_TCP_BPF: 0 never, 1 whenever there are connections read ahead,
 * check: as 1, and every value read both ways, an error line for each
 * difference (the suite's check of this file). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/types.h>
#include <netinet/in.h>

#include "common/fd/socket.h"
#include "common/procfs.h"
#include "images/clock.h"
#include "images/log.h"
#include "images/par.h"

#include "common/fd/bpf/sock_fds.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "common/fd/bpf/sock_fds.lskel.h"
#pragma GCC diagnostic pop

#define BPF_MIN 64
/* fds of the process to dump from which the load starts before the
 * freeze, on the CPU criu-lite's start leaves idle (CRIU_LITE_TCP_BPF=1 or
 * check: whatever their number) */
#define EARLY_MIN_FDS 128

static enum sk_bpf_mode mode_of(const char *v)
{
	if (!v || !*v)
		return SK_BPF_AUTO;
	if (!strcmp(v, "check"))
		return SK_BPF_CHECK;
	return strcmp(v, "0") ? SK_BPF_ON : SK_BPF_OFF;
}

/* Read once: it is asked for each option of each connection read, and
 * getenv walks the whole environment (~1% of a dump of a thousand). */
enum sk_bpf_mode sk_bpf_mode(void)
{
	static int mode = -1;
	int m = __atomic_load_n(&mode, __ATOMIC_RELAXED);

	if (m < 0) {
		m = (int)mode_of(getenv("CRIU_LITE_TCP_BPF"));
		__atomic_store_n(&mode, m, __ATOMIC_RELAXED);
	}
	return (enum sk_bpf_mode)m;
}

/* The program, loaded once for the whole dump (by whichever thread first
 * needs it: the early thread, the tables' thread ahead, or the read), kept
 * until criu-lite exits; its fds are close-on-exec. */
static struct sock_fds_bpf *loaded;

static struct sock_fds_bpf *load_once(void)
{
	struct sock_fds_bpf *skel = __atomic_load_n(&loaded, __ATOMIC_ACQUIRE), *none = NULL;

	if (skel || !(skel = sock_fds_bpf__open_and_load()))
		return skel;
	if (!__atomic_compare_exchange_n(&loaded, &none, skel, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		sock_fds_bpf__destroy(skel);
		skel = none;
	}
	return skel;
}

/* The early load (sk_bpf_load_early): its thread, joined once. */
static pthread_t early;
static bool early_running;
static pthread_mutex_t early_lock = PTHREAD_MUTEX_INITIALIZER;

static void *load_early(void *arg)
{
	(void)arg;
	load_once();
	return NULL;
}

void sk_bpf_load_early(pid_t pid)
{
	enum sk_bpf_mode mode = sk_bpf_mode();

	if (mode == SK_BPF_OFF || (mode == SK_BPF_AUTO && procfs_nr_fds(pid) < EARLY_MIN_FDS) ||
	    !par_two_threads())
		return;
	pthread_mutex_lock(&early_lock);
	if (!early_running && !__atomic_load_n(&loaded, __ATOMIC_ACQUIRE))
		early_running = par_start(&early, load_early, NULL);
	pthread_mutex_unlock(&early_lock);
}

void sk_bpf_load_end(void)
{
	pthread_mutex_lock(&early_lock);
	if (early_running)
		pthread_join(early, NULL);
	early_running = false;
	pthread_mutex_unlock(&early_lock);
}

static struct sock_fds_bpf *loaded_or_load(void)
{
	sk_bpf_load_end();
	return load_once();
}

/* Established TCP connections in the tables (the namespace's). */
static size_t established(const struct sk_cache *sk)
{
	size_t n = 0;

	for (size_t i = 0; i < sk->nr; i++)
		n += sk->recs[i].protocol == IPPROTO_TCP && sk->recs[i].state == TCP_ESTABLISHED;
	return n;
}

void sk_bpf_preload(const struct sk_cache *sk)
{
	enum sk_bpf_mode mode = sk_bpf_mode();

	if (sk && mode != SK_BPF_OFF && (mode != SK_BPF_AUTO || established(sk) >= BPF_MIN))
		loaded_or_load();
}

/* An iterator of program prog over pid's fds: its fd, or < 0. */
static int iter_of(int prog, pid_t pid)
{
	union bpf_iter_link_info li;
	union bpf_attr at;
	int link, it;

	memset(&li, 0, sizeof(li));
	li.task.pid = (__u32)pid;
	memset(&at, 0, sizeof(at));
	at.link_create.prog_fd = (__u32)prog;
	at.link_create.attach_type = BPF_TRACE_ITER;
	at.link_create.iter_info = (__u64)(unsigned long)&li;
	at.link_create.iter_info_len = sizeof(li);
	if ((link = skel_sys_bpf(BPF_LINK_CREATE, &at, sizeof(at))) < 0)
		return -errno;
	memset(&at, 0, sizeof(at));
	at.iter_create.link_fd = (__u32)link;
	it = skel_sys_bpf(BPF_ITER_CREATE, &at, sizeof(at));
	if (it < 0)
		it = -errno;
	close(link);
	return it;
}

/* The whole output of program prog over pid's fds: *n records of size sz. */
static int iterate(int prog, pid_t pid, size_t sz, void **out, size_t *n)
{
	size_t len = 0, cap = 256 * sz;
	char *buf = malloc(cap);
	int fd, r = 0;
	ssize_t got;

	if (!buf || (fd = iter_of(prog, pid)) < 0) {
		r = buf ? fd : -ENOMEM;
		free(buf);
		return r;
	}
	for (;;) {
		if (cap - len < sz * 64) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = got ? -errno : len % sz ? -EPROTO : 0;
			break;
		}
		len += (size_t)got;
	}
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	*out = buf;
	*n = len / sz;
	return 0;
}

/* Records in fd order, each fd once (a thread with fds of its own would
 * list some twice: the syscalls read those). */
static int by_fd(const void *a, const void *b)
{
	const struct sock_fd_rec *x = a, *y = b;

	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

static bool sorted_once(struct sock_fd_rec *v, size_t n)
{
	qsort(v, n, sizeof(*v), by_fd);
	for (size_t i = 1; i < n; i++)
		if (v[i].fd == v[i - 1].fd)
			return false;
	return true;
}

int sk_bpf_read(struct fd_dump *c, size_t n)
{
	enum sk_bpf_mode mode = sk_bpf_mode();
	struct sock_fds_bpf *skel = __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
	struct sock_fd_rec *v = NULL;
	size_t nr = 0, tcp = 0;
	uint64_t t0 = mono_ns();
	bool pre = skel, ours;
	int home, r = 0;

	if (mode == SK_BPF_OFF || !c->sk || c->sk->bpf_fds ||
	    (!pre && mode == SK_BPF_AUTO && n < BPF_MIN))
		return -EALREADY;
	if (!skel && !(skel = loaded_or_load()))
		r = -errno ? -errno : -EPERM;
	if (!r)
		r = iterate(skel->progs.sock_fds.prog_fd, c->pid, sizeof(*v), (void **)&v, &nr);
	if (!r && !sorted_once(v, nr))
		r = -EEXIST;
	if (r) {
		free(v);
		pr_debug("pid %d: no BPF iterator of its sockets (%s): read by syscalls", c->pid,
			 strerror(-r));
		return r;
	}
	c->sk->bpf_fds = v;
	c->sk->nr_bpf_fds = nr;
	/* the options' defaults are those of our reference sockets only in
	 * our namespace: elsewhere the syscalls read the connections */
	if ((r = sk_netns_enter(c->pid, &home)) < 0)
		return r;
	ours = home < 0;
	sk_netns_leave(home);
	for (size_t i = 0; ours && i < nr; i++) {
		struct sk_rec *rec = (struct sk_rec *)sk_find(c->sk, v[i].ino);

		if (rec && rec->protocol == IPPROTO_TCP && (v[i].flags & SFD_TCP)) {
			rec->tcb = &v[i];
			tcp++;
		}
	}
	pr_debug("pid %d: %zu sockets, %zu TCP connections, read by a BPF iterator in %llu us "
		 "(%s)%s", c->pid, nr, tcp, (unsigned long long)(mono_ns() - t0) / 1000,
		 pre ? "loaded ahead" : "loaded now",
		 ours ? "" : "; the connections by syscalls (another network namespace)");
	return 0;
}

int sk_bpf_socket_links(pid_t pid, const int *fds, size_t nr, char **links)
{
	struct sock_fds_bpf *skel;
	struct sock_ino *v = NULL;
	size_t n = 0, filled = 0, k = 0;
	int r;

	/* only a program loaded, or loading since before the freeze (the
	 * rest of its 2-3 ms is less than a readlink each): not loaded now */
	sk_bpf_load_end();
	skel = __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
	if (!skel || sk_bpf_mode() == SK_BPF_OFF)
		return -EALREADY;
	if ((r = iterate(skel->progs.sock_inos.prog_fd, pid, sizeof(*v), (void **)&v, &n)) < 0)
		return r;
	/* both in fd order (the iterator walks the table up): one pass; a
	 * record out of order (a thread's own table) is passed over, and that
	 * fd's link read */
	for (size_t i = 0; i < n; i++) {
		while (k < nr && fds[k] < (int)v[i].fd)
			k++;
		if (k == nr || fds[k] != (int)v[i].fd || links[k])
			continue;
		if (asprintf(&links[k], "socket:[%llu]", (unsigned long long)v[i].ino) < 0) {
			links[k] = NULL;
			free(v);
			return -ENOMEM;
		}
		filled++;
	}
	free(v);
	pr_debug("pid %d: %zu sockets' links read by a BPF iterator", pid, filled);
	return (int)filled;
}

int sk_bpf_tcp_sockets(pid_t pid, struct sock_tcp_rec **v, size_t *n)
{
	enum sk_bpf_mode mode = sk_bpf_mode();
	struct sock_fds_bpf *skel;

	if (mode == SK_BPF_OFF)
		return -EALREADY;
	/* loading since before the freeze (the 2-3 ms left of it are less
	 * than the walk), or wanted whatever the process (1, check) */
	sk_bpf_load_end();
	skel = __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
	if (!skel && (mode == SK_BPF_AUTO || !(skel = load_once())))
		return -EALREADY;
	return iterate(skel->progs.sock_tcp.prog_fd, pid, sizeof(**v), (void **)v, n);
}

const struct sock_fd_rec *sk_bpf_fd(const struct sk_cache *sk, int fd)
{
	struct sock_fd_rec key = { .fd = (__u32)fd };

	if (!sk || !sk->nr_bpf_fds || fd < 0)
		return NULL;
	return bsearch(&key, sk->bpf_fds, sk->nr_bpf_fds, sizeof(key), by_fd);
}

char *sk_bpf_fdinfo(const struct sock_fd_rec *b)
{
	char *s = NULL;

	/* (file locks add lines of their own: /proc says those) */
	if (!b || (b->flags & SFD_LOCKS))
		return NULL;
	if (asprintf(&s, "pos:\t%lli\nflags:\t0%o\nmnt_id:\t%i\nino:\t%llu\n", (long long)b->pos,
		     b->f_flags | (b->flags & SFD_CLOEXEC ? O_CLOEXEC : 0), b->mnt_id,
		     (unsigned long long)b->ino) < 0)
		return NULL;
	return s;
}

/* Whether the syscalls must read this one: bytes to copy, urgent data,
 * repair mode already on (someone else's), or timestamps in microseconds
 * (TCP_TIMESTAMP's encoding of those is the kernel's to say). */
static bool usable(const struct sock_fd_rec *b)
{
	return b && (b->flags & SFD_TCP) && !(b->flags & (SFD_REPAIR | SFD_URG | SFD_USEC_TS)) &&
	       b->write_seq == b->snd_una && b->snd_nxt == b->snd_una &&
	       b->rcv_nxt == b->copied_seq;
}

/* tcp_info's options as restore uses them (socket_tcp.c). */
#define OPT_MASK (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE)

static uint32_t opt_mask(const struct sock_fd_rec *b)
{
	return (b->flags & SFD_TSTAMP_OK ? TCPI_OPT_TIMESTAMPS : 0) |
	       (b->flags & SFD_SACK_OK ? TCPI_OPT_SACK : 0) |
	       (b->flags & SFD_WSCALE_OK ? TCPI_OPT_WSCALE : 0);
}

bool sk_tcp_from_bpf(const struct sk_rec *rec, SkTcp *t, uint32_t *state)
{
	const struct sock_fd_rec *b = rec ? rec->tcb : NULL;

	if (!usable(b))
		return false;
	*state = TCP_ESTABLISHED;	/* (SFD_TCP: the iterator's only kind) */
	/* as read_info and read_queues (socket_tcp_read.c) fill it: what the
	 * image holds of tcp_info's options is what restore sets again */
	t->has_opt_mask = t->has_mss_clamp = t->has_unsent = true;
	t->opt_mask = opt_mask(b);
	t->unsent = 0;
	if (b->flags & SFD_WSCALE_OK) {
		t->has_snd_wscale = t->has_rcv_wscale = true;
		t->snd_wscale = b->snd_wscale;
		t->rcv_wscale = b->rcv_wscale;
	}
	t->mss_clamp = b->mss_clamp;
	if (b->flags & SFD_TSTAMP_OK) {
		t->has_timestamp = true;
		t->timestamp = b->timestamp;
	}
	t->has_snd_wl1 = t->has_snd_wnd = t->has_max_window = t->has_rcv_wnd = t->has_rcv_wup = true;
	t->snd_wl1 = b->snd_wl1;
	t->snd_wnd = b->snd_wnd;
	t->max_window = b->max_window;
	t->rcv_wnd = b->rcv_wnd;
	t->rcv_wup = b->rcv_wup;
	t->inq_seq = b->rcv_nxt;
	t->outq_seq = b->write_seq;
	return true;
}

static bool differ(unsigned long long ino, const char *what, uint32_t bpf, uint32_t sys)
{
	if (bpf == sys)
		return false;
	pr_err("socket %llu: %s is %u by the BPF iterator, %u by the syscalls", ino, what, bpf,
	       sys);
	return true;
}

bool sk_tcp_bpf_agrees(const struct sk_rec *rec, const SkTcp *t, uint32_t state)
{
	unsigned long long ino = rec ? (unsigned long long)rec->ino : 0;
	SkTcp b = SK_TCP__INIT;
	uint32_t bstate;
	bool bad;

	if (!sk_tcp_from_bpf(rec, &b, &bstate))
		return true;
	bad = differ(ino, "the state", bstate, state) |
	      differ(ino, "the options", b.opt_mask, t->opt_mask & OPT_MASK) |
	      differ(ino, "the MSS", b.mss_clamp, t->mss_clamp) |
	      differ(ino, "the unsent bytes", b.unsent, t->unsent) |
	      differ(ino, "snd_wl1", b.snd_wl1, t->snd_wl1) |
	      differ(ino, "snd_wnd", b.snd_wnd, t->snd_wnd) |
	      differ(ino, "max_window", b.max_window, t->max_window) |
	      differ(ino, "rcv_wnd", b.rcv_wnd, t->rcv_wnd) |
	      differ(ino, "rcv_wup", b.rcv_wup, t->rcv_wup) |
	      differ(ino, "the receive queue's sequence", b.inq_seq, t->inq_seq) |
	      differ(ino, "the send queue's sequence", b.outq_seq, t->outq_seq) |
	      differ(ino, "whether bytes are queued", 0, t->has_inq || t->has_outq);
	if (b.opt_mask & TCPI_OPT_WSCALE)
		bad |= differ(ino, "snd_wscale", b.snd_wscale, t->snd_wscale) |
		       differ(ino, "rcv_wscale", b.rcv_wscale, t->rcv_wscale);
	/* the two reads are a moment apart, either first (a connection the
	 * walk reads itself is read after the iterator): up to a second */
	if (b.has_timestamp && (uint32_t)(t->timestamp - b.timestamp + 1000) > 2000)
		bad |= differ(ino, "the timestamp", b.timestamp, t->timestamp);
	return !bad;
}

bool sk_bpf_desc_agrees(const struct sock_fd_rec *b, const char *fdinfo, const struct stat *st,
			const struct f_owner_ex *own, int sig)
{
	char *mine = sk_bpf_fdinfo(b);
	bool same = !mine || !fdinfo || !strcmp(mine, fdinfo);

	if (!same)
		pr_err("fd %u: fdinfo is \"%s\" by the BPF iterator, \"%s\" by /proc", b->fd, mine,
		       fdinfo);
	free(mine);
	if (st && (st->st_mode != b->mode || st->st_ino != b->ino)) {
		pr_err("fd %u: mode and inode are 0%o %llu by the BPF iterator, 0%o %llu by fstat",
		       b->fd, b->mode, (unsigned long long)b->ino, st->st_mode,
		       (unsigned long long)st->st_ino);
		same = false;
	}
	if (!(b->flags & SFD_OWNER) && (own->type || own->pid || sig)) {
		pr_err("fd %u: no signal owner by the BPF iterator, %d/%d/%d by fcntl", b->fd,
		       own->type, own->pid, sig);
		same = false;
	}
	return same;
}
