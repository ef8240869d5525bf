/* Walking /proc/self/mountinfo: see mountinfo.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/mountinfo.h"

int mountinfo_each(bool (*fn)(const struct mountinfo *m, void *arg), void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[2048];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct mountinfo m;
		char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %511s %511s", m.root, m.point) != 2 ||
		    sscanf(sep + 3, "%63s %*s %511s", m.fstype, m.super) != 2)
			continue;
		if (fn(&m, arg))
			break;
	}
	fclose(f);
	return 0;
}
