/* libFuzzer target for `criu-lite show FILE.img`: the generic JSON printer
 * (images/json.c) over whatever message the image layer decodes. The input is
 * one image file. Output goes to stdout, which scripts/fuzz.sh points at
 * /dev/null (-close_fd_mask=1). */
#include <stdint.h>
#include <stdio.h>

#include "criu-lite/commands.h"
#include "test/fuzz/fuzz_dir.h"

static struct fuzz_dir dir;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[512];
	char *argv[] = { "show", path, NULL };
	int r;

	if (!dir.path[0])
		fuzz_dir_init(&dir, "fuzz-show");
	fuzz_put_file(dir.fd, "input.img", data, size);
	snprintf(path, sizeof(path), "%s/input.img", dir.path);
	r = cmd_show(2, argv);
	if (r != 0 && r != 1)
		abort();	/* 2 is a usage error: the harness's fault */
	clearerr(stdout);
	return 0;
}
