/* A frozen process's fds, listed and their links read once for the walk
 * (criu-lite/files/files.c) and whoever looks ahead of it (files_ahead.c):
 * for a server, a thousand of each. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fd/fd.h"
#include "common/procfs.h"
#include "criu-lite/files/fd_list.h"
#include "images/log.h"
#include "images/par.h"

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* The fd numbers of pid, ascending. */
static int list_fds(pid_t pid, int **out, size_t *nr)
{
	struct dirent *de;
	size_t n = 0, cap = 0;
	int *fds = NULL;
	DIR *dir;

	dir = procfs_opendir(pid, "fd", 0);
	if (!dir)
		return -errno;
	while ((errno = 0, de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			int *nf = realloc(fds, (cap = cap ? cap * 2 : 64) * sizeof(*fds));

			if (!nf) {
				free(fds);
				closedir(dir);
				return -ENOMEM;
			}
			fds = nf;
		}
		fds[n++] = atoi(de->d_name);
	}
	if (errno) {
		int r = pr_perror("cannot list the fds of %d", pid);

		free(fds);
		closedir(dir);
		return r;
	}
	closedir(dir);
	qsort(fds, n, sizeof(*fds), cmp_int);
	*out = fds;
	*nr = n;
	return 0;
}

void fd_list_free(char **links, size_t nr)
{
	for (size_t i = 0; links && i < nr; i++)
		free(links[i]);
	free(links);
}

struct links {
	pid_t pid;
	int dir;			/* /proc/PID/fd, or -1 */
	const int *fds;
	char **links;
	bool nomem;
};

static void read_link(void *arg, size_t i)
{
	struct links *l = arg;
	char path[64], link[PATH_MAX];
	ssize_t n;

	if (l->links[i])
		return;		/* a socket's, from BPF (sk_bpf_socket_links) */
	if (l->dir >= 0) {
		snprintf(path, sizeof(path), "%d", l->fds[i]);
		n = readlinkat(l->dir, path, link, sizeof(link) - 1);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", l->pid, l->fds[i]);
		n = readlink(path, link, sizeof(link) - 1);
	}
	if (n < 0)
		return;		/* the walk reads it again and says why */
	link[n] = '\0';
	if (!(l->links[i] = strdup(link)))
		l->nomem = true;
}

/* CRIU_LITE_TCP_BPF=check: the sockets' links BPF gave (mine) against
 * readlink's; said where they differ. */
static void check_links(const int *fds, size_t nr, char **mine, char **links)
{
	for (size_t i = 0; i < nr; i++)
		if (mine[i] && (!links[i] || strcmp(mine[i], links[i])))
			pr_err("fd %d: link is %s by the BPF iterator, %s by readlink", fds[i], mine[i],
			       links[i] ? links[i] : "(none)");
	fd_list_free(mine, nr);
}

/* Every fd's link, read once for the walk and the kinds (the network lock
 * looks for the process's TCP connections before the first is dumped);
 * many (a server's connections) on two threads (par_run, images/par.h).
 * Relative to /proc/PID/fd opened once: no path walk from / for each. */
static int read_links(pid_t pid, const int *fds, size_t nr, char ***out)
{
	struct links l = { .pid = pid, .fds = fds, .links = calloc(nr ? nr : 1, sizeof(char *)) };
	bool check = sk_bpf_mode() == SK_BPF_CHECK;
	char **mine = check ? calloc(nr ? nr : 1, sizeof(char *)) : l.links;
	int got = 0;

	if (!l.links || !mine) {
		free(l.links);
		if (check)
			free(mine);
		return -ENOMEM;
	}
	/* a server's sockets, by one BPF iterator when its program is loaded
	 * (common/fd/socket_bpf.c): the readlinks left are the other fds' */
	if (nr >= 128 && (got = sk_bpf_socket_links(pid, fds, nr, mine)) == -ENOMEM) {
		if (check)
			fd_list_free(mine, nr);
		fd_list_free(l.links, nr);
		return -ENOMEM;
	}
	if (check)
		got = 0;
	/* (for a few fds, opening it costs what it spares) */
	l.dir = nr >= 16 ? procfs_open(pid, "fd", O_PATH | O_DIRECTORY | PROCFS_QUIET) : -1;
	/* a readlink is ~5 us, a process's first thread up to a millisecond */
	if (nr - (size_t)(got > 0 ? got : 0) >= 512)
		par_run(nr, read_link, NULL, &l);
	else
		for (size_t i = 0; i < nr; i++)
			read_link(&l, i);
	if (l.dir >= 0)
		close(l.dir);
	if (check)
		check_links(fds, nr, mine, l.links);
	if (l.nomem) {
		fd_list_free(l.links, nr);
		return -ENOMEM;
	}
	*out = l.links;
	return 0;
}

int fd_list_read(pid_t pid, int **fds, size_t *nr, char ***links)
{
	int r = list_fds(pid, fds, nr);

	if (!r && (r = read_links(pid, *fds, *nr, links))) {
		free(*fds);
		*fds = NULL;
	}
	return r;
}
