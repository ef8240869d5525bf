/* The dumper's own priority while it reads memory of a running tree: see
 * mem.h (mem_yield). */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/resource.h>

#include "criu-lite/memory/mem.h"

void mem_yield(enum mem_yield how)
{
	static struct sched_param old_param;
	static int old_policy, old_nice;
	static bool lowered;
	struct sched_param idle = { 0 };

	if (how != YIELD_OFF && !lowered) {
		errno = 0;
		old_nice = getpriority(PRIO_PROCESS, 0);
		old_policy = sched_getscheduler(0);
		lowered = !errno && old_policy >= 0 && !sched_getparam(0, &old_param) &&
			  (how == YIELD_IDLE ? !sched_setscheduler(0, SCHED_IDLE, &idle)
					     : old_nice < 10 && !setpriority(PRIO_PROCESS, 0, 10));
	} else if (how == YIELD_OFF && lowered) {
		sched_setscheduler(0, old_policy, &old_param);
		setpriority(PRIO_PROCESS, 0, old_nice);	/* needs privilege: else stays */
		lowered = false;
	}
}
