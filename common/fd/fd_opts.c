/* The options that say what to do with state outside the dumped tree, in
 * CRIU's spelling, for restore (which acts on them) and for dump (which
 * asks, before --kill or --leave-stopped, whether restore could succeed
 * with them): see fd.h, struct fd_rst_opts. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/fd/fd.h"

const struct option fd_opts_long[] = {
	{ "tcp-established", no_argument, NULL, FD_OPT_TCP_ESTABLISHED },
	{ "tcp-close", no_argument, NULL, FD_OPT_TCP_CLOSE },
	{ "ext-unix-sk", no_argument, NULL, FD_OPT_EXT_UNIX_SK },
	{ "inherit-fd", required_argument, NULL, FD_OPT_INHERIT_FD },
	{ "shell-job", no_argument, NULL, FD_OPT_SHELL_JOB },
	{ "ghost-limit", required_argument, NULL, FD_OPT_GHOST_LIMIT },
	{ NULL, 0, NULL, 0 },
};

const char fd_opts_help[] =
	"      --tcp-established    restore TCP connections to peers outside the tree\n"
	"                           (kept from resetting meanwhile by a network lock)\n"
	"      --tcp-close          bring them back closed: the program sees them end\n"
	"      --ext-unix-sk        a unix socket whose peer is outside the tree comes\n"
	"                           back connected to the same name, or closed\n"
	"      --inherit-fd fd[N]:RES  restore passes its own fd N where the dump had\n"
	"                           RES (pipe:[INO], socket:[INO], or a path)\n"
	"  -j, --shell-job          the tree was started from this terminal (its\n"
	"                           session, terminal and stdio become this shell's)\n"
	"      --ghost-limit SIZE   largest deleted file whose contents are kept\n"
	"                           (K, M, G suffixes; default 1M)\n";

/* "fd[N]:RES" */
static int parse_inherit(struct fd_rst_opts *o, const char *arg)
{
	struct fd_rst_inherit *n;
	const char *colon;
	char *end;
	long fd;

	if (strncmp(arg, "fd[", 3) || !(colon = strstr(arg, "]:")) || !colon[2])
		goto bad;
	fd = strtol(arg + 3, &end, 10);
	if (end != colon || fd < 0 || fd > 1 << 20)
		goto bad;
	n = realloc(o->inherit, (o->nr_inherit + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	o->inherit = n;
	n[o->nr_inherit].fd = (int)fd;
	n[o->nr_inherit++].res = colon + 2;
	return 0;
bad:
	fprintf(stderr, "criu-lite: --inherit-fd wants fd[N]:RESOURCE, not '%s'\n", arg);
	return -EINVAL;
}

int fd_opts_parse(struct fd_rst_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case FD_OPT_TCP_ESTABLISHED: o->tcp_established = true; return 0;
	case FD_OPT_TCP_CLOSE: o->tcp_close = true; return 0;
	case FD_OPT_EXT_UNIX_SK: o->ext_unix_sk = true; return 0;
	case FD_OPT_INHERIT_FD: return parse_inherit(o, arg);
	case FD_OPT_SHELL_JOB: o->shell_job = true; return 0;
	case FD_OPT_GHOST_LIMIT: return cli_parse_size("--ghost-limit", arg, &o->ghost_limit);
	default: return 1;
	}
}

int fd_opts_finish(struct fd_rst_opts *o)
{
	if (o->tcp_established && o->tcp_close) {
		fprintf(stderr, "criu-lite: --tcp-established and --tcp-close exclude each other\n");
		return -EINVAL;
	}
	if (!o->ghost_limit)
		o->ghost_limit = FD_GHOST_LIMIT_DEFAULT;
	return 0;
}

void fd_opts_free(struct fd_rst_opts *o)
{
	free(o->inherit);
	o->inherit = NULL;
	o->nr_inherit = 0;
}
