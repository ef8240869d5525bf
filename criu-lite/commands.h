/* The entry point of every subcommand criu-lite/ owns: argv[0] is the
 * subcommand name; each returns the process exit status. convert and
 * restore declare theirs in convert/convert.h and restore/restore.h. */
#ifndef CRIU_LITE_COMMANDS_H
#define CRIU_LITE_COMMANDS_H

int cmd_dump(int argc, char **argv);
int cmd_pre_dump(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_coredump_server(int argc, char **argv);
int cmd_coredump_handler(int argc, char **argv);
int cmd_crashes(int argc, char **argv);
int cmd_crash(int argc, char **argv);
int cmd_replay(int argc, char **argv);

#endif
