/* criu-lite crashes / crash info|gdb|import: the user's side of the crash
 * store, in the spirit of coredumpctl list/info/debug. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/cli.h"
#include "criu-lite/commands.h"
#include "criu-lite/crash/crash_import.h"
#include "criu-lite/crash/crash_store.h"
#include "images/log.h"

struct cmd_opts {
	const char *store;
	const char *dir;	/* import -D */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: criu-lite crashes [--store DIR]\n"
		"       criu-lite crash info ID [--store DIR]\n"
		"       criu-lite crash gdb ID [--store DIR]\n"
		"       criu-lite crash import ID -D DIR [--store DIR]\n"
		"\n"
		"ID is what `crashes` lists, or a PID (its latest crash), or a unique\n"
		"prefix of an ID. The store defaults to %s.\n"
		"  info    the crash record and a backtrace of every thread (gdb)\n"
		"  gdb     gdb on the core with the crashed executable\n"
		"  import  turn the crash into criu-lite images in DIR, so that\n"
		"          `criu-lite restore -D DIR --stopped` brings the process back,\n"
		"          stopped at the faulting instruction, for `gdb -p PID`\n",
		CRASH_STORE_DEFAULT);
}

static int parse(int argc, char **argv, struct cmd_opts *o, int *first)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 'S' },
		{ "images-dir", required_argument, NULL, 'D' },
		{ "verbose", optional_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "S:D:v::h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': o->store = optarg; break;
		case 'D': o->dir = optarg; break;
		case 'v': cli_log_opt(c, optarg, LOG_INFO); break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	*first = optind;
	return 0;
}

static const char *sig_name(uint32_t sig, char *buf, size_t len)
{
	const char *abbr = sig ? sigabbrev_np((int)sig) : NULL;

	if (abbr)
		snprintf(buf, len, "SIG%s", abbr);
	else
		snprintf(buf, len, "%u", sig);
	return buf;
}

static void human(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "BKMGT";
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 4)
		d /= 1024, u++;
	if (u)
		snprintf(buf, len, "%.1f%c", d, units[u]);
	else
		snprintf(buf, len, "%lluB", (unsigned long long)v);
}

static void when(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

int cmd_crashes(int argc, char **argv)
{
	struct cmd_opts o = { .store = CRASH_STORE_DEFAULT };
	struct crash_store s;
	struct crash_item *v;
	size_t n;
	int first, r = parse(argc, argv, &o, &first);

	if (r)
		return r == 1 ? 0 : r;
	if (first < argc) {
		fprintf(stderr, "criu-lite crashes: unexpected argument %s\n", argv[first]);
		return 2;
	}
	if (crash_store_open(o.store, false, &s) || crash_store_list(&s, &v, &n))
		return 1;
	printf("%-26s %-19s %7s %5s %-8s %8s %s\n", "ID", "TIME", "PID", "UID", "SIG", "SIZE",
	       "EXE");
	for (size_t i = 0; i < n; i++) {
		const CrashEntry *ce = v[i].ce;
		char t[32], sig[16], size[16];

		if (!ce) {
			printf("%-26s (unreadable crash record)\n", v[i].id);
			continue;
		}
		when(ce->time_ns, t, sizeof(t));
		human(v[i].disk, size, sizeof(size));
		printf("%-26s %-19s %7u %5u %-8s %8s %s\n", v[i].id, t, ce->pid, ce->uid,
		       ce->has_signal ? sig_name(ce->signal, sig, sizeof(sig)) : "-", size,
		       ce->exe ? ce->exe : ce->comm ? ce->comm : "?");
	}
	if (!n)
		fprintf(stderr, "no crashes in %s\n", o.store);
	crash_items_free(v, n);
	crash_store_close(&s);
	return 0;
}

/* NUL-separated -> spaces, for one line. */
static void print_argv(const char *label, const ProtobufCBinaryData *b)
{
	printf("%14s: ", label);
	for (size_t i = 0; i < b->len; i++)
		putchar(b->data[i] ? b->data[i] : (i + 1 < b->len ? ' ' : '\n'));
	if (!b->len || b->data[b->len - 1])
		putchar('\n');
}

static void print_record(const char *id, const CrashEntry *ce)
{
	char t[32], sig[16], a[16], b[16];

	when(ce->time_ns, t, sizeof(t));
	human(ce->core_size, a, sizeof(a));
	human(ce->core_disk, b, sizeof(b));
	printf("%14s: %s\n", "ID", id);
	printf("%14s: %u (%s)%s\n", "PID", ce->pid, ce->comm ? ce->comm : "?",
	       ce->has_tid && ce->tid != ce->pid ? "" : "");
	if (ce->has_tid)
		printf("%14s: %u\n", "Thread", ce->tid);
	printf("%14s: %u   GID: %u\n", "UID", ce->uid, ce->gid);
	printf("%14s: %s", "Signal", ce->has_signal ? sig_name(ce->signal, sig, sizeof(sig)) : "?");
	if (ce->has_si_code)
		printf(", code %d", ce->si_code);
	if (ce->has_fault_addr)
		printf(", address %#llx", (unsigned long long)ce->fault_addr);
	printf("\n%14s: %s\n", "Time", t);
	if (ce->has_cmdline)
		print_argv("Command line", &ce->cmdline);
	printf("%14s: %s\n", "Executable", ce->exe ? ce->exe : "?");
	printf("%14s: %s\n", "Directory", ce->cwd ? ce->cwd : "?");
	if (ce->cgroup)
		printf("%14s: %.*s\n", "Cgroup", (int)strcspn(ce->cgroup, "\n"), ce->cgroup);
	printf("%14s: %s, kernel %s, via %s\n", "Host", ce->hostname ? ce->hostname : "?",
	       ce->kernel_release ? ce->kernel_release : "?", ce->source ? ce->source : "?");
	printf("%14s: %s (%s on disk)\n", "Core", a, b);
	for (size_t i = 0; i < ce->n_fds; i++) {
		const FdEntry *e = ce->fds[i];

		printf("%14s  fd %u -> %s", i ? "" : "Files:", e->fd, e->link ? e->link : "?");
		if (e->has_pos && (e->type == FD_TYPE__FD_REG))
			printf(" (offset %llu)", (unsigned long long)e->pos);
		putchar('\n');
	}
	printf("%14s: %zu\n", "Mappings", ce->n_maps);
}

/* gdb -batch on the core: the backtrace of every thread. */
static int backtrace(const char *exe, const char *core)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(1, 2);
		execlp("gdb", "gdb", "-nx", "-batch", "-ex", "set print frame-arguments scalars",
		       "-ex", "thread apply all bt", exe, core, (char *)NULL);
		printf("(no backtrace: cannot run gdb: %s)\n", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static int crash_paths(struct crash_store *s, const char *id, char *dir, size_t len)
{
	return snprintf(dir, len, "%s/%s", s->path, id) >= (int)len ? -ENAMETOOLONG : 0;
}

/* The crash record of id, and the path of its core file. */
static int load(struct crash_store *s, const char *id, CrashEntry **ce, char *core, size_t len)
{
	char dir[4200];
	int fd, r;

	crash_paths(s, id, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("cannot open %s", dir);
	r = img_read_one(fd, IMG_CRASH, 0, true, (void **)ce);
	close(fd);
	if (!r)
		snprintf(core, len, "%s/%s", dir, (*ce)->core_file ? (*ce)->core_file : CRASH_CORE_NAME);
	return r;
}

static int info(struct crash_store *s, const char *id)
{
	char core[4300];
	CrashEntry *ce;
	int r = load(s, id, &ce, core, sizeof(core));

	if (r)
		return r;
	print_record(id, ce);
	printf("\nBacktrace:\n");
	if (ce->exe && access(ce->exe, R_OK))
		printf("(the executable %s is gone: symbols may be missing)\n", ce->exe);
	backtrace(ce->exe ? ce->exe : "", core);
	img_free(ce);
	return 0;
}

static int gdb(struct crash_store *s, const char *id)
{
	char core[4300];
	CrashEntry *ce;
	int r = load(s, id, &ce, core, sizeof(core));

	if (r)
		return r;
	if (ce->exe)
		execlp("gdb", "gdb", ce->exe, core, (char *)NULL);
	else
		execlp("gdb", "gdb", "-c", core, (char *)NULL);
	r = pr_perror("cannot run gdb");
	img_free(ce);
	return r;
}

int cmd_crash(int argc, char **argv)
{
	struct cmd_opts o = { .store = CRASH_STORE_DEFAULT };
	char id[CRASH_ID_MAX], dir[4200];
	struct crash_store s;
	const char *verb;
	int first, r = parse(argc, argv, &o, &first);

	if (r)
		return r == 1 ? 0 : r;
	if (argc - first != 2) {
		usage(stderr);
		return 2;
	}
	verb = argv[first];
	if (strcmp(verb, "info") && strcmp(verb, "gdb") && strcmp(verb, "import")) {
		fprintf(stderr, "criu-lite crash: unknown verb '%s' (info, gdb, import)\n", verb);
		return 2;
	}
	if (!strcmp(verb, "import") && !o.dir) {
		fprintf(stderr, "criu-lite crash import: -D DIR is required\n");
		return 2;
	}
	if (crash_store_open(o.store, false, &s))
		return 1;
	r = crash_store_find(&s, argv[first + 1], id, sizeof(id));
	if (!r && !strcmp(verb, "info"))
		r = info(&s, id);
	else if (!r && !strcmp(verb, "gdb"))
		r = gdb(&s, id);
	else if (!r) {
		crash_paths(&s, id, dir, sizeof(dir));
		r = crash_import(dir, o.dir);
	}
	crash_store_close(&s);
	return r ? 1 : 0;
}
