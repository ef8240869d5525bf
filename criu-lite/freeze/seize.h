/* Freezing a process tree: every thread of a root and its descendants ends
 * up in a ptrace-stop, whichever freezer held the tree still meanwhile
 * (cgroup v2/v1 freezer, SIGSTOP, or PTRACE_INTERRUPT alone). What comes
 * out is the tree every later stage of a dump works on. */
#ifndef CRIU_LITE_FREEZE_SEIZE_H
#define CRIU_LITE_FREEZE_SEIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum freezer_kind { FREEZER_AUTO, FREEZER_CGROUP, FREEZER_PTRACE, FREEZER_SIGSTOP };

/* How to freeze (--freezer, --freeze-cgroup). */
struct seize_opts {
	enum freezer_kind freezer;
	const char *freeze_cgroup;	/* --freeze-cgroup PATH, or NULL */
};

/* One process of the frozen tree. tids[0] is the thread-group leader. */
struct dump_proc {
	pid_t pid, ppid, pgid, sid;
	int nr_threads;
	pid_t *tids;
	char state;		/* stat state before the freeze */
	int stop_signo;		/* state T: the signal of its group stop, as seized */
	char *thread_state;	/* per tid: stat state before the freeze */
	unsigned char *thread_flags;	/* per tid: seize.c's bookkeeping */
	int cap_threads;
	int guard_note;		/* the guardian's: SIGCONT it if we die */
};

struct dump_tree {
	struct dump_proc *procs;	/* procs[0] is the root; parents before children */
	int nr_procs;
	enum freezer_kind used;		/* how it was actually frozen */
	char cgroup[512];		/* freezer cgroup dir when used == FREEZER_CGROUP */
	int cgroup_v2;
	int cgroup_was_frozen;		/* frozen before we came: frozen again at release */
	int cap_procs;
	int guard_note;			/* the guardian's: the cgroup's state back */
	bool released;
	uint64_t freeze_start_ns;	/* CLOCK_MONOTONIC as the first thread was asked to stop */
	pid_t *gone;			/* seize.c: exited while being seized */
	int nr_gone, cap_gone;
	pid_t *zombies;			/* seize_scan.c: zombies seen with a parent in the
					 * tree (check again once frozen: one may have been
					 * reaped before its parent stopped) */
	int nr_zombies, cap_zombies;
};

enum release_mode { RELEASE_RUN, RELEASE_STOPPED, RELEASE_KILL };

/* Freeze every thread of root and its descendants and leave each in a
 * ptrace-stop (PTRACE_SEIZE + PTRACE_INTERRUPT), catching threads and
 * children born meanwhile. On failure nothing stays seized or frozen. */
int seize_tree(pid_t root, const struct seize_opts *opts, struct dump_tree *tree);
/* seize_tree's first checks on the root alone (a pid, alive, not a zombie,
 * not ourselves), for steps that must touch it before: one line, -errno. */
int seize_check_root(pid_t root);
/* "auto", "cgroup", "ptrace" or "sigstop". */
const char *seize_freezer_name(enum freezer_kind k);
/* Detach every thread and thaw; with RELEASE_KILL, SIGKILL the tree. Safe to
 * call on a partly seized tree and more than once. */
void seize_release(struct dump_tree *tree, enum release_mode mode);
void dump_tree_free(struct dump_tree *tree);

/* wait_stop.c: after PTRACE_SEIZE + PTRACE_INTERRUPT of a running task,
 * wait (5 s at most) for its PTRACE_EVENT_STOP, passing on the signals it
 * meets first. 0 stopped, <0 gone or stuck. */
int seize_wait_stop(pid_t pid);

#endif
