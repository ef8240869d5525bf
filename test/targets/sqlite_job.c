/* Restore target: a job writing to SQLite in WAL mode, as a real program
 * would (built with -lsqlite3). argv[1]: the database; argv[2]: a file
 * whose existence asks it to stop.
 * It inserts a row per transaction, printing "ROW n" once row n is
 * committed, and rests 4 ms between transactions. Asked to stop, it closes
 * the database and prints "DONE n" with the rows its table holds by its own
 * count: every one it committed. */
#include <sqlite3.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static int exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int r = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (r != SQLITE_OK) {
		printf("ERROR %s: %s\n", sql, err ? err : "?");
		fflush(stdout);
	}
	sqlite3_free(err);
	return r;
}

int main(int argc, char **argv)
{
	const struct timespec rest = { 0, 4 * 1000 * 1000 };
	sqlite3_stmt *ins;
	sqlite3 *db;
	long n = 0;

	if (argc < 3 || sqlite3_open(argv[1], &db) != SQLITE_OK)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	sqlite3_busy_timeout(db, 5000);
	if (exec(db, "PRAGMA journal_mode=WAL") ||
	    exec(db, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)") ||
	    sqlite3_prepare_v2(db, "INSERT INTO t(id, v) VALUES(?, 'row')", -1, &ins, NULL))
		return 1;
	target_ready("pid=%d", getpid());
	while (access(argv[2], F_OK)) {
		sqlite3_bind_int64(ins, 1, n + 1);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			printf("ERROR insert %ld: %s\n", n + 1, sqlite3_errmsg(db));
			return 1;
		}
		sqlite3_reset(ins);
		printf("ROW %ld\n", ++n);
		nanosleep(&rest, NULL);
	}
	sqlite3_finalize(ins);
	if (sqlite3_close(db) != SQLITE_OK)
		return 1;
	printf("DONE %ld\n", n);
	return 0;
}
