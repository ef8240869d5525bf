/* The steps every crash goes through, whichever way the kernel handed it
 * over (socket or pipe): while the kernel holds the process, record what
 * /proc tells; then take the core; publish both atomically; trim the store.
 * Any failure discards the half-written crash: nothing partial is listed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "criu-lite/crash/crash.h"
#include "images/log.h"

static void fill_host(CrashEntry *ce, const char *source)
{
	struct utsname u;

	if (!ce->time_ns) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ce->time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	if (!uname(&u)) {
		ce->kernel_release = strdup(u.release);
		if (!ce->hostname)
			ce->hostname = strdup(u.nodename);
	}
	ce->source = strdup(source);
	ce->core_file = strdup(CRASH_CORE_NAME);
}

static const char *what(const CrashEntry *ce)
{
	return ce->comm ? ce->comm : ce->exe ? ce->exe : "?";
}

int crash_intake(const struct crash_intake_opts *o, int core_fd, CrashEntry *ce, long deadline_ms)
{
	struct crash_tmp t = { .dirfd = -1 };
	struct crash_core_result res;
	struct crash_store s;
	char id[CRASH_ID_MAX];
	int r;

	r = crash_store_open(o->store, true, &s);
	if (r < 0)
		return r;
	crash_store_sweep(&s);
	r = crash_tmp_create(&s, &t);
	if (r < 0)
		goto out;
	fill_host(ce, o->source);
	if (crash_record_proc((pid_t)ce->pid, ce) == -ESRCH)
		pr_warn("crash of %u: the process is gone from /proc; only its core is kept", ce->pid);
	r = crash_core_receive(core_fd, t.dirfd, CRASH_CORE_NAME, deadline_ms, &res);
	if (r < 0) {
		pr_err("crash of %u (%s) not stored", ce->pid, what(ce));
		goto out;
	}
	ce->has_core_size = ce->has_core_disk = 1;
	ce->core_size = res.size;
	ce->core_disk = res.disk;
	if (crash_core_summary(t.dirfd, CRASH_CORE_NAME, ce) < 0)
		pr_warn("crash of %u: cannot read the notes of its core", ce->pid);
	r = crash_tmp_publish(&s, &t, ce, id, sizeof(id));
	if (r < 0) {
		pr_err("crash of %u (%s) not stored", ce->pid, what(ce));
		goto out;
	}
	pr_info("crash of %u (%s, signal %u) stored as %s/%s: %llu-byte core, %llu bytes on disk",
		ce->pid, what(ce), ce->signal, s.path, id, (unsigned long long)res.size,
		(unsigned long long)res.disk);
	if (o->max_size || o->max_count)
		crash_store_retain(&s, o->max_size, o->max_count, id);
out:
	if (t.name[0] || t.dirfd >= 0)
		crash_tmp_discard(&s, &t);
	crash_store_close(&s);
	return r;
}

int crash_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 't': case 'T': v <<= 40; end++; break;
	default: break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}
