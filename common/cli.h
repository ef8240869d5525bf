/* Command-line pieces the subcommands share. */
#ifndef CRIU_LITE_CLI_H
#define CRIU_LITE_CLI_H

#include <stddef.h>
#include <stdint.h>

/* -v[N] (c == 'v') and -o FILE (c == 'o') as restore, crash and
 * coredump-server take them: -v alone sets v_level, -vN sets N. Returns 0,
 * or 2 (the usage-error exit status) after one line on stderr when the log
 * file cannot be opened. */
int cli_log_opt(int c, const char *arg, int v_level);

/* Bad input is one line (README): for an option getopt_long refused (run
 * with opterr = 0), say which, and where the help is. */
void cli_bad_opt(const char *verb, char *const *argv);

/* own[0..n) then extra up to its all-zero entry, all-zero terminated, in
 * a malloc'd table for getopt_long (free it); NULL when out of memory. */
struct option;
struct option *cli_join_opts(const struct option *own, size_t n, const struct option *extra);

/* A size as the limits take it: bytes, or with a K, M or G suffix. 0, or
 * -EINVAL after one line naming opt. */
int cli_parse_size(const char *opt, const char *arg, uint64_t *out);

#endif
