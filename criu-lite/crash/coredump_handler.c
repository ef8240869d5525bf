/* criu-lite coredump-handler: the same intake as the server, for the
 * pipe mode of core_pattern ("|/path/criu-lite coredump-handler %P %u %g
 * %s %t %c %h %F"), which every kernel has. The kernel runs us with the
 * core on stdin, fds 1 and 2 closed, and (6.16+, %F) a pidfd of the
 * crasher on fd 3. The crasher stays in /proc until we have read all of
 * stdin, so /proc is read first. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include "criu-lite/commands.h"
#include "criu-lite/crash/coredump_uapi.h"
#include "criu-lite/crash/crash.h"
#include "images/log.h"

struct handler_opts {
	struct crash_intake_opts io;
	pid_t only_pid;
	bool logged;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: criu-lite coredump-handler [-S DIR] [--only-pid PID] [--max-size SIZE]\n"
		"           [--max-count N] [--timeout SEC] [-o LOGFILE] %%P %%u %%g %%s %%t [%%c %%h %%F]\n"
		"\n"
		"For core_pattern's pipe mode, e.g.\n"
		"  echo '|/usr/local/bin/criu-lite coredump-handler %%P %%u %%g %%s %%t %%c %%h %%F' \\\n"
		"      > /proc/sys/kernel/core_pattern\n"
		"Stores the core from stdin and what /proc tells about the crasher, like\n"
		"coredump-server. Logs go to /dev/kmsg (the kernel closed stderr) or -o.\n"
		"\n"
		"  -S, --store DIR      where crashes are kept (default %s)\n"
		"      --only-pid PID   take only PID's crash (the others get no core)\n",
		CRASH_STORE_DEFAULT);
}

/* With fds 1 and 2 closed, the first files we open would become our
 * stdout/stderr, and a stray message would land in the core. */
static bool plug_stdio(void)
{
	bool had_stderr = fcntl(2, F_GETFD) >= 0;

	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0) {
			int n = open("/dev/null", O_RDWR);

			if (n >= 0 && n != fd) {
				dup2(n, fd);
				close(n);
			}
		}
	return had_stderr;
}

static int parse(int argc, char **argv, struct handler_opts *o)
{
	enum { OPT_ONLY = 256, OPT_MAXSIZE, OPT_MAXCOUNT, OPT_TIMEOUT };
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 'S' },
		{ "only-pid", required_argument, NULL, OPT_ONLY },
		{ "max-size", required_argument, NULL, OPT_MAXSIZE },
		{ "max-count", required_argument, NULL, OPT_MAXCOUNT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "log-file", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+S:o:p:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': o->io.store = optarg; break;
		case 'p': case OPT_ONLY: o->only_pid = atoi(optarg); break;
		case OPT_MAXSIZE:
			if (crash_parse_size(optarg, &o->io.max_size))
				return 2;
			break;
		case OPT_MAXCOUNT: o->io.max_count = strtoull(optarg, NULL, 10); break;
		case OPT_TIMEOUT: o->io.timeout_s = atoi(optarg); break;
		case 'o':
			if (log_set_file(optarg))
				return 2;
			o->logged = true;
			break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind < 5 || o->io.timeout_s <= 0) {
		pr_err("coredump-handler: needs %%P %%u %%g %%s %%t (see --help)");
		return 2;
	}
	return 0;
}

static uint32_t num(const char *s)
{
	return (uint32_t)strtoul(s, NULL, 10);
}

/* %F: check the pidfd names the %P we were given and take what it adds. */
static void from_pidfd(const char *arg, CrashEntry *ce)
{
	struct pidfd_info info = { .mask = PIDFD_INFO_COREDUMP | PIDFD_INFO_CGROUPID };
	int fd = atoi(arg);

	if (fd < 3 || ioctl(fd, PIDFD_GET_INFO, &info))
		return;
	if (info.pid != ce->pid) {
		pr_warn("pidfd %d is for pid %u, not the crashing %u: ignored", fd, info.pid, ce->pid);
		return;
	}
	ce->has_euid = ce->has_egid = 1;
	ce->euid = info.euid;
	ce->egid = info.egid;
	if (info.mask & PIDFD_INFO_COREDUMP)
		ce->has_coredump_mask = 1, ce->coredump_mask = info.coredump_mask;
	if (info.mask & PIDFD_INFO_CGROUPID)
		ce->has_cgroup_id = 1, ce->cgroup_id = info.cgroupid;
}

static void fill(CrashEntry *ce, char **arg, int n)
{
	ce->pid = num(arg[0]);
	ce->has_uid = ce->has_gid = ce->has_signal = 1;
	ce->uid = num(arg[1]);
	ce->gid = num(arg[2]);
	ce->signal = num(arg[3]);
	ce->time_ns = strtoull(arg[4], NULL, 10) * 1000000000ull;
	if (n > 5)
		ce->has_core_limit = 1, ce->core_limit = strtoull(arg[5], NULL, 10);
	if (n > 6)
		ce->hostname = strdup(arg[6]);
	if (n > 7)
		from_pidfd(arg[7], ce);
}

int cmd_coredump_handler(int argc, char **argv)
{
	struct handler_opts o = { .io = { .store = CRASH_STORE_DEFAULT, .timeout_s = 300,
					  .source = "pipe" } };
	CrashEntry *ce;
	bool had_stderr = plug_stdio();
	int r;

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	r = parse(argc, argv, &o);
	if (r)
		return r == 1 ? 0 : r;
	if (!had_stderr && !o.logged && log_set_file("/dev/kmsg"))
		log_set_level(0);	/* nowhere to say anything */
	if (o.only_pid && atoi(argv[optind]) != o.only_pid)
		return 0;	/* not reading stdin: the kernel drops this core */
	ce = calloc(1, sizeof(*ce));
	if (!ce)
		return 1;
	crash_entry__init(ce);
	fill(ce, argv + optind, argc - optind);
	r = crash_intake(&o.io, 0, ce, crash_now_ms() + o.io.timeout_s * 1000L);
	img_free(ce);
	return r < 0 ? 1 : 0;
}
