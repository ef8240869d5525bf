/* The one table of CRIU's image kinds: file name, magics, message. The
 * magic numbers are CRIU's (its criu/include/magic.h): every image but the
 * inventory starts with a common (or, for statistics, a service) magic and
 * then its own, so a file renamed to the wrong kind is refused. Kinds
 * without a message here are known by name and magic only: show names them
 * and restore refuses the state they hold. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/criu/criu.h"

#define C CIMG_COMMON_MAGIC
#define S CIMG_SERVICE_MAGIC

static uint32_t pipe_payload(const void *msg)
{
	return ((const Criu__PipeDataEntry *)msg)->bytes;
}

static uint32_t sk_payload(const void *msg)
{
	return ((const Criu__SkPacketEntry *)msg)->length;
}

static const struct cimg_desc table[CIMG_KIND_COUNT] = {
	[CIMG_INVENTORY] = { "INVENTORY", "inventory.img", CIMG_INVENTORY_MAGIC, 0,
			     &criu__inventory_entry__descriptor },
	[CIMG_PSTREE] = { "PSTREE", "pstree.img", 0x50273030, C, &criu__pstree_entry__descriptor },
	[CIMG_CORE] = { "CORE", "core-%u.img", 0x55053847, C, &criu__core_entry__descriptor },
	[CIMG_MM] = { "MM", "mm-%u.img", 0x57492820, C, &criu__mm_entry__descriptor },
	[CIMG_PAGEMAP] = { "PAGEMAP", "pagemap-%u.img", 0x56084025, C,
			   &criu__pagemap_entry__descriptor, &criu__pagemap_head__descriptor },
	[CIMG_SHMEM_PAGEMAP] = { "PAGEMAP", "pagemap-shmem-%u.img", 0x56084025, C,
				 &criu__pagemap_entry__descriptor,
				 &criu__pagemap_head__descriptor },
	[CIMG_IDS] = { "IDS", "ids-%u.img", 0x54432030, C, &criu__task_kobj_ids_entry__descriptor },
	[CIMG_FS] = { "FS", "fs-%u.img", 0x51403912, C, &criu__fs_entry__descriptor },
	[CIMG_FDINFO] = { "FDINFO", "fdinfo-%u.img", 0x56213732, C, &criu__fdinfo_entry__descriptor },
	[CIMG_FILES] = { "FILES", "files.img", 0x56303138, C, &criu__file_entry__descriptor },
	[CIMG_PIPES_DATA] = { "PIPES_DATA", "pipes-data.img", 0x56453709, C,
			      &criu__pipe_data_entry__descriptor, NULL, pipe_payload },
	[CIMG_FIFO_DATA] = { "FIFO_DATA", "fifo-data.img", 0x59333054, C,
			     &criu__pipe_data_entry__descriptor, NULL, pipe_payload },
	[CIMG_SK_QUEUES] = { "SK_QUEUES", "sk-queues.img", 0x56264026, C,
			     &criu__sk_packet_entry__descriptor, NULL, sk_payload },
	[CIMG_SECCOMP] = { "SECCOMP", "seccomp.img", 0x64413049, C, &criu__seccomp_entry__descriptor },
	[CIMG_TIMENS] = { "TIMENS", "timens-%u.img", 0x43114433, C, &criu__timens_entry__descriptor },
	[CIMG_STATS_DUMP] = { "STATS", "stats-dump", 0x57093306, S, &criu__stats_entry__descriptor },
	[CIMG_STATS_RESTORE] = { "STATS", "stats-restore", 0x57093306, S,
				 &criu__stats_entry__descriptor },
	/* Before files.img (CRIU 3.10 and older) each kind had its own image. */
	[CIMG_REG_FILES] = { "REG_FILES", "reg-files.img", 0x50363636, C,
			     &criu__reg_file_entry__descriptor },
	[CIMG_PIPES] = { "PIPES", "pipes.img", 0x56513555, C, &criu__pipe_entry__descriptor },
	[CIMG_UNIXSK] = { "UNIXSK", "unixsk.img", 0x54373943, C, &criu__unix_sk_entry__descriptor },
	[CIMG_FIFO] = { "FIFO", "fifo.img", 0x58364939, C, &criu__fifo_entry__descriptor },

	[CIMG_MNTS] = { "MNTS", "mountpoints-%u.img", 0x55563928, C },
	[CIMG_NETNS] = { "NETNS", "netns-%u.img", 0x55933752, C },
	[CIMG_UTSNS] = { "UTSNS", "utsns-%u.img", 0x54473203, C },
	[CIMG_IPCNS_VAR] = { "IPC_VAR", "ipcns-var-%u.img", 0x53115007, C },
	[CIMG_IPCNS_SHM] = { "IPCNS_SHM", "ipcns-shm-%u.img", 0x46283044, C },
	[CIMG_IPCNS_MSG] = { "IPCNS_MSG", "ipcns-msg-%u.img", 0x55453737, C },
	[CIMG_IPCNS_SEM] = { "IPCNS_SEM", "ipcns-sem-%u.img", 0x59573019, C },
	[CIMG_CGROUP] = { "CGROUP", "cgroup.img", 0x59383330, C },
	[CIMG_TTY_FILES] = { "TTY_FILES", "tty.img", 0x59433025, C },
	[CIMG_TTY_INFO] = { "TTY_INFO", "tty-info.img", 0x59453036, C },
	[CIMG_TTY_DATA] = { "TTY_DATA", "tty-data.img", 0x59413026, C },
	[CIMG_INETSK] = { "INETSK", "inetsk.img", 0x56443851, C },
	[CIMG_TCP_STREAM] = { "TCP_STREAM", "tcp-stream-%x.img", 0x51465506, C },
	[CIMG_PACKETSK] = { "PACKETSK", "packetsk.img", 0x60454618, C },
	[CIMG_NETLINKSK] = { "NETLINK_SK", "netlinksk.img", 0x58005614, C },
	[CIMG_FILE_LOCKS] = { "FILE_LOCKS", "filelocks.img", 0x54323616, C },
	[CIMG_USERNS] = { "USERNS", "userns-%u.img", 0x55474906, C },
	[CIMG_POSIX_TIMERS] = { "POSIX_TIMERS", "posix-timers-%u.img", 0x52603957, C },
	[CIMG_EVENTFD] = { "EVENTFD_FILE", "eventfd.img", 0x44523722, C },
	[CIMG_EVENTPOLL] = { "EVENTPOLL_FILE", "eventpoll.img", 0x45023858, C },
	[CIMG_SIGNALFD] = { "SIGNALFD", "signalfd.img", 0x57323820, C },
	[CIMG_TIMERFD] = { "TIMERFD", "timerfd.img", 0x50493712, C },
	[CIMG_INOTIFY] = { "INOTIFY_FILE", "inotify.img", 0x48424431, C },
	[CIMG_FANOTIFY] = { "FANOTIFY_FILE", "fanotify.img", 0x55096122, C },
	[CIMG_MEMFD_INODE] = { "MEMFD_INODE", "memfd.img", 0x48453499, C },
	[CIMG_GHOST_FILE] = { "GHOST_FILE", "ghost-file-%x.img", 0x52583605, C },
	[CIMG_REMAP_FPATH] = { "REMAP_FPATH", "remap-fpath.img", 0x59133954, C },
	[CIMG_EXT_FILES] = { "EXT_FILES", "ext-files.img", 0x59255641, C },
	[CIMG_TUNFILE] = { "TUNFILE", "tunfile.img", 0x57143751, C },
	[CIMG_NS_FILES] = { "NS_FILES", "ns-files.img", 0x61394011, C },
	[CIMG_BPFMAP_FILE] = { "BPFMAP_FILE", "bpfmap-file.img", 0x57506142, C },
	[CIMG_BPFMAP_DATA] = { "BPFMAP_DATA", "bpfmap-data.img", 0x64324033, C },
	[CIMG_PIDNS] = { "PIDNS", "pidns-%u.img", 0x61157326, C },
	[CIMG_AUTOFS] = { "AUTOFS", "autofs-%u.img", 0x49353943, C },
	[CIMG_BINFMT_MISC] = { "BINFMT_MISC", "binfmt-misc-%u.img", 0x67343323, C },
	[CIMG_APPARMOR] = { "APPARMOR", "apparmor.img", 0x59423047, C },
	[CIMG_SIGACT] = { "SIGACT", "sigacts-%u.img", 0x55344201, C },
	[CIMG_ITIMERS] = { "ITIMERS", "itimers-%u.img", 0x57464056, C },
	[CIMG_CREDS] = { "CREDS", "creds-%u.img", 0x54023547, C },
	[CIMG_RLIMIT] = { "RLIMIT", "rlimit-%u.img", 0x57113925, C },
	[CIMG_IRMAP_CACHE] = { "IRMAP_CACHE", "irmap-cache", 0x57004059, S },
	[CIMG_CPUINFO] = { "CPUINFO", "cpuinfo.img", 0x61404013, C },
};

const struct cimg_desc *cimg_desc(enum cimg_kind k)
{
	return &table[k];
}

/* name against "prefix%usuffix" ('%x': hex): only the spelling CRIU
 * writes, digits without sign or leading zero, so that one file cannot
 * pass for another. */
static bool name_matches(const char *pat, const char *name, uint64_t *id)
{
	const char *pct = strchr(pat, '%');
	size_t pre, nlen = strlen(name), suf;
	int base;
	char *end;

	if (!pct)
		return !strcmp(pat, name) && ((*id = 0), true);
	pre = pct - pat;
	suf = strlen(pct + 2);
	base = pct[1] == 'x' ? 16 : 10;
	if (nlen <= pre + suf || strncmp(name, pat, pre) || strcmp(name + nlen - suf, pct + 2))
		return false;
	if (!strchr(base == 16 ? "0123456789abcdef" : "0123456789", name[pre]) || !name[pre] ||
	    (name[pre] == '0' && nlen - suf - pre > 1))
		return false;
	errno = 0;
	*id = strtoull(name + pre, &end, base);
	return !errno && end == name + nlen - suf;
}

int cimg_kind_of_name(const char *name, uint64_t *id)
{
	for (int k = 0; k < CIMG_KIND_COUNT; k++)
		if (table[k].file && name_matches(table[k].file, name, id))
			return k;
	return -1;
}

int cimg_kind_of_magic(uint32_t head, uint32_t magic)
{
	for (int k = 0; k < CIMG_KIND_COUNT; k++)
		if (table[k].magic == magic && table[k].head == head)
			return k;
	return -1;
}

/* Fields crit prints in hex (CRIU's [(criu).hex = true] and its flag
 * words, which crit spells out by name and we give as hex); messages by
 * full name, package included. */
const struct json_hex_field cimg_hex_fields[] = {
	{ "criu.user_x86_regs_entry", NULL }, { "criu.thread_info_x86", "clear_tid_addr" },
	{ "criu.user_x86_cet_entry", NULL },
	{ "criu.task_core_entry", "blk_sigset" }, { "criu.task_core_entry", "blk_sigset_extended" },
	{ "criu.task_core_entry", "membarrier_registration_mask" },
	{ "criu.task_core_entry", "flags" }, { "criu.thread_core_entry", "blk_sigset" },
	{ "criu.thread_core_entry", "futex_rla" }, { "criu.thread_sas_entry", "ss_sp" },
	{ "criu.rseq_entry", "rseq_abi_pointer" },
	{ "criu.user_x86_xsave_entry", "xstate_bv" },
	{ "criu.mm_entry", "mm_start_code" }, { "criu.mm_entry", "mm_end_code" },
	{ "criu.mm_entry", "mm_start_data" }, { "criu.mm_entry", "mm_end_data" },
	{ "criu.mm_entry", "mm_start_stack" }, { "criu.mm_entry", "mm_start_brk" }, { "criu.mm_entry", "mm_brk" },
	{ "criu.mm_entry", "mm_arg_start" }, { "criu.mm_entry", "mm_arg_end" },
	{ "criu.mm_entry", "mm_env_start" }, { "criu.mm_entry", "mm_env_end" },
	{ "criu.vma_entry", "start" }, { "criu.vma_entry", "end" }, { "criu.vma_entry", "pgoff" },
	{ "criu.vma_entry", "prot" }, { "criu.vma_entry", "flags" }, { "criu.vma_entry", "status" },
	{ "criu.vma_entry", "madv" }, { "criu.vma_entry", "fdflags" },
	{ "criu.pagemap_entry", "vaddr" }, { "criu.pagemap_entry", "flags" },
	{ "criu.sa_entry", NULL },
	{ "criu.reg_file_entry", "flags" }, { "criu.pipe_entry", "flags" }, { "criu.unix_sk_entry", "flags" },
	{ "criu.unix_sk_entry", "uflags" }, { "criu.eventfd_file_entry", "flags" },
	{ "criu.eventpoll_file_entry", "flags" }, { "criu.signalfd_entry", "flags" },
	{ "criu.signalfd_entry", "sigmask" }, { "criu.timerfd_entry", "flags" },
	{ "criu.timerfd_entry", "settime_flags" }, { "criu.memfd_file_entry", "flags" },
	{ "criu.memfd_inode_entry", "seals" }, { "criu.fdinfo_entry", "flags" },
};

const size_t cimg_nr_hex_fields = sizeof(cimg_hex_fields) / sizeof(cimg_hex_fields[0]);
