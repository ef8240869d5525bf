/* TCP connections, dump: their values read by a BPF iterator.
 *
 * A connection read by syscalls costs two dozen of them (its TCP-level
 * options, repair mode on, tcp_info, MSS, timestamp, windows, each queue's
 * sequence, repair mode off), each about a microsecond in a guest: 16 ms
 * of CPU for a server with a thousand connections. The iterator
 * (bpf/tcp_conns.bpf.c) reads the same fields of every established
 * connection of the namespace in one read of its fd, ~1 ms for two
 * thousand; loading it costs 1.5-4 ms, so it is worth it from a few dozen
 * connections (BPF_MIN). It runs after the network lock, as the repair-mode
 * reads do: nothing moves in a connection then.
 *
 * It only reads: a connection it gives is never put in repair mode, and
 * its values go where the syscalls' would (sk_tcp_from_bpf for the repair
 * values, socket_opts.c's from_bpf for the options). A connection with
 * bytes queued still goes to the syscalls, which copy them.
 *
 * CRIU_LITE_TCP_BPF: 0 never, 1 whenever there are connections read ahead,
 * check: as 1, and every connection read by the syscalls too, a dump
 * failing where the two differ (the suite's check of this file). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>
#include <netinet/in.h>

#include "common/fd/socket.h"
#include "images/clock.h"
#include "images/log.h"

#include "common/fd/bpf/tcp_conns.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "common/fd/bpf/tcp_conns.lskel.h"
#pragma GCC diagnostic pop

#define BPF_MIN 64

enum sk_tcp_bpf_mode sk_tcp_bpf_mode(void)
{
	const char *v = getenv("CRIU_LITE_TCP_BPF");

	if (!v || !*v)
		return SK_BPF_AUTO;
	if (!strcmp(v, "check"))
		return SK_BPF_CHECK;
	return strcmp(v, "0") ? SK_BPF_ON : SK_BPF_OFF;
}

/* The iterator loaded and attached, or NULL (errno set). */
static struct tcp_conns_bpf *load(void)
{
	struct tcp_conns_bpf *skel = tcp_conns_bpf__open_and_load();
	int e;

	if (!skel || tcp_conns_bpf__attach(skel) >= 0)
		return skel;
	e = errno;
	tcp_conns_bpf__destroy(skel);
	errno = e;
	return NULL;
}

/* The iterator, loaded once for the whole dump (by whichever thread first
 * needs it: the tables' thread ahead, or the read), kept until criu-lite
 * exits; its fds are close-on-exec. */
static struct tcp_conns_bpf *loaded;

static struct tcp_conns_bpf *loaded_or_load(void)
{
	struct tcp_conns_bpf *skel = __atomic_load_n(&loaded, __ATOMIC_ACQUIRE), *none = NULL;

	if (skel || !(skel = load()))
		return skel;
	if (!__atomic_compare_exchange_n(&loaded, &none, skel, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		tcp_conns_bpf__destroy(skel);
		skel = none;
	}
	return skel;
}

/* Established TCP connections in the tables (the namespace's). */
static size_t established(const struct sk_cache *sk)
{
	size_t n = 0;

	for (size_t i = 0; i < sk->nr; i++)
		n += sk->recs[i].protocol == IPPROTO_TCP && sk->recs[i].state == TCP_ESTABLISHED;
	return n;
}

void sk_tcp_bpf_preload(const struct sk_cache *sk)
{
	enum sk_tcp_bpf_mode mode = sk_tcp_bpf_mode();

	if (sk && mode != SK_BPF_OFF && (mode != SK_BPF_AUTO || established(sk) >= BPF_MIN))
		loaded_or_load();
}

/* The iterator's whole output: records of every established connection
 * of the namespace the calling thread is in. */
static int iterate(struct tcp_conns_bpf *skel, struct tcp_conn_rec **out, size_t *n)
{
	size_t len = 0, cap = 256 * sizeof(**out);
	char *buf = malloc(cap);
	union bpf_attr at;
	int fd, r = 0;
	ssize_t got;

	memset(&at, 0, sizeof(at));
	at.iter_create.link_fd = (__u32)skel->links.tcp_conns_fd;
	if (!buf || (fd = skel_sys_bpf(BPF_ITER_CREATE, &at, sizeof(at.iter_create))) < 0) {
		r = buf ? -errno : -ENOMEM;
		free(buf);
		return r;
	}
	for (;;) {
		if (cap - len < sizeof(**out) * 64) {
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
			r = got ? -errno : len % sizeof(**out) ? -EPROTO : 0;
			break;
		}
		len += (size_t)got;
	}
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	*out = (struct tcp_conn_rec *)buf;
	*n = len / sizeof(**out);
	return 0;
}

int sk_tcp_bpf_read(struct fd_dump *c, size_t n)
{
	enum sk_tcp_bpf_mode mode = sk_tcp_bpf_mode();
	struct tcp_conn_rec *v = NULL;
	size_t nr = 0, found = 0;
	struct tcp_conns_bpf *skel = __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
	uint64_t t0 = mono_ns();
	bool pre = skel;
	int home, r = 0;

	if (mode == SK_BPF_OFF || !c->sk || c->sk->tcbs || (!pre && mode == SK_BPF_AUTO && n < BPF_MIN))
		return -EALREADY;
	/* a namespace's defaults are those of our reference sockets only in
	 * ours: elsewhere the syscalls read every value */
	if ((r = sk_netns_enter(c->pid, &home)) < 0)
		return r;
	if (home >= 0) {
		sk_netns_leave(home);
		pr_debug("pid %d: TCP connections read by syscalls (another network namespace)",
			 c->pid);
		return -EXDEV;
	}
	if (!skel && !(skel = loaded_or_load()))
		r = -errno ? -errno : -EPERM;
	if (!r)
		r = iterate(skel, &v, &nr);
	if (r) {
		pr_debug("pid %d: no BPF iterator of TCP connections here (%s): read by syscalls",
			 c->pid, strerror(-r));
		return r;
	}
	c->sk->tcbs = v;
	for (size_t i = 0; i < nr; i++) {
		struct sk_rec *rec = (struct sk_rec *)sk_find(c->sk, v[i].ino);

		if (rec && rec->protocol == IPPROTO_TCP) {
			rec->tcb = &v[i];
			found++;
		}
	}
	pr_debug("pid %d: the namespace's %zu established TCP connections read by a BPF "
		 "iterator in %llu us (%s)", c->pid, found, (unsigned long long)(mono_ns() - t0) / 1000,
		 pre ? "loaded ahead" : "loaded now");
	return 0;
}

/* Whether the syscalls must read this one: bytes to copy, urgent data,
 * repair mode already on (someone else's), or timestamps in microseconds
 * (TCP_TIMESTAMP's encoding of those is the kernel's to say). */
static bool usable(const struct tcp_conn_rec *b)
{
	return b && b->state == TCP_ESTABLISHED &&
	       !(b->flags & (TCB_REPAIR | TCB_URG | TCB_USEC_TS)) && b->write_seq == b->snd_una &&
	       b->snd_nxt == b->snd_una && b->rcv_nxt == b->copied_seq;
}

/* tcp_info's options as restore uses them (socket_tcp.c). */
#define OPT_MASK (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE)

static uint32_t opt_mask(const struct tcp_conn_rec *b)
{
	return (b->flags & TCB_TSTAMP_OK ? TCPI_OPT_TIMESTAMPS : 0) |
	       (b->flags & TCB_SACK_OK ? TCPI_OPT_SACK : 0) |
	       (b->flags & TCB_WSCALE_OK ? TCPI_OPT_WSCALE : 0);
}

bool sk_tcp_from_bpf(const struct sk_rec *rec, SkTcp *t, uint32_t *state)
{
	const struct tcp_conn_rec *b = rec ? rec->tcb : NULL;

	if (!usable(b))
		return false;
	*state = b->state;
	/* as read_info and read_queues (socket_tcp_read.c) fill it: what the
	 * image holds of tcp_info's options is what restore sets again */
	t->has_opt_mask = t->has_mss_clamp = t->has_unsent = true;
	t->opt_mask = opt_mask(b);
	t->unsent = 0;
	if (b->flags & TCB_WSCALE_OK) {
		t->has_snd_wscale = t->has_rcv_wscale = true;
		t->snd_wscale = b->snd_wscale;
		t->rcv_wscale = b->rcv_wscale;
	}
	t->mss_clamp = b->mss_clamp;
	if (b->flags & TCB_TSTAMP_OK) {
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

static bool differ(const struct sk_rec *rec, const char *what, uint32_t bpf, uint32_t sys)
{
	if (bpf == sys)
		return false;
	pr_err("socket %llu: %s is %u by the BPF iterator, %u by getsockopt",
	       (unsigned long long)rec->ino, what, bpf, sys);
	return true;
}

bool sk_tcp_bpf_agrees(const struct sk_rec *rec, const SkTcp *t, uint32_t state)
{
	SkTcp b = SK_TCP__INIT;
	uint32_t bstate;
	bool bad;

	if (!sk_tcp_from_bpf(rec, &b, &bstate))
		return true;
	bad = differ(rec, "the state", bstate, state) |
	      differ(rec, "the options", b.opt_mask, t->opt_mask & OPT_MASK) |
	      differ(rec, "the MSS", b.mss_clamp, t->mss_clamp) |
	      differ(rec, "the unsent bytes", b.unsent, t->unsent) |
	      differ(rec, "snd_wl1", b.snd_wl1, t->snd_wl1) |
	      differ(rec, "snd_wnd", b.snd_wnd, t->snd_wnd) |
	      differ(rec, "max_window", b.max_window, t->max_window) |
	      differ(rec, "rcv_wnd", b.rcv_wnd, t->rcv_wnd) |
	      differ(rec, "rcv_wup", b.rcv_wup, t->rcv_wup) |
	      differ(rec, "the receive queue's sequence", b.inq_seq, t->inq_seq) |
	      differ(rec, "the send queue's sequence", b.outq_seq, t->outq_seq) |
	      differ(rec, "whether bytes are queued", 0, t->has_inq || t->has_outq);
	if (b.opt_mask & TCPI_OPT_WSCALE)
		bad |= differ(rec, "snd_wscale", b.snd_wscale, t->snd_wscale) |
		       differ(rec, "rcv_wscale", b.rcv_wscale, t->rcv_wscale);
	/* the syscalls read the clock later: up to a second on */
	if (b.has_timestamp && t->timestamp - b.timestamp > 1000)
		bad |= differ(rec, "the timestamp", b.timestamp, t->timestamp);
	return !bad;
}
