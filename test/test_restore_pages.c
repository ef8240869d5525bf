/* restore of memory in bulk (restore/pages_copy.c): a restored process
 * reads back every byte of regions large and fragmented enough that the
 * copy is shared out between threads, cut into several chunks and needs
 * more iovecs than one process_vm_writev takes; a read-only region gets
 * its bytes too, and pages never written stay zero. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "test/restore_util.h"

TestSuite(restore_pages, .fini = rt_kill_leftovers);

Test(restore_pages, large_fragmented_regions_read_back_exactly, .timeout = 60)
{
	char dir[256], img[300], go[300], line[256], err[4096];
	struct target t;
	struct rt_run r;

	make_tmpdir(dir, sizeof(dir), "rst-bigmem");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("restore_bigmem"), go, NULL);
	rt_dump_kill(&t, img);

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 30000), "no output");
	cr_expect_str_eq(line, "VERIFY bad=0 first=none",
			 "the restored process does not read back its bytes");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}
