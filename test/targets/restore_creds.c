/* Restore target: a process that gave up root. Started as root, it takes
 * supplementary groups 100 and 200, gids 1001/1002/1003 and uids
 * 1000/1000/1000 (losing every capability, as setresuid does). After the file argv[1] appears it prints
 * "CREDS uid=r/e/s gid=r/e/s groups=a,b" as it sees them then. */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	const gid_t groups[] = { 100, 200 };
	uid_t ru, eu, su;
	gid_t rg, eg, sg, g[8];
	int n;

	if (argc < 2)
		return 2;
	if (setgroups(2, groups) || setresgid(1001, 1002, 1003) || setresuid(1000, 1000, 1000))
		return 1;
	target_ready("pid=%d", getpid());
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	n = getgroups(8, g);
	printf("CREDS uid=%u/%u/%u gid=%u/%u/%u groups=%u,%u n=%d\n", ru, eu, su, rg, eg, sg,
	       n > 0 ? g[0] : 0, n > 1 ? g[1] : 0, n);
	fflush(stdout);
	return 0;
}
