/* procinfo_collect on a live target that reports its own identity: what
 * /proc gave procinfo must match what the process sees through syscalls. */
#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criu-lite/capture/capture.h"
#include "common/vma.h"
#include "images/image.h"
#include "test/helpers.h"

/* Static, not a pointer to the test's own struct: fini runs after the test
 * function's frame is gone (also when an assertion fails). */
static pid_t cur_pid;
static char cur_dir[256];

static void cleanup(void)
{
	test_cleanup(&cur_pid, cur_dir);
}

TestSuite(procinfo, .fini = cleanup, .timeout = 30);

static const char env_val[] = "procinfo value with spaces";

struct pi {
	struct target t;
	char dir[256];
	ProcEntry *pe;
};

static void pi_run(struct pi *pi)
{
	struct dump_proc p = { 0 };
	int status;

	make_tmpdir(pi->dir, sizeof(pi->dir), "procinfo");
	snprintf(cur_dir, sizeof(cur_dir), "%s", pi->dir);
	setenv("PROCINFO_TEST_VAR", env_val, 1);
	target_start(&pi->t, "proc_info", pi->dir, "arg with space", "", "last", NULL);
	cur_pid = pi->t.pid;
	cr_assert_eq(ptrace(PTRACE_SEIZE, pi->t.pid, 0, 0), 0);
	cr_assert_eq(ptrace(PTRACE_INTERRUPT, pi->t.pid, 0, 0), 0);
	cr_assert_eq(waitpid(pi->t.pid, &status, __WALL), pi->t.pid);
	p.pid = pi->t.pid;
	p.state = 'S';
	cr_assert_eq(procinfo_collect(&p, &pi->pe), 0);
	cr_assert_not_null(pi->pe);
	cr_assert_eq(ptrace(PTRACE_DETACH, pi->t.pid, 0, 0), 0);
}

static void pi_done(struct pi *pi)
{
	img_free(pi->pe);
	cleanup();
}

Test(procinfo, identity_and_paths)
{
	char exe[PATH_MAX], dir[PATH_MAX], hex[256], got[129] = "";
	const char *argv[] = { NULL, NULL, "arg with space", "", "last" };
	struct stat st;
	struct pi pi;
	size_t off = 0;

	pi_run(&pi);
	cr_assert_eq(pi.pe->pid, (uint32_t)pi.t.pid);
	cr_assert_eq(pi.pe->ppid, (uint32_t)getpid());
	cr_assert_eq(pi.pe->pgid, (uint32_t)pi.t.pid, "target_start puts it in its own group");
	cr_assert_eq(pi.pe->sid, (uint32_t)getsid(0));
	cr_assert_str_eq(pi.pe->comm, "proc_info");
	cr_assert_str_eq(pi.pe->state, "S");

	/* cmdline: every argument, NUL-terminated, the empty one included. */
	argv[0] = target_path("proc_info");
	argv[1] = pi.dir;
	cr_assert(pi.pe->has_cmdline);
	for (int i = 0; i < 5; i++) {
		size_t l = strlen(argv[i]) + 1;

		cr_assert_leq(off + l, pi.pe->cmdline.len);
		cr_assert(!memcmp(pi.pe->cmdline.data + off, argv[i], l), "argv[%d]", i);
		off += l;
	}
	cr_assert_eq(off, pi.pe->cmdline.len);
	cr_assert(pi.pe->has_environ);
	cr_assert(memmem(pi.pe->environ.data, pi.pe->environ.len,
			 "\0PROCINFO_TEST_VAR=procinfo value with spaces\0", 46) != NULL);

	cr_assert_not_null(realpath(pi.dir, dir));
	cr_assert_str_eq(pi.pe->cwd, dir);
	cr_assert_str_eq(pi.pe->root, "/");
	cr_assert_not_null(realpath(target_path("proc_info"), exe));
	cr_assert_not_null(pi.pe->exe);
	cr_assert_str_eq(pi.pe->exe->path, exe);
	cr_assert_eq(stat(exe, &st), 0);
	cr_assert_eq(pi.pe->exe->ino, st.st_ino);
	cr_assert_eq(pi.pe->exe->dev, st.st_dev);
	cr_assert_eq(pi.pe->exe->size, (uint64_t)st.st_size);
	cr_assert_eq(pi.pe->exe->mtime_ns,
		     (uint64_t)st.st_mtim.tv_sec * 1000000000ull + st.st_mtim.tv_nsec);
	cr_assert_eq(run_cmd(hex, sizeof(hex), "eu-readelf -n '%s' | awk '/Build ID:/{print $3}'",
			     exe), 0);
	hex[strcspn(hex, "\n")] = '\0';
	cr_assert(pi.pe->exe->has_build_id);
	for (size_t i = 0; i < pi.pe->exe->build_id.len && i < 64; i++)
		sprintf(got + 2 * i, "%02x", pi.pe->exe->build_id.data[i]);
	cr_assert_str_eq(got, hex);
	pi_done(&pi);
}

static const RlimitEntry *rlimit_of(const ProcEntry *pe, int res)
{
	for (size_t i = 0; i < pe->n_rlimits; i++)
		if (pe->rlimits[i]->resource == (uint32_t)res)
			return pe->rlimits[i];
	return NULL;
}

Test(procinfo, limits_and_settings)
{
	struct rlimit mine;
	struct pi pi;

	pi_run(&pi);
	cr_assert_eq(pi.pe->n_rlimits, RLIM_NLIMITS);
	cr_assert_eq(rlimit_of(pi.pe, RLIMIT_NOFILE)->cur, 777);
	getrlimit(RLIMIT_NOFILE, &mine);
	cr_assert_eq(rlimit_of(pi.pe, RLIMIT_NOFILE)->max, mine.rlim_max);
	cr_assert_eq(rlimit_of(pi.pe, RLIMIT_CORE)->cur, 12289);
	/* Limits the target left alone are ours (inherited). */
	getrlimit(RLIMIT_STACK, &mine);
	cr_assert_eq(rlimit_of(pi.pe, RLIMIT_STACK)->cur, mine.rlim_cur);
	cr_assert_eq(rlimit_of(pi.pe, RLIMIT_STACK)->max, mine.rlim_max);
	cr_assert(pi.pe->has_umask);
	cr_assert_eq(pi.pe->umask, 027);
	cr_assert(pi.pe->personality & ADDR_NO_RANDOMIZE);
	cr_assert_eq(pi.pe->coredump_filter, 0x37);
	cr_assert_eq(pi.pe->nice, 5);
	cr_assert_eq(pi.pe->exit_signal, SIGCHLD);
	cr_assert_gt(pi.pe->start_time, 0);
	cr_assert_eq(pi.pe->n_sigactions, 0);
	pi_done(&pi);
}

Test(procinfo, creds_and_capabilities)
{
	struct pi pi;
	const CredsEntry *c;
	const uint32_t groups[] = { 4, 7, 1234 };

	pi_run(&pi);
	c = pi.pe->creds;
	cr_assert_not_null(c);
	cr_assert_eq(c->uid, target_ready_u64(&pi.t, "uid"));
	cr_assert_eq(c->euid, target_ready_u64(&pi.t, "euid"));
	cr_assert_eq(c->suid, target_ready_u64(&pi.t, "suid"));
	cr_assert_eq(c->fsuid, c->euid, "setresuid moves fsuid with euid");
	cr_assert_eq(c->gid, target_ready_u64(&pi.t, "gid"));
	cr_assert_eq(c->egid, target_ready_u64(&pi.t, "egid"));
	cr_assert_eq(c->sgid, target_ready_u64(&pi.t, "sgid"));
	cr_assert_eq(c->fsgid, c->egid);
	cr_assert_eq(c->n_groups, 3);
	cr_assert_arr_eq(c->groups, groups, sizeof(groups));
	cr_assert_eq(c->cap_inh, target_ready_u64(&pi.t, "inh"));
	cr_assert_eq(c->cap_prm, target_ready_u64(&pi.t, "prm"));
	cr_assert_eq(c->cap_eff, target_ready_u64(&pi.t, "eff"));
	cr_assert_eq(c->cap_bnd, target_ready_u64(&pi.t, "bnd"));
	cr_assert_eq(c->cap_amb, target_ready_u64(&pi.t, "amb"));
	cr_assert_eq(c->no_new_privs, 1);
	cr_assert_eq(c->seccomp_mode, 0);
	pi_done(&pi);
}

static const struct vma *vma_in(const struct vma_list *vl, uint64_t a, const char *name)
{
	const struct vma *v = vma_list_find(vl, a);

	cr_assert_not_null(v, "%#lx is in no VMA", (unsigned long)a);
	if (name)
		cr_assert_str_eq(v->name, name, "%#lx", (unsigned long)a);
	return v;
}

static void read_target(pid_t pid, uint64_t a, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)a, len };

	cr_assert_eq(process_vm_readv(pid, &l, 1, &r, 1, 0), (ssize_t)len);
}

Test(procinfo, mm_fields_match_maps)
{
	char exe[PATH_MAX];
	struct vma_list vl;
	const MmFields *mm;
	const struct vma *v;
	struct pi pi;
	uint8_t *buf;
	uint64_t pagesz = 0, vdso = 0;

	pi_run(&pi);
	mm = pi.pe->mm;
	cr_assert_not_null(mm);
	cr_assert_eq(vma_list_read(pi.t.pid, false, &vl), 0);
	cr_assert_not_null(realpath(target_path("proc_info"), exe));
	v = vma_in(&vl, mm->start_code, exe);
	cr_assert(v->prot & PROT_EXEC);
	cr_assert_leq(mm->end_code, v->end);
	vma_in(&vl, mm->start_data, exe);
	vma_in(&vl, mm->end_data - 1, exe);
	vma_in(&vl, mm->start_stack, "[stack]");
	v = vma_in(&vl, target_ready_u64(&pi.t, "heap"), "[heap]");
	cr_assert_eq(mm->start_brk, v->start);
	cr_assert_eq(mm->brk, v->end);

	/* arg and env areas hold exactly what cmdline and environ hold. */
	cr_assert_eq(mm->arg_end - mm->arg_start, pi.pe->cmdline.len);
	buf = malloc(pi.pe->cmdline.len);
	read_target(pi.t.pid, mm->arg_start, buf, pi.pe->cmdline.len);
	cr_assert(!memcmp(buf, pi.pe->cmdline.data, pi.pe->cmdline.len));
	free(buf);
	cr_assert_eq(mm->env_end - mm->env_start, pi.pe->environ.len);

	/* auxv is the raw array: the page size and the vdso are where maps says. */
	cr_assert_eq(pi.pe->auxv.len % sizeof(Elf64_auxv_t), 0);
	for (size_t i = 0; i < pi.pe->auxv.len / sizeof(Elf64_auxv_t); i++) {
		const Elf64_auxv_t *a = (const Elf64_auxv_t *)pi.pe->auxv.data + i;

		if (a->a_type == AT_PAGESZ)
			pagesz = a->a_un.a_val;
		if (a->a_type == AT_SYSINFO_EHDR)
			vdso = a->a_un.a_val;
	}
	cr_assert_eq(pagesz, (uint64_t)sysconf(_SC_PAGESIZE));
	cr_assert_eq(vma_in(&vl, vdso, "[vdso]")->start, vdso);
	vma_list_free(&vl);
	pi_done(&pi);
}

Test(procinfo, gone_process_fails_cleanly)
{
	struct dump_proc p = { 0 };
	ProcEntry *pe = (ProcEntry *)1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	p.pid = pid;
	cr_assert_lt(procinfo_collect(&p, &pe), 0);
	cr_assert_null(pe);
}

/* Same uids as ours: prlimit() answers (no /proc/PID/limits fallback). */
Test(procinfo, rlimits_of_a_plain_child)
{
	struct dump_proc p = { 0 };
	struct rlimit rl, mine;
	ProcEntry *pe;
	int pfd[2];
	char c;
	pid_t pid;

	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = 555;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(pfd[0], &c, 1), 1);
	p.pid = pid;
	cr_assert_eq(procinfo_collect(&p, &pe), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	getrlimit(RLIMIT_NOFILE, &mine);
	cr_assert_eq(rlimit_of(pe, RLIMIT_NOFILE)->cur, 555);
	cr_assert_eq(rlimit_of(pe, RLIMIT_NOFILE)->max, mine.rlim_max);
	cr_assert_eq(pe->creds->uid, getuid());
	img_free(pe);
}
