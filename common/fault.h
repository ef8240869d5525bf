/* Fault injection, as SQLite and CRIU do it: criu-lite marks its steps
 * (each ptrace operation, injection, image write, freeze and thaw) with
 * fault_step(), and the environment picks one to break:
 *
 *   CRIU_LITE_FAULT=die@N    SIGKILL the whole criu-lite at step N
 *   CRIU_LITE_FAULT=die@WHERE  the same at the first step named WHERE (as
 *                            `list` names it): one whose number varies
 *   CRIU_LITE_FAULT=fail@N   step N returns -EIO, as a failed syscall would
 *   CRIU_LITE_FAULT=fail@WHERE  the same at the first step named WHERE
 *   CRIU_LITE_FAULT=killcg@N at step N criu-lite writes 1 to its own v2
 *                            cgroup's cgroup.kill: it and everything else
 *                            in that cgroup die at once (systemd stop)
 *   CRIU_LITE_FAULT=list     print "fault step N: WHERE" on stderr per step
 *   CRIU_LITE_FAULT=core-stall:N  coredump-server stops reading a core
 *                            after N bytes (fault_core_stall)
 *
 * Steps are counted per process across its threads; a child forked by
 * criu-lite goes on from its parent's count. Tests sweep N over the count
 * that `list` gives and check the target comes out unharmed. */
#ifndef CRIU_LITE_COMMON_FAULT_H
#define CRIU_LITE_COMMON_FAULT_H

#include <stdint.h>

/* Reads CRIU_LITE_FAULT once; a misspelt value ends criu-lite with one
 * line and status 2 (a sweep must not pass by testing nothing). main()
 * calls it first; fault_step() calls it too, for code linked elsewhere. */
void fault_init(void);

/* 0, or -EIO when this step is the one told to fail; does not return when
 * it is the one told to die. `where` names the step for `list`. */
int fault_step(const char *where);

/* N of core-stall:N, or 0. */
uint64_t fault_core_stall(void);

/* A step where only dying makes sense (a thread mid-injection, a
 * half-written journal): counted like the others, `list` shows it with
 * "(die only)", fail@N at it fails nothing. */
void fault_point(const char *where);

/* No more steps in this process (a helper forked from criu-lite, such as
 * the dump's guardian, whose work must not be broken by the count it
 * inherited). */
void fault_off(void);

#endif
