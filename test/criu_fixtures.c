/* Paths and tools for the CRIU fixtures: see criu_fixtures.h. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/criu_fixtures.h"
#include "test/helpers.h"

#define ARCHIVE "threads/checkpoint-fixture-pod_default-criu-fixture-2026-12-04T19:00:01Z.tar"

const char *criu_fixture(const char *rel)
{
	static char buf[8][PATH_MAX];
	static int n;
	const char *base = getenv("CRIU_FIXTURES");
	char cwd[PATH_MAX / 2];
	char *p = buf[n++ % 8];

	if (!base)
		base = getcwd(cwd, sizeof(cwd)) ? cwd : ".";
	snprintf(p, PATH_MAX, "%.*s%s/%.*s", PATH_MAX / 2, base,
		 getenv("CRIU_FIXTURES") ? "" : "/test/fixtures/criu-4.2", PATH_MAX / 4, rel);
	return p;
}

const char *criu_archive(void)
{
	return criu_fixture(ARCHIVE);
}

/* Tests run in parallel: a file already there is left alone (rewriting it
 * made gdb find the program newer than a core another test had just
 * written, and cp onto a program a restored process runs fails with
 * ETXTBSY); a missing or different one is renamed into place whole, with
 * the fixture's times. */
void criu_fixture_bins(void)
{
	int r = run_cmd(NULL, 0,
			"for d in bin src; do mkdir -p /tmp/criu-fixtures/$d && "
			"for f in '%s'/$d/*; do t=/tmp/criu-fixtures/$d/$(basename \"$f\"); "
			"cmp -s \"$f\" \"$t\" || { cp -p \"$f\" \"$t.$$\" && mv -f \"$t.$$\" \"$t\"; } "
			"|| exit 1; done; done", criu_fixture("."));

	cr_assert_eq(r, 0, "cannot copy the fixture programs to /tmp/criu-fixtures");
}

void criu_gdb_view(const char *prog, const char *core, char *out, size_t len)
{
	int r = run_cmd(out, len,
			"gdb -batch -nx -ex 'set pagination off' -ex 'set width 0' '%s' '%s' "
			"-ex 'info threads' -ex 'thread apply all bt' -ex 'p fixture_global' "
			"-ex 'p fixture_banner' -ex 'p tree_role' "
			"-ex 'thread apply all p $ymm7.v8_int32' 2>&1 | "
			"grep -v -e '^\\[New LWP' -e '^$' -e 'No such file or directory' "
			"-e '^Program terminated with signal' -e '^[0-9]*\\t'",
			prog, core);

	cr_assert_eq(r, 0, "gdb failed on %s: %s", core, out);
}
