/* The dumper's own termination signals while a tree is frozen. */
#ifndef CRIU_LITE_FREEZE_SIGNALS_H
#define CRIU_LITE_FREEZE_SIGNALS_H

#include <signal.h>

/* SIGINT/SIGTERM/SIGHUP/SIGQUIT are blocked while a tree is ours and looked
 * at between steps (a handler that let go of threads in the middle of an
 * injection would leave one on borrowed registers). check: -EINTR, said
 * once ("interrupted by ...: WHAT abandoned"), if one is pending. drain:
 * after a failure that answered them, or a success they came too late
 * for, so that lifting the mask does not kill us. */
void dump_hold_signals(sigset_t *old);
int dump_check_interrupted(const char *what);
void dump_drain_signals(void);

#endif
