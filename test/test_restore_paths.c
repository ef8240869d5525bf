/* Paths named in images are opened as the restored process, never as root
 * (issue 15). A process that ran as root opened a root-only file (0600), or
 * mapped one, or bound a unix socket in a root-only directory (0700); its
 * dump, handed to a user (chown), is restored as that user (trust.c): each
 * of those paths is refused with one line and no process is made. The same
 * dump left root's restores with the file open; a dump naming files the
 * user may read restores as the user with them. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/restore_util.h"

struct px {
	char dir[240], img[300], exe[300], secret[300], public[300], priv[300], sock[330];
	char pidfile[280];
	const char *comm;
};

TestSuite(restore_paths, .fini = rt_fini, .timeout = 120);

static void write_file(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(write(fd, "root only\n", 10), 10);
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
}

/* A world-searchable directory with a root-only file, a public one, and a
 * root-only directory. */
static void px_prepare(struct px *x)
{
	make_tmpdir(x->dir, sizeof(x->dir), "rpaths");
	snprintf(rt_dir, sizeof(rt_dir), "%s", x->dir);
	cr_assert_eq(chmod(x->dir, 0755), 0);
	snprintf(x->secret, sizeof(x->secret), "%s/secret", x->dir);
	snprintf(x->public, sizeof(x->public), "%s/public", x->dir);
	snprintf(x->priv, sizeof(x->priv), "%s/priv", x->dir);
	snprintf(x->sock, sizeof(x->sock), "%s/sock", x->priv);
	snprintf(x->img, sizeof(x->img), "%s/img", x->dir);
	snprintf(x->pidfile, sizeof(x->pidfile), "%s/pid", x->dir);
	write_file(x->secret, 0600);
	write_file(x->public, 0644);
	cr_assert_eq(mkdir(x->priv, 0700), 0);
	rt_copy_target("restore_paths", x->dir, x->exe, sizeof(x->exe));
	x->comm = rt_base(x->exe);
}

/* The target, run as root on those paths ("-": none), dumped (--kill). */
static void px_dump(struct px *x, const char *open, const char *map, const char *sock)
{
	struct target t;

	rt_start(&t, x->exe, open, map, sock, NULL);
	rt_dump_kill(&t, x->img);
	rt_target = 0;
}

static void give_to_user(struct px *x)
{
	cr_assert_eq(run_cmd(NULL, 0, "chown -R 65534:65534 '%s'", x->img), 0);
}

static int restore(struct px *x, char *err, size_t len)
{
	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s", x->pidfile);
	return run_criu_lite(err, len, "restore", "-D", x->img, "-d", "--pidfile", x->pidfile,
			     NULL);
}

static void expect_refused(struct px *x, const char *path)
{
	char err[8192];

	give_to_user(x);
	cr_assert_neq(restore(x, err, sizeof(err)), 0, "restored as the user naming %s", path);
	cr_expect_eq(rt_error_lines(err), 1, "not one line: %s", err);
	cr_expect(strstr(err, path) && strstr(err, "Permission denied"), "%s", err);
	cr_expect_eq(rt_count_comm(x->comm), 0, "a process was made: %s", err);
}

/* The restored root's fd 5 leads to path. */
static void expect_fd5(pid_t pid, const char *path)
{
	char link[64], to[512];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/fd/5", pid);
	n = readlink(link, to, sizeof(to) - 1);
	cr_assert_gt(n, 0, "no fd 5 in the restored process");
	to[n] = '\0';
	cr_expect_str_eq(to, path);
}

Test(restore_paths, an_fd_on_a_root_only_file_is_refused_for_a_user_dump)
{
	char err[8192];
	struct px x;
	pid_t pid;

	px_prepare(&x);
	px_dump(&x, x.secret, "-", "-");
	/* Root's own dump: trusted, the file comes back open. */
	cr_assert_eq(restore(&x, err, sizeof(err)), 0, "%s", err);
	pid = rt_read_pidfile(x.pidfile);
	expect_fd5(pid, x.secret);
	rt_kill_wait(pid);
	expect_refused(&x, x.secret);
}

Test(restore_paths, a_mapped_root_only_file_is_refused_for_a_user_dump)
{
	struct px x;

	px_prepare(&x);
	px_dump(&x, "-", x.secret, "-");
	expect_refused(&x, x.secret);
}

Test(restore_paths, a_socket_in_a_root_only_directory_is_refused_for_a_user_dump)
{
	struct px x;

	px_prepare(&x);
	px_dump(&x, "-", "-", x.sock);
	expect_refused(&x, x.sock);
}

/* The refusals are about whose the paths are: what the user may open comes
 * back, in a process that is the user's. */
Test(restore_paths, a_user_dump_naming_public_files_restores_as_the_user)
{
	char err[8192], uid[128];
	struct px x;
	pid_t pid;

	px_prepare(&x);
	px_dump(&x, x.public, x.public, "-");
	give_to_user(&x);
	cr_assert_eq(restore(&x, err, sizeof(err)), 0, "%s", err);
	pid = rt_read_pidfile(x.pidfile);
	expect_fd5(pid, x.public);
	cr_assert(proc_status_field(pid, "Uid", uid, sizeof(uid)));
	rt_kill_wait(pid);
	cr_expect_str_eq(uid, "65534\t65534\t65534\t65534");
}
