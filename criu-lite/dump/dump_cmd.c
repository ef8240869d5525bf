/* `criu-lite dump` and `criu-lite pre-dump`: one command line, two runs. */
#include "criu-lite/commands.h"
#include "criu-lite/dump/dump.h"
#include "criu-lite/dump/dump_opts.h"

int cmd_dump(int argc, char **argv)
{
	struct dump_opts opts;
	int r = dump_parse_opts(argc, argv, &opts);

	if (r) {
		fd_opts_free(&opts.fd);
		return r > 0 ? 0 : 2;
	}
	r = opts.predump ? predump_run(&opts) : dump_run(&opts);
	fd_opts_free(&opts.fd);
	return r ? 1 : 0;
}

int cmd_pre_dump(int argc, char **argv)
{
	return cmd_dump(argc, argv);
}
