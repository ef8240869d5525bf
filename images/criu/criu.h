/* The CRIU backend of the dump reader (images/dump_read.h): a CRIU image
 * directory (CRIU 3.x-4.x, image version 2, with a pre-dump parent chain)
 * or a checkpoint archive (kubelet, CRI-O, Podman: a tar, maybe gzip or
 * zstd, holding checkpoint/ and the container's config.dump, spec.dump),
 * read into criu-lite's own messages. Private to images/criu/:
 *   src.c        where a dump's files are: a directory, or archive members
 *   archive.c    the archive: members indexed, read in place or unpacked
 *   img.c        CRIU's image framing (magics, entries, raw payloads)
 *   img_table.c  the one table of CRIU image kinds
 *   dump.c       the two dr_format backends: open, inventory, pstree
 *   proc.c       ProcEntry; thread.c ThreadEntry; xsave.c the XSAVE area
 *   vmas.c       VmaEntry; pages.c page runs; files.c FdEntry
 *   meta.c       the container's name, image and runtime (archives) */
#ifndef CRIU_LITE_CRIU_CRIU_H
#define CRIU_LITE_CRIU_CRIU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "images/dump_read.h"
#include "images/json.h"
#include "images/criu/core.pb-c.h"
#include "images/criu/files.pb-c.h"
#include "images/criu/inventory.pb-c.h"
#include "images/criu/mm.pb-c.h"
#include "images/criu/stats.pb-c.h"
#include "images/criu/task.pb-c.h"

/* ---- src.c, archive.c: where the bytes of a dump's files are ---- */

struct csrc_member {
	char *name;		/* below checkpoint/, e.g. "core-1.img" */
	uint64_t off, size;	/* bytes [off, off + size) of csrc.fd */
};

/* A container checkpoint's own description (config.dump, spec.dump). */
struct csrc_meta {
	char *name, *id, *image, *runtime, *created, *checkpointed, *engine;
	char *pod, *namespace, *container;
};

struct csrc {
	char *label;		/* for messages: the directory or archive path */
	int dirfd;		/* a directory's files, or -1 */
	int fd;			/* an archive's members: the tar itself or a memfd, or -1 */
	bool in_place;		/* fd is the tar: members are read where they lie */
	struct csrc_member *m;	/* sorted by name */
	size_t nr;
	struct csrc_meta *meta;	/* archives only, NULL when it has none */
};

/* One file of a dump: bytes [off, off + size) of fd. */
struct cfile {
	int fd;
	uint64_t off, size;
	bool own;		/* fd is this cfile's to close */
};

int csrc_open_dir(const char *path, int dirfd, struct csrc **out);
int csrc_open_archive(const char *path, struct csrc **out);
void csrc_free(struct csrc *s);
/* -ENOENT (not logged) when the dump has no file of that name. */
int csrc_get(const struct csrc *s, const char *name, struct cfile *f);
void cfile_close(struct cfile *f);
/* The names of the dump's regular files, sorted (for show). */
int csrc_names(const struct csrc *s, char ***names, size_t *n);
void csrc_names_free(char **names, size_t n);
/* The pre-dump a directory's "parent" link names; 0 with *out NULL if none. */
int csrc_parent(const struct csrc *s, struct csrc **out);
/* Whether path is a CRIU image directory / checkpoint archive (1), not (0). */
int csrc_probe_dir(const char *path);
int csrc_probe_archive(const char *path);

/* archive.c */
int carch_open(const char *path, struct csrc *s);
/* meta.c: parse config.dump and spec.dump (JSON) into s->meta. */
int cmeta_parse(struct csrc *s, const char *name, const char *text, size_t len);
void cmeta_free(struct csrc_meta *m);

/* ---- img.c, img_table.c: CRIU's images ---- */

#define CIMG_COMMON_MAGIC	0x54564319u
#define CIMG_SERVICE_MAGIC	0x55105940u
#define CIMG_INVENTORY_MAGIC	0x58313116u
#define CIMG_VERSION		2	/* CRTOOLS_IMAGES_V1_1 */

enum cimg_kind {
	CIMG_INVENTORY, CIMG_PSTREE, CIMG_CORE, CIMG_MM, CIMG_PAGEMAP, CIMG_SHMEM_PAGEMAP,
	CIMG_IDS, CIMG_FS, CIMG_FDINFO, CIMG_FILES, CIMG_PIPES_DATA, CIMG_FIFO_DATA,
	CIMG_SK_QUEUES, CIMG_SECCOMP, CIMG_TIMENS, CIMG_STATS_DUMP, CIMG_STATS_RESTORE,
	CIMG_REG_FILES, CIMG_PIPES, CIMG_UNIXSK, CIMG_FIFO,
	CIMG_DECODED,		/* kinds past this one are known by name and magic only */
	CIMG_MNTS = CIMG_DECODED, CIMG_NETNS, CIMG_UTSNS, CIMG_IPCNS_VAR, CIMG_IPCNS_SHM,
	CIMG_IPCNS_MSG, CIMG_IPCNS_SEM, CIMG_CGROUP, CIMG_TTY_FILES, CIMG_TTY_INFO, CIMG_TTY_DATA,
	CIMG_INETSK, CIMG_TCP_STREAM, CIMG_PACKETSK, CIMG_NETLINKSK, CIMG_FILE_LOCKS,
	CIMG_USERNS, CIMG_POSIX_TIMERS, CIMG_EVENTFD, CIMG_EVENTPOLL, CIMG_SIGNALFD,
	CIMG_TIMERFD, CIMG_INOTIFY, CIMG_FANOTIFY, CIMG_MEMFD_INODE, CIMG_GHOST_FILE,
	CIMG_REMAP_FPATH, CIMG_EXT_FILES, CIMG_TUNFILE, CIMG_NS_FILES, CIMG_BPFMAP_FILE,
	CIMG_BPFMAP_DATA, CIMG_PIDNS, CIMG_AUTOFS, CIMG_BINFMT_MISC, CIMG_APPARMOR,
	CIMG_SIGACT, CIMG_ITIMERS, CIMG_CREDS, CIMG_RLIMIT, CIMG_IRMAP_CACHE, CIMG_CPUINFO,
	CIMG_KIND_COUNT
};

struct cimg_desc {
	const char *crit;	/* the magic's name, as crit prints it */
	const char *file;	/* "core-%u.img", or a plain name */
	uint32_t magic;
	uint32_t head;		/* the magic before it: common, service, or 0 (inventory) */
	const ProtobufCMessageDescriptor *desc;	/* NULL: not decoded */
	const ProtobufCMessageDescriptor *first;	/* the first entry's, if another */
	/* Bytes of raw payload that follow an entry (pipe data, socket queues). */
	uint32_t (*payload)(const void *msg);
};

const struct cimg_desc *cimg_desc(enum cimg_kind k);
/* Which kind a file name is (and the id in it), or -1. */
int cimg_kind_of_name(const char *name, uint64_t *id);
/* The kind a (head, magic) pair is, or -1. */
int cimg_kind_of_magic(uint32_t head, uint32_t magic);
/* The kind a file's magic says it is, or -1 (not a CRIU image). */
int cimg_kind_at(const struct cfile *f);
/* The hex fields of CRIU's messages, as crit prints them (for show). */
extern const struct json_hex_field cimg_hex_fields[];
extern const size_t cimg_nr_hex_fields;

struct cimg;

/* Open image k (with id for per-task kinds) of the dump: -ENOENT, logged
 * only when must_exist; -EINVAL for a bad magic or a foreign file. */
int cimg_open(const struct csrc *s, enum cimg_kind k, uint64_t id, bool must_exist,
	      struct cimg **out);
/* Open a file by name whatever it is (show); its magic says the kind. */
int cimg_open_name(const struct csrc *s, const char *name, struct cimg **out);
const struct cimg_desc *cimg_desc_of(const struct cimg *im);
const char *cimg_name(const struct cimg *im);
/* The next entry: 1 (*msg set; *payload, *plen: the raw bytes after it, if
 * the kind has any), 0 at a clean end, -errno on a truncated or malformed
 * entry (logged, naming the file). */
int cimg_next(struct cimg *im, void **msg, const uint8_t **payload, size_t *plen);
void cimg_close(struct cimg *im);
/* Exactly one entry (more is -EINVAL). */
int cimg_read_one(const struct csrc *s, enum cimg_kind k, uint64_t id, bool must_exist,
		  void **msg);
/* Every entry into a malloc'd array; payloads are not kept. */
int cimg_read_all(const struct csrc *s, enum cimg_kind k, uint64_t id, bool must_exist,
		  void ***v, size_t *n);
void cimg_free(void *msg);
void cimg_free_all(void **v, size_t n);
/* Count the entries of an image without decoding them (kinds we do not
 * decode); -errno on a truncated one. */
int cimg_count(const struct csrc *s, enum cimg_kind k, uint64_t id, size_t *n);

/* ---- xsave.c: the XSAVE area from CRIU's split fields ---- */

struct cx_layout {
	uint64_t xcr0;
	uint32_t size;			/* bytes of the area */
	uint32_t off[64], size_of[64];	/* of each component; size_of 0: not in it */
};

/* The XSAVE components a thread's image holds. */
uint64_t cx_features(const Criu__UserX86FpregsEntry *fp);
/* The layout for a dump using `features`, into inv (xcr0, xsave_size,
 * xsave_layout) and l. */
int cx_plan(uint64_t features, InventoryEntry *inv, struct cx_layout *l);
/* t->fpregs (NT_PRFPREG) and, with XSAVE, t->xstate (NT_X86_XSTATE);
 * -EINVAL for a component larger than its place. */
int cx_regsets(const struct cx_layout *l, const Criu__UserX86FpregsEntry *fp, ThreadEntry *t);

/* ---- dump.c and the per-process readers ---- */

#define CRIU_PAGE_SIZE 4096	/* x86_64: CRIU's images are in 4 KiB pages */

/* pipes-data.img / fifo-data.img: one pipe's unread bytes. */
struct cpipe {
	uint32_t id;		/* pipe_id */
	uint32_t size;		/* F_GETPIPE_SZ, 0 if not recorded */
	uint8_t *data;
	size_t len;
};

/* sk-queues.img: what waits in one socket's receive queue. */
struct cskq {
	uint32_t id;		/* the socket's file id */
	uint32_t packets;
	uint64_t bytes;
};

struct cdump {
	struct csrc *src;
	Criu__InventoryEntry *cinv;
	Criu__PstreeEntry **cps;	/* pstree.img, as read */
	size_t nr_ps;
	Criu__FileEntry **files;	/* files.img (or the older per-kind images), by id */
	size_t nr_files;
	struct cpipe *pipes, *fifos;
	size_t nr_pipes, nr_fifos;
	struct cskq *skq;
	size_t nr_skq;
	struct cx_layout xl;
	char *refusal;		/* d->unrestorable */
};

/* files.c */
int cfiles_load(struct cdump *cd);
void cfiles_free(struct cdump *cd);
const Criu__FileEntry *cfile_find(const struct cdump *cd, uint32_t id);
/* What criu-lite records of a regular file CRIU names (path, size, mode,
 * build-id); NULL with -errno in *r. */
FileIdentity *cident_make(const Criu__RegFileEntry *reg, int *r);
int cfds_make(const struct cdump *cd, uint32_t pid, bool must_exist, FdEntry ***out, size_t *n);

/* refusals.c: what restore cannot bring back, into cd->refusal. */
int crefuse_dump(struct cdump *cd);
int crefuse_core(struct cdump *cd, const Criu__PstreeEntry *ps, const Criu__CoreEntry *core);

/* mem.c: a dumped process's memory, for a few bytes at a time. */
struct cmem {
	const struct cdump *cd;
	const Criu__MmEntry *mm;	/* NULL: pages only */
	const struct dr_pages *pg;	/* NULL: files only */
};

/* 0, or -ENODATA when neither the pages nor an unchanged mapped file have
 * [addr, addr + len). */
int cmem_read(const struct cmem *m, uint64_t addr, void *buf, size_t len);

/* proc.c, thread.c, vmas.c, pages.c */
int cproc_load(struct dump_read *d, size_t idx, unsigned what, struct dr_proc *p);
int cproc_make(const struct cmem *m, const Criu__PstreeEntry *ps, const Criu__CoreEntry *core,
	       ProcEntry **out);
int cthreads_make(const struct cmem *m, const Criu__PstreeEntry *ps,
		  const Criu__CoreEntry *leader, ThreadEntry ***out, size_t *n);
/* A CRIU signal queue as criu-lite's: 128-byte siginfos, and their mask. */
int csig_queue(const Criu__SignalQueueEntry *q, ProtobufCBinaryData **out, size_t *n,
	       uint64_t *mask);
int cvmas_make(const struct cdump *cd, const Criu__MmEntry *mm, VmaEntry ***out, size_t *n);
/* -ENOENT (logged only when must_exist) without a pagemap; the parent
 * chain is followed `depth` dumps deep at most. */
int cpages_load(const struct csrc *src, uint32_t pid, bool must_exist, int depth,
		struct dr_pages **out);
/* No runs at all (a zombie's). */
struct dr_pages *cpages_empty(const struct csrc *src);

/* dump.c: an archive's container, NULL for another dump */
const struct csrc_meta *criu_container(const struct dump_read *d);

#endif
