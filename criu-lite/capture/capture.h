/* What a frozen process holds besides memory and fds, each from the place
 * that can tell it: raw register sets (ptrace), what only the process
 * itself can say (injected syscalls), and /proc. Every message handed out
 * is built on the heap whole, so that img_free() releases it. */
#ifndef CRIU_LITE_CAPTURE_H
#define CRIU_LITE_CAPTURE_H

#include <sys/types.h>

#include "criu-lite/freeze/seize.h"
#include "images/image.h"

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
/* More questions for the process, in the scratch of the sigstate_begin in
 * effect: calls (at most SIGSTATE_MAX_CALLS) run inside tid and write their
 * answers into the SIGSTATE_EXTRA_LEN bytes at sigstate_extra(), of which
 * the first len are copied to out. */
#define SIGSTATE_MAX_CALLS 64
#define SIGSTATE_EXTRA_LEN 4096
struct infect_call;
uint64_t sigstate_extra(void);
int sigstate_run(pid_t tid, struct infect_call *calls, int n, void *out, size_t len);

/* procstate.c: what else a process holds that restore brings back: POSIX
 * timers, the job-control stop, its zombies, prctl settings (child
 * subreaper, THP disable, KSM for all), membarrier registrations,
 * oom_score_adj, loginuid. Needs a sigstate_begin in effect. */
int procstate_fill(const struct dump_tree *tree, const struct dump_proc *p, ProcEntry *pe);

/* procinfo.c: everything /proc and libcap tell about a process: identity,
 * cmdline, environ, auxv, cwd, root, exe (+ build-id), mm fields,
 * personality, rlimits, creds, coredump_filter, umask, shared pending. */
int procinfo_collect(const struct dump_proc *p, ProcEntry **out);

#endif
