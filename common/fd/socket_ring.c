/* A small io_uring of our own (raw syscalls: no liburing) for restoring
 * many TCP connections: each needs a dozen setsockopt, bind and connect
 * calls, and a syscall costs about a microsecond in a guest; one
 * io_uring_enter runs hundreds of them.
 *
 * Operations are queued in chains (IOSQE_IO_LINK: a failed step cancels
 * the rest of its chain, and only its chain) and run by sk_ring_run. The
 * values an operation points at must stay put until then: the caller
 * keeps them. What the headers of this distribution lack (kernel 6.1
 * headers; the opcodes are from 6.7 and 6.11) is defined here from the
 * kernel's uapi.
 *
 * No ring: io_uring disabled (kernel.io_uring_disabled, seccomp, an old
 * kernel) or CRIU_LITE_NO_IO_URING set; the callers then do each call
 * themselves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "common/fd/socket.h"

#define OP_BIND 56		/* IORING_OP_BIND, 6.11 */
#define OP_FIXED_FD_INSTALL 54	/* IORING_OP_FIXED_FD_INSTALL, 6.8 */
#define SOCKET_OP_SIOCINQ 0	/* SOCKET_URING_OP_SIOCINQ, 6.7 */
#define SOCKET_OP_GETSOCKOPT 2	/* SOCKET_URING_OP_GETSOCKOPT, 6.7 */
#define SOCKET_OP_SETSOCKOPT 3	/* SOCKET_URING_OP_SETSOCKOPT, 6.7 */

/* The sqe as 6.7+ lays it out for socket commands: level and optname
 * where addr is, optlen where splice_fd_in is, optval where addr3 is. */
struct sqe_sockopt {
	uint8_t opcode, flags;
	uint16_t ioprio;
	int32_t fd;
	uint32_t cmd_op, pad1;
	uint32_t level, optname;
	uint32_t len, rw_flags;
	uint64_t user_data;
	uint16_t buf_index, personality;
	uint32_t optlen;
	uint64_t optval, pad2;
};
_Static_assert(sizeof(struct sqe_sockopt) == sizeof(struct io_uring_sqe), "sqe layout");

struct sk_ring {
	int fd;
	void *sq, *cq;
	size_t sq_len, cq_len, sqes_len;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	unsigned entries, queued;
	bool chain_open;
	unsigned slots;			/* its file table's (sk_ring_slots), or 0 */
};

static bool has_op(const struct io_uring_probe *p, unsigned op)
{
	return p->last_op >= op && (p->ops[op].flags & IO_URING_OP_SUPPORTED);
}

/* The ring takes socket commands (and binds and connects: addr; and
 * makes sockets into its file table and installs them: direct). */
static bool supported(int fd, bool addr, bool direct)
{
	size_t len = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
	struct io_uring_probe *p = calloc(1, len);
	bool ok;

	if (!p)
		return false;
	ok = !syscall(SYS_io_uring_register, fd, IORING_REGISTER_PROBE, p, 256) &&
	     has_op(p, IORING_OP_URING_CMD) &&
	     (!addr || (has_op(p, OP_BIND) && has_op(p, IORING_OP_CONNECT))) &&
	     (!direct || (has_op(p, IORING_OP_SOCKET) && has_op(p, OP_FIXED_FD_INSTALL)));
	free(p);
	return ok;
}

void sk_ring_free(struct sk_ring *r)
{
	if (!r)
		return;
	if (r->sqes && r->sqes != MAP_FAILED)
		munmap(r->sqes, r->sqes_len);
	if (r->cq && r->cq != MAP_FAILED && r->cq != r->sq)
		munmap(r->cq, r->cq_len);
	if (r->sq && r->sq != MAP_FAILED)
		munmap(r->sq, r->sq_len);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

/* A switch of the environment set (to anything but 0). */
static bool env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

struct sk_ring *sk_ring_new(unsigned entries, bool addr)
{
	struct io_uring_params p;
	struct sk_ring *r;

	if (env_set("CRIU_LITE_NO_IO_URING") || !(r = calloc(1, sizeof(*r))))
		return NULL;
	memset(&p, 0, sizeof(p));
	r->fd = (int)syscall(SYS_io_uring_setup, entries, &p);
	if (r->fd < 0 || !(p.features & IORING_FEAT_SINGLE_MMAP) || !supported(r->fd, addr, false))
		goto fail;
	r->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (r->cq_len > r->sq_len)
		r->sq_len = r->cq_len;
	r->sq = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		     IORING_OFF_SQ_RING);
	if (r->sq == MAP_FAILED)
		goto fail;
	r->cq = r->sq;
	r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		goto fail;
	r->sq_head = (unsigned *)((char *)r->sq + p.sq_off.head);
	r->sq_tail = (unsigned *)((char *)r->sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)((char *)r->sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)((char *)r->sq + p.sq_off.array);
	r->cq_head = (unsigned *)((char *)r->cq + p.cq_off.head);
	r->cq_tail = (unsigned *)((char *)r->cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)((char *)r->cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)((char *)r->cq + p.cq_off.cqes);
	r->entries = p.sq_entries;
	return r;
fail:
	sk_ring_free(r);
	return NULL;
}

unsigned sk_ring_room(const struct sk_ring *r)
{
	return r->entries - r->queued;
}

/* The next sqe, zeroed, linked to the one before unless it starts a chain;
 * fd a slot of the ring's file table (SK_RING_SLOT) or an fd. */
static struct io_uring_sqe *next(struct sk_ring *r, int fd, uint64_t tag, bool first)
{
	unsigned tail = *r->sq_tail + r->queued, i = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = &r->sqes[i];

	if (!first && r->queued)
		r->sqes[(tail - 1) & *r->sq_mask].flags |= IOSQE_IO_LINK;
	memset(sqe, 0, sizeof(*sqe));
	sqe->fd = fd;
	if (fd <= SK_RING_SLOT(0)) {
		sqe->fd = SK_RING_SLOT(0) - fd;
		sqe->flags = IOSQE_FIXED_FILE;
	}
	sqe->user_data = tag;
	r->sq_array[i] = i;
	r->queued++;
	return sqe;
}

/* A socket command: get or set one option. */
static void sockopt_cmd(struct sk_ring *r, uint32_t op, int fd, int level, int name,
			const void *val, socklen_t len, uint64_t tag, bool first)
{
	struct sqe_sockopt *s = (struct sqe_sockopt *)next(r, fd, tag, first);

	s->opcode = IORING_OP_URING_CMD;
	s->cmd_op = op;
	s->level = (uint32_t)level;
	s->optname = (uint32_t)name;
	s->optval = (uint64_t)(uintptr_t)val;
	s->optlen = len;
}

void sk_ring_setsockopt(struct sk_ring *r, int fd, int level, int name, const void *val,
			socklen_t len, uint64_t tag, bool first)
{
	sockopt_cmd(r, SOCKET_OP_SETSOCKOPT, fd, level, name, val, len, tag, first);
}

void sk_ring_inq(struct sk_ring *r, int fd, uint64_t tag, bool first)
{
	sockopt_cmd(r, SOCKET_OP_SIOCINQ, fd, 0, 0, NULL, 0, tag, first);
}

void sk_ring_addr(struct sk_ring *r, int fd, bool bind, const struct sockaddr *sa,
		  socklen_t len, uint64_t tag, bool first)
{
	struct io_uring_sqe *sqe = next(r, fd, tag, first);

	sqe->opcode = bind ? OP_BIND : IORING_OP_CONNECT;
	sqe->addr = (uint64_t)(uintptr_t)sa;
	sqe->off = len;		/* addr2: the address length, for both */
}

/* ---- sockets made by the ring ---- */

/* CRIU_LITE_NO_RING_SOCKETS: none, as a kernel before 6.8 has it (the
 * tests' way to the path of a socket() each). */
bool sk_ring_slots(struct sk_ring *r, unsigned n)
{
	struct io_uring_rsrc_register reg = { .nr = n, .flags = IORING_RSRC_REGISTER_SPARSE };

	if (!r->slots && !env_set("CRIU_LITE_NO_RING_SOCKETS") && supported(r->fd, true, true) &&
	    !syscall(SYS_io_uring_register, r->fd, IORING_REGISTER_FILES2, &reg, sizeof(reg)))
		r->slots = n;
	return r->slots >= n;
}

void sk_ring_socket(struct sk_ring *r, int family, int type, int protocol, unsigned slot,
		    uint64_t tag)
{
	struct io_uring_sqe *sqe = next(r, family, tag, true);

	sqe->opcode = IORING_OP_SOCKET;
	sqe->off = (uint64_t)type;
	sqe->len = (uint32_t)protocol;
	sqe->file_index = slot + 1;	/* 0 would be a plain fd */
}

void sk_ring_install(struct sk_ring *r, unsigned slot, uint64_t tag)
{
	/* close-on-exec, as the sockets criu-lite makes */
	next(r, SK_RING_SLOT(slot), tag, false)->opcode = OP_FIXED_FD_INSTALL;
}

int sk_ring_slots_clear(struct sk_ring *r)
{
	int none[256];
	struct io_uring_files_update u = { .offset = 0, .fds = (uint64_t)(uintptr_t)none };
	long n;

	if (r->slots > sizeof(none) / sizeof(none[0]))
		return -EINVAL;
	for (unsigned i = 0; i < r->slots; i++)
		none[i] = -1;
	n = syscall(SYS_io_uring_register, r->fd, IORING_REGISTER_FILES_UPDATE, &u, r->slots);
	return n < 0 ? -errno : 0;
}

/* Run what is queued; fn(tag, res, arg) for each completion. -errno when
 * the ring itself failed (nothing known of the operations then). */
int sk_ring_run(struct sk_ring *r, void (*fn)(uint64_t tag, int res, void *arg), void *arg)
{
	unsigned n = r->queued, done = 0, sub = 0;

	if (!n)
		return 0;
	__atomic_store_n(r->sq_tail, *r->sq_tail + n, __ATOMIC_RELEASE);
	r->queued = 0;
	while (done < n) {
		unsigned head = *r->cq_head, tail;
		/* the kernel waits only when it took every sqe offered */
		long k = syscall(SYS_io_uring_enter, r->fd, n - sub, n - done,
				 IORING_ENTER_GETEVENTS, NULL, 0);

		if (k < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY)
			return -errno;
		sub += k > 0 ? (unsigned)k : 0;
		tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
		for (; head != tail; head++, done++) {
			const struct io_uring_cqe *c = &r->cqes[head & *r->cq_mask];

			fn(c->user_data, c->res, arg);
		}
		__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
	}
	return 0;
}

/* ---- dump: many options of one socket in one call ---- */

/* one a thread: the prefetch reads sockets on two (socket_tcp_pre.c) */
static _Thread_local struct sk_ring *dump_ring;
static _Thread_local bool dump_no_ring;
static _Thread_local unsigned dump_asked;

struct sk_ring *sk_ring_dump(void)
{
	if (!dump_ring && !dump_no_ring)
		dump_no_ring = !(dump_ring = sk_ring_new(SK_RING_DUMP_ENTRIES, false));
	return dump_ring;
}

/* (the tag is the request itself) */
static void got(uint64_t tag, int res, void *arg)
{
	(void)arg;
	((struct sk_getopt *)(uintptr_t)tag)->res = res;
}

void sk_ring_getsockopt(struct sk_ring *r, int s, struct sk_getopt *g)
{
	sockopt_cmd(r, SOCKET_OP_GETSOCKOPT, s, g->level, g->name, g->val, g->len,
		    (uint64_t)(uintptr_t)g, true);
}

int sk_ring_run_getsockopts(struct sk_ring *r)
{
	return sk_ring_run(r, got, NULL);
}

int sk_ring_getsockopts(int s, struct sk_getopt *g, size_t n)
{
	/* a ring costs more to make than a few sockets' getsockopt */
	if (++dump_asked <= 4)
		return -ENOSYS;
	if (!sk_ring_dump() || n > SK_RING_DUMP_ENTRIES)
		return -ENOSYS;
	for (size_t i = 0; i < n; i++)
		sk_ring_getsockopt(dump_ring, s, &g[i]);
	return sk_ring_run_getsockopts(dump_ring);
}

void sk_ring_dump_done(void)
{
	sk_ring_free(dump_ring);
	dump_ring = NULL;
	dump_no_ring = false;
	dump_asked = 0;
}
