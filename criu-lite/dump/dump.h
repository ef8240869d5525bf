/* Interfaces between the dump orchestrator (dump.c) and the modules that
 * capture one kind of kernel object each.
 *
 * Message ownership rule, for every module: a protobuf message handed out or
 * filled here is built entirely on the heap (the message, its strings, bytes,
 * repeated arrays and sub-messages, each with malloc), so that img_free()
 * (protobuf_c_message_free_unpacked) releases it whole. */
#ifndef CRIU_LITE_DUMP_H
#define CRIU_LITE_DUMP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "images/image.h"

enum freezer_kind { FREEZER_AUTO, FREEZER_CGROUP, FREEZER_PTRACE, FREEZER_SIGSTOP };

struct dump_opts {
	pid_t pid;
	const char *dir;
	enum freezer_kind freezer;
	const char *freeze_cgroup;	/* --freeze-cgroup PATH, or NULL */
	bool kill;			/* --kill */
	bool leave_stopped;		/* -s */
	bool snapshot_fork;		/* --snapshot fork */
	bool snapshot_wp;		/* --snapshot wp */
	bool track_mem;			/* --track-mem */
	const char *prev_dir;		/* --prev-images-dir */
	bool predump;			/* pre-dump: memory only */
};

/* Counters every module adds to; dump.c writes them into stats.img. */
struct dump_stats {
	uint64_t bytes_scanned, bytes_written;
	uint64_t pages_scanned, pages_written, pages_zero, pages_unpopulated;
	uint64_t pages_file, pages_parent;
};

/* One process of the frozen tree. tids[0] is the thread-group leader. */
struct dump_proc {
	pid_t pid, ppid, pgid, sid;
	int nr_threads;
	pid_t *tids;
	char state;		/* stat state before the freeze */
	char *thread_state;	/* per tid: stat state before the freeze */
	unsigned char *thread_flags;	/* per tid: seize.c's bookkeeping */
	int cap_threads;
};

struct dump_tree {
	struct dump_proc *procs;	/* procs[0] is the root; parents before children */
	int nr_procs;
	enum freezer_kind used;		/* how it was actually frozen */
	char cgroup[512];		/* freezer cgroup dir when used == FREEZER_CGROUP */
	int cgroup_v2;
	int cgroup_was_frozen;		/* frozen before we came: frozen again at release */
	int cap_procs;
	bool released;
	uint64_t freeze_start_ns;	/* CLOCK_MONOTONIC as the first thread was asked to stop */
	pid_t *gone;			/* seize.c: exited while being seized */
	int nr_gone, cap_gone;
};

enum release_mode { RELEASE_RUN, RELEASE_STOPPED, RELEASE_KILL };

/* seize.c: freeze every thread of root and its descendants and leave each
 * in a ptrace-stop (PTRACE_SEIZE + PTRACE_INTERRUPT), catching threads and
 * children born meanwhile. On failure nothing stays seized or frozen. */
int seize_tree(pid_t root, const struct dump_opts *opts, struct dump_tree *tree);
/* seize_tree's first checks on the root alone (a pid, alive, not a zombie,
 * not ourselves), for steps that must touch it before: one line, -errno. */
int seize_check_root(pid_t root);
/* "auto", "cgroup", "ptrace" or "sigstop". */
const char *seize_freezer_name(enum freezer_kind k);
/* Detach every thread and thaw; with RELEASE_KILL, SIGKILL the tree. Safe to
 * call on a partly seized tree and more than once. */
void seize_release(struct dump_tree *tree, enum release_mode mode);
void dump_tree_free(struct dump_tree *tree);
/* SIGINT/SIGTERM/SIGHUP/SIGQUIT are blocked while a tree is ours and looked
 * at between steps (a handler that let go of threads in the middle of an
 * injection would leave one on borrowed registers). check: -EINTR, said
 * once ("interrupted by ...: WHAT abandoned"), if one is pending. drain:
 * after a failure that answered them, or a success they came too late
 * for, so that lifting the mask does not kill us. */
void dump_hold_signals(sigset_t *old);
int dump_check_interrupted(const char *what);
void dump_drain_signals(void);
/* dump_images.c, for dump and pre-dump alike. pstree.img of the tree;
 * track_fd[n]: the write tracker left in process n (or -1), NULL when there
 * is none. */
int dump_write_pstree(int dirfd, const struct dump_tree *tree, const int *track_fd);
/* stats.img; snapshot: "none", "fork" or "wp". Times: CLOCK_MONOTONIC ns. */
struct dump_times {
	uint64_t freeze_start, frozen, thaw;
};
int dump_write_stats(int dirfd, const struct dump_tree *tree, const struct dump_stats *st,
		     const struct dump_times *t, const char *snapshot);
/* inventory.img, published last. kind: INVENTORY_KIND_*; track_mem: the
 * tracker left armed (its name) or NULL; xsave_size: the NT_X86_XSTATE size
 * the threads really had, 0 to keep what CPUID says. */
int dump_write_inventory(int dirfd, const struct dump_opts *opts, int kind, uint64_t realtime_ns,
			 const char *track_mem, uint32_t xsave_size);

/* regs.c: a thread's register sets (raw regsets), blocked and pending
 * signals, sched policy, robust list. The thread is in a ptrace-stop. */
int regs_dump_thread(pid_t pid, pid_t tid, ThreadEntry **out);
/* The process-wide signal queue (PTRACE_PEEKSIGINFO_SHARED, read through the
 * stopped leader) into pe->shared_pending, and ShdPnd if not set yet. */
int regs_shared_pending(pid_t pid, ProcEntry *pe);

/* sigstate.c: what only the process itself can tell (sigactions, itimers,
 * per-thread sigaltstack), run inside the stopped target through infect. */
int sigstate_fill_proc(pid_t pid, ProcEntry *pe);
int sigstate_fill_thread(pid_t tid, ThreadEntry *te);
/* The same for many threads of process pid at once (their injections run
 * in parallel: downtime grows with the slowest thread, not the sum). */
int sigstate_fill_threads(pid_t pid, int n, const pid_t *tids, ThreadEntry **tes);
/* One scratch page per process for the calls above: sigstate_begin maps it
 * (through the leader), sigstate_end unmaps it, before memory is read.
 * Without begin, each fill call maps and unmaps its own. */
int sigstate_begin(pid_t pid);
int sigstate_end(void);

/* procinfo.c: everything /proc and libcap tell about a process: identity,
 * cmdline, environ, auxv, cwd, root, exe (+ build-id), mm fields,
 * personality, rlimits, creds, coredump_filter, umask, shared pending. */
int procinfo_collect(const struct dump_proc *p, ProcEntry **out);

/* mem.c: VMAs into mm-PID.img, page runs into pagemap-PID.img and the
 * bytes into pages-PID.img, pagemap-guided (never reading an unpopulated
 * page). `mem_pid` is where memory is read from: the frozen process itself,
 * or its forked copy with --snapshot fork. */
int mem_dump(int dirfd, pid_t pid, pid_t mem_pid, const struct dump_opts *opts,
	     struct dump_stats *st);

/* files.c: every fd into files-PID.img. */
int files_dump(int dirfd, pid_t pid);

/* cpu.c: XCR0 and the XSAVE layout (CPUID leaf 0xD) into the inventory. */
int cpu_fill_inventory(InventoryEntry *inv);

#endif
