/* criu-lite replay -D DIR [--gdb [-- GDB-ARGS]]: restore --replay in the
 * foreground, then either gdb attached to the root or a wait for the user
 * to end it. criu-lite stays the parent of the replay's init, which dies
 * with it (PDEATHSIG): ending this command, however it ends, ends the
 * replay, with its namespaces, mounts and copies. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/procfs.h"
#include "criu-lite/commands.h"
#include "images/log.h"
#include "restore/restore.h"

struct replay_opts {
	const char *dir;
	bool gdb;
	char **gdb_args;	/* after "--" */
	int nr_gdb_args;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: criu-lite replay -D DIR [--gdb [-- GDB-ARGS...]] [restore options]\n"
		"\n"
		"Bring the tree dumped in DIR back beside the original, stopped and\n"
		"isolated (restore --replay: its own pid, network, IPC and mount\n"
		"namespaces; private copies of the files it could write), for a debugger.\n"
		"  --gdb    start gdb attached to its root (GDB-ARGS are gdb's own);\n"
		"           the replay ends when gdb does\n"
		"Without --gdb it waits, printing the pid for `gdb -p`, until ^C, SIGTERM,\n"
		"or the replay's end. Its pids are the dumped ones in its namespace and\n"
		"others outside: /proc/PID/status, NSpid, shows both.\n");
}

static void end_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/* Until ^C, SIGTERM or SIGHUP (blocked since before the pids were said),
 * or the replay's init is gone. */
static int wait_end(pid_t init)
{
	struct pollfd pfd[2] = { { .events = POLLIN }, { .events = POLLIN } };
	sigset_t set;
	int r;

	end_signals(&set);
	pfd[0].fd = signalfd(-1, &set, SFD_CLOEXEC);
	pfd[1].fd = (int)syscall(SYS_pidfd_open, init, 0);
	if (pfd[0].fd < 0 || pfd[1].fd < 0)
		return pr_perror("replay: cannot wait for its end"), 1;
	while ((r = poll(pfd, 2, -1)) < 0 && errno == EINTR)
		;
	/* Taken, so that it does not end us once unblocked. */
	if (r > 0 && pfd[0].revents & POLLIN) {
		struct signalfd_siginfo si;

		if (read(pfd[0].fd, &si, sizeof(si)) != sizeof(si))
			r = -1;
	}
	close(pfd[0].fd);
	close(pfd[1].fd);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	return 0;
}

static int run_gdb(const struct replay_opts *o, pid_t root)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, oldint, oldquit;
	char pid[16];
	int st = 0, n = 0;
	char **argv = calloc((size_t)o->nr_gdb_args + 8, sizeof(char *));
	pid_t g;

	if (!argv)
		return 1;
	snprintf(pid, sizeof(pid), "%d", root);
	argv[n++] = "gdb";
	argv[n++] = "-q";
	argv[n++] = "-p";
	argv[n++] = pid;
	/* gdb makes sure of a ptrace stop with a SIGSTOP of its own: once
	 * passed on, the first continue would stop the replay again. */
	argv[n++] = "-iex";
	argv[n++] = "handle SIGSTOP nostop noprint nopass";
	for (int i = 0; i < o->nr_gdb_args; i++)
		argv[n++] = o->gdb_args[i];
	/* ^C is gdb's, to interrupt the replay. */
	sigaction(SIGINT, &ign, &oldint);
	sigaction(SIGQUIT, &ign, &oldquit);
	g = fork();
	if (g == 0) {
		sigaction(SIGINT, &oldint, NULL);
		sigaction(SIGQUIT, &oldquit, NULL);
		execvp("gdb", argv);
		fprintf(stderr, "criu-lite replay: cannot run gdb: %s\n", strerror(errno));
		_exit(127);
	}
	free(argv);
	if (g < 0)
		return pr_perror("replay: cannot fork gdb"), 1;
	while (waitpid(g, &st, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &oldint, NULL);
	sigaction(SIGQUIT, &oldquit, NULL);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int attachable(pid_t root, void *arg)
{
	const struct replay_opts *o = arg;
	pid_t init = procfs_ppid(root);
	sigset_t set;

	/* Whoever reads the pids below may end us at once: wait_end's. */
	end_signals(&set);
	if (!o->gdb)
		sigprocmask(SIG_BLOCK, &set, NULL);

	fprintf(stderr, "criu-lite replay: %s is stopped: root pid %d (%d in the replay), "
		"init %d; gdb -p %d\n", o->dir, root, procfs_ns_pid(root, 0), init, root);
	if (o->gdb)
		return run_gdb(o, root);
	return wait_end(init);
}

int cmd_replay(int argc, char **argv)
{
	struct replay_opts o = { 0 };
	char **rargv = calloc((size_t)argc + 2, sizeof(char *));
	int n = 0, r;

	if (!rargv)
		return 1;
	rargv[n++] = "restore";
	rargv[n++] = "--replay";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--gdb")) {
			o.gdb = true;
		} else if (!strcmp(argv[i], "--")) {
			o.gdb_args = argv + i + 1;
			o.nr_gdb_args = argc - i - 1;
			break;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			free(rargv);
			return 0;
		} else if (!strcmp(argv[i], "-d") || !strcmp(argv[i], "--restore-detached")) {
			fprintf(stderr, "criu-lite replay: no -d: the replay lives as long as this "
				"command (restore --replay -d leaves one behind)\n");
			free(rargv);
			return 2;
		} else {
			if ((!strcmp(argv[i], "-D") || !strcmp(argv[i], "--images-dir")) &&
			    i + 1 < argc)
				o.dir = argv[i + 1];
			rargv[n++] = argv[i];
		}
	}
	if (o.nr_gdb_args && !o.gdb) {
		fprintf(stderr, "criu-lite replay: arguments after -- are gdb's (--gdb)\n");
		free(rargv);
		return 2;
	}
	if (!o.dir)
		o.dir = "the dump";
	r = restore_replay(n, rargv, attachable, &o);
	free(rargv);
	return r;
}
