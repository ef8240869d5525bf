/* The guardian: what a dump does to the tree that the tree cannot undo by
 * itself, undone if criu-lite dies (issue 15).
 *
 * Injected syscalls heal themselves (common/infect.h, "If the tracer
 * dies"), and a tracer's death detaches its tracees. What remains is told
 * to a small process forked before the freeze, as a journal: each note is
 * written before the step it covers (or, where the step decides its
 * subject, such as the address mmap returns, right after it) and cleared
 * once undone. The guardian reads the journal over a socket; when the
 * socket ends without "done" and criu-lite is gone (its pidfd, so that the
 * kernel has detached every tracee first), it undoes, in this order:
 *   0. TCP connections left in repair mode: out of it (guardian_tcp.c:
 *      noted in memory shared with criu-lite, not in the journal: a dump
 *      notes each of a thousand connections), and the network lock kept
 *      for restore, if the process it was kept for was not killed;
 *   1. fork copies: SIGKILL (and any child with exit signal 0 of a process
 *      with a copy pending: the copy whose pid was never read);
 *   2. a cgroup criu-lite froze: back to the state it had;
 *   3. a process criu-lite SIGSTOPped: SIGCONT;
 *   4. mappings and fds criu-lite put in a process (scratch and code pages,
 *      userfaultfds), and the copies' zombies: through one syscall injected
 *      into the process, which heals itself likewise.
 * The guardian leaves criu-lite's session, process group and cgroups
 * (guardian_cgroup.c) before criu-lite goes on, and ignores SIGINT/TERM/
 * HUP, so it outlives a kill of criu-lite's process group and of its
 * cgroup (systemd stop, cgroup.kill, a group OOM kill). If it cannot leave
 * a cgroup, the dump says so in one warning and goes on. */
#ifndef CRIU_LITE_SURVIVE_GUARDIAN_H
#define CRIU_LITE_SURVIVE_GUARDIAN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Fork the guardian (once; later calls do nothing) and wait until it is
 * out of criu-lite's cgroups. Negative errno if it cannot be forked or
 * dies: the dump does not start without one. */
int guardian_start(void);
/* criu-lite is done: the guardian undoes what criu-lite failed to (an
 * injected munmap that failed, say), exits and is waited for. keep_fds:
 * the fds noted stay (a tracker the images rely on). */
void guardian_stop(bool keep_fds);

/* Each returns a note id for guardian_clear, or 0 without a guardian. */
int guardian_note_cgroup(const char *dir, bool v2, bool was_frozen);
int guardian_note_sigcont(pid_t pid);
int guardian_note_mapping(pid_t pid, uint64_t addr, uint64_t len);
void guardian_clear_mapping(pid_t pid, uint64_t addr);
/* fd -1: the lowest free fd of pid now, which the fd about to be made in
 * it gets; renote says which it got (a new id). */
int guardian_note_fd(pid_t pid, int fd);
int guardian_renote_fd(int id, pid_t pid, int fd);
/* copy 0: a fork copy is being made in `parent`, its pid not yet known. */
int guardian_note_copy(pid_t parent, pid_t copy);
void guardian_clear(int id);

#endif
