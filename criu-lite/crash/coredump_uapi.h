/* Kernel ABI of the coredump socket (Linux 6.16+, request mode 6.17+) and
 * of PIDFD_GET_INFO, which Debian 12's headers predate. Written from the
 * uapi documentation (include/uapi/linux/coredump.h, pidfd.h); the sizes
 * are checked at compile time because the kernel selects behaviour by
 * struct size, so a wrong layout would be silently misread. */
#ifndef CRIU_LITE_COREDUMP_UAPI_H
#define CRIU_LITE_COREDUMP_UAPI_H

#include <stdint.h>
#include <sys/ioctl.h>

/* Flags of coredump_req.mask (what the kernel offers) and coredump_ack.mask
 * (what the server chooses). */
#define COREDUMP_KERNEL		(1ULL << 0)	/* the kernel writes the core on the socket */
#define COREDUMP_USERSPACE	(1ULL << 1)	/* the server produces the core itself */
#define COREDUMP_REJECT		(1ULL << 2)	/* no core at all */
#define COREDUMP_WAIT		(1ULL << 3)	/* the crasher stays until the server closes */

/* The kernel's request, sent first on every connection in "@@" mode. A
 * newer kernel may send a longer struct: `size` says how long. */
struct coredump_req {
	uint32_t size;
	uint32_t size_ack;	/* largest coredump_ack this kernel understands */
	uint64_t mask;		/* COREDUMP_* the kernel supports */
};
#define COREDUMP_REQ_SIZE_VER0	16u

struct coredump_ack {
	uint32_t size;		/* what we send: at least VER0, at most size_ack */
	uint32_t spare;		/* must be 0 */
	uint64_t mask;
};
#define COREDUMP_ACK_SIZE_VER0	16u

/* After the ack, the kernel sends one u32 saying whether it took it. */
enum coredump_mark {
	COREDUMP_MARK_REQACK = 0,	/* accepted: the core follows (COREDUMP_KERNEL) */
	COREDUMP_MARK_MINSIZE = 1,	/* our ack was too short */
	COREDUMP_MARK_MAXSIZE = 2,	/* our ack was longer than size_ack */
	COREDUMP_MARK_UNSUPPORTED = 3,	/* a mask bit the kernel did not offer */
	COREDUMP_MARK_CONFLICTING = 4,	/* e.g. KERNEL and REJECT together */
};

/* getsockopt(SOL_SOCKET): a pidfd for the peer of a unix socket (6.5+). */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* ioctl(pidfd, PIDFD_GET_INFO, &info): request mask bits. */
#define PIDFD_INFO_PID		(1ULL << 0)
#define PIDFD_INFO_CREDS	(1ULL << 1)
#define PIDFD_INFO_CGROUPID	(1ULL << 2)
#define PIDFD_INFO_EXIT		(1ULL << 3)
#define PIDFD_INFO_COREDUMP	(1ULL << 4)

/* pidfd_info.coredump_mask, valid when PIDFD_INFO_COREDUMP is in mask. */
#define PIDFD_COREDUMPED	(1u << 0)	/* it is dumping (or dumped) core */
#define PIDFD_COREDUMP_SKIP	(1u << 1)	/* not dumpable: no core */
#define PIDFD_COREDUMP_USER	(1u << 2)	/* an ordinary core, the user may read it */
#define PIDFD_COREDUMP_ROOT	(1u << 3)	/* suid_dumpable=2: keep it root-only */

/* The 6.17/6.18 layout (PIDFD_INFO_SIZE_VER2). */
struct pidfd_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid;
	uint32_t tgid;
	uint32_t ppid;
	uint32_t ruid;
	uint32_t rgid;
	uint32_t euid;
	uint32_t egid;
	uint32_t suid;
	uint32_t sgid;
	uint32_t fsuid;
	uint32_t fsgid;
	int32_t exit_code;
	uint32_t coredump_mask;
	uint32_t spare1;
	uint64_t supported_mask;
};

#define PIDFS_IOCTL_MAGIC	0xFF
#define PIDFD_GET_INFO		_IOWR(PIDFS_IOCTL_MAGIC, 11, struct pidfd_info)

_Static_assert(sizeof(struct coredump_req) == COREDUMP_REQ_SIZE_VER0, "coredump_req layout");
_Static_assert(sizeof(struct coredump_ack) == COREDUMP_ACK_SIZE_VER0, "coredump_ack layout");
_Static_assert(sizeof(struct pidfd_info) == 80, "pidfd_info layout");

#endif
