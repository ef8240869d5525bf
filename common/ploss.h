/* Process state that restore cannot bring back exactly, named the same way
 * by dump and restore: a plain dump warns, `dump --kill` and
 * `--leave-stopped` refuse while the tree still runs, and restore refuses
 * in one line, unless the user accepts the loss with --accept-loss KIND.
 * What each kind means, and why it cannot come back, is in ploss.c. */
#ifndef CRIU_LITE_COMMON_PLOSS_H
#define CRIU_LITE_COMMON_PLOSS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "images/image.h"

enum ploss_kind {
	PLOSS_LOGINUID,		/* the dumped loginuid cannot be set here */
	PLOSS_TIMER_OVERRUN,	/* a POSIX timer's overrun count of its last expiry */
	PLOSS_STOP_SIGNAL,	/* stopped by SIGTSTP/TTIN/TTOU: comes back stopped by SIGSTOP */
	PLOSS_ZOMBIE_CORE,	/* a zombie's "dumped core" bit */
	PLOSS_NR
};

/* --accept-loss KIND[,KIND...] (or "all"): the option's getopt value. */
#define PLOSS_OPT_ACCEPT 0x1100
struct ploss_opts {
	unsigned int accept;	/* 1 << enum ploss_kind */
};
extern const char ploss_opts_help[];
/* 0, or -EINVAL after one line on stderr naming the kinds there are. */
int ploss_opts_parse(struct ploss_opts *o, const char *arg);

/* One named loss: `what` says what of process `pid` is lost and why. */
typedef void (*ploss_say)(void *ctx, uint32_t pid, enum ploss_kind kind, const char *what,
			  bool accepted);
/* Every loss of one dumped process, each told to say(); returns how many
 * the options do not accept. th: its threads (th[0] the leader). */
int ploss_check(const struct ploss_opts *o, const ProcEntry *pe, ThreadEntry *const *th,
		size_t nr_th, ploss_say say, void *ctx);
const char *ploss_name(enum ploss_kind kind);

/* The signal that stops a restored process again: the one that stopped it
 * when it would stop it (default action, not blocked everywhere), else
 * SIGSTOP (the stop-signal loss). */
int ploss_restop_signal(const ProcEntry *pe, ThreadEntry *const *th, size_t nr_th);

/* Could a process forked from this one set its loginuid to `want`? Asked
 * of a throwaway child (the kernel's rules: privilege, immutability, set
 * once). 0 yes, else -errno. */
int ploss_loginuid_settable(uint32_t want);

#endif
