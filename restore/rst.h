/* Private to restore/: the images of a dump loaded into memory, and the
 * steps that turn them back into a live process tree.
 *
 * How a restore goes (restore.c orchestrates):
 *  1. load.c reads every image through images/dump_read.h, which checks
 *     them; check.c refuses, before any process exists,
 *     what cannot be restored (incomplete dump, changed files, pids taken
 *     with --same-pids, another CPU's XSAVE layout).
 *  2. tree.c forks the tree: each process is a fork of criu-lite created by
 *     its dumped parent with clone3(set_tid). Every open file
 *     description is made once before the first fork (fds.c, by the
 *     kinds of common/fd/) so that sharing survives. In plain C each
 *     process forks its own children, puts its fds in place (fds.c),
 *     sets cwd, umask, rlimits, sigactions (child.c), opens
 *     the files its memory maps (mfiles.c), reports ready on a status pipe
 *     and pauses.
 *  3. We PTRACE_SEIZE every process and rebuild it through injected
 *     syscalls (inject.c over common/infect.h, batched where many go
 *     together): address space (mm.c, pages.c; shared anonymous memory is
 *     mapped by later processes from the first one's map_files), threads
 *     (threads.c), creds (creds.c), pending signals and timers
 *     (signals.c), and registers (regs.c), in proc.c's order.
 *  4. finish.c detaches (or leaves the tree stopped) and waits for the root
 *     like a shell waits for its job. Until the commit at the end of the
 *     release, criu-lite's death at any instant kills every process it
 *     made (guard.c says how). */
#ifndef CRIU_LITE_RESTORE_RST_H
#define CRIU_LITE_RESTORE_RST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/fd/fd.h"
#include "common/fscreds.h"
#include "common/ploss.h"
#include "common/infect.h"
#include "images/dump_read.h"

struct rst_opts {
	const char *dir;
	bool detached;		/* -d */
	bool stopped;		/* --stopped */
	bool same_pids;		/* --same-pids */
	bool replay;		/* --replay: stopped, in namespaces of its own (replay.c) */
	const char *pidfile;
	struct fd_rst_opts fd;	/* --tcp-established, --inherit-fd, ... */
	struct ploss_opts ploss;	/* --accept-loss */
};

/* A file the restored address space maps (or the exe): opened by the child
 * before it stops, at fd `mm_fd_base + index`, so that injected mmaps and
 * PR_SET_MM_MAP can use it without opening paths as the restored user. */
struct rst_mfile {
	const char *path;
	const FileIdentity *id;	/* NULL for pages files and /dev/zero */
	bool rdwr;		/* a MAP_SHARED writable mapping needs O_RDWR */
	bool named;		/* the images name it (exe, mapped file): opened as the
				 * process; else criu-lite's own (pages, a memfd of ours) */
};

/* An fd as the child places it: its number, criu-lite's fd of its
 * description, and whether its entry has more to do there (locks, a
 * signal owner). The child reads these and not the entries: in this guest
 * every page a new process touches first costs it a fault in the host
 * (~10 us), and the entries of a thousand connections span hundreds. The
 * signal owner is copied here for that reason too. */
struct rst_fd_place {
	int fd;
	int src;
	uint32_t idx;		/* in fd[] */
	bool cloexec;
	bool locks;		/* its entry has locks to take */
	struct fd_rst_owner owner;
};

struct rst_proc {
	const PstreeEntry *ps;	/* tree->dr's */
	ProcEntry *pe;
	ThreadEntry **th;	/* th[0] is the leader */
	size_t nr_th;
	VmaEntry **vma;
	size_t nr_vma;
	struct dr_pages *pages;	/* owned: this dump's runs, parents behind */
	struct dr_pages *src[DR_MAX_CHAIN];	/* pages sources: src[0] is pages, then parents */
	char *src_path[DR_MAX_CHAIN];	/* each one's pages file, for the child to open */
	size_t nr_src;
	FdEntry **fd;
	size_t nr_fd;
	struct arena *arena;	/* owned: where pe, th, vma and fd live (dr_proc's) */
	struct rst_mfile *mf;	/* distinct mapped files + exe */
	size_t nr_mf;
	int exe_mf;		/* index of the exe in mf, or -1 */
	char *exe_memfd;	/* mf[exe_mf].path when run from a memfd: ours (fds.c) */
	int zero_mf;		/* /dev/zero (private file pages dumped as zero), or -1 */
	int *src_mf;		/* per pages source: index in mf, or -1 if unused */
	int mm_fd_base;		/* first fd of the mm files in the child */
	struct rst_fd_place *place;	/* per fd, what its child needs to put it
					 * in place (fds.c), made before the fork */
	bool *attached;		/* per VMA: shared memory mapped from an earlier process */
	struct fscreds fsc;	/* its fs identity, for the paths its images name */
	bool has_fsc;		/* else (no creds dumped) they are looked up as criu-lite */
	int parent;		/* index in tree->procs, -1 for the root */
	pid_t pid;		/* real pid once created, else 0 */
	pid_t *tids;		/* real tids, [0] = pid */
	bool seized;
	bool ns_pids;		/* a replay: its own pid namespace sees the dumped tids */
};

/* Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, shmem) already
 * restored in some process: later processes map the same object through
 * /proc/PID/map_files instead of getting a copy. A memfd restored with the
 * fds is one from the start: fd is criu-lite's, mapped through
 * /proc/PID/fd (fds.c), else -1. */
struct rst_shmem {
	uint64_t dev, ino;
	pid_t pid;
	uint64_t start, end;
	int fd;
};

struct rst_tree {
	struct rst_opts opts;
	bool keeper;		/* -d, yet a copy of criu-lite stays the root's parent (restore.c) */
	struct dump_read dr;
	const char *dir;	/* dr.dir: absolute */
	const InventoryEntry *inv;	/* dr.inv */
	struct rst_proc *procs;
	size_t nr_procs;
	int root;		/* index of the root */
	struct fd_rst fdr;	/* the tree's fds as the kinds of file see them (fds.c) */
	int fd_hi;		/* descriptions made before the fork sit at or above it */
	int status_fd[2];	/* children -> criu-lite: struct rst_status */
	struct rst_shmem *shm;
	size_t nr_shm;
	int xstate_size;	/* this kernel's NT_X86_XSTATE size */
	pid_t replay_init;	/* --replay: our pid 1 of the replay, as we see it */
	int replay_ctl;		/* ... and our end of its control socket, or -1 */
	int replay_stdin;	/* our stdin while the tree gets /dev/null, or -1 */
	const char **replay_rw;	/* the paths of its private copies (image strings) */
	size_t nr_replay_rw;
	pid_t guard;		/* the release guard (guard.c), 0 when none */
	int guard_fd;		/* our end of its socket */
};

/* What a child reports on the status pipe (one atomic write). */
struct rst_status {
	int32_t idx;		/* index in tree->procs */
	int32_t pid;		/* real pid */
	int32_t err;		/* 0: ready, stopped in pause(); else -errno */
	char msg[400];
};

/* load.c */
int rst_load(struct rst_tree *t);
void rst_free(struct rst_tree *t);
struct rst_proc *rst_find_proc(struct rst_tree *t, uint32_t dumped_pid);
/* The real pid of what was dumped as `pid`, or 0 if not in the tree. */
pid_t rst_real_pid(struct rst_tree *t, uint32_t pid);

/* check.c: refusals that need no process. */
int rst_check(struct rst_tree *t);
/* check_proc.c: process state this kernel, this machine or the user's
 * --accept-loss rule out (hugetlb pages, timer ids, named losses). */
int rst_check_procstate(struct rst_tree *t, struct rst_proc *p);
/* Does this open file still look like `id` (size, mtime or build-id)? 0 or
 * -ESTALE with `why` filled. */
int rst_file_matches(const FileIdentity *id, const struct stat *st, int fd, char *why,
		     size_t len);

/* tree.c */
int rst_create_tree(struct rst_tree *t);
/* mfiles.c: the files the child opens for its tracer, before the fork. */
int rst_mfiles_prepare(struct rst_proc *p);
int rst_mf_find(const struct rst_proc *p, const char *path);
/* SIGKILL whatever was created and reap it. */
void rst_kill_tree(struct rst_tree *t);

/* child.c: runs in the forked child; never returns. */
void rst_child_main(struct rst_tree *t, int idx) __attribute__((noreturn));
extern pid_t rst_forker_pid;	/* the process that forked the current one */
/* Create procs[idx] as a child of the caller (clone3 with its dumped pid
 * where free); in the child this never returns. */
int rst_clone_proc(struct rst_tree *t, int idx, struct rst_status *st);
/* In a child (or criu-lite for the root): fork the children of procs[idx]
 * (those sharing its fd table later: rst_fork_children_sharing, once it is
 * set up; sfd: its status fd). */
int rst_fork_children(struct rst_tree *t, int idx, struct rst_status *st);
int rst_fork_children_sharing(struct rst_tree *t, int idx, struct rst_status *st, int sfd);
/* child_status.c: child-side failure report: format into st->msg, return -err. */
int rst_child_fail(struct rst_status *st, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* fds.c: the kinds' view of the tree's fds (after rst_load). */
int rst_fds_prepare(struct rst_tree *t);
/* Look paths up as p until fscreds_leave(*prev) (common/fscreds.h). */
int rst_as_proc(const struct rst_proc *p, const struct fscreds **prev);
/* Every fd of p can come back, else one line naming it, -ENOTSUP. */
int rst_fds_check(struct rst_tree *t, struct rst_proc *p);
/* In criu-lite, before the first fork: every description, once. */
int rst_fds_open(struct rst_tree *t);
/* Once every process exists, before any runs: what the kinds finish then. */
int rst_fds_tree_late(struct rst_tree *t);
/* Once every process is rebuilt, before any runs: what tree_late left
 * going meanwhile, done. */
int rst_fds_settle(struct rst_tree *t);
/* ... and closed once the tree has its copies (safe to call again). */
void rst_fds_close(struct rst_tree *t);
/* Every process has set itself up: what was recreated for it to open, map
 * or enter (deleted files) goes. */
void rst_fds_ready(struct rst_tree *t);
void rst_fds_free(struct rst_tree *t);
/* In the child: dumped fds in place, all else closed but *status_fd,
 * which is moved above them; then what the kinds do in the process. */
int rst_fds_setup(struct rst_tree *t, struct rst_proc *p, struct rst_status *st, int *status_fd);
/* In the child: its fds at their numbers from their sources, all else
 * closed but the status fd (moved above them). */
int rst_fds_place(struct rst_tree *t, struct rst_proc *p, struct rst_status *st, int *status_fd);
struct rst_inj;
/* Seized, its address space rebuilt: its POSIX locks, injected. */
int rst_fds_posix_locks(struct rst_proc *p, struct rst_inj *j);

/* fds_share.c. Does p share its parent's fd table (CLONE_FILES)? It is
 * created then with it, once the parent is set up, places no fds of its
 * own, and maps from mm files numbered after the parent's
 * (rst_fds_sharers_mm_base); the last of the processes sharing one table
 * to be rebuilt closes all that is left above its mm files, the others
 * only theirs (rst_fds_mm_close_to: the last fd to close). */
bool rst_fds_shares_table(const struct rst_tree *t, const struct rst_proc *p);
unsigned int rst_fds_mm_close_to(const struct rst_tree *t, const struct rst_proc *p);
void rst_fds_sharers_mm_base(struct rst_tree *t);
/* Can p come back sharing what it shared? One line and -ENOTSUP if not. */
int rst_fds_check_shares(struct rst_tree *t, struct rst_proc *p);
/* Seized, once every process of the tree exists: what the kinds do in p
 * through j (pidfds). */
int rst_fds_late(struct rst_tree *t, struct rst_proc *p, struct rst_inj *j);

/* rlimits, sigactions, cwd... in the child: child.c */

/* Injection context for one process: the main thread's infect, plus the
 * scratch area restore maps itself (at an address free in both layouts):
 * a `syscall` page, infect's batch loop page, argument data, and the table
 * of batched calls at the end. */
struct rst_inj {
	struct infect inf;	/* the thread being driven */
	uint64_t scratch;
	size_t scratch_len;
	uint64_t data;		/* argument area */
	size_t data_len;
	uint64_t table;		/* RST_BATCH_MAX infect_calls */
};

#define RST_BATCH_MAX 512
#define RST_SCRATCH_LEN (88 * 4096)

/* Calls run in one stop of the tracee (infect_batch); each keeps a name
 * for the error message. */
struct rst_batch {
	struct infect_call calls[RST_BATCH_MAX];
	const char *what[RST_BATCH_MAX];
	int n;
};

/* inject.c: thin helpers over criu-lite/infect.h */
int rst_sys(struct rst_inj *j, long nr, uint64_t *ret, uint64_t a1, uint64_t a2, uint64_t a3,
	    uint64_t a4, uint64_t a5, uint64_t a6);
/* As rst_sys, but a negative syscall result is logged and returned. */
int rst_sys_ok(struct rst_inj *j, const char *what, long nr, uint64_t *ret, uint64_t a1,
	       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6);
int rst_poke(struct rst_inj *j, uint64_t addr, const void *buf, size_t len);
/* Queue a call; a full batch is run first. */
int rst_batch_add(struct rst_inj *j, struct rst_batch *b, const char *what, long nr, uint64_t a1,
		  uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6);
/* Run what is queued; the first failed call is logged and returned. */
int rst_batch_run(struct rst_inj *j, struct rst_batch *b);
/* Seize a process stopped in pause(); leaves it in a PTRACE_EVENT_STOP. */
int rst_seize(pid_t pid);
/* Wait for a PTRACE_EVENT_STOP of tid (new threads start in one). */
int rst_wait_event_stop(pid_t tid);

/* mm.c: replace the address space of p (seized, j started on its leader). */
int rst_mm_restore(struct rst_tree *t, struct rst_proc *p, struct rst_inj *j);
/* mm_kinds.c: hugetlb and droppable mmap flags; madvise state, guard
 * regions, mlock and mseal once the pages are in. */
uint64_t rst_vma_mmap_flags(const VmaEntry *v, uint64_t flags);
int rst_vma_advise(struct rst_proc *p, struct rst_inj *j, struct rst_batch *b, size_t idx);
/* aio.c: each aio ring's context made again and its ring moved where the
 * dumped one was, over the pages restored there. */
int rst_aio_restore(struct rst_proc *p, struct rst_inj *j);
/* vdso.c: for a dump that names no kernel, 0 if every dumped vdso is
 * this kernel's, else -EINVAL after one line. */
int rst_vdso_check(const struct rst_tree *t);
/* pages.c */
int rst_pages_restore(struct rst_tree *t, struct rst_proc *p, struct rst_inj *j);
bool rst_vma_needs_write(const struct rst_proc *p, size_t idx);

/* threads.c: create the other threads and the per-thread state of all. */
int rst_threads_restore(struct rst_tree *t, struct rst_proc *p, struct rst_inj *j);
int rst_thread_state(struct rst_proc *p, size_t i, struct rst_inj *j);

/* trust.c: images not only root could write restore as their owner, with
 * no capabilities (their creds rewritten here, after loading). */
int rst_trust_images(struct rst_tree *t);
/* creds.c: per thread, after every privileged step. */
int rst_creds_restore(struct rst_proc *p, struct rst_inj *j);

/* signals.c */
int rst_sigactions_child(const ProcEntry *pe, struct rst_status *st);
int rst_shared_signals(struct rst_proc *p, struct rst_inj *j);
int rst_thread_signals(struct rst_proc *p, size_t i, struct rst_inj *j);
int rst_itimers(struct rst_proc *p, struct rst_inj *j);

/* regs.c: final registers of thread i; it is in a PTRACE_EVENT_STOP. */
int rst_regs_prepare(const ThreadEntry *te, struct user_regs_struct *regs);
int rst_regs_finish(struct rst_tree *t, const ThreadEntry *te, pid_t tid);
int rst_xstate_size(pid_t tid);

/* procstate.c: oom_score_adj and loginuid, in the child; */
int rst_procstate_child(const struct rst_opts *o, const ProcEntry *pe, struct rst_status *st);
/* prctl settings and membarrier registrations, injected; */
int rst_procstate(struct rst_proc *p, struct rst_inj *j);
/* thread i's parent death signal, injected into it; */
int rst_thread_procstate(const struct rst_tree *t, struct rst_proc *p, size_t i,
			 struct rst_inj *j);
/* a job-control stop again: queued before the release, waited for after. */
bool rst_jobstop_wanted(const struct rst_proc *p);
void rst_jobstop_send(struct rst_tree *t);
int rst_jobstop_wait(struct rst_tree *t);
/* zombies.c: in the child, once its children exist: its zombies. */
int rst_zombies_create(struct rst_tree *t, const ProcEntry *pe, struct rst_status *st);
/* ptimers.c: POSIX timers with their ids, armed last (after itimers). */
int rst_ptimers(struct rst_proc *p, struct rst_inj *j);
/* Is this pending siginfo a restored timer's own signal (its timer sends
 * it again instead of a copy being queued)? */
bool rst_ptimer_signal(const struct rst_proc *p, const ProtobufCBinaryData *si);

/* proc.c: the per-process restore once seized. */
int rst_restore_proc(struct rst_tree *t, struct rst_proc *p);

/* What an injected syscall names process p, or thread k of it, by: the
 * real pid, or in a replay (its own pid namespace) the dumped one. */
static inline pid_t rst_seen_tid(const struct rst_proc *p, size_t k)
{
	return p->ns_pids ? (pid_t)p->th[k]->tid : p->tids[k];
}

/* replay.c: --replay. Before the checks: a mount, network and IPC
 * namespace of our own (criu-lite enters them), the files the tree could
 * write swapped for private copies (replay_files.c). */
int rst_replay_prepare(struct rst_tree *t);
/* Instead of creating the root: our init as pid 1 of a new pid namespace,
 * which creates it there (with its dumped pid). */
int rst_replay_init(struct rst_tree *t, struct rst_status *st);
/* Once every process is rebuilt: the replay's own /proc, then release. */
int rst_replay_seal(struct rst_tree *t);
/* Thread ns_tid of process pid (real), as criu-lite sees it, or -ESRCH. */
pid_t rst_replay_host_tid(pid_t pid, pid_t ns_tid);
/* rst_real_pid as the tree sees it (what an injected syscall passes). */
pid_t rst_seen_pid(struct rst_tree *t, uint32_t pid);
/* replay_files.c: private copies of the files the tree may write. */
int rst_replay_files(struct rst_tree *t);
/* replay_fds.c: fds that reach outside: refused, or a stand-in, said. */
int rst_replay_fds(struct rst_tree *t);

/* guard.c: around the release, a process that kills the tree should
 * criu-lite die before rst_guard_end(t, true) (the commit). */
int rst_guard_start(struct rst_tree *t);
/* Commit, or (false) let the guard kill the tree; reaps it. */
void rst_guard_end(struct rst_tree *t, bool commit);

/* finish.c */
int rst_release(struct rst_tree *t);
int rst_wait_root(struct rst_tree *t);

#endif
