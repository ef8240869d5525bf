#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/helpers.h"
#include "images/image_reseal.h"
#include "images/log.h"

const char *target_path(const char *name)
{
	static __thread char buf[4096];
	const char *dir = getenv("TARGETS");

	snprintf(buf, sizeof(buf), "%s/%s", dir ? dir : "build/targets", name);
	return buf;
}

const char *criu_lite_path(void)
{
	const char *p = getenv("CRIU_LITE");

	return p ? p : "build/criu-lite";
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool target_read_line(struct target *t, char *buf, size_t len, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd pfd = { .fd = t->out_fd, .events = POLLIN };
		long left = deadline - now_ms();
		char c;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		if (read(t->out_fd, &c, 1) != 1)
			return false;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return true;
}

/* argv[0] leading a process group of its own (like a shell job), its stdout
 * a pipe to us. clean: stdin/stderr on /dev/null, no other fd inherited and
 * no controlling terminal,
 * for tests whose target a restore must take (it refuses a stray fd). Waits
 * up to WAIT_MS for READY and kills the target if it never comes: the failed
 * test never learns its pid. */
static void start_argv(struct target *t, const char *const argv[], bool clean)
{
	pid_t parent = getpid();
	char line[1024];
	int pfd[2];

	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	t->pid = fork();
	cr_assert_geq(t->pid, 0);
	if (t->pid == 0) {
		/* A test killed at its timeout takes its target along: an orphan
		 * spinning on would load the machine for every test after it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(127);
		if (clean) {
			int null = open("/dev/null", O_RDWR), tty = open("/dev/tty", O_RDWR);

			dup2(null, 0);
			dup2(null, 2);
			/* nor the suite's controlling terminal, if it runs on one:
			 * a restore would want --shell-job for it */
			if (tty >= 0)
				ioctl(tty, TIOCNOTTY);
		}
		dup2(pfd[1], 1);
		if (clean)
			syscall(SYS_close_range, 3, ~0U, 0);
		setpgid(0, 0);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	close(pfd[1]);
	t->out_fd = pfd[0];
	for (;;) {
		if (!target_read_line(t, line, sizeof(line), WAIT_MS)) {
			target_kill(t);
			cr_assert_fail("target %s did not get ready", argv[0]);
		}
		if (!strncmp(line, "READY", 5))
			break;
	}
	snprintf(t->ready, sizeof(t->ready), "%s", line[5] ? line + 6 : "");
}

void target_start(struct target *t, const char *name, ...)
{
	const char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = target_path(name);
	va_start(ap, name);
	while (argc < 31 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	start_argv(t, argv, false);
}

void target_start_clean(struct target *t, const char *const argv[])
{
	start_argv(t, argv, true);
}

uint64_t target_ready_u64(const struct target *t, const char *key)
{
	size_t kl = strlen(key);
	const char *p = t->ready;

	while ((p = strstr(p, key))) {
		if ((p == t->ready || p[-1] == ' ') && p[kl] == '=')
			return strtoull(p + kl + 1, NULL, 0);
		p += kl;
	}
	cr_assert_fail("READY line has no %s: %s", key, t->ready);
	return 0;
}

void target_kill(struct target *t)
{
	if (t->pid > 0) {
		kill(-t->pid, SIGKILL);
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
		t->pid = 0;
	}
	if (t->out_fd > 0)
		close(t->out_fd);
	t->out_fd = -1;
}

static int wait_status(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void read_into(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	while ((r = read(fd, buf + n, len > n + 1 ? len - n - 1 : 0)) > 0)
		n += r;
	/* drain whatever did not fit so the child never blocks on a full pipe */
	if (r > 0 || n + 1 >= len) {
		char sink[4096];

		while (read(fd, sink, sizeof(sink)) > 0)
			;
	}
	if (len)
		buf[n < len ? n : len - 1] = '\0';
}

/* argv from ap; the child enters in->cg (if given), carries
 * CRIU_LITE_TEST_CG=cg, and sees in->ro_mount read-only (if given). */
static int run_criu_lite_v(struct run_in *in, char *err, size_t errlen, va_list ap)
{
	const char *argv[64];
	int argc = 0, pfd[2];
	char sink[1];
	pid_t pid;

	argv[argc++] = criu_lite_path();
	while (argc < 63 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	argv[argc] = NULL;

	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		char path[512];
		FILE *f;

		dup2(null, 0);
		dup2(null, 1);
		dup2(pfd[1], 2);
		if (in && in->cg) {
			snprintf(path, sizeof(path), "%s/cgroup.procs", in->cg);
			f = fopen(path, "we");
			if (!f || fprintf(f, "0\n") < 0 || fclose(f))
				_exit(126);
			setenv("CRIU_LITE_TEST_CG", in->cg, 1);
		}
		if (in && in->ro_mount &&
		    (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		     mount(NULL, in->ro_mount, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL)))
			_exit(125);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	if (in)
		in->pid = pid;
	close(pfd[1]);
	if (in && in->kill_after_us) {
		usleep(in->kill_after_us);
		kill(pid, SIGKILL);
	}
	read_into(pfd[0], err ? err : sink, err ? errlen : sizeof(sink));
	close(pfd[0]);
	return wait_status(pid);
}

int run_criu_lite_in(struct run_in *in, char *err, size_t errlen, ...)
{
	va_list ap;
	int r;

	va_start(ap, errlen);
	r = run_criu_lite_v(in, err, errlen, ap);
	va_end(ap);
	return r;
}

int run_cmd(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[8192];
	int pfd[2];
	char sink[1];
	pid_t pid;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	read_into(pfd[0], out ? out : sink, out ? outlen : sizeof(sink));
	close(pfd[0]);
	return wait_status(pid);
}

void make_tmpdir(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "/tmp/criu-lite-test-%s-XXXXXX", tag);
	cr_assert_not_null(mkdtemp(buf));
}

int make_tmpdir_fd(char *buf, size_t len, const char *tag)
{
	int fd;

	make_tmpdir(buf, len, tag);
	fd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open %s: %s", buf, strerror(errno));
	return fd;
}

void tmpdir_gone(int *fd, const char *dir)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	rm_rf(dir);
}

void test_cleanup(pid_t *pid, char *dir)
{
	if (*pid > 0) {
		kill(-*pid, SIGKILL);
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
	if (dir[0])
		rm_rf(dir);
	dir[0] = '\0';
}

void rm_rf(const char *path)
{
	char cmd[4200];

	if (!path || !*path || !strcmp(path, "/"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	(void)!system(cmd);
}

bool proc_status_field(pid_t pid, const char *field, char *buf, size_t len)
{
	char path[64], line[512];
	size_t fl = strlen(field);
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			char *v = line + fl + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(buf, len, "%s", v);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

/* gone_ok: a thread that exited between readdir and reading its status
 * counts as untraced, for targets whose threads come and go. */
bool proc_threads_untraced(pid_t pid, bool gone_ok, char *why, size_t len)
{
	char path[64], buf[64];
	struct dirent *de;
	bool ok = true;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d) {
		if (why)
			snprintf(why, len, "process %d is gone", pid);
		return false;
	}
	while ((de = readdir(d)) && ok) {
		pid_t tid = atoi(de->d_name);

		if (tid <= 0)
			continue;
		if (!proc_status_field(tid, "TracerPid", buf, sizeof(buf))) {
			ok = gone_ok;
		} else if (atoi(buf) != 0) {
			ok = false;
			if (why)
				snprintf(why, len, "thread %d traced by %s", tid, buf);
		} else if (!proc_status_field(tid, "State", buf, sizeof(buf))) {
			ok = gone_ok;
		} else if (buf[0] == 't' || buf[0] == 'T') {
			ok = false;
			if (why)
				snprintf(why, len, "thread %d in state %s", tid, buf);
		}
		if (!ok && why && !*why)
			snprintf(why, len, "thread %d gone while looked at", tid);
	}
	closedir(d);
	return ok;
}

bool proc_untraced_running(pid_t pid)
{
	return proc_threads_untraced(pid, false, NULL, 0);
}

long proc_rss_kb(pid_t pid)
{
	char buf[64];

	return proc_status_field(pid, "VmRSS", buf, sizeof(buf)) ? atol(buf) : -1;
}

int proc_dir_count(pid_t pid, const char *dir)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

void wait_gone(pid_t pid, const char *what)
{
	long deadline = now_ms() + WAIT_MS;

	while (kill(pid, 0) == 0 && now_ms() < deadline)
		usleep(1000);
	cr_assert(kill(pid, 0) && errno == ESRCH, "%s (%d) still exists after %d s", what, pid,
		  WAIT_MS / 1000);
}

/* utime + stime of the whole process, in ms (clock ticks of 1/HZ). */
static long cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "process %d is gone", pid);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')');
	cr_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			      &st) == 2, "cannot parse %s: %s", path, buf);
	return (long)((ut + st) * 1000 / sysconf(_SC_CLK_TCK));
}

void wait_cpu_ms(pid_t pid, long ms)
{
	long deadline = now_ms() + WAIT_MS;

	while (cpu_ms(pid) < ms && now_ms() < deadline)
		usleep(1000);
	cr_assert_geq(cpu_ms(pid), ms, "process %d did not use %ld ms of CPU in %d s", pid, ms,
		      WAIT_MS / 1000);
}

static long blocked_in(pid_t pid, pid_t tid)
{
	char path[64], buf[256] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "thread %d of %d is gone", tid, pid);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	/* "running", or the number of the call it is blocked in, then args */
	return buf[0] >= '0' && buf[0] <= '9' ? atol(buf) : -1;
}

void wait_in_syscall(pid_t pid, pid_t tid, long nr)
{
	long deadline = now_ms() + WAIT_MS;

	while (blocked_in(pid, tid) != nr && now_ms() < deadline)
		usleep(1000);
	cr_assert_eq(blocked_in(pid, tid), nr, "thread %d of %d not in system call %ld after %d s",
		     tid, pid, nr, WAIT_MS / 1000);
}

uint64_t proc_peek_u64(pid_t pid, uint64_t addr)
{
	uint64_t v = 0;
	struct iovec l = { &v, sizeof(v) }, r = { (void *)(uintptr_t)addr, sizeof(v) };

	cr_assert_eq(process_vm_readv(pid, &l, 1, &r, 1, 0), (ssize_t)sizeof(v),
		     "cannot read %#llx of %d: %s", (unsigned long long)addr, pid, strerror(errno));
	return v;
}

uint64_t wait_u64_changes(pid_t pid, uint64_t addr, uint64_t from, const char *what)
{
	long deadline = now_ms() + WAIT_MS;
	uint64_t v;

	while ((v = proc_peek_u64(pid, addr)) == from && now_ms() < deadline)
		usleep(1000);
	cr_assert_neq(v, from, "%s: still %llu after %d s", what, (unsigned long long)from,
		      WAIT_MS / 1000);
	return v;
}

uint64_t elf_symbol(const char *path, const char *sym, uint64_t *size)
{
	uint64_t addr = 0;
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	while (elf && !addr && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *name;

			if (!gelf_getsym(data, i, &s))
				continue;
			name = elf_strptr(elf, sh.sh_link, s.st_name);
			if (name && !strcmp(name, sym)) {
				addr = s.st_value;
				if (size)
					*size = s.st_size;
				break;
			}
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return addr;
}

void reseal_dump(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int saved = log_get_level();

	if (fd < 0)
		return;
	log_set_level(0);
	if (!faccessat(fd, "inventory.img", F_OK, AT_SYMLINK_NOFOLLOW))
		img_reseal(fd);
	log_set_level(saved);
	close(fd);
}
