#include <errno.h>

#include "criu-lite/dump.h"
#include "criu-lite/commands.h"

/* Placeholder until this module lands. */
int cmd_dump(int argc, char **argv) { (void)argc; (void)argv; return 1; }
int cmd_pre_dump(int argc, char **argv) { (void)argc; (void)argv; return 1; }
