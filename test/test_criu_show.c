/* show on CRIU's images: every image of the fixtures decodes to JSON as crit
 * decodes it (its magic names, its field names, the raw bytes after pipe and
 * socket-queue entries as "extra"); a CRIU directory and a checkpoint
 * archive print as one document, the archive with its container. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/criu_fixtures.h"
#include "test/helpers.h"

#define OUT_MAX (1024 * 1024)

/* Run `show args` and check the output parses as JSON; python prints what
 * `expr` (over the document `d`) gives. */
static void show_json(const char *args, const char *expr, char *out, size_t len)
{
	int r = run_cmd(out, len, "'%s' show %s | python3 -c 'import json,sys; d=json.load(sys.stdin); "
			"print(%s)'", criu_lite_path(), args, expr);

	cr_assert_eq(r, 0, "show %s: not JSON, or not as expected: %s", args, out);
}

static bool is_image(const char *name)
{
	return strncmp(name, "pages-", 6) && strcmp(name, "dump.log") && name[0] != '.';
}

static void every_image(const char *dir)
{
	char path[1024], *out = malloc(OUT_MAX);
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	cr_assert_not_null(d, "%s", dir);
	while ((de = readdir(d))) {
		if (!is_image(de->d_name))
			continue;
		snprintf(path, sizeof(path), "'%s/%s'", dir, de->d_name);
		show_json(path, "d[\"magic\"].isupper() and len(d[\"entries\"]) > 0", out, OUT_MAX);
		cr_expect_str_eq(out, "True\n", "%s: no magic, or no entries", de->d_name);
		n++;
	}
	closedir(d);
	cr_expect_geq(n, 12, "only %d images in %s", n, dir);
	free(out);
}

Test(criu_show, every_image_decodes, .timeout = 300)
{
	every_image(criu_fixture("threads/images"));
	every_image(criu_fixture("tree/images"));
}

Test(criu_show, values_as_crit_gives_them, .timeout = 180)
{
	char out[4096], path[1024];

	snprintf(path, sizeof(path), "'%s'", criu_fixture("threads/images/pagemap-15610.img"));
	show_json(path, "d[\"magic\"], d[\"entries\"][0], d[\"entries\"][1][\"vaddr\"], "
		  "d[\"entries\"][1][\"nr_pages\"], d[\"entries\"][1][\"flags\"]", out, sizeof(out));
	cr_expect_str_eq(out, "PAGEMAP {'pages_id': 1} 0x56550720d000 1 0x4\n");

	snprintf(path, sizeof(path), "'%s'", criu_fixture("threads/images/core-15618.img"));
	show_json(path, "d[\"magic\"], d[\"entries\"][0][\"mtype\"], "
		  "d[\"entries\"][0][\"thread_info\"][\"gpregs\"][\"ip\"], "
		  "d[\"entries\"][0][\"thread_info\"][\"fpregs\"][\"xsave\"][\"ymmh_space\"][28:32], "
		  "d[\"entries\"][0][\"thread_core\"][\"comm\"]", out, sizeof(out));
	cr_expect_str_eq(out, "CORE X86_64 0x7fe4c2b68df0 [4100, 4100, 4100, 4100] criu_threads\n");

	snprintf(path, sizeof(path), "'%s'", criu_fixture("tree/images/pipes-data.img"));
	show_json(path, "d[\"magic\"], d[\"entries\"][0][\"bytes\"], "
		  "bytes.fromhex(d[\"entries\"][0][\"extra\"]).decode()", out, sizeof(out));
	cr_expect_str_eq(out, "PIPES_DATA 10 pipe-bytes\n");

	snprintf(path, sizeof(path), "'%s'", criu_fixture("tree/images/sk-queues.img"));
	show_json(path, "d[\"magic\"], d[\"entries\"][0][\"id_for\"], "
		  "bytes.fromhex(d[\"entries\"][0][\"extra\"]).decode()", out, sizeof(out));
	cr_expect_str_eq(out, "SK_QUEUES 10 sock-bytes\n");

	snprintf(path, sizeof(path), "'%s'", criu_fixture("tree/images/inventory.img"));
	show_json(path, "d[\"magic\"], d[\"entries\"][0][\"img_version\"], "
		  "d[\"entries\"][0][\"fdinfo_per_id\"]", out, sizeof(out));
	cr_expect_str_eq(out, "INVENTORY 2 True\n");

	snprintf(path, sizeof(path), "'%s'", criu_fixture("tree/images/files.img"));
	show_json(path, "[e[\"reg\"][\"name\"] for e in d[\"entries\"] if e[\"type\"] == \"REG\" and "
		  "e[\"reg\"][\"pos\"] == 10]", out, sizeof(out));
	cr_expect_str_eq(out, "['/tmp/criu-fixtures/tree.ready.data']\n");
}

/* A directory, and the same images as an archive: one document each, the
 * images decoding alike, the archive's container named. */
Test(criu_show, directory_and_archive, .timeout = 180)
{
	char *dir = malloc(OUT_MAX), *arch = malloc(OUT_MAX), args[1024];

	snprintf(args, sizeof(args), "-D '%s'", criu_fixture("threads/images"));
	show_json(args, "json.dumps({k: v for k, v in d.items() if k.endswith(\".img\")}, "
		  "sort_keys=True)", dir, OUT_MAX);
	snprintf(args, sizeof(args), "-D '%s'", criu_archive());
	show_json(args, "json.dumps({k: v for k, v in d.items() if k.endswith(\".img\")}, "
		  "sort_keys=True)", arch, OUT_MAX);
	cr_expect_str_eq(dir, arch, "the archive's images show otherwise than the directory's");
	cr_expect_not_null(strstr(dir, "\"pages-1.img\": {\"raw\": true, \"size\": 1208320}"));
	show_json(args, "d[\"container\"][\"name\"], d[\"container\"][\"image\"], "
		  "d[\"container\"][\"runtime\"], d[\"container\"][\"pod\"]", arch, OUT_MAX);
	cr_expect_str_eq(arch, "k8s_criu-fixture_fixture-pod_default_0 "
			 "localhost/criu-fixture:latest runc fixture-pod\n");
	free(dir);
	free(arch);
}
