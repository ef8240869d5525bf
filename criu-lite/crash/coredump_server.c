/* criu-lite coredump-server: the kernel's coredump socket ("@@PATH",
 * Linux 6.17+). It listens on PATH, optionally installs itself in
 * core_pattern (and puts the previous pattern back when it stops, if the
 * pattern is still ours; a watcher does it if the server is killed:
 * coredump_pattern.c), and serves each crash in a child of its own with
 * a hard time limit, so that a slow or stuck crash never blocks the others
 * and a bug in one crash's handling cannot take the server down. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "common/cli.h"
#include "common/fault.h"
#include "criu-lite/commands.h"
#include "criu-lite/crash/coredump_server.h"
#include "criu-lite/crash/crash.h"
#include "common/procfs.h"
#include "images/log.h"

#define DEFAULT_SOCKET	"/run/criu-lite/coredump.socket"
#define MAX_CHILDREN	64

struct child {
	pid_t pid;
	long started_ms;
};

struct server {
	struct coredump_server_opts o;
	int lfd, sfd;
	char old_pattern[COREDUMP_PATTERN_MAX + 1];
	char our_pattern[COREDUMP_PATTERN_MAX + 1];
	bool installed;
	struct child kids[MAX_CHILDREN];
	int nr_kids;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: criu-lite coredump-server --store DIR [--socket PATH] [--install]\n"
		"           [--max-size SIZE] [--max-count N] [--timeout SEC] [--max-conns N]\n"
		"           [--only-pid PID] [-v[N]] [-o LOGFILE]\n"
		"\n"
		"Take crashes from the kernel's coredump socket (core_pattern \"@@PATH\",\n"
		"Linux 6.17+): for each, record from /proc what the core lacks (fds with\n"
		"offsets, maps with file identities, cmdline, environ, cwd, cgroup, limits,\n"
		"status) while the kernel holds the process, and store the ELF core\n"
		"sparsely. List them with `criu-lite crashes`.\n"
		"\n"
		"  -S, --store DIR      where crashes are kept (default %s)\n"
		"      --socket PATH    absolute socket path (default %s)\n"
		"      --install        set core_pattern to @@PATH; the previous pattern is\n"
		"                       put back on exit (SIGINT/SIGTERM/SIGHUP too)\n"
		"      --max-size SIZE  keep the store under SIZE bytes (K/M/G), oldest out\n"
		"      --max-count N    keep at most N crashes, oldest out\n"
		"      --timeout SEC    hard limit for one crash (default 120)\n"
		"      --max-conns N    crashes served at once (default 4)\n"
		"      --only-pid PID   reject every crash but PID's\n",
		CRASH_STORE_DEFAULT, DEFAULT_SOCKET);
}

static int parse(int argc, char **argv, struct coredump_server_opts *o)
{
	enum { OPT_SOCKET = 256, OPT_INSTALL, OPT_MAXSIZE, OPT_MAXCOUNT, OPT_TIMEOUT, OPT_CONNS,
	       OPT_ONLY };
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 'S' },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "install", no_argument, NULL, OPT_INSTALL },
		{ "max-size", required_argument, NULL, OPT_MAXSIZE },
		{ "max-count", required_argument, NULL, OPT_MAXCOUNT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "max-conns", required_argument, NULL, OPT_CONNS },
		{ "only-pid", required_argument, NULL, OPT_ONLY },
		{ "verbose", optional_argument, NULL, 'v' },
		{ "log-file", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "S:v::o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': o->store = optarg; break;
		case OPT_SOCKET: o->socket = optarg; break;
		case OPT_INSTALL: o->install = true; break;
		case OPT_MAXSIZE:
			if (crash_parse_size(optarg, &o->max_size)) {
				fprintf(stderr, "criu-lite coredump-server: bad --max-size %s\n", optarg);
				return 2;
			}
			break;
		case OPT_MAXCOUNT: o->max_count = strtoull(optarg, NULL, 10); break;
		case OPT_TIMEOUT: o->timeout_s = atoi(optarg); break;
		case OPT_CONNS: o->max_conns = atoi(optarg); break;
		case OPT_ONLY: o->only_pid = atoi(optarg); break;
		case 'v': case 'o':
			if (cli_log_opt(c, optarg, LOG_DEBUG))
				return 2;
			break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "criu-lite coredump-server: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (o->timeout_s <= 0 || o->max_conns <= 0 || o->max_conns > MAX_CHILDREN) {
		fprintf(stderr, "criu-lite coredump-server: --timeout and --max-conns (1-%d) must be "
			"positive\n", MAX_CHILDREN);
		return 2;
	}
	return 0;
}

/* The kernel resolves PATH itself, as root, in the initial namespaces:
 * only an absolute path without '..' and without symlinks means the same
 * thing to it and to us, and cannot be redirected by whoever owns a
 * directory on the way. Missing directories are created. */
static int check_socket_path(const char *path)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *p;

	if (path[0] != '/') {
		pr_err("socket path '%s' is relative: the kernel needs an absolute path", path);
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(buf) || strlen(path) + 2 > COREDUMP_PATTERN_MAX - 1) {
		pr_err("socket path '%s' is too long (at most %zu bytes)", path,
		       sizeof(buf) - 1 < COREDUMP_PATTERN_MAX - 3 ? sizeof(buf) - 1 : (size_t)COREDUMP_PATTERN_MAX - 3);
		return -ENAMETOOLONG;
	}
	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf; (p = strstr(p, "/.")); p++)
		if (p[2] == '/' || p[2] == '\0' || (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))) {
			pr_err("socket path '%s' has a '.' or '..' component: refused", path);
			return -EINVAL;
		}
	for (p = buf + 1;; p++) {
		bool last = !strchr(p, '/');

		if (!last) {
			p = strchr(p, '/');
			*p = '\0';
		}
		if (lstat(buf, &st) == 0 && S_ISLNK(st.st_mode)) {
			pr_err("socket path '%s': %s is a symbolic link: refused", path, buf);
			return -ELOOP;
		}
		if (last)
			break;
		if (lstat(buf, &st) && (mkdir(buf, 0755) || lstat(buf, &st)))
			return pr_perror("socket path '%s': cannot create %s", path, buf);
		if (!S_ISDIR(st.st_mode)) {
			pr_err("socket path '%s': %s is not a directory", path, buf);
			return -ENOTDIR;
		}
		*p = '/';
	}
	return 0;
}

static int open_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			pr_err("%s exists and is not a socket: refused", path);
			return -EEXIST;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		r = fd >= 0 ? connect(fd, (struct sockaddr *)&sa, sizeof(sa)) : -1;
		if (fd >= 0)
			close(fd);
		if (r == 0) {
			pr_err("another server is listening on %s", path);
			return -EADDRINUSE;
		}
		unlink(path);	/* a dead server's */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return pr_perror("socket");
	old = umask(0177);	/* root only: a core is the process's memory */
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r || listen(fd, 64)) {
		r = pr_perror("cannot listen on %s", path);
		close(fd);
		return r;
	}
	return fd;
}

static int install(struct server *s)
{
	int r = coredump_pattern_read(s->old_pattern, sizeof(s->old_pattern));

	if (r) {
		errno = -r;
		return pr_perror("cannot read the core_pattern");
	}
	snprintf(s->our_pattern, sizeof(s->our_pattern), "@@%s", s->o.socket);
	r = coredump_pattern_install(s->old_pattern, s->our_pattern);
	if (r)
		return r;
	s->installed = true;
	pr_info("core_pattern is now %s (was %s)", s->our_pattern, s->old_pattern);
	return 0;
}

static void uninstall(struct server *s)
{
	int r;

	if (!s->installed)
		return;
	s->installed = false;
	r = coredump_pattern_put_back(s->old_pattern, s->our_pattern);
	if (r == -EBUSY)
		pr_warn("core_pattern was changed by someone else: left as it is");
	else if (r)
		pr_err("cannot put core_pattern back to %s", s->old_pattern);
	else
		pr_info("core_pattern is %s again", s->old_pattern);
}

static void spawn(struct server *s, int cfd, const sigset_t *oldmask)
{
	pid_t pid = fork();

	if (pid < 0) {
		pr_perror("cannot fork for a crash: dropped");
		return;
	}
	if (pid == 0) {
		int r;

		close(s->lfd);
		close(s->sfd);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		/* If the server is killed, its children must not linger. */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		r = coredump_conn_serve(cfd, &s->o);
		close(cfd);	/* releases the crasher */
		_exit(r < 0 ? 1 : 0);
	}
	s->kids[s->nr_kids++] = (struct child){ pid, crash_now_ms() };
}

static void reap(struct server *s)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < s->nr_kids; i++)
			if (s->kids[i].pid == pid) {
				s->kids[i] = s->kids[--s->nr_kids];
				break;
			}
		if (WIFSIGNALED(st)) {
			struct crash_store cs;

			pr_err("the handler of a crash (pid %d) died of signal %d; its partial crash "
			       "is removed", pid, WTERMSIG(st));
			if (!crash_store_open(s->o.store, false, &cs)) {
				crash_store_sweep(&cs);
				crash_store_close(&cs);
			}
		}
	}
}

/* The children keep their own deadline; this is the backstop for one that
 * is stuck where its deadline cannot reach (a hung filesystem). */
static void enforce_timeouts(struct server *s)
{
	long now = crash_now_ms();

	for (int i = 0; i < s->nr_kids; i++)
		if (now - s->kids[i].started_ms > (s->o.timeout_s + 10) * 1000L) {
			pr_err("crash handler %d passed its time limit: killed", s->kids[i].pid);
			kill(s->kids[i].pid, SIGKILL);
		}
}

static int serve(struct server *s, const sigset_t *oldmask)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = s->sfd, .events = POLLIN },
			{ .fd = s->lfd, .events = s->nr_kids < s->o.max_conns ? POLLIN : 0 },
		};
		struct signalfd_siginfo si;

		if (poll(p, 2, s->nr_kids ? 1000 : -1) < 0 && errno != EINTR)
			return pr_perror("poll");
		if (p[0].revents && read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGCHLD) {
				pr_info("signal %u: stopping", si.ssi_signo);
				return 0;
			}
		}
		reap(s);
		enforce_timeouts(s);
		if (p[1].revents & POLLIN) {
			int cfd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);

			if (cfd >= 0) {
				spawn(s, cfd, oldmask);
				close(cfd);
			}
		}
	}
}

/* Stop: the pattern first (new crashes go to the previous handler), then
 * give the crashes in progress a moment before cutting them off. */
static void shutdown_server(struct server *s)
{
	long deadline = crash_now_ms() + 5000;
	struct crash_store cs;

	/* Killed here, the watcher puts the pattern back. */
	fault_step("coredump-server: stopping");
	uninstall(s);
	close(s->lfd);
	unlink(s->o.socket);
	while (s->nr_kids && crash_now_ms() < deadline) {
		usleep(50 * 1000);
		reap(s);
	}
	for (int i = 0; i < s->nr_kids; i++)
		kill(s->kids[i].pid, SIGKILL);
	while (s->nr_kids && waitpid(-1, NULL, 0) > 0)
		reap(s);
	if (!crash_store_open(s->o.store, false, &cs)) {
		crash_store_sweep(&cs);
		crash_store_close(&cs);
	}
}

int cmd_coredump_server(int argc, char **argv)
{
	struct server s = { .o = { .store = CRASH_STORE_DEFAULT, .socket = DEFAULT_SOCKET,
				   .timeout_s = 120, .max_conns = 4 }, .lfd = -1, .sfd = -1 };
	struct crash_store cs;
	sigset_t mask, oldmask;
	int r;

	/* A server that crashes while it is the one dumping would wait on
	 * itself forever: never be the target of a core dump. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (log_get_level() < LOG_INFO)
		log_set_level(LOG_INFO);
	r = parse(argc, argv, &s.o);
	if (r)
		return r == 1 ? 0 : r;
	if (check_socket_path(s.o.socket) || crash_store_open(s.o.store, true, &cs))
		return 1;
	crash_store_sweep(&cs);
	crash_store_close(&cs);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);
	s.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	s.lfd = open_listener(s.o.socket);
	if (s.sfd < 0 || s.lfd < 0)
		return 1;
	if (s.o.install && install(&s)) {
		close(s.lfd);
		unlink(s.o.socket);
		return 1;
	}
	pr_info("serving crashes on %s into %s", s.o.socket, s.o.store);
	r = fault_step("coredump-server: serving");
	if (!r)
		r = serve(&s, &oldmask);
	shutdown_server(&s);
	close(s.sfd);
	return r ? 1 : 0;
}
