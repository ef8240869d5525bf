/* Socket options, dump: the values known without asking the socket, from
 * the tables sock_diag gave (every socket of the namespace, in one walk)
 * and from the BPF iterator's read of a connection (socket_bpf.c). Each
 * getsockopt they spare is a syscall, or a ring operation, a socket. */
#include <stdio.h>
#include <string.h>
#include <linux/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "common/fd/bpf/sock_fds.h"
#include "common/fd/socket_opts.h"

/* The value of o as sock_diag gave it in r: true when it did. A device
 * bound is named by getsockopt, by index in r: only "none" is taken. */
bool sk_opt_from_diag(const struct sk_rec *r, const struct opt *o, struct val *v)
{
	const struct sk_diag_opts *d = r ? &r->dopt : NULL;
	bool v4 = r && r->family == AF_INET;

	memset(v, 0, sizeof(*v));
	if (!d || (r->family != AF_INET && r->family != AF_INET6))
		return false;
	if (o->level == SOL_SOCKET && o->name == SO_BINDTODEVICE && !d->bound_if)
		v->ok = true;
	else if (o->level == SOL_SOCKET && o->name == SO_MARK && d->has_mark)
		v->ok = true, v->i = d->mark;
	else if (o->level == SOL_IP && o->name == IP_TOS && v4 && d->has_tos)
		v->ok = true, v->i = d->tos;
	else if (o->level == SOL_IPV6 && o->name == IPV6_TCLASS && !v4 && d->has_tclass)
		v->ok = true, v->i = d->tclass;
	else if (o->level == SOL_IP && o->name == IP_RECVERR && v4 && d->has_sockopt)
		v->ok = true, v->i = d->recverr;
	else if (((o->level == SOL_IP && o->name == IP_FREEBIND) ||
		  (o->level == SOL_IPV6 && o->name == IPV6_FREEBIND)) && d->has_sockopt)
		v->ok = true, v->i = d->freebind;
	else if (((o->level == SOL_IP && o->name == IP_TRANSPARENT) ||
		  (o->level == SOL_IPV6 && o->name == IPV6_TRANSPARENT)) && d->has_sockopt)
		v->ok = true, v->i = d->transparent;
	else if (o->level == SOL_TCP && o->name == TCP_CONGESTION && d->cong[0]) {
		v->ok = true;
		snprintf(v->str, sizeof(v->str), "%s", d->cong);
	}
	return v->ok;
}

/* The value of o from the BPF iterator's read of the connection
 * (socket_bpf.c): true when it gives one. A field left at 0 (the TTL:
 * below 0) means the namespace's default, which is ref's, a new socket's
 * in the same namespace (no ref: not given). A time the program set is in
 * jiffies there, and the kernel's HZ is not known here; nor is a filter's
 * code: getsockopt reads those. */
bool sk_opt_from_bpf(const struct sk_rec *r, const struct opt *o, const struct val *ref,
		     struct val *v)
{
	const struct sock_fd_rec *t = r ? r->tcb : NULL;
	bool dflt = ref && ref->ok;	/* ref's value may stand for the default */
	int64_t x;

	if (!t)
		return false;
	if (o->level == SOL_SOCKET) {
		switch (o->name) {
		case SO_RCVBUF: x = t->rcvbuf; break;
		case SO_SNDBUF: x = t->sndbuf; break;
		case SO_BUF_LOCK: x = t->userlocks & 3; break;	/* SOCK_BUF_LOCK_MASK */
		case SO_REUSEADDR: x = t->reuse; break;
		case SO_REUSEPORT: x = t->reuseport; break;
		case SO_PRIORITY: x = t->priority; break;
		case SO_RCVLOWAT: x = t->rcvlowat; break;
		/* (SO_PEEK_OFF: only where the protocol has one, as ref says) */
		case SO_PEEK_OFF: if (!dflt) return false; x = t->peek_off; break;
		case SO_KEEPALIVE: x = !!(t->flags & SFD_KEEPOPEN); break;
		case SO_OOBINLINE: x = !!(t->flags & SFD_URGINLINE); break;
		case SO_DONTROUTE: x = !!(t->flags & SFD_LOCALROUTE); break;
		case SO_TIMESTAMP:
			x = (t->flags & (SFD_RCVTSTAMP | SFD_RCVTSTAMPNS | SFD_TSTAMP_NEW)) ==
			    SFD_RCVTSTAMP;
			break;
		/* no timeout is MAX_SCHEDULE_TIMEOUT, shown as 0 */
		case SO_RCVTIMEO: if (t->rcvtimeo != INT64_MAX) return false; x = 0; break;
		case SO_SNDTIMEO: if (t->sndtimeo != INT64_MAX) return false; x = 0; break;
		case SO_LINGER: if (t->flags & SFD_LINGER) return false; x = -1; break;
		case SO_ATTACH_FILTER: if (t->flags & SFD_FILTER) return false; x = 0; break;
		default: return false;
		}
	} else if (!(t->flags & SFD_TCP) || o->how != INT) {
		return false;
	} else if (o->level == SOL_TCP && o->name == TCP_NODELAY) {
		x = !!(t->nonagle & 1);		/* TCP_NAGLE_OFF */
	} else if (o->level == SOL_TCP && o->name == TCP_CORK) {
		x = !!(t->nonagle & 2);		/* TCP_NAGLE_CORK */
	} else if (o->level == SOL_TCP && o->name == TCP_KEEPIDLE && !t->keepalive_time && dflt) {
		x = ref->i;
	} else if (o->level == SOL_TCP && o->name == TCP_KEEPINTVL && !t->keepalive_intvl &&
		   dflt) {
		x = ref->i;
	} else if (o->level == SOL_TCP && o->name == TCP_KEEPCNT && (t->keepalive_probes || dflt)) {
		x = t->keepalive_probes ? t->keepalive_probes : ref->i;
	} else if (o->level == SOL_TCP && o->name == TCP_USER_TIMEOUT) {
		x = t->user_timeout;
	} else if (o->level == SOL_TCP && o->name == TCP_NOTSENT_LOWAT) {
		x = t->notsent_lowat;
	} else if (o->level == SOL_TCP && o->name == TCP_LINGER2 && t->linger2 <= 0 &&
		   (t->linger2 || dflt)) {
		x = t->linger2 ? t->linger2 : ref->i;
	} else if (o->level == SOL_IP && o->name == IP_TTL && (t->uc_ttl >= 0 || dflt)) {
		x = t->uc_ttl < 0 ? ref->i : t->uc_ttl;
	} else if (o->level == SOL_IP && o->name == IP_MTU_DISCOVER) {
		x = t->pmtudisc;
	} else {
		return false;
	}
	memset(v, 0, sizeof(*v));
	v->ok = true;
	v->i = x;
	return true;
}
