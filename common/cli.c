/* Command-line pieces the subcommands share: see cli.h. */
#include <stdio.h>
#include <stdlib.h>

#include "common/cli.h"
#include "images/log.h"

int cli_log_opt(int c, const char *arg, int v_level)
{
	if (c == 'v') {
		log_set_level(arg ? atoi(arg) : v_level);
		return 0;
	}
	if (log_set_file(arg)) {
		fprintf(stderr, "criu-lite: cannot open log file %s\n", arg);
		return 2;
	}
	return 0;
}
