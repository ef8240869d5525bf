/* Syscall injection (criu-lite/infect.c) on a real target: results come back
 * from inside the target, scratch memory appears and disappears, and a thread
 * borrowed while blocked in read() carries on reading afterwards. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/infect.h"
#include "test/helpers.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

static void seize_stop(pid_t tid)
{
	int st;

	cr_assert_eq(ptrace(PTRACE_SEIZE, tid, NULL, NULL), 0, "seize: %m");
	cr_assert_eq(ptrace(PTRACE_INTERRUPT, tid, NULL, NULL), 0);
	cr_assert_eq(waitpid(tid, &st, __WALL), tid);
	cr_assert(WIFSTOPPED(st) && st >> 16 == PTRACE_EVENT_STOP, "status %#x", st);
}

static bool maps_has(pid_t pid, uint64_t addr)
{
	char cmd[128], out[256];

	snprintf(cmd, sizeof(cmd), "grep -c '^%llx-' /proc/%d/maps", (unsigned long long)addr, pid);
	run_cmd(out, sizeof(out), "%s", cmd);
	return atoi(out) > 0;
}

Test(infect, getpid_and_errno)
{
	struct target t;
	struct infect inf;
	uint64_t ret;

	target_start(&t, "dump_ticker", NULL);
	seize_stop(t.pid);
	cr_assert_eq(infect_start(&inf, t.pid), 0);
	cr_assert_eq(infect_syscall(&inf, __NR_getpid, &ret, 0, 0, 0, 0, 0, 0), 0);
	cr_expect_eq(ret, (uint64_t)t.pid);
	cr_assert_eq(infect_syscall(&inf, __NR_getppid, &ret, 0, 0, 0, 0, 0, 0), 0);
	cr_expect_eq(ret, (uint64_t)getpid());
	cr_assert_eq(infect_syscall(&inf, __NR_close, &ret, (uint64_t)-1, 0, 0, 0, 0, 0), 0);
	cr_expect_eq((long)ret, -EBADF);
	cr_assert_eq(infect_stop(&inf), 0);
	ptrace(PTRACE_DETACH, t.pid, NULL, NULL);
	target_kill(&t);
}

Test(infect, scratch_mapping)
{
	struct target t;
	struct infect inf;
	char in[64] = "written by the test into the target", out[64];
	uint64_t addr;

	target_start(&t, "dump_ticker", NULL);
	seize_stop(t.pid);
	cr_assert_eq(infect_start(&inf, t.pid), 0);
	cr_assert_eq(infect_map_scratch(&inf, 8192), 0);
	addr = inf.scratch;
	cr_assert_neq(addr, 0);
	cr_expect(maps_has(t.pid, addr));
	cr_assert_eq(infect_write(&inf, addr + 4096, in, sizeof(in)), 0);
	cr_assert_eq(infect_read(&inf, addr + 4096, out, sizeof(out)), 0);
	cr_expect_str_eq(out, in);
	cr_assert_eq(infect_stop(&inf), 0);
	cr_expect(!maps_has(t.pid, addr), "scratch still mapped after infect_stop");
	ptrace(PTRACE_DETACH, t.pid, NULL, NULL);
	target_kill(&t);
}

/* The main thread spends nearly all its time blocked in read(): borrowing it
 * there must leave rax/rip so that read() restarts. Even rounds wait until
 * it is blocked there (the test wakes as the target prints, before it is
 * back in read()), odd rounds strike wherever it is; registers and mask
 * must come back bit-exact. */
Test(infect, interrupted_read_restarts)
{
	struct target t;
	char line[256];
	int errs = 0, in_read = 0;

	target_start(&t, "dump_ticker", NULL);
	for (int round = 0; round < 20; round++) {
		struct user_regs_struct before, after;
		uint64_t mask_before, mask_after, ret;
		struct infect inf;

		if (!(round & 1))
			wait_in_syscall(t.pid, t.pid, __NR_read);
		seize_stop(t.pid);
		cr_assert_eq(ptrace(PTRACE_GETREGS, t.pid, NULL, &before), 0);
		cr_assert_eq(ptrace(0x420a, t.pid, 8, &mask_before), 0);
		in_read += before.orig_rax == __NR_read && (long)before.rax == -512;
		cr_assert_eq(infect_start(&inf, t.pid), 0);
		cr_assert_eq(infect_syscall(&inf, __NR_getpid, &ret, 0, 0, 0, 0, 0, 0), 0);
		cr_assert_eq(infect_map_scratch(&inf, 4096), 0);
		cr_assert_eq(infect_stop(&inf), 0);
		cr_assert_eq(ptrace(PTRACE_GETREGS, t.pid, NULL, &after), 0);
		cr_assert_eq(ptrace(0x420a, t.pid, 8, &mask_after), 0);
		cr_expect_eq(memcmp(&before, &after, sizeof(before)), 0, "registers changed");
		cr_expect_eq(mask_before, mask_after, "mask %#lx -> %#lx", mask_before, mask_after);
		/* Odd rounds resume with PTRACE_CONT, which unlike DETACH does
		 * not itself send the thread through signal handling. */
		if (round & 1)
			cr_assert_eq(ptrace(PTRACE_CONT, t.pid, NULL, NULL), 0);
		else
			cr_assert_eq(ptrace(PTRACE_DETACH, t.pid, NULL, NULL), 0);
		for (int i = 0; i < 2; i++) {
			cr_assert(target_read_line(&t, line, sizeof(line), WAIT_MS), "target stopped printing");
			errs += !strncmp(line, "ERR", 3);
		}
		if (round & 1) {
			int st;

			cr_assert_eq(ptrace(PTRACE_INTERRUPT, t.pid, NULL, NULL), 0);
			cr_assert_eq(waitpid(t.pid, &st, __WALL), t.pid);
			cr_assert_eq(ptrace(PTRACE_DETACH, t.pid, NULL, NULL), 0);
		}
	}
	cr_expect_eq(errs, 0, "read() did not restart: %s", line);
	/* -ERESTARTSYS in rax: the thread was caught inside read() */
	cr_expect_gt(in_read, 0, "never caught the target inside read()");
	cr_expect(proc_untraced_running(t.pid));
	target_kill(&t);
}

/* A batch runs many syscalls for one stop, in order, each result in place;
 * the thread comes back with its own registers. */
Test(infect, batch_runs_calls_in_order)
{
	struct user_regs_struct before, after;
	struct infect_call calls[40];
	struct target t;
	struct infect inf;

	target_start(&t, "dump_ticker", NULL);
	seize_stop(t.pid);
	cr_assert_eq(ptrace(PTRACE_GETREGS, t.pid, NULL, &before), 0);
	cr_assert_eq(infect_start(&inf, t.pid), 0);
	cr_assert_eq(infect_map_scratch(&inf, 4096), 0);
	cr_assert_eq(infect_map_code(&inf), 0);
	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < 40; i++)
		calls[i].nr = i % 3 == 0 ? __NR_getpid : i % 3 == 1 ? __NR_getppid : __NR_close;
	for (int i = 2; i < 40; i += 3)
		calls[i].args[0] = (uint64_t)-1;
	cr_assert_eq(infect_batch(&inf, inf.scratch + 1024, calls, 40), 0);
	for (int i = 0; i < 40; i++) {
		long want = i % 3 == 0 ? t.pid : i % 3 == 1 ? getpid() : -EBADF;

		cr_expect_eq((long)calls[i].ret, want, "call %d", i);
	}
	/* and plain injections still work after a batch */
	{
		uint64_t ret;

		cr_assert_eq(infect_syscall(&inf, __NR_getpid, &ret, 0, 0, 0, 0, 0, 0), 0);
		cr_expect_eq(ret, (uint64_t)t.pid);
	}
	cr_assert_eq(infect_stop(&inf), 0);
	cr_assert_eq(ptrace(PTRACE_GETREGS, t.pid, NULL, &after), 0);
	cr_expect_eq(memcmp(&before, &after, sizeof(before)), 0, "registers changed");
	cr_assert_eq(ptrace(PTRACE_DETACH, t.pid, NULL, NULL), 0);
	{
		char line[256];

		for (int i = 0; i < 3; i++) {
			cr_assert(target_read_line(&t, line, sizeof(line), WAIT_MS));
			cr_expect_neq(strncmp(line, "ERR", 3), 0, "read() did not restart: %s", line);
		}
	}
	target_kill(&t);
}
