/* The CRIU 4.2 fixtures (test/fixtures/criu-4.2, see its README): image
 * directories of a 5-thread process and of a 3-process tree, the threads
 * one also as a CRI-O checkpoint archive, the programs and what gdb showed
 * on gcore of the same processes. */
#ifndef TEST_CRIU_FIXTURES_H
#define TEST_CRIU_FIXTURES_H

#include <stddef.h>

#define CRIU_THREADS_PID 15610
#define CRIU_TREE_PID 15671

/* Absolute path of test/fixtures/criu-4.2/rel (the suite runs from the
 * repository, or $CRIU_FIXTURES names the folder). */
const char *criu_fixture(const char *rel);
/* The archive of threads/. */
const char *criu_archive(void);
/* The programs where the images say they ran: /tmp/criu-fixtures/bin, and
 * their sources beside (gdb prints source lines from src/). */
void criu_fixture_bins(void);
/* gdb's view of a core of a fixture program: threads, every backtrace, the
 * fixtures' globals and ymm7 of each thread, as expected-gdb-from-gcore.txt
 * was made; the loading chatter ([New LWP], blank lines, missing source
 * files, the termination signal) left out. */
void criu_gdb_view(const char *prog, const char *core, char *out, size_t len);

#endif
