/* Small helpers for reading /proc/PID files. Shared by dump modules and by
 * restore (which inspects the process it builds); no dump state inside. */
#ifndef CRIU_LITE_PROCFS_H
#define CRIU_LITE_PROCFS_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* The one way criu-lite opens /proc/PID/NAME (NAME relative: "pagemap",
 * "task/TID/stat", "fd/3"); O_CLOEXEC is added to flags. A process that has
 * exited or is exiting gives -ESRCH, whatever the kernel said (ESRCH for a
 * task whose mm is gone, ENOENT for a pid that is gone), and logs the one
 * line "process N exited"; any other failure logs the path and the error.
 * PROCFS_QUIET in flags: log nothing, the caller decides (a thread that may
 * vanish mid-scan, a file that may be absent). Returns the fd or -errno. */
#define PROCFS_QUIET	(1 << 30)	/* above every open(2) flag */
int procfs_open(pid_t pid, const char *name, int flags);
/* The same as a stdio stream for reading, or as a directory stream; NULL
 * with errno set. */
FILE *procfs_fopen(pid_t pid, const char *name, int flags);
DIR *procfs_opendir(pid_t pid, const char *name, int flags);
/* Log a failed access to /proc/PID/NAME the way procfs_open does (err is
 * -errno; -ESRCH: "process N exited"). Returns err. */
int procfs_log_err(pid_t pid, const char *name, int err);

/* Read /proc/PID/NAME whole into a malloc'd buffer, NUL-terminated (the NUL
 * is not counted in *len, so binary files such as cmdline keep their bytes).
 * Returns 0 or -errno (-ESRCH: the process is gone); does not log. */
int procfs_read(pid_t pid, const char *name, char **buf, size_t *len);
/* Read everything from an open fd the same way. */
int procfs_read_fd(int fd, char **buf, size_t *len);

/* One read() of a small text file (a /proc or /sys knob) into buf, at most
 * len - 1 bytes, NUL-terminated. Returns 0 or -errno and does not log: the
 * callers know whether a missing file is an error. */
int procfs_read_small(const char *path, char *buf, size_t len);

/* readlink of /proc/PID/NAME into a malloc'd string; -ESRCH: the process
 * is gone. Does not log. */
int procfs_readlink(pid_t pid, const char *name, char **out);

/* Value of "Key:" in a status-style buffer, with leading blanks skipped; the
 * returned pointer runs to the end of the line (not NUL-terminated there:
 * use the length). NULL when absent. */
const char *procfs_field(const char *text, const char *key, size_t *vlen);
/* The same, parsed: as an unsigned number in `base` (0 for auto). */
int procfs_field_u64(const char *text, const char *key, int base, uint64_t *val);
/* The last NSpid of pid (of its thread tid, if not 0): its pid in its own
 * pid namespace, or -errno. */
pid_t procfs_ns_pid(pid_t pid, pid_t tid);
/* Its parent (PPid, as we see pids), or -errno. */
pid_t procfs_ppid(pid_t pid);
/* How many fds pid has, as the size of /proc/PID/fd (0 before Linux 6.2,
 * or when it cannot be told). */
size_t procfs_nr_fds(pid_t pid);

/* /proc/PID/stat split into fields; fields[1] is the comm (between the
 * first '(' and the last ')', which may itself contain spaces and parens),
 * fields[n] for n >= 2 the n+1-th field in proc(5)'s 1-based numbering.
 * Returns the number of fields, or -errno. `buf` owns the storage. */
#define PROCFS_STAT_MAX 64
struct procfs_stat {
	char *buf;
	char *field[PROCFS_STAT_MAX];
	int nr;
};
int procfs_stat_read(pid_t pid, struct procfs_stat *st);
/* Field by proc(5)'s 1-based number, as unsigned/signed; 0 when missing. */
uint64_t procfs_stat_u64(const struct procfs_stat *st, int num);
int64_t procfs_stat_s64(const struct procfs_stat *st, int num);
void procfs_stat_free(struct procfs_stat *st);

#endif
