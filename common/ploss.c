/* The kinds of process state restore cannot bring back exactly, and the
 * one check dump and restore both run (see ploss.h).
 *
 *  loginuid      /proc/PID/loginuid is written by the restored process
 *                itself; the kernel lets it change a set loginuid only with
 *                CAP_AUDIT_CONTROL and never once the audit rules make it
 *                immutable. Accepted: it keeps the restorer's.
 *  timer-overrun timer_getoverrun() reports the overrun of the expiry
 *                delivered last; every timer_settime() resets it and
 *                nothing sets it. Accepted: it reads 0 until the next one.
 *  stop-signal   a group stop is made by sending the stop signal; SIGTSTP,
 *                SIGTTIN and SIGTTOU stop only when not handled nor
 *                blocked. Accepted: SIGSTOP stops it (a waiting parent sees
 *                WSTOPSIG SIGSTOP).
 *  zombie-core   a zombie is remade by a child that dies of the same
 *                signal, without a core dump (it would be written where
 *                core_pattern says). Accepted: WCOREDUMP reads false. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "common/ploss.h"
#include "common/procfs.h"

static const char *const names[PLOSS_NR] = {
	[PLOSS_LOGINUID] = "loginuid",
	[PLOSS_TIMER_OVERRUN] = "timer-overrun",
	[PLOSS_STOP_SIGNAL] = "stop-signal",
	[PLOSS_ZOMBIE_CORE] = "zombie-core",
};

const char ploss_opts_help[] =
	"      --accept-loss KIND[,KIND]  restore what can be, where KIND cannot come\n"
	"                           back exactly: loginuid, timer-overrun, stop-signal,\n"
	"                           zombie-core, or all (restore refuses otherwise)\n";

const char *ploss_name(enum ploss_kind kind)
{
	return kind < PLOSS_NR ? names[kind] : "?";
}

int ploss_opts_parse(struct ploss_opts *o, const char *arg)
{
	const char *p = arg;

	while (*p) {
		size_t n = strcspn(p, ",");
		int k = -1;

		if (n == 3 && !strncmp(p, "all", 3))
			o->accept = (1u << PLOSS_NR) - 1;
		for (int i = 0; i < PLOSS_NR && k < 0; i++)
			if (strlen(names[i]) == n && !strncmp(p, names[i], n))
				k = i;
		if (k >= 0)
			o->accept |= 1u << k;
		else if (!(n == 3 && !strncmp(p, "all", 3))) {
			fprintf(stderr, "criu-lite: --accept-loss: unknown kind '%.*s' (loginuid, "
				"timer-overrun, stop-signal, zombie-core or all)\n", (int)n, p);
			return -EINVAL;
		}
		p += n + (p[n] == ',');
	}
	return 0;
}

int ploss_loginuid_settable(uint32_t want)
{
	int st, fd;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char buf[16];
		int n = snprintf(buf, sizeof(buf), "%u", want);

		fd = open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC);
		_exit(fd < 0 ? errno : write(fd, buf, n) == n ? 0 : errno);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? -WEXITSTATUS(st) : -EIO;
}

/* Only when it differs from what a restored process inherits from us. */
static bool loginuid_lost(uint32_t want)
{
	static uint32_t asked = ~0u;
	static int answer;
	char buf[32];

	if (procfs_read_small("/proc/self/loginuid", buf, sizeof(buf)) ||
	    (uint32_t)strtoul(buf, NULL, 10) == want)
		return false;
	if (asked != want) {
		answer = ploss_loginuid_settable(want);
		asked = want;
	}
	return answer != 0;
}

static const SigactionEntry *sigaction_of(const ProcEntry *pe, uint32_t sig)
{
	for (size_t i = 0; i < pe->n_sigactions; i++)
		if (pe->sigactions[i]->sig == sig)
			return pe->sigactions[i];
	return NULL;
}

int ploss_restop_signal(const ProcEntry *pe, ThreadEntry *const *th, size_t nr_th)
{
	const SigactionEntry *sa;
	uint32_t sig = pe->stop_signo;

	if (!pe->has_stop_signo || sig == SIGSTOP || sig < 1 || sig > 64)
		return SIGSTOP;
	sa = sigaction_of(pe, sig);
	if (sa && sa->handler != 0)
		return SIGSTOP;
	for (size_t i = 0; i < nr_th; i++)
		if (!(th[i]->blocked >> (sig - 1) & 1))
			return (int)sig;
	return SIGSTOP;
}

struct tally {
	const struct ploss_opts *o;
	ploss_say say;
	void *ctx;
	uint32_t pid;
	int bad;
};

static void name_one(struct tally *t, enum ploss_kind k, const char *what)
{
	bool ok = t->o->accept & (1u << k);

	t->bad += !ok;
	t->say(t->ctx, t->pid, k, what, ok);
}

int ploss_check(const struct ploss_opts *o, const ProcEntry *pe, ThreadEntry *const *th,
		size_t nr_th, ploss_say say, void *ctx)
{
	struct tally t = { o, say, ctx, pe->pid, 0 };
	char what[256];

	if (pe->has_loginuid && loginuid_lost(pe->loginuid)) {
		snprintf(what, sizeof(what), "its loginuid %u cannot be set here (needs "
			 "CAP_AUDIT_CONTROL and a mutable loginuid)", pe->loginuid);
		name_one(&t, PLOSS_LOGINUID, what);
	}
	for (size_t i = 0; i < pe->n_posix_timers; i++) {
		const PtTimerEntry *pt = pe->posix_timers[i];

		if (!pt->has_overrun || pt->overrun <= 0)
			continue;
		snprintf(what, sizeof(what), "POSIX timer %d: the overrun count %d of its last "
			 "expiry cannot be set again", pt->id, pt->overrun);
		name_one(&t, PLOSS_TIMER_OVERRUN, what);
	}
	if (pe->has_stop_signo && (int)pe->stop_signo != ploss_restop_signal(pe, th, nr_th)) {
		snprintf(what, sizeof(what), "it is stopped by signal %u, which it handles or "
			 "blocks: it can only be stopped again by SIGSTOP", pe->stop_signo);
		name_one(&t, PLOSS_STOP_SIGNAL, what);
	}
	for (size_t i = 0; i < pe->n_zombies; i++) {
		if (!(pe->zombies[i]->exit_code & 0x80))
			continue;
		snprintf(what, sizeof(what), "its zombie child %u dumped core: it comes back "
			 "killed by signal %u without the core flag", pe->zombies[i]->pid,
			 pe->zombies[i]->exit_code & 0x7f);
		name_one(&t, PLOSS_ZOMBIE_CORE, what);
	}
	return t.bad;
}
