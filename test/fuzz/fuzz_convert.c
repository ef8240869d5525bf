/* libFuzzer target for convert's image loading and core writing: a whole
 * dump directory (fuzz_dir.h format) goes through convert_dump(), the same
 * entry point `criu-lite convert -D DIR -o CORE` uses, into a scratch core
 * file that is removed after each run. Malformed dumps must be refused with
 * an error; nothing may crash, leak, or run away. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "convert/convert.h"
#include "test/fuzz/fuzz_dir.h"

static struct fuzz_dir dir, out;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char core[300];
	struct convert_opts o = { .filter = -1 };

	if (!dir.path[0]) {
		fuzz_dir_init(&dir, "fuzz-convert");
		fuzz_dir_init(&out, "fuzz-convert-out");
	}
	if (!fuzz_dir_unpack(&dir, data, size))
		return 0;
	snprintf(core, sizeof(core), "%s/core", out.path);
	o.dir = dir.path;
	o.out = core;
	convert_dump(&o);
	fuzz_dir_empty(&out);
	return 0;
}
