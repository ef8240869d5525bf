/* The `restore` verb, for the verb table: argv[0] is "restore"; returns the
 * exit status. Everything else of restore/ is private to it (rst.h). */
#ifndef CRIU_LITE_RESTORE_H
#define CRIU_LITE_RESTORE_H

int cmd_restore(int argc, char **argv);

#endif
