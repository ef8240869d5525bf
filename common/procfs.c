#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/procfs.h"
#include "images/log.h"

#define PF_EXITING	0x00000004	/* task->flags, field 9 of /proc/PID/stat */

/* pid has exited or is on its way out: no /proc/PID, a zombie, or past
 * exit_signals() (its mm and files go next, before it becomes a zombie:
 * that window is where opens fail with ESRCH or ENOENT). */
static bool pid_gone(pid_t pid)
{
	char path[32], buf[512], state = 0, *p;
	unsigned int flags = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* comm may hold spaces and parentheses */
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
		return false;
	return state == 'Z' || state == 'X' || (flags & PF_EXITING);
}

int procfs_log_err(pid_t pid, const char *name, int err)
{
	if (err == -ESRCH)
		pr_err("process %d exited", pid);
	else
		pr_err("cannot access /proc/%d/%s: %s", pid, name, strerror(-err));
	return err;
}

int procfs_open(pid_t pid, const char *name, int flags)
{
	char path[PATH_MAX];
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	fd = open(path, (flags & ~PROCFS_QUIET) | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	r = -errno;
	if ((r == -ESRCH || r == -ENOENT) && pid_gone(pid))
		r = -ESRCH;
	return flags & PROCFS_QUIET ? r : procfs_log_err(pid, name, r);
}

FILE *procfs_fopen(pid_t pid, const char *name, int flags)
{
	int fd = procfs_open(pid, name, flags | O_RDONLY);
	FILE *f;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return f;
}

DIR *procfs_opendir(pid_t pid, const char *name, int flags)
{
	int fd = procfs_open(pid, name, flags | O_RDONLY | O_DIRECTORY);
	DIR *d;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return d;
}

int procfs_read_fd(int fd, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap), *nb;

	if (!b)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		/* /proc files report size 0: grow until read() says EOF. */
		if (cap - n < 2) {
			nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		r = read(fd, b + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(b);
			return -e;
		}
		if (r == 0)
			break;
		n += r;
	}
	b[n] = '\0';
	*buf = b;
	if (len)
		*len = n;
	return 0;
}

int procfs_read(pid_t pid, const char *name, char **buf, size_t *len)
{
	int fd = procfs_open(pid, name, O_RDONLY | PROCFS_QUIET), r;

	if (fd < 0)
		return fd;
	r = procfs_read_fd(fd, buf, len);
	close(fd);
	return r;
}

int procfs_read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int procfs_readlink(pid_t pid, const char *name, char **out)
{
	char path[64], buf[PATH_MAX + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return (errno == ENOENT || errno == ESRCH) && pid_gone(pid) ? -ESRCH : -errno;
	buf[n] = '\0';
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

const char *procfs_field(const char *text, const char *key, size_t *vlen)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':') {
			const char *v = p + kl + 1;

			v += strspn(v, " \t");
			if (vlen)
				*vlen = strcspn(v, "\n");
			return v;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

int procfs_field_u64(const char *text, const char *key, int base, uint64_t *val)
{
	const char *v = procfs_field(text, key, NULL);
	char *end;

	if (!v)
		return -ENOENT;
	errno = 0;
	*val = strtoull(v, &end, base);
	return errno || end == v ? -EINVAL : 0;
}

int procfs_stat_read(pid_t pid, struct procfs_stat *st)
{
	char *open, *close, *p, *save = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	r = procfs_read(pid, "stat", &st->buf, NULL);
	if (r < 0)
		return r;
	/* comm may hold ' ', '(' and ')': it ends at the LAST ')'. */
	open = strchr(st->buf, '(');
	close = strrchr(st->buf, ')');
	if (!open || !close || close < open) {
		procfs_stat_free(st);
		return -EINVAL;
	}
	*open = *close = '\0';
	st->field[0] = st->buf;
	st->field[1] = open + 1;
	st->nr = 2;
	for (p = strtok_r(close + 1, " \n", &save); p && st->nr < PROCFS_STAT_MAX;
	     p = strtok_r(NULL, " \n", &save))
		st->field[st->nr++] = p;
	return st->nr;
}

uint64_t procfs_stat_u64(const struct procfs_stat *st, int num)
{
	return num >= 1 && num <= st->nr ? strtoull(st->field[num - 1], NULL, 10) : 0;
}

int64_t procfs_stat_s64(const struct procfs_stat *st, int num)
{
	return num >= 1 && num <= st->nr ? strtoll(st->field[num - 1], NULL, 10) : 0;
}

void procfs_stat_free(struct procfs_stat *st)
{
	free(st->buf);
	memset(st, 0, sizeof(*st));
}

_Static_assert(!(PROCFS_QUIET & (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND |
				 O_NONBLOCK | O_DSYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY |
				 O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_SYNC | O_PATH | O_TMPFILE)),
	       "PROCFS_QUIET must not be an open(2) flag");

pid_t procfs_ns_pid(pid_t pid, pid_t tid)
{
	char name[64], *text, *line, *last;
	pid_t v = -ENOENT;

	if (tid)
		snprintf(name, sizeof(name), "task/%d/status", tid);
	else
		snprintf(name, sizeof(name), "status");
	if (procfs_read(pid, name, &text, NULL))
		return -ESRCH;
	line = strstr(text, "\nNSpid:");
	if (line) {
		line[strcspn(line + 1, "\n") + 1] = '\0';
		last = strrchr(line, '\t');
		v = last ? (pid_t)atoi(last + 1) : -ENOENT;
	}
	free(text);
	return v;
}

pid_t procfs_ppid(pid_t pid)
{
	uint64_t ppid = 0;
	char *text;
	int r;

	if (procfs_read(pid, "status", &text, NULL))
		return -ESRCH;
	r = procfs_field_u64(text, "PPid", 10, &ppid);
	free(text);
	return r ? r : (pid_t)ppid;
}

size_t procfs_nr_fds(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	return stat(path, &st) ? 0 : (size_t)st.st_size;
}
