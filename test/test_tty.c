/* Terminals through a real dump --kill and restore: a pty pair the program
 * holds both ends of comes back with its termios, window size, packet
 * mode, lock and exclusive state and the bytes queued each way, and passes
 * bytes both ways; a session keeps its pty as controlling terminal and its
 * foreground group (^C reaches the job); a program on a terminal outside
 * the tree (the user's) needs --shell-job, which gives it the terminal
 * restore runs on, and is refused without it before anything is killed. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/restore_util.h"

TestSuite(tty, .fini = rt_kill_leftovers);

static void touch(const char *path)
{
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", path), 0);
}

static void tmp_paths(const char *tag, char *dir, char *img, char *go)
{
	make_tmpdir(dir, 256, tag);
	snprintf(img, 300, "%s/img", dir);
	snprintf(go, 300, "%s/go", dir);
}

/* The line the undumped target prints after the go. */
static void original_line(const char *name, const char *go, char *line, size_t len)
{
	struct target t;

	rt_start(&t, target_path(name), go, NULL);
	touch(go);
	cr_assert(target_read_line(&t, line, len, 30000), "no output from the original");
	rt_reap(&t);
	unlink(go);
}

Test(tty, pty_pair_comes_back_with_its_state_and_queued_bytes)
{
	char dir[256], img[300], go[300], err[4096], orig[512], line[512];
	struct target t;
	struct rt_run r;
	pid_t pid;

	tmp_paths("tty-pair", dir, img, go);
	original_line("tty_pair", go, orig, sizeof(orig));
	cr_expect_str_eq(orig, "PTY termios=1 winsize=33x111+640x480 pkt=1 locka=0 lockb=1 excl=1 "
			 "out=to-master in=to-slave ping=ping pong=pong index=same");

	/* The same /dev/pts/N comes back when it is free; the suite runs two
	 * tests at a time, and another one's terminal may take N between the
	 * kill and the restore: then the whole round again (twice in a row
	 * does not happen by chance). */
	for (int round = 0; round < 3; round++) {
		rt_start(&t, target_path("tty_pair"), go, NULL);
		rt_dump_kill(&t, img);
		rt_restore_start(&r, dir, "-D", img, NULL);
		cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
		touch(go);
		cr_assert(target_read_line(&r.out, line, sizeof(line), 30000), "no output");
		cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
		if (strstr(line, " index=same"))
			break;
		rm_rf(img);
		unlink(go);
		unlink(rt_pidfile);
	}
	cr_expect_str_eq(line, orig);
	rm_rf(dir);
}

Test(tty, session_keeps_its_controlling_terminal_and_foreground_group)
{
	char dir[256], img[300], go[300], err[4096], s_line[256], j_line[256];
	struct target t;
	struct rt_run r;
	pid_t pid;

	tmp_paths("tty-session", dir, img, go);
	rt_start(&t, target_path("tty_session"), go, NULL);
	rt_dump_kill(&t, img);
	/* S and J remember their pids: let the killed ones go first */
	for (int i = 0; i < 3000 && rt_count_comm("tty_session"); i++)
		usleep(10000);
	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
	touch(go);
	cr_assert(target_read_line(&r.out, s_line, sizeof(s_line), 30000), "no line from S");
	cr_expect_str_eq(s_line, "S leader=1 ctty=1 fg=1");
	cr_assert(target_read_line(&r.out, j_line, sizeof(j_line), 30000),
		  "^C on the terminal did not reach the foreground job");
	cr_expect_str_eq(j_line, "J sigint pgid=1 sid=1");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

/* A pseudo-terminal: *master is ours, *slave the path to give a process. */
static void open_pty(int *master, char *slave, size_t len)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert_geq(*master, 0);
	cr_assert_eq(grantpt(*master), 0);
	cr_assert_eq(unlockpt(*master), 0);
	cr_assert_eq(ptsname_r(*master, slave, len), 0);
}

/* Run argv with stdin/stdout/stderr on the terminal `slave`. */
static pid_t spawn_on_tty(const char *slave, const char *const *argv)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(slave, O_RDWR | O_NOCTTY);

		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		setpgid(0, 0);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	return pid;
}

static bool tty_line(int master, char *buf, size_t len)
{
	struct target m = { .out_fd = master };

	do {
		if (!target_read_line(&m, buf, len, WAIT_MS))
			return false;
		buf[strcspn(buf, "\r")] = '\0';	/* the terminal's ONLCR */
	} while (!buf[0]);
	return true;
}

/* restore_mapped on a terminal of the test's (outside the tree), READY. */
static void start_on_terminal(struct target *t, int *master, const char *dir, const char *go)
{
	static char data[300];
	char slave[64], line[256];
	const char *argv[4];

	snprintf(data, sizeof(data), "%s/data", dir);
	cr_assert_eq(run_cmd(NULL, 0, "head -c 8192 /dev/zero | tr '\\0' T > '%s'", data), 0);
	open_pty(master, slave, sizeof(slave));
	argv[0] = target_path("restore_mapped");
	argv[1] = data;
	argv[2] = go;
	argv[3] = NULL;
	memset(t, 0, sizeof(*t));
	t->pid = rt_target = spawn_on_tty(slave, argv);
	t->out_fd = -1;
	do
		cr_assert(tty_line(*master, line, sizeof(line)), "the target did not get ready");
	while (strncmp(line, "READY", 5));
}

Test(tty, terminal_outside_the_tree_is_refused_without_shell_job)
{
	char dir[256], img[300], go[300], err[4096], pid[16];
	struct target t;
	int ma, r;

	tmp_paths("tty-refuse", dir, img, go);
	start_on_terminal(&t, &ma, dir, go);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	cr_assert_eq(mkdir(img, 0700), 0);
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--kill", NULL);
	cr_expect_neq(r, 0, "dump --kill took a tree on the user's terminal without -j");
	cr_expect_not_null(strstr(err, "fd 0: restore could not bring it back: terminal /dev/pts/"),
			   "%s", err);
	cr_expect_not_null(strstr(err, "--shell-job"), "%s", err);
	cr_expect(proc_untraced_running(t.pid), "the refused tree does not run on as it was");

	/* a plain dump warns; restore refuses it in one line */
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, NULL);
	cr_assert_eq(r, 0, "dump: %s", err);
	cr_expect_not_null(strstr(err, "restore will refuse it"), "%s", err);
	kill(t.pid, SIGKILL);
	waitpid(t.pid, NULL, 0);
	rt_target = 0;
	r = run_criu_lite(err, sizeof(err), "restore", "-D", img, NULL);
	cr_expect_neq(r, 0);
	cr_expect_not_null(strstr(err, "--shell-job"), "%s", err);
	close(ma);
	rm_rf(dir);
}

Test(tty, shell_job_stdio_becomes_the_restoring_terminal)
{
	char dir[256], img[300], go[300], tty_b[64], line[256], pid[16], err[4096];
	int ma, mb, st;
	struct target t;

	tmp_paths("tty-shell", dir, img, go);
	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/pid", dir);
	start_on_terminal(&t, &ma, dir, go);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	cr_assert_eq(mkdir(img, 0700), 0);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--kill", "-j",
				   NULL), 0, "dump --kill -j: %s", err);
	waitpid(t.pid, NULL, 0);
	rt_target = 0;
	close(ma);

	/* Restored from another terminal: the program's stdio is that one. */
	open_pty(&mb, tty_b, sizeof(tty_b));
	{
		const char *rargv[] = { criu_lite_path(), "restore", "-D", img, "-j", "--pidfile",
					rt_pidfile, NULL };

		rt_criu = spawn_on_tty(tty_b, rargv);
	}
	{
		pid_t root;

		cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");
	}
	touch(go);
	cr_assert(tty_line(mb, line, sizeof(line)), "nothing on the restoring terminal");
	cr_expect_str_eq(line, "MAP TTTTTTTTTTTT dirty");
	cr_assert_eq(waitpid(rt_criu, &st, 0), rt_criu);
	rt_criu = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "restore exit status %#x", st);
	close(mb);
	rm_rf(dir);
}
