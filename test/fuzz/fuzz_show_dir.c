/* libFuzzer target for `criu-lite show -D DIR` and its --ps, --mem and
 * --files summaries, which read several images of a dump together (the
 * pstree names the processes, whose proc/mm/pagemap/files images are then
 * opened). The input is a dump directory serialized as fuzz_dir.h says. */
#include <stdint.h>
#include <stdio.h>

#include "criu-lite/commands.h"
#include "test/fuzz/fuzz_dir.h"

static struct fuzz_dir dir;

static void show(const char *mode)
{
	char *argv[] = { "show", "-D", dir.path, (char *)mode, NULL };
	int r = cmd_show(mode ? 4 : 3, argv);

	if (r != 0 && r != 1)
		abort();
	clearerr(stdout);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir.path[0])
		fuzz_dir_init(&dir, "fuzz-show-dir");
	if (!fuzz_dir_unpack(&dir, data, size))
		return 0;
	show(NULL);
	show("--ps");
	show("--mem");
	show("--files");
	return 0;
}
