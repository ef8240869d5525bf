/* libFuzzer target for restore's image loading: rst_load() reads every image
 * of a dump directory (fuzz_dir.h format) into memory and rst_check() runs
 * the refusals restore makes before creating any process (incomplete dump,
 * changed files, taken pids, XSAVE layout). Neither creates a process; the
 * rest of restore does and is not fuzzed here. */
#include <stdint.h>
#include <string.h>

#include "restore/rst.h"
#include "test/fuzz/fuzz_dir.h"

static struct fuzz_dir dir;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rst_tree t;

	if (!dir.path[0])
		fuzz_dir_init(&dir, "fuzz-restore");
	if (!fuzz_dir_unpack(&dir, data, size))
		return 0;
	memset(&t, 0, sizeof(t));
	t.dirfd = -1;
	t.opts.dir = dir.path;
	if (!rst_load(&t))
		rst_check(&t);
	rst_free(&t);
	return 0;
}
