/* Helpers the Criterion suites share: start a target program from
 * $TARGETS, wait for its READY line, run criu-lite ($CRIU_LITE), inspect
 * /proc, and read images through the images/ API. */
#ifndef TEST_HELPERS_H
#define TEST_HELPERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct target {
	pid_t pid;
	int out_fd;		/* read end of the target's stdout */
	char ready[1024];	/* the READY line, without "READY " */
};

/* Path of a built target or of the criu-lite binary. */
const char *target_path(const char *name);
const char *criu_lite_path(void);

/* Start $TARGETS/name with args (NULL-terminated), wait up to WAIT_MS for READY. */
void target_start(struct target *t, const char *name, ...);
/* argv[0] (a full path) with stdin/stderr on /dev/null and no fd but its
 * stdout pipe (a restore refuses a stray inherited fd); waits for READY. */
void target_start_clean(struct target *t, const char *const argv[]);
/* Value of key=... in the READY line as an integer (hex with 0x ok); aborts test if missing. */
uint64_t target_ready_u64(const struct target *t, const char *key);
/* Read one more line the target prints, with a timeout; returns false on timeout/EOF. */
bool target_read_line(struct target *t, char *buf, size_t len, int timeout_ms);
/* SIGKILL and reap. */
void target_kill(struct target *t);

/* Run criu-lite with args (NULL-terminated); returns exit status (or 128+sig).
 * stderr is captured into err (may be NULL) up to errlen. */
#define run_criu_lite(err, errlen, ...) run_criu_lite_in(NULL, err, errlen, __VA_ARGS__)
/* The same, run inside the v2 cgroup dir `cg` (if not NULL) with
 * CRIU_LITE_TEST_CG=cg in its environment (and so in every process it
 * forks), in a mount namespace of its own where `ro_mount` (if not NULL)
 * is read-only, and SIGKILLed `kill_after_us` after it started (if not 0:
 * an OOM kill at no step of its own); `pid` is set to its pid. Either
 * way it returns once every process it left holding its stderr (a
 * guardian) is gone too. */
struct run_in {
	const char *cg, *ro_mount;
	pid_t pid;
	unsigned kill_after_us;
};
int run_criu_lite_in(struct run_in *in, char *err, size_t errlen, ...);
/* Run a shell command, capture stdout into out; returns exit status. */
int run_cmd(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A fresh empty directory under /tmp; removed by rm_rf. */
void make_tmpdir(char *buf, size_t len, const char *tag);
/* The same, opened (O_DIRECTORY) for the *at calls: its fd. tmpdir_gone
 * closes *fd (if open) and removes dir: a suite's .init and .fini. */
int make_tmpdir_fd(char *buf, size_t len, const char *tag);
void tmpdir_gone(int *fd, const char *dir);
void rm_rf(const char *path);
/* A suite's .fini: SIGKILL *pid with its group and reap it, rm_rf dir
 * (if set); leaves both empty. */
void test_cleanup(pid_t *pid, char *dir);

/* /proc/PID/status field as text ("State", "TracerPid"...). */
bool proc_status_field(pid_t pid, const char *field, char *buf, size_t len);
/* TracerPid is 0 and state is not t/T for every thread of pid. */
bool proc_untraced_running(pid_t pid);
/* The same; with gone_ok a thread that exits meanwhile counts as untraced.
 * why (may be NULL): what was found otherwise. */
bool proc_threads_untraced(pid_t pid, bool gone_ok, char *why, size_t len);
/* Resident set size in KiB. */
long proc_rss_kb(pid_t pid);
/* Entries of /proc/PID/DIR ("fd": open fds, "task": threads), -1 if it
 * cannot be listed (the process is gone). */
int proc_dir_count(pid_t pid, const char *dir);

/* Waits on a condition, never a guess of how long it takes: each polls
 * until it holds and fails the test loudly after WAIT_MS (a generous bound
 * for a busy machine). */
#define WAIT_MS 30000
/* pid no longer exists (exited and reaped, by us or by init). */
void wait_gone(pid_t pid, const char *what);
/* pid (all its threads) has used at least ms of CPU time. */
void wait_cpu_ms(pid_t pid, long ms);
/* Thread tid of pid is blocked in system call nr (its /proc syscall file):
 * where a target goes after its READY, which it cannot report itself. */
void wait_in_syscall(pid_t pid, pid_t tid, long nr);
/* The u64 at addr in pid differs from `from`; returns the new value. */
uint64_t wait_u64_changes(pid_t pid, uint64_t addr, uint64_t from, const char *what);
/* The u64 at addr in pid, read with process_vm_readv. */
uint64_t proc_peek_u64(pid_t pid, uint64_t addr);

/* Address of a symbol in an ELF executable (static address; for non-PIE
 * targets that is also the runtime address). 0 if not found. */
uint64_t elf_symbol(const char *path, const char *sym, uint64_t *size);

/* Tests that damage a hand-made or real dump on purpose, to reach a rule
 * behind the checksums: inventory.img of dir rewritten with the sums of
 * the files as they are now (images/image_reseal.h). Nothing done where
 * there is no readable inventory. */
void reseal_dump(const char *dir);

#endif
