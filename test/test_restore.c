/* restore on real dumps: a target is dumped with `criu-lite dump --kill`
 * and restored, and the test checks what a user would: the restored
 * program goes on from where it was (its output continues, its threads
 * finish with the right sums, its vector registers, signals, fds, sockets
 * and shared memory are there), and a debugger can attach to a --stopped
 * replay and call into it. Refusals are in test_restore_refuse.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "images/image.h"
#include "test/restore_util.h"

TestSuite(restore, .fini = rt_kill_leftovers);

/* The counter target, run until it wrote 20 lines, then dumped with --kill
 * into c->img; rt_pidfile set to c->pidf for the restore. */
struct counter_dump {
	char dir[256], img[300], file[300], pidf[300];
	struct target t;
};

static void counter_dumped(struct counter_dump *c, const char *tag)
{
	make_tmpdir(c->dir, sizeof(c->dir), tag);
	snprintf(c->img, sizeof(c->img), "%s/img", c->dir);
	snprintf(c->file, sizeof(c->file), "%s/count.txt", c->dir);
	snprintf(c->pidf, sizeof(c->pidf), "%s/pid", c->dir);
	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s", c->pidf);
	rt_start(&c->t, target_path("restore_counter"), c->file, "slow", NULL);
	cr_assert_geq(rt_wait_lines(c->file, 20), 20);
	rt_dump_kill(&c->t, c->img);
}

Test(restore, counter_goes_on_from_the_dumped_value)
{
	char err[4096], comm[64];
	struct counter_dump c;
	long before, after;
	bool contiguous;
	pid_t pid;

	counter_dumped(&c, "rst-counter");
	before = rt_count_lines(c.file, &contiguous);
	cr_assert(contiguous);

	cr_assert_eq(run_criu_lite(err, sizeof(err), "restore", "-D", c.img, "-d", "--pidfile", c.pidf,
				   NULL), 0, "restore failed: %s", err);
	pid = rt_read_pidfile(c.pidf);
	cr_expect_eq(pid, c.t.pid, "the dumped pid %d was free, got %d", c.t.pid, pid);
	cr_assert(proc_status_field(pid, "Name", comm, sizeof(comm)));
	cr_expect_str_eq(comm, "restore_counter");
	after = rt_wait_lines(c.file, before + 50);
	rt_kill_wait(pid);
	after = rt_count_lines(c.file, &contiguous);
	cr_assert_geq(after, before + 50, "the restored counter did not go on (%ld -> %ld lines)",
		      before, after);
	cr_assert(contiguous, "the counter's file has a gap or a repeat after the restore");
	rm_rf(c.dir);
}

/* The SUM lines of the threads target's output, in order. */
static void sums_of(const char *out, char *sums, size_t len)
{
	const char *p = out;
	size_t n = 0;

	sums[0] = '\0';
	while ((p = strstr(p, "SUM "))) {
		size_t l = strcspn(p, "\n") + 1;

		if (n + l < len) {
			memcpy(sums + n, p, l);
			n += l;
			sums[n] = '\0';
		}
		p += l;
	}
}

/* Restore img in the foreground and collect what the tree prints. */
static int restore_collect(const char *dir, const char *img, char *got, size_t len, char *err,
			   size_t errlen)
{
	char line[256];
	struct rt_run r;

	got[0] = '\0';
	rt_restore_start(&r, dir, "-D", img, NULL);
	while (target_read_line(&r.out, line, sizeof(line), 30000)) {
		if (strlen(got) + strlen(line) + 2 < len) {
			strcat(got, line);
			strcat(got, "\n");
		}
		if (!strcmp(line, "DONE"))
			break;
	}
	return rt_restore_finish(&r, err, errlen);
}

/* Chunks of work per thread: about 2 s of CPU in all (1 s on two cores),
 * so that a dump taken 100 ms of CPU in still finds them all at work when
 * the dumper is slow to seize nine threads (ASan on a busy machine). */
#define THREADS_WORK "4000"

static void threads_expected(char *sums, size_t len)
{
	char out[4096];

	/* The reference: an undisturbed run of the same work. */
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' " THREADS_WORK,
				     target_path("restore_threads")), 0);
	sums_of(out, sums, len);
	cr_assert(strstr(sums, "SUM 7"), "reference run printed: %s", out);
}

Test(restore, eight_threads_finish_with_the_undisturbed_sums, .timeout = 60)
{
	char dir[256], img[300], expect[1024], got[4096], sums[1024], err[4096], want[64];
	struct target t;

	threads_expected(expect, sizeof(expect));
	make_tmpdir(dir, sizeof(dir), "rst-threads");
	snprintf(img, sizeof(img), "%s/img", dir);
	rt_start(&t, target_path("restore_threads"), THREADS_WORK, NULL);
	wait_cpu_ms(t.pid, 100);	/* well into the work */
	rt_dump_kill(&t, img);

	cr_assert_eq(restore_collect(dir, img, got, sizeof(got), err, sizeof(err)), 0,
		     "restore failed: %s", err);
	sums_of(got, sums, sizeof(sums));
	cr_assert_str_eq(sums, expect, "restored sums differ:\n%s\nexpected:\n%s", sums, expect);
	/* The dumped tids were free: the threads have them back. */
	snprintf(want, sizeof(want), "TID 0 %d\n", (int)target_ready_u64(&t, "tid0"));
	cr_expect(strstr(got, want), "thread 0 lost its tid: %s", got);
	snprintf(want, sizeof(want), "TID 7 %d\n", (int)target_ready_u64(&t, "tid7"));
	cr_expect(strstr(got, want), "thread 7 lost its tid: %s", got);
	rm_rf(dir);
}

Test(restore, copy_of_a_running_tree_gets_new_pids, .timeout = 60)
{
	char dir[256], img[300], expect[1024], got[4096], sums[1024], err[4096], pid[16], want[64];
	struct target t;

	threads_expected(expect, sizeof(expect));
	make_tmpdir(dir, sizeof(dir), "rst-copy");
	snprintf(img, sizeof(img), "%s/img", dir);
	rt_start(&t, target_path("restore_threads"), THREADS_WORK, NULL);
	wait_cpu_ms(t.pid, 100);
	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	/* Left stopped, so that it cannot finish and free its pids. */
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img,
				   "--leave-stopped", NULL), 0, "dump failed: %s", err);

	/* The original is still there, holding every dumped pid and tid. */
	cr_assert_eq(restore_collect(dir, img, got, sizeof(got), err, sizeof(err)), 0,
		     "restore failed: %s", err);
	cr_expect(strstr(err, pid) && strstr(err, "taken"), "new pid not said: %s", err);
	sums_of(got, sums, sizeof(sums));
	cr_assert_str_eq(sums, expect, "the copy's sums differ:\n%s\nexpected:\n%s", sums, expect);
	/* A thread that finished its work before the dump is not in it: its
	 * tid is free, and the copy prints the old value it stored. */
	for (int i = 0; i < 2; i++) {
		int tid = (int)target_ready_u64(&t, i ? "tid7" : "tid0");
		char task[64];

		snprintf(task, sizeof(task), "/proc/%d/task/%d", t.pid, tid);
		snprintf(want, sizeof(want), "TID %d %d\n", i ? 7 : 0, tid);
		if (access(task, F_OK) == 0)
			cr_expect(!strstr(got, want), "the copy reused a tid in use: %s", got);
	}
	target_kill(&t);
	rt_target = 0;
	rm_rf(dir);
}

Test(restore, vector_registers_keep_their_values)
{
	char dir[256], img[300], go[300], line[256], err[4096];
	struct target t;
	struct rt_run r;
	bool avx512;
	pid_t root;

	make_tmpdir(dir, sizeof(dir), "rst-avx");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("restore_avx"), go, NULL);
	avx512 = target_ready_u64(&t, "avx512");
	rt_dump_kill(&t, img);

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");	/* running again */
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), WAIT_MS), "no output from the restored target");
	cr_expect_str_eq(line, avx512 ? "AVX ok zmm=32 k=7" : "AVX ok ymm=16 k=0");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, parent_and_child_get_their_pipe_bytes)
{
	char dir[256], img[300], go[300], line[256], want[128], err[4096], path[64];
	struct target t;
	struct rt_run r;
	pid_t child, root, kid;

	make_tmpdir(dir, sizeof(dir), "rst-pipe");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("restore_pipe"), go, "5000", NULL);
	child = (pid_t)target_ready_u64(&t, "child");
	snprintf(want, sizeof(want), "GOT 5000 sum=%#lx", (unsigned long)target_ready_u64(&t, "sum"));
	rt_dump_kill(&t, img);
	wait_gone(child, "the dumped child");	/* reaped by init: its pid is free */

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");
	/* The tree's shape: the child is the root's, in the root's group. */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", root, root);
	cr_assert_eq(run_cmd(line, sizeof(line), "cat %s", path), 0);
	kid = atoi(line);
	cr_expect_gt(kid, 0, "the restored root has no child");
	cr_expect_eq(getpgid(root), root, "the root does not lead its group any more");
	cr_expect_eq(getpgid(kid), root, "the child left the root's group");
	cr_expect_eq(getsid(kid), getsid(root));
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), WAIT_MS), "no output from the restored child");
	cr_expect_str_eq(line, want);
	/* The root is the parent: it exits with the child's status. */
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, signal_state_survives)
{
	char dir[256], img[300], go[300], line[256], err[4096];
	struct target t;
	struct rt_run r;
	pid_t root;

	make_tmpdir(dir, sizeof(dir), "rst-sig");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("restore_signals"), go, NULL);	/* ticking */
	rt_dump_kill(&t, img);

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");	/* running again */
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), WAIT_MS), "no output");
	cr_expect_str_eq(line, "SIG pending=1 ticking=1 altstack=1 usr2=1 winch=1");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

/* Connect to a restored listener and send it one line. */
static bool send_line(const struct sockaddr *sa, socklen_t len, const char *line)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && !connect(fd, sa, len) &&
		  write(fd, line, strlen(line)) == (ssize_t)strlen(line);

	if (fd >= 0)
		close(fd);
	return ok;
}

Test(restore, socketpair_and_listening_sockets_work)
{
	char dir[256], img[300], go[300], sock[300], line[256], err[4096];
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct target t;
	struct rt_run r;
	pid_t child, root;

	make_tmpdir(dir, sizeof(dir), "rst-sock");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	snprintf(sock, sizeof(sock), "%s/s", dir);
	rt_start(&t, target_path("restore_sockets"), go, sock, NULL);
	in.sin_port = htons((uint16_t)target_ready_u64(&t, "port"));
	child = (pid_t)target_ready_u64(&t, "child");
	rt_dump_kill(&t, img);
	wait_gone(child, "the dumped child");

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");	/* listening now */
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert_lt(strlen(sock), sizeof(un.sun_path));
	memcpy(un.sun_path, sock, strlen(sock) + 1);
	cr_expect(send_line((struct sockaddr *)&in, sizeof(in), "tcp-hi\n"),
		  "cannot talk to the restored TCP listener: %s", strerror(errno));
	cr_expect(send_line((struct sockaddr *)&un, sizeof(un), "unix-hi\n"),
		  "cannot talk to the restored unix listener: %s", strerror(errno));
	cr_assert(target_read_line(&r.out, line, sizeof(line), WAIT_MS), "no output");
	cr_expect_str_eq(line, "SOCK pair=hello tcp=tcp-hi unix=unix-hi");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, eventfd_epoll_dir_fifo_and_files_come_back)
{
	char dir[256], img[300], go[300], line[256], err[4096];
	struct target t;
	struct rt_run r;
	pid_t root;

	make_tmpdir(dir, sizeof(dir), "rst-fds");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("restore_fds"), go, dir, NULL);
	rt_dump_kill(&t, img);

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");	/* running again */
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), WAIT_MS), "no output");
	cr_expect_str_eq(line, "FDS eventfd=5 epoll=0x1234 dir=1 fifo=fifo-data file=345 "
			 "cloexec=1 dup=1");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, shared_anonymous_memory_stays_shared)
{
	char dir[256], img[300], go[300], line[256], err[4096];
	struct target t;
	struct rt_run r;
	pid_t child, root;

	make_tmpdir(dir, sizeof(dir), "rst-shm");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("restore_shm"), go, NULL);
	child = (pid_t)target_ready_u64(&t, "child");
	rt_dump_kill(&t, img);
	wait_gone(child, "the dumped child");

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");	/* running again */
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), WAIT_MS), "no output");
	cr_expect_str_eq(line, "SHM child-wrote", "the restored parent and child do not share");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, non_root_credentials_come_back)
{
	char dir[256], img[300], go[300], line[256], err[4096], buf[128];
	struct target t;
	struct rt_run r;
	pid_t root;

	make_tmpdir(dir, sizeof(dir), "rst-creds");
	cr_assert_eq(chmod(dir, 0755), 0);	/* uid 1000 must see the go file */
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("restore_creds"), go, NULL);
	rt_dump_kill(&t, img);

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");
	cr_expect(proc_status_field(root, "CapEff", buf, sizeof(buf)) &&
		  !strcmp(buf, "0000000000000000"), "capabilities left: %s", buf);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), WAIT_MS), "no output");
	cr_expect_str_eq(line, "CREDS uid=1000/1000/1000 gid=1001/1002/1003 groups=100,200 n=2");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, private_file_mapping_comes_back)
{
	char dir[256], img[300], go[300], data[300], line[256], err[4096];
	struct target t;
	struct rt_run r;
	pid_t root;

	make_tmpdir(dir, sizeof(dir), "rst-map");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	cr_assert_eq(run_cmd(NULL, 0, "head -c 8192 /dev/zero | tr '\\0' F > '%s'", data), 0);
	rt_start(&t, target_path("restore_mapped"), data, go, NULL);
	rt_dump_kill(&t, img);

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");	/* running again */
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), WAIT_MS), "no output");
	cr_expect_str_eq(line, "MAP FFFFFFFFFFFF dirty");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(restore, stopped_replay_lets_gdb_call_a_function, .timeout = 60)
{
	char err[4096], out[8192], state[64];
	unsigned long counter = 0, value = 0;
	struct counter_dump c;
	long lines;
	bool contiguous;
	pid_t pid;
	char *p;

	counter_dumped(&c, "rst-stopped");
	lines = rt_count_lines(c.file, &contiguous);

	cr_assert_eq(run_criu_lite(err, sizeof(err), "restore", "-D", c.img, "--stopped", "-d",
				   "--pidfile", c.pidf, NULL), 0, "restore failed: %s", err);
	pid = rt_read_pidfile(c.pidf);
	cr_assert(proc_status_field(pid, "State", state, sizeof(state)));
	cr_expect_eq(state[0], 'T', "restored process is in state %s, not stopped", state);
	cr_assert(proc_status_field(pid, "TracerPid", state, sizeof(state)));
	cr_expect_str_eq(state, "0", "the stopped process is still traced");

	/* Attaching to any job-control-stopped process, gdb's own SIGSTOP
	 * stays queued and would interrupt the call: let gdb swallow it. */
	cr_assert_eq(run_cmd(out, sizeof(out), "gdb -nx -batch -p %d "
			     "-ex 'handle SIGSTOP nostop noprint nopass' -ex 'print counter' "
			     "-ex 'print compute_state()' 2>&1", pid), 0);
	p = strstr(out, "$1 = ");
	cr_assert_not_null(p, "gdb printed no counter:\n%s", out);
	counter = strtoul(p + 5, NULL, 10);
	p = strstr(out, "$2 = ");
	cr_assert_not_null(p, "gdb could not call compute_state():\n%s", out);
	value = strtoul(p + 5, NULL, 10);
	/* The dumped counter: the last number written, or the next one. */
	cr_expect(counter == (unsigned long)lines - 1 || counter == (unsigned long)lines,
		  "counter %lu, but the file ended at %ld", counter, lines - 1);
	cr_expect_eq(value, counter * 3 + 7);
	rt_kill_wait(pid);
	rm_rf(c.dir);
}

/* Turn dump `dir` into an incremental one on top of `dir`/../parent (a
 * copy of it): every stored page becomes PE_PARENT and the pages file is
 * emptied, so that every byte must come from the parent's images. */
static void make_incremental(const char *dir, pid_t pid)
{
	char old[400], name[64];
	void *head = NULL, *e;
	InventoryEntry *inv;
	struct img *in, *out;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY), n = 0;

	cr_assert_geq(dfd, 0);
	snprintf(name, sizeof(name), "pagemap-%d.img", pid);
	snprintf(old, sizeof(old), "%s/%s.old", dir, name);
	cr_assert_eq(renameat(dfd, name, AT_FDCWD, old), 0);
	in = img_open_path(old);
	cr_assert_not_null(in);
	cr_assert_eq(img_read(in, &pagemap_head__descriptor, &head), 1);
	out = img_create(dfd, IMG_PAGEMAP, pid);
	cr_assert_not_null(out);
	cr_assert_eq(img_write(out, head), 0);
	while (img_read(in, NULL, &e) == 1) {
		PagemapEntry *pe = e;

		if (pe->flags & PE_PRESENT) {
			pe->flags = PE_PARENT;
			pe->has_pages_off = false;
			n++;
		}
		cr_assert_eq(img_write(out, pe), 0);
		img_free(e);
	}
	cr_assert_gt(n, 0, "the dump stored no pages");
	cr_assert_eq(img_close(out), 0);
	img_close_read(in);
	img_free(head);
	unlink(old);
	snprintf(old, sizeof(old), "%s/pages-%d.img", dir, pid);
	cr_assert_eq(truncate(old, 0), 0);
	cr_assert_eq(img_read_one(dfd, IMG_INVENTORY, 0, true, (void **)&inv), 0);
	free(inv->parent_dir);
	inv->parent_dir = strdup("../parent");
	cr_assert_eq(img_write_inventory(dfd, inv), 0);
	img_free(inv);
	reseal_dump(dir);	/* an edited dump: its sums as it is now */
	close(dfd);
}

Test(restore, pages_from_a_parent_dump)
{
	char err[4096];
	struct counter_dump c;
	long before, after;
	bool contiguous;
	pid_t pid;

	counter_dumped(&c, "rst-parent");
	cr_assert_eq(run_cmd(NULL, 0, "cp -a '%s' '%s/parent'", c.img, c.dir), 0);
	make_incremental(c.img, c.t.pid);
	before = rt_count_lines(c.file, &contiguous);

	cr_assert_eq(run_criu_lite(err, sizeof(err), "restore", "-D", c.img, "-d", "--pidfile",
				   rt_pidfile, NULL), 0, "restore failed: %s", err);
	pid = rt_read_pidfile(rt_pidfile);
	rt_wait_lines(c.file, before + 20);
	rt_kill_wait(pid);
	after = rt_count_lines(c.file, &contiguous);
	cr_assert_geq(after, before + 20, "the restored counter did not go on");
	cr_assert(contiguous, "gap or repeat: the parent's pages were not restored right");
	rm_rf(c.dir);
}
