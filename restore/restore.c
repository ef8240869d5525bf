/* criu-lite restore: images -> a live process tree. The steps are in
 * rst.h; this file reads the command line and runs them in order, and on
 * any failure kills whatever was created, so a refused restore leaves
 * nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "restore/restore.h"
#include "common/fault.h"
#include "images/log.h"
#include "restore/rst.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: criu-lite restore -D DIR [-d] [--stopped|--replay] [--pidfile FILE] [--same-pids]\n"
		"\n"
		"Bring back the process tree dumped in DIR, where it was when dumped.\n"
		"Its stdin/stdout/stderr become this shell's when they were a pipe to outside\n"
		"the tree; a terminal outside the tree (the one it was started from) needs\n"
		"-j, --shell-job, and becomes this one; other fds are restored.\n"
		"\n"
		"  -D, --images-dir DIR     the dump to restore\n"
		"  -d, --restore-detached   exit once the tree runs (default: wait for the\n"
		"                           root and exit with its status, like a shell job)\n"
		"      --stopped            leave every process stopped and untraced, for\n"
		"                           `gdb -p PID` to attach to (a replay of the dump)\n"
		"      --replay             --stopped, isolated from the original and the host:\n"
		"                           its own pid, network, IPC and mount namespaces,\n"
		"                           private copies of the files it could write (see\n"
		"                           `criu-lite replay`)\n"
		"      --pidfile FILE       write the restored root's pid to FILE\n"
		"      --same-pids          fail rather than use new pids when the dumped\n"
		"                           ones are taken\n"
		"  -v[N], -o LOGFILE        more logging; log to a file\n"
		"\nState outside the dumped tree:\n%s"
		"\nProcess state that cannot come back exactly:\n%s", fd_opts_help, ploss_opts_help);
}

static int parse(int argc, char **argv, struct rst_opts *o)
{
	enum { OPT_STOPPED = 256, OPT_PIDFILE, OPT_SAME_PIDS, OPT_REPLAY };
	static const struct option own[] = {
		{ "images-dir", required_argument, NULL, 'D' },
		{ "restore-detached", no_argument, NULL, 'd' },
		{ "stopped", no_argument, NULL, OPT_STOPPED },
		{ "replay", no_argument, NULL, OPT_REPLAY },
		{ "pidfile", required_argument, NULL, OPT_PIDFILE },
		{ "same-pids", no_argument, NULL, OPT_SAME_PIDS },
		{ "accept-loss", required_argument, NULL, PLOSS_OPT_ACCEPT },
		{ "verbose", optional_argument, NULL, 'v' },
		{ "log-file", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option *longopts = cli_join_opts(own, sizeof(own) / sizeof(own[0]), fd_opts_long);
	int c, r = 0;

	if (!longopts)
		return 2;
	optind = 1;
	opterr = 0;
	while (!r && (c = getopt_long(argc, argv, "D:dv::o:hj", longopts, NULL)) != -1) {
		r = fd_opts_parse(&o->fd, c == 'j' ? FD_OPT_SHELL_JOB : c, optarg);
		if (r <= 0) {
			r = r ? 2 : 0;
			continue;
		}
		r = 0;
		switch (c) {
		case 'D': o->dir = optarg; break;
		case 'd': o->detached = true; break;
		case OPT_STOPPED: o->stopped = true; break;
		case OPT_REPLAY: o->replay = o->stopped = true; break;
		case OPT_PIDFILE: o->pidfile = optarg; break;
		case OPT_SAME_PIDS: o->same_pids = true; break;
		case PLOSS_OPT_ACCEPT: r = ploss_opts_parse(&o->ploss, optarg) ? 2 : 0; break;
		case 'v': case 'o': r = cli_log_opt(c, optarg, LOG_INFO) ? 2 : 0; break;
		case 'h': usage(stdout); r = 1; break;
		default: cli_bad_opt("restore", argv); r = 2; break;
		}
	}
	free(longopts);
	if (r)
		return r;
	if (fd_opts_finish(&o->fd))
		return 2;
	if (optind < argc || !o->dir) {
		fprintf(stderr, "criu-lite restore: %s\n",
			optind < argc ? "unexpected argument (see --help)" :
			"-D DIR is required (see --help)");
		return 2;
	}
	return 0;
}

/* Dumped processes may have had more fds than our soft limit allows. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void warn_rlimits(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		const ProcEntry *pe = t->procs[i].pe;

		for (size_t k = 0; k < pe->n_rlimits; k++) {
			struct rlimit now;

			if (getrlimit((int)pe->rlimits[k]->resource, &now))
				continue;
			if (now.rlim_max != RLIM_INFINITY && pe->rlimits[k]->max > now.rlim_max)
				pr_warn("%u: rlimit %u: hard limit %llu is above ours (%llu), kept at "
					"ours (no CAP_SYS_RESOURCE)", pe->pid, pe->rlimits[k]->resource,
					(unsigned long long)pe->rlimits[k]->max,
					(unsigned long long)now.rlim_max);
		}
	}
}

static bool jobstops(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++)
		if (rst_jobstop_wanted(&t->procs[i]))
			return true;
	return false;
}

/* -d with --stopped, or with a process dumped in a job-control stop: a
 * stopped process whose parent dies is in an orphaned process group, and
 * the kernel sends such a group SIGHUP (which kills it)
 * and SIGCONT. So a background copy of criu-lite stays its parent, in
 * another group of the same session, until it exits; the criu-lite the user
 * started reports the result and exits as -d promises. Returns -1 in the
 * keeper, with *report the fd to send the exit code on. */
static int fork_keeper(int *report)
{
	int p[2], code = 1;
	pid_t pid;

	pid_t front = getpid();

	if (pipe2(p, O_CLOEXEC))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		/* Until it reports, the keeper is the restore the user started:
		 * killed with it, and the half-built tree with the keeper. */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != front)
			_exit(1);
		close(p[0]);
		*report = p[1];
		return -1;
	}
	close(p[1]);
	if (read(p[0], &code, sizeof(code)) != sizeof(code))
		code = 1;
	return code;
}

static void keeper_report(int fd, int code)
{
	int null = open("/dev/null", O_RDWR);

	/* The front exits once it has the code; the keeper stays. */
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	if (write(fd, &code, sizeof(code)) != sizeof(code))
		code = 1;
	close(fd);
	/* Whoever reads our output must not wait for the restored tree. */
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The pages went in while they were hashed: nothing runs on them unless
 * they are the dump's. If they are not, the line that says so is the one
 * line of the failure; otherwise what was kept back is printed now. */
static int pages_verdict(struct rst_tree *t)
{
	int r;

	log_defer(false);
	r = dr_pages_sum_wait(&t->dr);
	log_deferred_flush(r == 0);
	return r;
}

static int run(int argc, char **argv, int (*then)(pid_t root, void *arg), void *arg)
{
	struct timespec t0;
	struct rst_tree t;
	int r, refused, code = 1, report = -1;
	pid_t root;

	memset(&t, 0, sizeof(t));
	t.dr.dirfd = -1;
	t.status_fd[0] = t.status_fd[1] = -1;
	t.replay_ctl = t.replay_stdin = -1;
	t.guard_fd = -1;
	r = parse(argc, argv, &t.opts);
	if (!r && then && (!t.opts.replay || t.opts.detached)) {
		pr_err("replay: --replay without -d only");
		r = 2;
	}
	if (r) {
		fd_opts_free(&t.opts.fd);
		return r == 1 ? 0 : r;
	}
	raise_nofile();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = rst_load(&t);
	/* The pages files are hashed while they fill memory; what restore
	 * says meanwhile waits for the verdict (bad input is one line). */
	log_defer(!r && t.dr.sum_bg);
	if (!r && t.opts.replay)
		r = rst_replay_prepare(&t);
	if (!r)
		r = rst_check(&t);
	pr_debug("images read and checked: %.1f ms", ms_since(&t0));
	/* Refused before anything was created: the reason was the one line. */
	refused = r;
	if (!r && t.opts.detached && (t.opts.stopped || jobstops(&t))) {
		/* a fork: the pages' sums thread past its start first
		 * (images/dump_read_sums_bg.c), as before the tree's */
		dr_pages_sum_settle(&t.dr);
		r = fork_keeper(&report);
		t.keeper = r < 0;
		if (r >= 0) {
			rst_free(&t);
			fd_opts_free(&t.opts.fd);
			return r;
		}
		r = dr_pages_sum_forked(&t.dr);
	}
	if (!r) {
		warn_rlimits(&t);
		r = rst_create_tree(&t);
		if (!r)
			r = fault_step("restore: finish the files");
		if (!r)
			r = rst_fds_tree_late(&t);
		pr_debug("tree forked and seized: %.1f ms", ms_since(&t0));
	}
	for (size_t i = 0; !r && i < t.nr_procs; i++)
		r = rst_restore_proc(&t, &t.procs[i]);
	pr_debug("processes rebuilt: %.1f ms", ms_since(&t0));
	if (!r && t.opts.replay)
		r = rst_replay_seal(&t);
	if (!r)
		r = pages_verdict(&t);
	if (!r)
		r = rst_fds_settle(&t);
	if (!r)
		r = rst_release(&t);
	if (r) {
		/* corrupt pages are the whole story of a failure, in one line */
		if (t.dr.sum_bg && pages_verdict(&t))
			refused = r;
		rst_kill_tree(&t);
		rst_free(&t);
		fd_opts_free(&t.opts.fd);
		/* The step that failed said why, in one line (README): this only
		 * adds which dump, for -v logs. */
		if (!refused)
			pr_info("restore of %s failed", t.opts.dir);
		if (report >= 0)
			keeper_report(report, 1);
		return 1;
	}
	root = t.procs[t.root].pid;
	pr_info("restored %s: root pid %d%s", t.opts.dir, root,
		t.opts.stopped ? " (stopped)" : "");
	code = 0;
	if (report >= 0) {
		keeper_report(report, 0);
		rst_wait_root(&t);
	} else if (then) {
		code = then(root, arg);
		kill(t.replay_init, SIGKILL);
		rst_wait_root(&t);
	} else if (!t.opts.detached) {
		code = rst_wait_root(&t);
	}
	rst_free(&t);
	fd_opts_free(&t.opts.fd);
	return code;
}

int cmd_restore(int argc, char **argv)
{
	return run(argc, argv, NULL, NULL);
}

int restore_replay(int argc, char **argv, int (*then)(pid_t root, void *arg), void *arg)
{
	return run(argc, argv, then, arg);
}
