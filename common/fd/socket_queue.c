/* The receive queue of a socket, message by message: dump peeks it, restore
 * sends it again (socket_queue_rst.c).
 *
 * Peeking consumes nothing: recvmsg(MSG_PEEK) at an offset set with
 * SO_PEEK_OFF, on the socket borrowed with pidfd_getfd (the same socket, so
 * its own SO_PEEK_OFF and SO_PASSCRED are read first and put back after).
 * With SO_PASSCRED on, every message says its credentials; a message
 * nobody attached them to reads as pid 0.
 *  - datagram and seqpacket: one skb is one message; the offset skips whole
 *    datagrams. A zero-length datagram is returned once per peek pass: the
 *    kernel marks it peeked and skips it after (a program that peeked one
 *    itself hides it from us: that one is not seen).
 *  - stream: a peek runs over skbs until one carrying files (it ends the
 *    read) or a change of credentials: such a run is one message. Where in
 *    the run the skb with the files starts, no peek tells (a peek of any
 *    byte before it returns its files too): a read gets the files with the
 *    first byte of the run after restore, up to that many bytes earlier
 *    than it would have. Senders that pass files with each message they
 *    send are not affected unless unread plain messages precede one.
 * Files in flight come back to us as new fds (SCM_RIGHTS); each is dumped
 * like an fd of criu-lite's own, through the same walk as the process's
 * fds, and closed. Files in flight can hold sockets holding files in
 * flight: two levels are followed, deeper is named. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/log.h"

#define PEEK_BUF (256u << 10)
#define MAX_FDS 253		/* SCM_MAX_FD */
#define MAX_DEPTH 2

struct peeked {
	size_t len;
	bool trunc;
	int fds[MAX_FDS];
	int nfds;
	struct ucred cred;
	struct sockaddr_storage from;
	socklen_t fromlen;
};

static void close_fds(struct peeked *p)
{
	for (int i = 0; i < p->nfds; i++)
		close(p->fds[i]);
	p->nfds = 0;
}

static void take_cmsgs(struct msghdr *m, struct peeked *p)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			for (int i = 0; i < n && p->nfds < MAX_FDS; i++)
				memcpy(&p->fds[p->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		} else if (c->cmsg_type == SCM_CREDENTIALS) {
			memcpy(&p->cred, CMSG_DATA(c), sizeof(p->cred));
		}
	}
}

/* Peek up to len bytes at offset off. */
static int peek_at(int s, int off, void *buf, size_t len, struct peeked *p)
{
	static char cbuf[CMSG_SPACE(MAX_FDS * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, len };
	struct msghdr m = {
		.msg_name = &p->from, .msg_namelen = sizeof(p->from),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	ssize_t n;

	memset(p, 0, sizeof(*p));
	if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)))
		return -errno;
	n = recvmsg(s, &m, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	p->len = (size_t)n;
	p->trunc = m.msg_flags & MSG_TRUNC;
	p->fromlen = m.msg_namelen;
	take_cmsgs(&m, p);
	return 0;
}

static char *unix_name_of(const struct sockaddr_storage *ss, socklen_t len)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
	size_t n = len > offsetof(struct sockaddr_un, sun_path) ?
		   len - offsetof(struct sockaddr_un, sun_path) : 0;
	char *name;

	if (!n)
		return NULL;
	if (un->sun_path[0])
		n = strnlen(un->sun_path, n);
	name = malloc(n + 1);
	for (size_t i = 0; name && i < n; i++)
		name[i] = un->sun_path[i] ? un->sun_path[i] : '@';
	if (name)
		name[n] = '\0';
	return name;
}

/* The sender of a datagram, or NULL when it had no address. */
static int sender_of(const struct peeked *p, SockAddr **out)
{
	const struct sockaddr_storage *ss = &p->from;
	SockAddr *a;

	*out = NULL;
	if (p->fromlen <= sizeof(sa_family_t))
		return 0;
	if (!(a = malloc(sizeof(*a))))
		return -ENOMEM;
	sock_addr__init(a);
	*out = a;
	if (ss->ss_family == AF_UNIX) {
		a->path = unix_name_of(ss, p->fromlen);
		return 0;
	}
	a->has_port = true;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		a->port = ntohs(in->sin_port);
		a->ip = sk_ip_string(AF_INET, &in->sin_addr);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		a->port = ntohs(in6->sin6_port);
		a->ip = sk_ip_string(AF_INET6, &in6->sin6_addr);
	}
	return a->ip ? 0 : -ENOMEM;
}

/* Files in flight, dumped as criu-lite's own fds (the walk's own step). */
static int dump_rights(struct fd_dump *c, struct peeked *p, SkPacket *pk)
{
	int r;

	if (!(pk->rights = calloc(p->nfds, sizeof(*pk->rights))))
		return -ENOMEM;
	c->sk->depth++;
	r = c->dump_own(c, p->fds, (size_t)p->nfds, pk->rights);
	c->sk->depth--;
	for (int i = 0; i < p->nfds; i++)
		if (pk->rights[i])
			pk->n_rights = (size_t)i + 1;
	return r;
}

static int add_packet(struct fd_dump *c, SocketInfo *si, const void *data, size_t len,
		      struct peeked *p)
{
	SkPacket *pk = malloc(sizeof(*pk)), **q;
	int r = 0;

	if (!pk)
		return -ENOMEM;
	sk_packet__init(pk);
	q = realloc(si->queue, (si->n_queue + 1) * sizeof(*q));
	if (!q) {
		free(pk);
		return -ENOMEM;
	}
	si->queue = q;
	q[si->n_queue++] = pk;
	pk->has_data = true;
	pk->data.len = len;
	if (len && !(pk->data.data = malloc(len)))
		return -ENOMEM;
	if (len)
		memcpy(pk->data.data, data, len);
	if (p->cred.pid) {
		if (!(pk->creds = malloc(sizeof(*pk->creds))))
			return -ENOMEM;
		sk_ucred__init(pk->creds);
		pk->creds->pid = (uint32_t)p->cred.pid;
		pk->creds->uid = p->cred.uid;
		pk->creds->gid = p->cred.gid;
	}
	if (si->type != SOCK_STREAM && (r = sender_of(p, &pk->from)))
		return r;
	if (p->nfds)
		r = dump_rights(c, p, pk);
	return r;
}

static int peek_all(struct fd_dump *c, int s, SocketInfo *si, char *buf)
{
	bool stream = si->type == SOCK_STREAM;
	struct peeked p;
	int off = 0, r;

	for (;;) {
		r = peek_at(s, off, buf, PEEK_BUF, &p);
		if (r == -EAGAIN || (!r && stream && !p.len))
			return 0;	/* the end, or end of file */
		if (r)
			return r;
		if (p.trunc) {
			close_fds(&p);
			return -EMSGSIZE;
		}
		r = add_packet(c, si, buf, p.len, &p);
		close_fds(&p);
		if (r)
			return r;
		off += (int)p.len;
	}
}

int sk_queue_dump(struct fd_dump *c, int s, SocketInfo *si)
{
	int old_off = -1, old_cred = 0, one = 1, r;
	socklen_t l = sizeof(int);
	char *buf;

	if (c->sk->depth >= MAX_DEPTH) {
		si->pending_why = strdup("files in flight inside files in flight, too deep");
		return si->pending_why ? 0 : -ENOMEM;
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &old_off, &l))
		return pr_perror("SO_PEEK_OFF of socket %llu", (unsigned long long)si->ino);
	l = sizeof(int);
	getsockopt(s, SOL_SOCKET, SO_PASSCRED, &old_cred, &l);
	if (!(buf = malloc(PEEK_BUF)))
		return -ENOMEM;
	setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	r = peek_all(c, s, si, buf);
	setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &old_off, sizeof(old_off));
	setsockopt(s, SOL_SOCKET, SO_PASSCRED, &old_cred, sizeof(old_cred));
	free(buf);
	if (r == -EMSGSIZE) {
		si->pending_why = strdup("a queued datagram is larger than the dump reads");
		return si->pending_why ? 0 : -ENOMEM;
	}
	if (r)
		pr_err("cannot read the queue of socket %llu: %s", (unsigned long long)si->ino,
		       strerror(-r));
	return r;
}
