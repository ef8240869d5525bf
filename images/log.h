/* Logging shared by every part of criu-lite: one line per event on stderr (or
 * the -o file), prefixed by severity. Errors are logged once, where they are
 * understood; callers further up only propagate the negative errno. */
#ifndef CRIU_LITE_LOG_H
#define CRIU_LITE_LOG_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum log_level { LOG_ERR = 1, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(int level);
int log_get_level(void);
int log_set_file(const char *path);
void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For a caller that may learn afterwards why a step failed (the process
 * exec'd meanwhile): errors are kept, not printed, until the release,
 * which prints the first one kept, or drops it for the caller's better
 * word. */
void log_hold_errors(void);
void log_release_errors(bool print);

/* For work that goes on before the verdict on its input is in (a restore
 * fills memory while its pages files are hashed): with on, what is logged
 * at the default level (-v prints as it goes) is kept back, in order, by
 * this process and the processes it forks meanwhile (they write to one
 * memfd); with off, lines print as they come again. The kept lines are
 * then printed, or dropped when the verdict is the one line to say. */
void log_defer(bool on);
void log_deferred_flush(bool print);

/* A worker thread's lines, kept apart so that they print where its work
 * belongs in the log, not amid the main thread's: log_thread_to(f) sends
 * what this thread logs to f (an open_memstream; NULL: back to the log),
 * and the caller, once the worker is joined, prints them with log_lines. */
void log_thread_to(FILE *f);
void log_lines(const char *lines, size_t len);

#define pr_err(fmt, ...) log_printf(LOG_ERR, fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...) log_printf(LOG_WARN, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) log_printf(LOG_INFO, fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) log_printf(LOG_DEBUG, fmt, ##__VA_ARGS__)
/* Log with strerror(errno) appended and return -errno, for `return pr_perror(...)`. */
#define pr_perror(fmt, ...) ({ int __e = errno; \
	log_printf(LOG_ERR, fmt ": %s", ##__VA_ARGS__, strerror(__e)); -__e; })

#endif
