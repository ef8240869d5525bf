/* inotify and fanotify watching a directory and a file.
 * inotify: the directory (IN_CREATE | IN_DELETE), a watch made and removed
 * (so that wds have a gap), the file (IN_MODIFY | IN_ONESHOT).
 * fanotify: the file (FAN_MODIFY), its filesystem (FAN_CLOSE_WRITE, with
 * FAN_OPEN ignored and surviving modification) and its mount (FAN_OPEN).
 *
 * argv[1]: file to wait for; argv[2]: the directory. READY pid=P ino=FD
 * fan=FD dwd=W fwd=W. After the wait it prints "GO"; then, once something
 * creates argv[2]/new and writes argv[2]/file, one line:
 *   NOTIFY create=<name>@<wd> modify=<wd> ignored=<n> fan=<0|1>
 * (ignored: IN_IGNORED events seen first; fan: fanotify reported a write
 * to the file, through an fd on it). */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "target.h"

static char file[512];

static void inotify_events(int fd, char *name, size_t len, int *cwd, int *mwd, int *ignored)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n = read(fd, buf, sizeof(buf));

	for (char *p = buf; n > 0 && p < buf + n;) {
		struct inotify_event *ev = (struct inotify_event *)p;

		if (ev->mask & IN_IGNORED && !*cwd && !*mwd)
			(*ignored)++;
		if (ev->mask & IN_CREATE && ev->len) {
			snprintf(name, len, "%s", ev->name);
			*cwd = ev->wd;
		}
		if (ev->mask & IN_MODIFY)
			*mwd = ev->wd;
		p += sizeof(*ev) + ev->len;
	}
}

static void fanotify_events(int fd, int *seen)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n = read(fd, buf, sizeof(buf));
	struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;

	for (; n > 0 && FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
		char link[64], path[512] = "";
		ssize_t k;

		if (m->fd < 0)
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", m->fd);
		k = readlink(link, path, sizeof(path) - 1);
		if (k > 0 && (m->mask & FAN_MODIFY)) {
			path[k] = '\0';
			*seen |= !strcmp(path, file);
		}
		close(m->fd);
	}
}

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	char sub[512], name[256] = "";
	int in, fan, dwd, fwd, cwd = 0, mwd = 0, ignored = 0, seen = 0, fd;

	if (argc < 3)
		return 2;
	snprintf(file, sizeof(file), "%s/file", argv[2]);
	snprintf(sub, sizeof(sub), "%s/sub", argv[2]);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || mkdir(sub, 0700))
		return 1;
	close(fd);
	in = inotify_init1(IN_NONBLOCK);
	dwd = inotify_add_watch(in, argv[2], IN_CREATE | IN_DELETE);
	inotify_rm_watch(in, inotify_add_watch(in, sub, IN_ALL_EVENTS));
	fwd = inotify_add_watch(in, file, IN_MODIFY | IN_ONESHOT);
	inotify_events(in, name, sizeof(name), &cwd, &mwd, &ignored);	/* the IN_IGNORED */
	ignored = 0;
	fan = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY);
	if (in < 0 || fan < 0 ||
	    fanotify_mark(fan, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, file) ||
	    fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE, AT_FDCWD,
			  argv[2]) ||
	    fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY,
			  FAN_OPEN, AT_FDCWD, file) ||
	    fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN, AT_FDCWD, argv[2])) {
		perror("notify");
		return 1;
	}
	target_ready("pid=%d ino=%d fan=%d dwd=%d fwd=%d", getpid(), in, fan, dwd, fwd);
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);
	printf("GO\n");
	fflush(stdout);
	for (int i = 0; i < 30000 && (!cwd || !mwd || !seen); i++) {
		struct pollfd p[2] = { { .fd = in, .events = POLLIN }, { .fd = fan, .events = POLLIN } };

		if (poll(p, 2, 1) <= 0)
			continue;
		if (p[0].revents)
			inotify_events(in, name, sizeof(name), &cwd, &mwd, &ignored);
		if (p[1].revents)
			fanotify_events(fan, &seen);
	}
	printf("NOTIFY create=%s@%d modify=%d ignored=%d fan=%d\n", name, cwd, mwd, ignored, seen);
	fflush(stdout);
	return 0;
}
