/* One connection on the coredump socket ("@@" request mode, 6.17+):
 *   kernel -> us: struct coredump_req (its size first: newer kernels may
 *                 send more than we know, the rest is skipped)
 *   us -> kernel: struct coredump_ack with KERNEL|WAIT, or REJECT
 *   kernel -> us: u32 mark, REQACK when our ack was taken
 *   kernel -> us: the ELF core, then EOF; with WAIT the crasher stays
 *                 (and /proc/PID with it) until we close.
 * The peer is identified by its pidfd (SO_PEERPIDFD), never by a pid that
 * could be reused; a peer that is not dumping core is not the kernel. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "criu-lite/crash/coredump_uapi.h"
#include "criu-lite/crash/crash.h"
#include "criu-lite/crash/coredump_server.h"
#include "images/log.h"

#define REQ_SIZE_MAX 4096u

static int recv_all(int fd, void *buf, size_t len, long deadline_ms)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline_ms - crash_now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recv(fd, (char *)buf + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

static int read_req(int fd, struct coredump_req *req, long deadline_ms)
{
	char skip[256];
	uint32_t left;
	int r = recv_all(fd, req, sizeof(*req), deadline_ms);

	if (r)
		return r;
	if (req->size < COREDUMP_REQ_SIZE_VER0 || req->size > REQ_SIZE_MAX)
		return -EPROTO;
	for (left = req->size - sizeof(*req); left && !r;) {
		uint32_t n = left < sizeof(skip) ? left : sizeof(skip);

		r = recv_all(fd, skip, n, deadline_ms);
		left -= n;
	}
	return r;
}

static const char *mark_name(uint32_t m)
{
	static const char *const names[] = {
		[COREDUMP_MARK_REQACK] = "accepted",
		[COREDUMP_MARK_MINSIZE] = "our answer was too short (MINSIZE)",
		[COREDUMP_MARK_MAXSIZE] = "our answer was too long (MAXSIZE)",
		[COREDUMP_MARK_UNSUPPORTED] = "it does not support what we asked (UNSUPPORTED)",
		[COREDUMP_MARK_CONFLICTING] = "what we asked is contradictory (CONFLICTING)",
	};

	return m < sizeof(names) / sizeof(names[0]) ? names[m] : "an unknown answer";
}

/* Send our answer and read the kernel's verdict on it. */
static int ack(int fd, uint64_t mask, long deadline_ms)
{
	struct coredump_ack a = { .size = sizeof(a), .mask = mask };
	uint32_t mark;
	int r;

	if (send(fd, &a, sizeof(a), MSG_NOSIGNAL) != (ssize_t)sizeof(a))
		return pr_perror("cannot answer the kernel's coredump request");
	r = recv_all(fd, &mark, sizeof(mark), deadline_ms);
	if (r) {
		pr_err("no verdict from the kernel on our coredump answer: %s", strerror(-r));
		return r;
	}
	if (mark != COREDUMP_MARK_REQACK) {
		pr_err("the kernel refused our coredump answer: %s (mark %u)", mark_name(mark), mark);
		return -EPROTO;
	}
	return 0;
}

static int peer_info(int fd, struct pidfd_info *info)
{
	socklen_t len = sizeof(int);
	int pidfd = -1, r = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len))
		return pr_perror("cannot identify the peer (SO_PEERPIDFD; Linux 6.5+)");
	memset(info, 0, sizeof(*info));
	info->mask = PIDFD_INFO_COREDUMP | PIDFD_INFO_CGROUPID | PIDFD_INFO_CREDS;
	if (ioctl(pidfd, PIDFD_GET_INFO, info))
		r = pr_perror("cannot ask about the peer (PIDFD_GET_INFO; Linux 6.13+)");
	close(pidfd);
	return r;
}

int coredump_conn_serve(int fd, const struct coredump_server_opts *o)
{
	long deadline = crash_now_ms() + o->timeout_s * 1000L;
	struct crash_intake_opts io = {
		.store = o->store, .max_size = o->max_size, .max_count = o->max_count,
		.timeout_s = o->timeout_s, .source = "socket",
	};
	struct coredump_req req;
	struct pidfd_info info;
	CrashEntry *ce;
	int r;

	r = peer_info(fd, &info);
	if (r)
		return r;
	if (!(info.mask & PIDFD_INFO_COREDUMP) || !(info.coredump_mask & PIDFD_COREDUMPED)) {
		pr_warn("connection from pid %u, which is not dumping core: closed", info.pid);
		return -EPERM;
	}
	r = read_req(fd, &req, deadline);
	if (r) {
		pr_err("no valid coredump request from the kernel for pid %u: %s", info.pid,
		       strerror(-r));
		return r;
	}
	if (o->only_pid && info.pid != (uint32_t)o->only_pid) {
		r = ack(fd, COREDUMP_REJECT, deadline);
		pr_info("crash of pid %u rejected: this server takes only pid %d", info.pid,
			o->only_pid);
		return r;
	}
	if ((req.mask & (COREDUMP_KERNEL | COREDUMP_WAIT)) != (COREDUMP_KERNEL | COREDUMP_WAIT)) {
		pr_err("the kernel offers coredump modes %#llx, without KERNEL|WAIT: rejected",
		       (unsigned long long)req.mask);
		ack(fd, COREDUMP_REJECT, deadline);
		return -EPROTO;
	}
	r = ack(fd, COREDUMP_KERNEL | COREDUMP_WAIT, deadline);
	if (r)
		return r;
	ce = calloc(1, sizeof(*ce));
	if (!ce)
		return -ENOMEM;
	crash_entry__init(ce);
	ce->pid = info.pid;
	ce->has_uid = ce->has_gid = ce->has_euid = ce->has_egid = 1;
	ce->uid = info.ruid;
	ce->gid = info.rgid;
	ce->euid = info.euid;
	ce->egid = info.egid;
	ce->has_coredump_mask = 1;
	ce->coredump_mask = info.coredump_mask;
	if (info.mask & PIDFD_INFO_CGROUPID)
		ce->has_cgroup_id = 1, ce->cgroup_id = info.cgroupid;
	r = crash_intake(&io, fd, ce, deadline);
	img_free(ce);
	return r;
}
