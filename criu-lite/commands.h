/* Every subcommand's entry point: argv[0] is the subcommand name. Each returns
 * the process exit status. */
#ifndef CRIU_LITE_COMMANDS_H
#define CRIU_LITE_COMMANDS_H

int cmd_dump(int argc, char **argv);
int cmd_pre_dump(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_coredump_server(int argc, char **argv);
int cmd_coredump_handler(int argc, char **argv);
int cmd_crashes(int argc, char **argv);
int cmd_crash(int argc, char **argv);

#endif
