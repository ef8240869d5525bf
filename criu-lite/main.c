#include <stdio.h>
#include <string.h>

#include "common/fault.h"
#include "convert/convert.h"
#include "criu-lite/commands.h"
#include "images/image.h"
#include "restore/restore.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "dump", cmd_dump, "-t PID -D DIR: snapshot a process tree into images" },
	{ "pre-dump", cmd_pre_dump, "-t PID -D DIR: memory only; a later dump stores what changed" },
	{ "restore", cmd_restore, "-D DIR: bring a dumped tree back to life" },
	{ "replay", cmd_replay, "-D DIR [--gdb]: a stopped, isolated copy beside the original" },
	{ "convert", cmd_convert, "-D DIR -o CORE: turn images into an ELF core file" },
	{ "show", cmd_show, "FILE.img | -D DIR [--ps|--mem|--files]: print images" },
	{ "import", cmd_import, "-D DUMP -o DIR: criu-lite images from a CRIU dump or checkpoint archive" },
	{ "check", cmd_check, "say what this kernel and your privilege allow" },
	{ "coredump-server", cmd_coredump_server, "--store DIR [--socket PATH] [--install]: take crashes" },
	{ "coredump-handler", cmd_coredump_handler, "%P %u %g %s %t %c %h %F: core_pattern pipe helper" },
	{ "crashes", cmd_crashes, "[--store DIR]: list the crashes taken" },
	{ "crash", cmd_crash, "info|gdb|import ID: look at, debug or replay a crash" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: criu-lite COMMAND [OPTIONS]   (criu-lite COMMAND --help)\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
	fault_init();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("criu-lite %s (image format %d)\n", CRIU_LITE_VERSION, IMG_FORMAT_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "criu-lite: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
