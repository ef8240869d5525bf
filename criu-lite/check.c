/* `criu-lite check`: print what kerndat found, one line per feature. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "criu-lite/commands.h"
#include "criu-lite/kerndat.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: criu-lite check\n\n"
		"Try, for real, what dump and restore need from this kernel and from your\n"
		"privilege, and print one line each: NAME yes|no WHY. The last line says\n"
		"how a pre-dump would track dirty pages here: soft-dirty,\n"
		"pagemap-scan+uffd-wp, or page hashes. Briefly forks one child (to try\n"
		"ptrace) and, as root, may create and remove an empty probe cgroup.\n"
		"Exit status 0 whatever the answers.\n");
}

static const char *track_why(const struct kerndat *kd)
{
	switch (kd->track_mem) {
	case KD_TRACK_SOFT_DIRTY:
		return "soft-dirty bits work";
	case KD_TRACK_PAGEMAP_SCAN:
		return "no soft-dirty; userfaultfd async write-protect + PAGEMAP_SCAN work";
	default:
		return "neither soft-dirty nor uffd-wp + PAGEMAP_SCAN: pages compared by hash";
	}
}

int cmd_check(int argc, char **argv)
{
	struct kerndat kd;

	if (argc > 1) {
		bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");

		usage(help ? stdout : stderr);
		return help ? 0 : 2;
	}
	kerndat_probe(&kd);
	printf("%-24s %s, uid %u, euid %u\n", "kernel", kd.release, getuid(), geteuid());
	for (int i = 0; i < KD_NR_FEATURES; i++)
		printf("%-24s %-4s %s\n", kerndat_feature_name(i), kd.f[i].ok ? "yes" : "no",
		       kd.f[i].why);
	printf("%-24s %s (%s)\n", "track-mem", kerndat_track_mem_name(kd.track_mem), track_why(&kd));
	return fflush(stdout) ? 1 : 0;
}
