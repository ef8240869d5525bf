/* Fault injection: see fault.h. Off (one load and a branch) unless
 * CRIU_LITE_FAULT is set. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cgroup.h"
#include "common/fault.h"
#include "images/log.h"

enum fault_mode { FAULT_OFF, FAULT_DIE, FAULT_FAIL, FAULT_KILLCG, FAULT_LIST, FAULT_CORE_STALL };

static enum fault_mode mode;
static long fault_at;
static const char *fault_name;	/* die@WHERE, fail@WHERE: the step, by name */
static atomic_long steps;
static pthread_once_t parsed = PTHREAD_ONCE_INIT;

static void fault_parse(void)
{
	const char *v = getenv("CRIU_LITE_FAULT"), *num;
	char *end;

	if (!v || !*v)
		return;
	if (!strcmp(v, "list")) {
		mode = FAULT_LIST;
		return;
	}
	if (!strncmp(v, "core-stall:", 11))
		mode = FAULT_CORE_STALL, num = v + 11;
	else if (!strncmp(v, "die@", 4))
		mode = FAULT_DIE, num = v + 4;
	else if (!strncmp(v, "fail@", 5))
		mode = FAULT_FAIL, num = v + 5;
	else if (!strncmp(v, "killcg@", 7))
		mode = FAULT_KILLCG, num = v + 7;
	else
		goto bad;
	/* a byte count may be given in hex; a step is a decimal number */
	fault_at = strtol(num, &end, mode == FAULT_CORE_STALL ? 0 : 10);
	if (fault_at > 0 && !*end)
		return;
	/* or, to die or fail, its name (the environment's string lives on) */
	if ((mode == FAULT_DIE || mode == FAULT_FAIL) && *num && (num[0] < '0' || num[0] > '9')) {
		fault_name = num;
		return;
	}
bad:
	fprintf(stderr, "criu-lite: CRIU_LITE_FAULT=%s: expected die@N, die@WHERE, fail@N, "
		"fail@WHERE, killcg@N, list or core-stall:N\n", v);
	_exit(2);
}

void fault_init(void)
{
	pthread_once(&parsed, fault_parse);
}

/* As systemd's stop of a unit, `echo 1 > cgroup.kill` or an OOM kill with
 * memory.oom.group=1 would: every process of criu-lite's v2 cgroup and
 * those below it, at once. Not in a cgroup of its own (the root has no
 * cgroup.kill), the fault cannot be what it says: one line, status 2. */
static void kill_own_cgroup(void)
{
	struct cgroup_hier h;
	char path[sizeof(h.dir) + 16];
	int fd, r = cgroup_find(getpid(), true, NULL, &h);

	if (!r && h.at_root)
		r = -EPERM;
	if (!r) {
		snprintf(path, sizeof(path), "%s/cgroup.kill", h.dir);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		r = fd < 0 || write(fd, "1", 1) != 1 ? -errno : 0;
	}
	/* the kernel's SIGKILL is on its way */
	while (!r)
		pause();
	fprintf(stderr, "criu-lite: CRIU_LITE_FAULT=killcg@%ld: cannot kill its own v2 cgroup: "
		"%s\n", fault_at, strerror(-r));
	_exit(2);
}

static int step(const char *where, bool can_fail)
{
	long n;

	fault_init();
	if (mode == FAULT_OFF || mode == FAULT_CORE_STALL)
		return 0;
	n = atomic_fetch_add(&steps, 1) + 1;
	if (mode == FAULT_LIST) {
		dprintf(STDERR_FILENO, "fault step %ld: %s%s\n", n, where,
			can_fail ? "" : " (die only)");
		return 0;
	}
	if ((fault_name ? strcmp(where, fault_name) : n != fault_at) ||
	    (mode == FAULT_FAIL && !can_fail))
		return 0;
	if (mode == FAULT_KILLCG)
		kill_own_cgroup();
	if (mode == FAULT_DIE) {
		/* As an OOM kill would: no handler, no unwinding, every thread. */
		kill(getpid(), SIGKILL);
		for (;;)
			pause();
	}
	pr_err("fault injected: step %ld (%s) fails", n, where);
	return -EIO;
}

uint64_t fault_core_stall(void)
{
	fault_init();
	return mode == FAULT_CORE_STALL ? (uint64_t)fault_at : 0;
}

void fault_off(void)
{
	fault_init();
	mode = FAULT_OFF;
}

int fault_step(const char *where)
{
	return step(where, true);
}

void fault_point(const char *where)
{
	step(where, false);
}
