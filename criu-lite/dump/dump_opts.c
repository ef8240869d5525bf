/* Option parsing for `criu-lite dump` and `criu-lite pre-dump`, with CRIU's
 * spelling wherever CRIU has the same option. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "criu-lite/dump/dump_opts.h"
#include "criu-lite/files/fcopy.h"
#include "images/log.h"

enum {
	OPT_KILL = 256, OPT_FREEZER, OPT_FREEZE_CGROUP, OPT_SNAPSHOT, OPT_TRACK_MEM, OPT_PREV_DIR,
	OPT_FILE_COPY_LIMIT,
	OPT_ACCEPT_LOSS = PLOSS_OPT_ACCEPT,
};

static const struct option long_opts[] = {
	{ "tree", required_argument, NULL, 't' },
	{ "images-dir", required_argument, NULL, 'D' },
	{ "leave-running", no_argument, NULL, 'R' },
	{ "leave-stopped", no_argument, NULL, 's' },
	{ "kill", no_argument, NULL, OPT_KILL },
	{ "freezer", required_argument, NULL, OPT_FREEZER },
	{ "freeze-cgroup", required_argument, NULL, OPT_FREEZE_CGROUP },
	{ "snapshot", required_argument, NULL, OPT_SNAPSHOT },
	{ "track-mem", no_argument, NULL, OPT_TRACK_MEM },
	{ "prev-images-dir", required_argument, NULL, OPT_PREV_DIR },
	{ "accept-loss", required_argument, NULL, OPT_ACCEPT_LOSS },
	{ "file-copy-limit", required_argument, NULL, OPT_FILE_COPY_LIMIT },
	{ "verbose", optional_argument, NULL, 'v' },
	{ "log-file", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
};

static void usage(FILE *out, const char *cmd)
{
	bool pre = !strcmp(cmd, "pre-dump");

	fprintf(out,
		"usage: criu-lite %s -t PID -D DIR [OPTIONS]\n\n"
		"%s"
		"  -t, --tree PID           dump PID and all its descendants\n"
		"  -D, --images-dir DIR     existing, writable directory for the images\n",
		cmd, pre ? "Dump memory only and track what the tree writes from now on: a later\n"
			   "`dump --prev-images-dir DIR` stores only the pages written since. The\n"
			   "tree is frozen only to set the tracker up.\n\n" :
			   "Freeze the tree, write its images, and let it run on (the default).\n\n");
	if (!pre)
		fprintf(out,
			"  -R, --leave-running      leave the tree running afterwards (the default)\n"
			"  -s, --leave-stopped      leave the tree stopped (SIGSTOP), not traced\n"
			"      --kill               kill the tree once the dump is complete\n"
			"      --snapshot fork      freeze only to fork a copy; read memory from the copy\n"
			"      --snapshot wp        write-protect memory before the freeze and read it\n"
			"                           live after, saving pages before they are written\n"
			"                           (shortest downtime; privileged targets only)\n"
			"      --track-mem          keep tracking writes, for a later incremental dump\n"
			"      --file-copy-limit SIZE  copy the files the tree could write (open for\n"
			"                           writing, mapped shared), frozen, up to SIZE in all\n"
			"                           (default 64M; 0: none), so that a replay gets them\n"
			"                           as of the dump\n");
	fprintf(out,
		"      --prev-images-dir DIR  store only pages written since that dump (DIR is\n"
		"                           relative to -D, as in CRIU, or absolute)\n");
	fprintf(out,
		"      --freezer KIND       auto (default), cgroup, ptrace or sigstop\n"
		"      --freeze-cgroup PATH freeze through this cgroup (v2 or v1 freezer)\n"
		"  -v[N], --verbose[=N]     more logging (-v info, -vv or -v4 debug)\n"
		"  -o, --log-file FILE      log to FILE instead of stderr\n"
		"  -h, --help               this help\n\n");
	if (!pre)
		fprintf(out, "What restore will be told of state outside the tree (with --kill or\n"
			"--leave-stopped, the dump refuses, the tree running on, when restore\n"
			"could not bring every fd back under these):\n%s%s\n", fd_opts_help,
			ploss_opts_help);
	fprintf(out, "Exit status 0 only when the images are complete (DIR/inventory.img written last).\n");
}

static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > 0x3fffffff) {
		pr_err("invalid pid '%s'", s);
		return -EINVAL;
	}
	*pid = (pid_t)v;
	return 0;
}

static int parse_freezer(const char *s, enum freezer_kind *k)
{
	static const char *const names[] = {
		[FREEZER_AUTO] = "auto", [FREEZER_CGROUP] = "cgroup",
		[FREEZER_PTRACE] = "ptrace", [FREEZER_SIGSTOP] = "sigstop",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i]))
			return *k = i, 0;
	pr_err("unknown --freezer '%s' (auto, cgroup, ptrace or sigstop)", s);
	return -EINVAL;
}

/* -v raises by one step, -vv by two, -vN sets level N (1 errors .. 4 debug). */
static int parse_verbosity(const char *arg)
{
	int level = log_get_level();

	if (!arg)
		return level < LOG_DEBUG ? level + 1 : level;
	if (arg[strspn(arg, "v")] == '\0') {
		level += 1 + (int)strlen(arg);
		return level > LOG_DEBUG ? LOG_DEBUG : level;
	}
	level = atoi(arg);
	return level < LOG_ERR ? LOG_ERR : level > LOG_DEBUG ? LOG_DEBUG : level;
}

static int parse_one(int c, struct dump_opts *o, const char *cmd)
{
	switch (c) {
	case 't': return parse_pid(optarg, &o->pid);
	case 'D': o->dir = optarg; return 0;
	case 'R': o->leave_stopped = false; o->kill = false; return 0;
	case 's': o->leave_stopped = true; return 0;
	case OPT_KILL: o->kill = true; return 0;
	case OPT_FREEZER: return parse_freezer(optarg, &o->seize.freezer);
	case OPT_FREEZE_CGROUP: o->seize.freeze_cgroup = optarg; return 0;
	case OPT_TRACK_MEM: o->track_mem = true; return 0;
	case OPT_PREV_DIR: o->prev_dir = optarg; return 0;
	case OPT_FILE_COPY_LIMIT:
		return cli_parse_size("--file-copy-limit", optarg, &o->file_copy_limit);
	case OPT_ACCEPT_LOSS: return ploss_opts_parse(&o->ploss, optarg);
	case 'v': log_set_level(parse_verbosity(optarg)); return 0;
	case 'o':
		if (log_set_file(optarg)) {
			pr_err("cannot open log file %s: %s", optarg, strerror(errno));
			return -EINVAL;
		}
		return 0;
	case OPT_SNAPSHOT:
		if (strcmp(optarg, "fork") && strcmp(optarg, "wp")) {
			pr_err("unknown --snapshot '%s' (fork or wp)", optarg);
			return -EINVAL;
		}
		o->snapshot_fork = !strcmp(optarg, "fork");
		o->snapshot_wp = !o->snapshot_fork;
		return 0;
	case 'h': usage(stdout, cmd); return 1;
	default: return -EBADR;	/* said by the caller, which has argv */
	}
}

int dump_parse_opts(int argc, char **argv, struct dump_opts *o)
{
	const char *cmd = argv[0];
	int c, r;

	struct option *opts = cli_join_opts(long_opts, sizeof(long_opts) / sizeof(long_opts[0]),
					    fd_opts_long);

	memset(o, 0, sizeof(*o));
	if (!opts)
		return -ENOMEM;
	o->seize.freezer = FREEZER_AUTO;
	o->predump = !strcmp(cmd, "pre-dump");
	o->file_copy_limit = FCOPY_LIMIT_DEFAULT;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:D:Rsv::o:hj", opts, NULL)) != -1) {
		r = fd_opts_parse(&o->fd, c == 'j' ? FD_OPT_SHELL_JOB : c, optarg);
		if (r > 0)
			r = parse_one(c, o, cmd);
		if (r == -EBADR) {
			cli_bad_opt(cmd, argv);
			r = -EINVAL;
		}
		if (r) {
			free(opts);
			return r;
		}
	}
	free(opts);
	if (optind < argc) {
		pr_err("unexpected argument '%s' (see criu-lite %s --help)", argv[optind], cmd);
		return -EINVAL;
	}
	if (!o->pid || !o->dir) {
		pr_err("%s needs -t PID and -D DIR (see criu-lite %s --help)", cmd, cmd);
		return -EINVAL;
	}
	if (o->kill && o->leave_stopped) {
		pr_err("--kill and --leave-stopped exclude each other");
		return -EINVAL;
	}
	if (o->seize.freeze_cgroup && o->seize.freezer != FREEZER_AUTO && o->seize.freezer != FREEZER_CGROUP) {
		pr_err("--freeze-cgroup needs --freezer cgroup (or auto)");
		return -EINVAL;
	}
	if (o->seize.freeze_cgroup)
		o->seize.freezer = FREEZER_CGROUP;
	return fd_opts_finish(&o->fd);
}
