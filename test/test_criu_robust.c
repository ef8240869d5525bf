/* Bad input in CRIU's formats, as everywhere: a corrupt, truncated or
 * foreign CRIU image or archive gets one line on stderr and a non-zero
 * exit, never a crash or a hang; an archive with a member named outside
 * itself (absolute, or with "..") is refused, and nothing is written there. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/criu_fixtures.h"
#include "test/helpers.h"

static char tmp[256];

static void setup(void)
{
	make_tmpdir(tmp, sizeof(tmp), "criu-robust");
}

static void teardown(void)
{
	rm_rf(tmp);
}

TestSuite(criu_robust, .init = setup, .fini = teardown, .timeout = 180);

/* `verb -D src` fails with exactly one line that holds `want`. */
static void refused(const char *verb, const char *src, const char *want)
{
	char err[4096], out[300];
	int r, lines = 0;

	snprintf(out, sizeof(out), "%s/out-%d", tmp, rand());
	if (!strcmp(verb, "import"))
		r = run_criu_lite(err, sizeof(err), verb, "-D", src, "-o", out, NULL);
	else if (!strcmp(verb, "convert"))
		r = run_criu_lite(err, sizeof(err), verb, "-D", src, "-o", out, NULL);
	else
		r = run_criu_lite(err, sizeof(err), verb, "-D", src, NULL);
	cr_expect(r > 0 && r < 128, "%s -D %s: exit %d: %s", verb, src, r, err);
	for (const char *p = err; *p; p++)
		lines += *p == '\n';
	cr_expect_eq(lines, 1, "%s -D %s: not one line: %s", verb, src, err);
	cr_expect_not_null(strstr(err, want), "%s -D %s: %s (wanted '%s')", verb, src, err, want);
	cr_expect_neq(access(out, F_OK), 0, "%s left %s behind", verb, out);
}

/* A copy of a fixture's images to damage. */
static const char *copy_of(const char *which)
{
	static char dir[300];

	snprintf(dir, sizeof(dir), "%s/%s", tmp, which);
	cr_assert_eq(run_cmd(NULL, 0, "rm -rf '%s' && mkdir -p \"$(dirname '%s')\" && "
			     "cp -r '%s' '%s' && chmod -R u+w '%s'", dir, dir, criu_fixture(which),
			     dir, dir), 0);
	return dir;
}

static void each_reader(const char *src, const char *want)
{
	refused("import", src, want);
	refused("show", src, want);
}

Test(criu_robust, truncated_image)
{
	const char *d = copy_of("threads/images");

	cr_assert_eq(run_cmd(NULL, 0, "truncate -s 1000 '%s/core-15610.img'", d), 0);
	refused("import", d, "core-15610.img: truncated entry");
}

Test(criu_robust, corrupt_entry)
{
	const char *d = copy_of("threads/images");

	/* The first entry's length says more than the file holds... */
	cr_assert_eq(run_cmd(NULL, 0, "printf '\\377\\377\\377\\000' | dd of='%s/mm-15610.img' "
			     "bs=1 seek=8 conv=notrunc 2>/dev/null", d), 0);
	refused("import", d, "mm-15610.img: truncated entry");
	/* ...or its bytes are not protobuf. */
	d = copy_of("threads/images");
	cr_assert_eq(run_cmd(NULL, 0, "printf '\\005\\000\\000\\000\\377\\377\\377\\377\\377' | "
			     "dd of='%s/fs-15610.img' bs=1 seek=8 conv=notrunc 2>/dev/null", d), 0);
	refused("import", d, "fs-15610.img: malformed entry");
}

Test(criu_robust, wrong_magic)
{
	const char *d = copy_of("threads/images");

	cr_assert_eq(run_cmd(NULL, 0, "cp '%s/mm-15610.img' '%s/pstree.img'", d, d), 0);
	refused("import", d, "pstree.img: not a CRIU PSTREE image (bad or missing magic)");
}

Test(criu_robust, pages_cut_short)
{
	const char *d = copy_of("threads/images");

	cr_assert_eq(run_cmd(NULL, 0, "truncate -s 8192 '%s/pages-1.img'", d), 0);
	refused("import", d, "runs past the end of the pages file");
}

Test(criu_robust, newer_image_version)
{
	const char *d = copy_of("threads/images");

	/* img_version 3 (compressed pages in newer CRIU): byte 9 holds it. */
	cr_assert_eq(run_cmd(NULL, 0, "printf '\\003' | dd of='%s/inventory.img' bs=1 seek=9 "
			     "conv=notrunc 2>/dev/null", d), 0);
	refused("import", d, "CRIU image version 3");
}

Test(criu_robust, foreign_files)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/plain.tar", tmp);
	cr_assert_eq(run_cmd(NULL, 0, "tar -cf '%s' -C '%s' src", path, criu_fixture("")), 0);
	each_reader(path, "not a checkpoint archive (no checkpoint/inventory.img)");
	snprintf(path, sizeof(path), "%s/cut.tar", tmp);
	cr_assert_eq(run_cmd(NULL, 0, "head -c 700000 '%s' > '%s'", criu_archive(), path), 0);
	each_reader(path, "checkpoint/pages-1.img runs past the end of the archive");
	snprintf(path, sizeof(path), "%s/cut.tar.gz", tmp);
	cr_assert_eq(run_cmd(NULL, 0, "gzip -c '%s' > '%s.full' && head -c $(($(stat -c %%s "
			     "'%s.full') / 2)) '%s.full' > '%s'", criu_archive(), path, path, path,
			     path), 0);
	each_reader(path, "truncated or corrupt");
}

/* Members named outside the archive: refused, and never written out. */
Test(criu_robust, evil_members)
{
	static const char *const names[] = { "../criu-evil", "/tmp/criu-evil-abs",
					     "checkpoint/../../criu-evil" };
	char path[300], py[600];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/evil%zu.tar", tmp, i);
		snprintf(py, sizeof(py),
			 "import io, tarfile\n"
			 "src = tarfile.open(\"%s\")\n"
			 "t = tarfile.open(\"%s\", \"w\")\n"
			 "for m in src.getmembers():\n"
			 "    t.addfile(m, src.extractfile(m) if m.isfile() else None)\n"
			 "e = tarfile.TarInfo(\"%s\"); e.size = 4\n"
			 "t.addfile(e, io.BytesIO(b\"evil\")); t.close()\n",
			 criu_archive(), path, names[i]);
		cr_assert_eq(run_cmd(NULL, 0, "python3 -c '%s'", py), 0);
		each_reader(path, "is named outside the archive");
	}
	cr_expect_neq(access("/tmp/criu-evil-abs", F_OK), 0);
	cr_expect_neq(access("/tmp/criu-evil", F_OK), 0);
}
