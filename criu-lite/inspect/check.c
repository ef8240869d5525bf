/* `criu-lite check`: print what kerndat found, one line per feature. */
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "criu-lite/commands.h"
#include "common/kerndat.h"

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

/* What --snapshot wp needs: write-protect faults delivered to a handler,
 * the events that tell it memory went away, and PAGEMAP_SCAN. */
static const char *snapshot_modes(const struct kerndat *kd)
{
	const uint64_t need = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_EVENT_REMAP |
			      UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP;

	if (!kd->f[KD_PAGEMAP_SCAN].ok)
		return "fork (wp needs the PAGEMAP_SCAN ioctl, 6.7+)";
	if ((kd->uffd_features & need) != need)
		return "fork (wp needs userfaultfd write-protect faults and events)";
	return "fork wp (wp: privileged targets only)";
}

int cmd_check(int argc, char **argv)
{
	struct kerndat kd;

	if (argc > 1) {
		bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");

		if (help)
			usage(stdout);
		else
			fprintf(stderr, "criu-lite check: takes no argument (see criu-lite check "
				"--help)\n");
		return help ? 0 : 2;
	}
	kerndat_probe(&kd);
	printf("%-24s %s, uid %u, euid %u\n", "kernel", kd.release, getuid(), geteuid());
	for (int i = 0; i < KD_NR_FEATURES; i++)
		printf("%-24s %-4s %s\n", kerndat_feature_name(i), kd.f[i].ok ? "yes" : "no",
		       kd.f[i].why);
	printf("%-24s %s (%s)\n", "track-mem", kerndat_track_mem_name(kd.track_mem), track_why(&kd));
	printf("%-24s %s\n", "snapshot", snapshot_modes(&kd));
	return fflush(stdout) ? 1 : 0;
}
