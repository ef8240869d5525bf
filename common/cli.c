/* Command-line pieces the subcommands share: see cli.h. */
#include <errno.h>
#include <getopt.h>
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

struct option *cli_join_opts(const struct option *own, size_t n, const struct option *extra)
{
	size_t m = 0;
	struct option *all;

	while (extra && extra[m].name)
		m++;
	all = calloc(n + m + 1, sizeof(*all));
	if (!all)
		return NULL;
	for (size_t i = 0; i < n; i++)
		all[i] = own[i];
	for (size_t i = 0; i < m; i++)
		all[n + i] = extra[i];
	return all;
}

void cli_bad_opt(const char *verb, char *const *argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";

	if (optopt && optopt != '?' && (arg[0] != '-' || arg[1] != '-'))
		fprintf(stderr, "criu-lite %s: option -%c is unknown or lacks its argument "
			"(see criu-lite %s --help)\n", verb, optopt, verb);
	else
		fprintf(stderr, "criu-lite %s: option '%s' is unknown or lacks its argument "
			"(see criu-lite %s --help)\n", verb, arg, verb);
}

int cli_parse_size(const char *opt, const char *arg, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);
	int shift = 0;

	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (end == arg || *end || *arg == '-' || v > (~0ull >> shift)) {
		fprintf(stderr, "criu-lite: %s wants a size, not '%s'\n", opt, arg);
		return -EINVAL;
	}
	*out = (uint64_t)v << shift;
	return 0;
}
