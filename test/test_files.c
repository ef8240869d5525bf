/* files_dump(): every fd of a stopped target, checked the way a user would:
 * paths and offsets, the bytes queued in pipes, which socket is whose peer,
 * listener ports, counters; and that the target still reads every queued
 * byte after the dump. The target is stopped with SIGSTOP, as the dumper's
 * freezer would leave it, and files_dump() is called directly. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "criu-lite/files/files.h"
#include "images/image.h"
#include "images/log.h"
#include "test/helpers.h"

#define MAX_FD 1024

struct dumped {
	FdEntry *by_fd[MAX_FD];
	size_t n;
};

static uint64_t fnv(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void stop_target(pid_t pid)
{
	int st;

	cr_assert_eq(kill(pid, SIGSTOP), 0);
	cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
	cr_assert(WIFSTOPPED(st), "target did not stop");
}

/* As the dumper's freezer leaves it: seized and in a group-stop-free
 * ptrace-stop (PTRACE_INTERRUPT), not stopped by a signal. */
static void seize_target(pid_t pid)
{
	int st;

	cr_assert_eq(ptrace(PTRACE_SEIZE, pid, 0, 0), 0, "seize: %m");
	cr_assert_eq(ptrace(PTRACE_INTERRUPT, pid, 0, 0), 0);
	cr_assert_eq(waitpid(pid, &st, __WALL), pid);
	cr_assert(WIFSTOPPED(st) && st >> 16 == PTRACE_EVENT_STOP, "not in a ptrace-stop");
}

/* Let it run and tell it to read everything queued. */
static void resume_and_drain(pid_t pid)
{
	cr_assert_eq(kill(pid, SIGCONT), 0);
	cr_assert_eq(kill(pid, SIGUSR1), 0);
}

static void read_image(int dfd, pid_t pid, struct dumped *d)
{
	struct img *img = img_open(dfd, IMG_FILES, pid, true);
	int last = -1, r;
	void *msg;

	cr_assert_not_null(img, "files-%d.img missing", pid);
	memset(d, 0, sizeof(*d));
	while ((r = img_read(img, NULL, &msg)) > 0) {
		FdEntry *e = msg;

		cr_assert_gt((int)e->fd, last, "fd %u after fd %d: not in fd order", e->fd, last);
		cr_assert_lt(e->fd, MAX_FD);
		last = e->fd;
		d->by_fd[e->fd] = e;
		d->n++;
	}
	cr_assert_eq(r, 0);
	img_close_read(img);
}

static void dump_and_read(pid_t pid, const char *dir, struct dumped *d)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	cr_assert_geq(dfd, 0);
	cr_assert_eq(files_dump(dfd, pid, NULL), 0);
	read_image(dfd, pid, d);
	close(dfd);
}

static void free_dumped(struct dumped *d)
{
	for (int i = 0; i < MAX_FD; i++)
		img_free(d->by_fd[i]);
}

static FdEntry *entry(struct dumped *d, const struct target *t, const char *key, FdType type)
{
	int fd = (int)target_ready_u64(t, key);
	FdEntry *e = d->by_fd[fd];

	cr_assert_not_null(e, "no entry for %s (fd %d)", key, fd);
	cr_assert_eq(e->type, type, "%s (fd %d, %s): type %d, expected %d", key, fd, e->link,
		     e->type, type);
	return e;
}

static SocketInfo *sock(struct dumped *d, const struct target *t, const char *key)
{
	FdEntry *e = entry(d, t, key, FD_TYPE__FD_SOCKET);

	cr_assert_not_null(e->sock);
	return e->sock;
}

/* Wait for "GOT name len=N hash=H" and check it. */
static void expect_got(struct target *t, const char *name, size_t len, uint64_t hash)
{
	char line[256], want[128];

	cr_assert(target_read_line(t, line, sizeof(line), WAIT_MS), "no GOT %s line", name);
	snprintf(want, sizeof(want), "GOT %s len=%zu hash=%#llx", name, len,
		 (unsigned long long)hash);
	cr_assert_str_eq(line, want);
}

struct mix {
	char dir[256];
	struct target t;
	struct dumped d;
	size_t nr_proc_fds;
};

static void mix_start_how(struct mix *m, const char *mode, bool seize)
{
	make_tmpdir(m->dir, sizeof(m->dir), "files");
	target_start(&m->t, "files_mix", m->dir, mode, NULL);
	if (seize)
		seize_target(m->t.pid);
	else
		stop_target(m->t.pid);
	cr_assert_geq(proc_dir_count(m->t.pid, "fd"), 0);
	m->nr_proc_fds = (size_t)proc_dir_count(m->t.pid, "fd");
	dump_and_read(m->t.pid, m->dir, &m->d);
}

static void mix_start(struct mix *m, const char *mode)
{
	mix_start_how(m, mode, false);
}

static void mix_end(struct mix *m)
{
	target_kill(&m->t);
	free_dumped(&m->d);
	rm_rf(m->dir);
}

static void check_files_and_pipes(struct mix *m)
{
	char path[512];
	struct stat st;
	FdEntry *e, *w;

	e = entry(&m->d, &m->t, "reg", FD_TYPE__FD_REG);
	snprintf(path, sizeof(path), "%s/reg.txt", m->dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_str_eq(e->file->path, path);
	cr_assert_eq(e->pos, 17);
	cr_assert(e->flags & O_APPEND);
	cr_assert_eq(e->flags & O_ACCMODE, O_RDWR);
	cr_assert_eq(e->file->size, 36);
	cr_assert_eq(e->file->ino, st.st_ino);
	cr_assert_eq(e->fd_flags, 0);

	e = entry(&m->d, &m->t, "dir", FD_TYPE__FD_DIR);
	cr_assert_str_eq(e->file->path, m->dir);

	e = entry(&m->d, &m->t, "pipe_r", FD_TYPE__FD_PIPE);
	w = entry(&m->d, &m->t, "pipe_w", FD_TYPE__FD_PIPE);
	cr_assert_eq(e->pipe->ino, w->pipe->ino, "both ends name one pipe");
	cr_assert(e->pipe->has_data && !e->pipe->data_truncated);
	cr_assert_eq(e->pipe->data.len, target_ready_u64(&m->t, "pipe_len"));
	cr_assert_eq(fnv(e->pipe->data.data, e->pipe->data.len),
		     target_ready_u64(&m->t, "pipe_hash"), "pipe bytes differ");
	cr_assert_not(w->pipe->has_data, "pipe data is stored on the first fd only");
	cr_assert_geq(e->pipe->pipe_size, 4096);
	cr_assert_eq(w->flags & O_ACCMODE, O_WRONLY);

	e = entry(&m->d, &m->t, "fifo_r", FD_TYPE__FD_FIFO);
	w = entry(&m->d, &m->t, "fifo_w", FD_TYPE__FD_FIFO);
	snprintf(path, sizeof(path), "%s/fifo", m->dir);
	cr_assert_str_eq(e->file->path, path);
	cr_assert_eq(e->pipe->ino, w->pipe->ino);
	cr_assert_eq(e->pipe->data.len, 10);
	cr_assert_arr_eq(e->pipe->data.data, "fifo-bytes", 10);
	cr_assert(e->flags & O_NONBLOCK);
}

static void check_unix(struct mix *m)
{
	SocketInfo *s0 = sock(&m->d, &m->t, "sv0"), *s1 = sock(&m->d, &m->t, "sv1");
	SocketInfo *l = sock(&m->d, &m->t, "ulsn"), *c = sock(&m->d, &m->t, "ucli");
	SocketInfo *a = sock(&m->d, &m->t, "uabs");
	char path[512];

	cr_assert_eq(s0->family, AF_UNIX);
	cr_assert_eq(s0->type, SOCK_STREAM);
	cr_assert_eq(s0->peer_ino, s1->ino, "socketpair ends point at each other");
	cr_assert_eq(s1->peer_ino, s0->ino);
	cr_assert_eq(s0->state, TCP_ESTABLISHED);
	cr_assert_eq(s1->rqueue, 15, "15 bytes wait in sv1");

	snprintf(path, sizeof(path), "%s/sock", m->dir);
	cr_assert_eq(l->state, TCP_LISTEN);
	cr_assert_str_eq(l->local->path, path);
	cr_assert_eq(l->backlog, 5);
	cr_assert_eq(l->n_icons, 1, "one connection waits to be accepted");
	cr_assert_eq(l->icons[0], c->ino, "the pending connection is the client's");
	/* the server end exists only once accepted: no inode to point at yet */
	cr_assert_eq(c->peer_ino, 0);
	cr_assert_eq(c->state, TCP_ESTABLISHED);

	snprintf(path, sizeof(path), "@criu-lite-mix-%d", m->t.pid);
	cr_assert_eq(a->type, SOCK_DGRAM);
	cr_assert_str_eq(a->local->path, path);
}

static void check_inet(struct mix *m)
{
	SocketInfo *l = sock(&m->d, &m->t, "tlsn"), *c = sock(&m->d, &m->t, "tcli");
	SocketInfo *s = sock(&m->d, &m->t, "tsrv"), *u = sock(&m->d, &m->t, "udp6");
	SocketInfo *z = sock(&m->d, &m->t, "tclosed");
	uint32_t port = target_ready_u64(&m->t, "port");
	FdEntry *nl;

	cr_assert_eq(l->family, AF_INET);
	cr_assert_eq(l->type, SOCK_STREAM);
	cr_assert_eq(l->protocol, IPPROTO_TCP);
	cr_assert_eq(l->state, TCP_LISTEN);
	cr_assert_str_eq(l->local->ip, "127.0.0.1");
	cr_assert_eq(l->local->port, port);
	cr_assert_eq(l->backlog, 7);

	cr_assert_eq(c->state, TCP_ESTABLISHED);
	cr_assert_eq(c->peer->port, port);
	cr_assert_str_eq(c->peer->ip, "127.0.0.1");
	cr_assert_eq(s->state, TCP_ESTABLISHED);
	cr_assert_eq(s->local->port, port);
	cr_assert_eq(s->peer->port, c->local->port, "accepted socket's peer is the client");
	cr_assert_eq(s->rqueue, 9, "9 bytes wait in the accepted socket");

	cr_assert_eq(u->family, AF_INET6);
	cr_assert_eq(u->type, SOCK_DGRAM);
	cr_assert_eq(u->protocol, IPPROTO_UDP);
	cr_assert_str_eq(u->local->ip, "::1");
	cr_assert_eq(u->local->port, target_ready_u64(&m->t, "u6port"));

	cr_assert_eq(z->family, AF_INET);
	cr_assert_eq(z->state, TCP_CLOSE);

	nl = entry(&m->d, &m->t, "nl", FD_TYPE__FD_SOCKET);
	cr_assert_not_null(nl->sock);
	cr_assert_eq(nl->sock->family, AF_NETLINK);
}

static void check_misc(struct mix *m)
{
	uint32_t pipe_fd = target_ready_u64(&m->t, "ep_pipe");
	uint32_t efd = target_ready_u64(&m->t, "efd");
	FdEntry *e;
	struct stat st;
	int n;

	e = entry(&m->d, &m->t, "efd", FD_TYPE__FD_EVENTFD);
	cr_assert_eq(e->eventfd_count, 5);
	cr_assert_eq(e->fd_flags, FD_CLOEXEC);
	cr_assert_eq(e->flags & O_CLOEXEC, 0);

	e = entry(&m->d, &m->t, "ep", FD_TYPE__FD_EPOLL);
	cr_assert_eq(e->n_epoll_tfds, 2);
	cr_assert_eq(e->n_epoll_events, 2);
	cr_assert_eq(e->n_epoll_data, 2);
	for (size_t i = 0; i < 2; i++) {
		bool is_pipe = e->epoll_tfds[i] == pipe_fd;

		cr_assert(is_pipe || e->epoll_tfds[i] == efd, "unexpected tfd %u", e->epoll_tfds[i]);
		cr_assert(e->epoll_events[i] & EPOLLIN);
		cr_assert_eq(!!(e->epoll_events[i] & EPOLLET), !is_pipe);
		cr_assert_eq(e->epoll_data[i], is_pipe ? 0x1111 : 0x2222);
	}

	e = entry(&m->d, &m->t, "memfd", FD_TYPE__FD_MEMFD);
	cr_assert_str_eq(e->memfd_name, "criu-lite-mix");
	cr_assert_eq(e->file->size, 12345);

	e = entry(&m->d, &m->t, "null", FD_TYPE__FD_CHR);
	cr_assert_str_eq(e->file->path, "/dev/null");
	cr_assert_eq(e->flags & O_ACCMODE, O_WRONLY);

	e = entry(&m->d, &m->t, "uring", FD_TYPE__FD_UNSUPPORTED);
	cr_assert_not_null(strstr(e->unsupported_reason, "io_uring"), "%s", e->unsupported_reason);

	e = entry(&m->d, &m->t, "sfd", FD_TYPE__FD_SIGNALFD);
	cr_assert_eq(e->signalfd_mask, 1ull << (SIGUSR2 - 1));

	e = entry(&m->d, &m->t, "tfd", FD_TYPE__FD_TIMERFD);
	cr_assert_eq(e->timerfd->clockid, CLOCK_MONOTONIC);
	cr_assert_eq(e->timerfd->interval_ns, 1000000000000ull);
	cr_assert(e->timerfd->value_ns > 0 && e->timerfd->value_ns <= 1000000000000ull);

	e = entry(&m->d, &m->t, "ino", FD_TYPE__FD_INOTIFY);
	cr_assert_eq(stat(m->dir, &st), 0);
	cr_assert_eq(e->n_inotify, 1);
	cr_assert_eq(e->inotify[0]->ino, st.st_ino);
	cr_assert(e->inotify[0]->mask & IN_CREATE);

	e = entry(&m->d, &m->t, "pidfd", FD_TYPE__FD_PIDFD);
	cr_assert_eq(e->pidfd_pid, m->t.pid);

	e = entry(&m->d, &m->t, "pts", FD_TYPE__FD_TTY);
	cr_assert_eq(sscanf(e->file->path, "/dev/pts/%d", &n), 1, "%s", e->file->path);
	cr_assert_eq(major(e->tty_rdev), 136 + n / 256);
	e = entry(&m->d, &m->t, "ptm", FD_TYPE__FD_TTY);
	cr_assert_eq(e->tty_index, n, "the master is the pair of /dev/pts/%d", n);
}

Test(files, every_kind_of_fd)
{
	struct mix m;

	mix_start(&m, NULL);
	cr_assert_eq(m.d.n, m.nr_proc_fds, "one entry per open fd");
	check_files_and_pipes(&m);
	check_unix(&m);
	check_inet(&m);
	check_misc(&m);
	mix_end(&m);
}

static void check_data_kept(bool seize)
{
	FdEntry *p, *f;
	struct mix m;

	mix_start_how(&m, NULL, seize);
	p = entry(&m.d, &m.t, "pipe_r", FD_TYPE__FD_PIPE);
	f = entry(&m.d, &m.t, "fifo_r", FD_TYPE__FD_FIFO);
	if (seize)
		cr_assert_eq(ptrace(PTRACE_DETACH, m.t.pid, 0, 0), 0);
	resume_and_drain(m.t.pid);
	expect_got(&m.t, "pipe", p->pipe->data.len, fnv(p->pipe->data.data, p->pipe->data.len));
	expect_got(&m.t, "fifo", f->pipe->data.len, fnv(f->pipe->data.data, f->pipe->data.len));
	expect_got(&m.t, "unix", 15, fnv("hello over unix", 15));
	expect_got(&m.t, "tcp", 9, fnv("tcp-bytes", 9));
	mix_end(&m);
}

Test(files, target_reads_all_its_data_after_dump)
{
	check_data_kept(false);
}

Test(files, same_under_ptrace_stop)
{
	check_data_kept(true);
}

Test(files, unsupported_fd_is_recorded_with_a_warning)
{
	char log[512], text[8192] = "", want[64];
	struct mix m;
	FILE *f;

	make_tmpdir(m.dir, sizeof(m.dir), "files");
	snprintf(log, sizeof(log), "%s/log", m.dir);
	cr_assert_eq(log_set_file(log), 0);
	target_start(&m.t, "files_mix", m.dir, NULL);
	stop_target(m.t.pid);
	dump_and_read(m.t.pid, m.dir, &m.d);
	f = fopen(log, "r");
	cr_assert_not_null(f);
	text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
	fclose(f);
	snprintf(want, sizeof(want), "fd %d (anon_inode:[io_uring])",
		 (int)target_ready_u64(&m.t, "uring"));
	cr_assert_not_null(strstr(text, want), "no warning naming the io_uring fd in: %s", text);
	cr_assert_not_null(strstr(text, "warning"), "%s", text);
	mix_end(&m);
}

static bool same_netns(pid_t pid)
{
	struct stat a, b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	cr_assert_eq(stat(path, &a), 0);
	cr_assert_eq(stat("/proc/self/ns/net", &b), 0);
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* sock_diag answers per netns: these sockets are invisible from ours. */
Test(files, sockets_in_another_netns)
{
	struct mix m;
	SocketInfo *s0, *s1, *l;

	mix_start(&m, "netns");
	cr_assert_not(same_netns(m.t.pid), "the target did not get a netns of its own");
	s0 = sock(&m.d, &m.t, "sv0");
	s1 = sock(&m.d, &m.t, "sv1");
	cr_assert_eq(s0->peer_ino, s1->ino);
	l = sock(&m.d, &m.t, "tlsn");
	cr_assert_eq(l->state, TCP_LISTEN);
	cr_assert_eq(l->local->port, target_ready_u64(&m.t, "port"));
	cr_assert_eq(sock(&m.d, &m.t, "tsrv")->rqueue, 9);
	cr_assert_eq(sock(&m.d, &m.t, "udp6")->local->port, target_ready_u64(&m.t, "u6port"));
	mix_end(&m);
}

/* The lowest fd of the pipe is its write end, so the bytes are peeked
 * through it; the pipe is full to the last of its 256 slots. */
Test(files, full_1mib_pipe_peeked_through_write_end)
{
	char dir[256];
	struct target t;
	struct dumped d;
	FdEntry *w, *r;

	make_tmpdir(dir, sizeof(dir), "files");
	target_start(&t, "files_pipe", "1048576", "1048576", NULL);
	stop_target(t.pid);
	dump_and_read(t.pid, dir, &d);
	w = d.by_fd[target_ready_u64(&t, "wfd")];
	r = d.by_fd[target_ready_u64(&t, "rfd")];
	cr_assert(w && r);
	cr_assert_eq(w->type, FD_TYPE__FD_PIPE);
	cr_assert_eq(w->pipe->pipe_size, 1048576);
	cr_assert_not(w->pipe->data_truncated);
	cr_assert_eq(w->pipe->data.len, target_ready_u64(&t, "len"));
	cr_assert_eq(fnv(w->pipe->data.data, w->pipe->data.len), target_ready_u64(&t, "hash"));
	cr_assert_not(r->pipe->has_data);
	resume_and_drain(t.pid);
	expect_got(&t, "pipe", target_ready_u64(&t, "len"), target_ready_u64(&t, "hash"));
	target_kill(&t);
	free_dumped(&d);
	rm_rf(dir);
}

Test(files, empty_pipe_has_no_data)
{
	char dir[256];
	struct target t;
	struct dumped d;
	FdEntry *w;

	make_tmpdir(dir, sizeof(dir), "files");
	target_start(&t, "files_pipe", "4096", "7", NULL);
	stop_target(t.pid);
	dump_and_read(t.pid, dir, &d);
	w = d.by_fd[target_ready_u64(&t, "wfd")];
	cr_assert_eq(w->type, FD_TYPE__FD_PIPE);
	cr_assert_eq(w->pipe->pipe_size, 4096);
	cr_assert_eq(w->pipe->data.len, 0);
	resume_and_drain(t.pid);
	expect_got(&t, "pipe", 0, fnv("", 0));
	target_kill(&t);
	free_dumped(&d);
	rm_rf(dir);
}

Test(files, no_such_process)
{
	char dir[256], name[64];
	pid_t pid = fork();
	int dfd;

	cr_assert_geq(pid, 0);
	if (!pid)
		_exit(0);
	waitpid(pid, NULL, 0);
	make_tmpdir(dir, sizeof(dir), "files");
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump(dfd, pid, NULL), -ESRCH);
	snprintf(name, sizeof(name), "files-%d.img", pid);
	cr_assert_neq(faccessat(dfd, name, F_OK, 0), 0, "no image for a missing process");
	close(dfd);
	rm_rf(dir);
}

/* A full disk mid-image: the dump fails, no partial image stays, and the
 * target's pipe is untouched. */
Test(files, disk_full_leaves_no_image)
{
	char dir[256], name[64];
	struct target t;
	int dfd;

	make_tmpdir(dir, sizeof(dir), "files");
	cr_assert_eq(mount("none", dir, "tmpfs", 0, "size=64k"), 0, "mount tmpfs: %m");
	target_start(&t, "files_pipe", "1048576", "524288", NULL);
	stop_target(t.pid);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump(dfd, t.pid, NULL), -ENOSPC);
	snprintf(name, sizeof(name), "files-%d.img", t.pid);
	cr_assert_neq(faccessat(dfd, name, F_OK, 0), 0, "partial image left behind");
	close(dfd);
	resume_and_drain(t.pid);
	expect_got(&t, "pipe", target_ready_u64(&t, "len"), target_ready_u64(&t, "hash"));
	target_kill(&t);
	umount2(dir, MNT_DETACH);
	rm_rf(dir);
}
