/* A process's TCP connections read ahead on two threads (above a few of
 * them) must dump exactly what the walk reads one by one: the echo server
 * with 520 idle clients and one whose echoes pile up unread (in the
 * server's send queue), dumped twice without a
 * kill, once each way, gives the same entries (but for the clock of
 * TCP_TIMESTAMP and the lock's name, which name the moment), signal owners
 * included. The read ahead batches its calls on io_uring; without one
 * (CRIU_LITE_NO_IO_URING: io_uring disabled, an old kernel) it makes them
 * one by one, and must read the same. On two threads the sock_diag tables
 * and the connections are read beside the memory dump (criu-lite/files/
 * files_ahead.c): what that thread logs must still land where the walk
 * would have logged it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "images/image.h"
#include "test/restore_util.h"
#include "test/sk_util.h"

TestSuite(tcp_read_ahead, .fini = rt_kill_leftovers);

/* over the 512 fds from which their links are read on two threads too */
#define CLIENTS 520

static void echoed(int c)
{
	char buf[8];

	cr_assert_eq(write(c, "hello\n", 6), 6);
	cr_assert(sk_readable(c, WAIT_MS), "no echo");
	cr_assert_eq(read(c, buf, sizeof(buf)), 6);
}

/* More than our receive window takes (the least buffer there is), in
 * echoes the server's send buffer takes whole without blocking: a blocked
 * write would come back short when the dump interrupts it, and the server
 * closes a connection on a short write. Done when the echoes reached us and
 * the server is back waiting. */
static void pile_up(int c, pid_t server)
{
	static char buf[6000];
	int inq = 0, before;

	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(write(c, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	do {
		before = inq;
		wait_in_syscall(server, server, SYS_poll);
		cr_assert_eq(ioctl(c, FIONREAD, &inq), 0);
	} while (!inq || inq != before);
}

/* files-PID.img of a plain dump with CRIU_LITE_TCP_PREFETCH=how (0: all on
 * one thread, CRIU_LITE_THREADS=1); the log says whether the connections
 * were read ahead. ring_ahead false: the read ahead without io_uring. */
static bool ring_ahead = true;

/* The lines of the dump's log that say where the tables were read, in
 * order: "p" the process's dump begins, "t" the tables were read, "b"
 * beside the memory dump, "r" the connections read ahead. */
static void order_of(const char *line, char *order, size_t len)
{
	static const struct { const char *text; char tag; } marks[] = {
		{ "dumping process", 'p' }, { "sock_diag:", 't' },
		{ "socket tables read on a second thread", 'b' },
		{ "TCP connections read ahead", 'r' },
	};
	size_t at = strlen(order);

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strstr(line, marks[i].text) && at + 1 < len) {
			order[at++] = marks[i].tag;
			order[at] = '\0';
		}
}

static FdEntry **dump_files(const char *dir, const char *tag, pid_t pid, const char *how,
			    size_t *n, bool *ahead)
{
	char img[300], log[320], pids[16], err[4096], line[512], order[16] = "";
	FdEntry **e = NULL;
	int dirfd;
	FILE *f;

	snprintf(img, sizeof(img), "%s/%s", dir, tag);
	snprintf(log, sizeof(log), "%s/%s.log", dir, tag);
	snprintf(pids, sizeof(pids), "%d", pid);
	cr_assert_eq(mkdir(img, 0700), 0);
	setenv("CRIU_LITE_TCP_PREFETCH", how, 1);
	/* the reference all on one thread, the other on two whatever the load */
	setenv("CRIU_LITE_THREADS", strcmp(how, "0") ? "2" : "1", 1);
	if (!ring_ahead && strcmp(how, "0"))
		setenv("CRIU_LITE_NO_IO_URING", "1", 1);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pids, "-D", img, "-v4", "-o",
				   log, NULL), 0, "dump: %s", err);
	unsetenv("CRIU_LITE_TCP_PREFETCH");
	unsetenv("CRIU_LITE_THREADS");
	unsetenv("CRIU_LITE_NO_IO_URING");
	*ahead = false;
	cr_assert(f = fopen(log, "re"));
	while (fgets(line, sizeof(line), f)) {
		/* (beside the memory dump: on one thread, or two once the
		 * main thread is done with the memory and takes its part) */
		*ahead |= strstr(line, "TCP connections read ahead on ") != NULL;
		order_of(line, order, sizeof(order));
	}
	fclose(f);
	/* one thread: the walk reads the tables itself at its first socket;
	 * two: the tables' thread reads the connections too, and its lines
	 * come before the one the join adds */
	cr_expect_str_eq(order, strcmp(how, "0") ? "ptrb" : "pt", "%s: the log says %s", tag,
			 order);
	dirfd = open(img, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dirfd, 0);
	cr_assert_eq(img_read_all(dirfd, IMG_FILES, pid, true, NULL, (void ***)&e, n), 0);
	close(dirfd);
	return e;
}

/* The entry packed, without what names the moment of the dump. */
static size_t packed(FdEntry *e, uint8_t **out)
{
	if (e->sock && e->sock->tcp) {
		e->sock->tcp->timestamp = 0;
		free(e->sock->tcp->lock);
		e->sock->tcp->lock = NULL;
	}
	*out = malloc(fd_entry__get_packed_size(e) + 1);
	cr_assert(*out);
	return fd_entry__pack(e, *out);
}

/* Both dumps of attempt n; -1 when they are the same, else the first fd
 * that differs (diff: the difference, as show prints it). Connections and
 * those with data to send counted into *conns, *queued. */
static int compare(const char *dir, pid_t pid, int n, char *diff, size_t len, size_t *conns,
		   size_t *queued, size_t *owned)
{
	char walk[32], ahead[32], bin[PATH_MAX];
	size_t n1, n2;
	bool ahead1, ahead2;
	FdEntry **one, **two;
	int bad = -1;

	snprintf(walk, sizeof(walk), "walk%d", n);
	snprintf(ahead, sizeof(ahead), "ahead%d", n);
	one = dump_files(dir, walk, pid, "0", &n1, &ahead1);
	two = dump_files(dir, ahead, pid, "1", &n2, &ahead2);
	cr_expect_not(ahead1, "CRIU_LITE_TCP_PREFETCH=0 read ahead");
	cr_expect(ahead2, "the connections were not read ahead");
	cr_assert_eq(n1, n2, "%zu fds, then %zu", n1, n2);
	*conns = *queued = *owned = 0;
	for (size_t i = 0; i < n1; i++) {
		uint8_t *a, *b;
		size_t la, lb;

		if (one[i]->sock && one[i]->sock->tcp) {
			(*conns)++;
			*queued += one[i]->sock->tcp->has_outq;
			*owned += two[i]->owner && two[i]->owner->has_self && two[i]->owner->self;
		}
		la = packed(one[i], &a);
		lb = packed(two[i], &b);
		if (bad < 0 && (la != lb || memcmp(a, b, la)))
			bad = (int)one[i]->fd;
		free(a);
		free(b);
	}
	img_free_all((void **)one, n1);
	img_free_all((void **)two, n2);
	if (bad >= 0) {
		cr_assert(realpath(criu_lite_path(), bin));
		run_cmd(diff, len, "cd %s && for d in %s %s; do %s show $d/files-%d.img | "
			"grep -vE '\"(timestamp|lock)\"' > $d.json; done; diff %s.json %s.json",
			dir, walk, ahead, bin, pid, walk, ahead);
	}
	return bad;
}

static void reads_what_the_walk_reads(bool ring)
{
	char dir[256], diff[4096] = "";
	struct target t;
	size_t conns, queued, owned, as_were;
	int c[CLIENTS + 1], port, bad;

	ring_ahead = ring;
	make_tmpdir(dir, sizeof(dir), "sk-ahead");
	/* "o": options on the connections, read by BPF ahead */
	port = sk_echo_start(&t, "4o");
	for (int i = 0; i < CLIENTS; i++) {
		c[i] = sk_client(port);
		echoed(c[i]);
	}
	c[CLIENTS] = sk_client_with(port, 0, 1);
	pile_up(c[CLIENTS], t.pid);
	/* A zero-window probe between the two dumps may let some bytes of
	 * the piled-up connection through (sock_diag's wqueue moves): such a
	 * pair is taken again. What the read ahead got wrong differs in every
	 * pair. */
	for (int n = 0; n < 3; n++)
		if ((bad = compare(dir, t.pid, n, diff, sizeof(diff), &conns, &queued, &owned)) < 0)
			break;
	cr_expect_eq(bad, -1, "fd %d differs read ahead:\n%s", bad, diff);
	cr_expect_eq(conns, CLIENTS + 1, "%zu connections dumped", conns);
	cr_expect_eq(queued, 1, "%zu connections with data queued to send", queued);
	/* sk_echo makes itself the signal owner of every 7th connection */
	cr_expect_geq(owned, CLIENTS / 7 - 2, "%zu connections read ahead with their owner", owned);
	sk_conns_as_left(t.pid, &conns, &as_were);
	cr_expect_eq(conns, CLIENTS + 1, "the server holds %zu connections", conns);
	cr_expect_eq(as_were, conns, "%zu of %zu connections left in repair mode or without "
		     "SO_REUSEADDR", conns - as_were, conns);
	for (int i = 0; i <= CLIENTS; i++)
		close(c[i]);
	target_kill(&t);
	rm_rf(dir);
}

Test(tcp_read_ahead, reads_what_the_walk_reads, .timeout = 90)
{
	reads_what_the_walk_reads(true);
}

Test(tcp_read_ahead, reads_what_the_walk_reads_without_io_uring, .timeout = 90)
{
	reads_what_the_walk_reads(false);
}

/* A process with many fds has its socket tables read from the start of its
 * dump, before its fds say whether any is a socket: for one without any
 * socket (300 of /dev/null) the dump must be as before, with nothing said
 * of tables no socket needed. */
Test(tcp_read_ahead, many_fds_but_no_socket, .timeout = 60)
{
	char dir[256], img[300], log[320], pids[16], err[4096], line[512];
	struct target t;
	FdEntry **e = NULL;
	size_t n = 0, nulls = 0;
	int dirfd;
	FILE *f;

	make_tmpdir(dir, sizeof(dir), "sk-many-fds");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	cr_assert_eq(mkdir(img, 0700), 0);
	target_start(&t, "files_many", "300", NULL);
	snprintf(pids, sizeof(pids), "%d", t.pid);
	setenv("CRIU_LITE_THREADS", "2", 1);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pids, "-D", img, "-v4", "-o",
				   log, NULL), 0, "dump: %s", err);
	unsetenv("CRIU_LITE_THREADS");
	cr_assert(f = fopen(log, "re"));
	while (fgets(line, sizeof(line), f))
		cr_expect(!strstr(line, "sock_diag") && !strstr(line, "socket tables"),
			  "the log speaks of socket tables: %s", line);
	fclose(f);
	cr_assert_geq(dirfd = open(img, O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0);
	cr_assert_eq(img_read_all(dirfd, IMG_FILES, t.pid, true, NULL, (void ***)&e, &n), 0);
	close(dirfd);
	for (size_t i = 0; i < n; i++) {
		cr_expect_null(e[i]->sock, "fd %u dumped as a socket", e[i]->fd);
		nulls += e[i]->link && !strcmp(e[i]->link, "/dev/null");
	}
	cr_expect_geq(nulls, 300, "%zu fds of /dev/null dumped", nulls);
	img_free_all((void **)e, n);
	target_kill(&t);
	rm_rf(dir);
}
