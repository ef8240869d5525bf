#define _GNU_SOURCE
/* Process state that must survive a dump --kill and restore. The root
 * sets: child subreaper, oom_score_adj 345, loginuid 1234 (when it may:
 * an unset one can be set once), THP disabled, KSM for the whole process,
 * a membarrier registration, no_new_privs, and on a worker thread the
 * parent death signal SIGUSR2. Its children:
 *   stopped: SIGSTOPped (job-control stop);
 *   tstp:    stopped by SIGTSTP;
 *   seven:   exited with status 7, not reaped (a zombie);
 *   termed:  killed by SIGTERM, not reaped (a zombie).
 * READY once all is in place, with the children's pids. When the file
 * argv[1] exists, it prints
 *   "STATE subreaper=1 oom=345 loginuid=N thp=1 ksm=K membarrier=1 nnp=1
 *    pdeath=12 stop=19 tstp=20 seven=7 termed=15"
 * where stop/tstp are the stop signals its waitid() reports for the stopped
 * children and seven/termed what wait() says of the zombies. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)

static volatile int worker_pdeath = -1, ask_worker;

static void nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

	while (nanosleep(&ts, &ts))
		;
}

static void *worker(void *arg)
{
	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGUSR2);
	worker_pdeath = 0;
	while (!ask_worker)
		nap_ms(1);
	prctl(PR_GET_PDEATHSIG, &worker_pdeath);
	return NULL;
}

static long knob(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		return -1;
	close(fd);
	return strtol(buf, NULL, 10);
}

static void set_knob(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY);

	if (fd >= 0) {
		if (write(fd, v, strlen(v)) < 0)
			perror(path);
		close(fd);
	}
}

static pid_t child(int how)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	if (how == 1)
		raise(SIGSTOP);
	if (how == 2)
		raise(SIGTSTP);
	if (how == 3)
		_exit(7);
	if (how == 4)
		raise(SIGTERM);
	for (;;)
		pause();
}

static char state_of(pid_t pid)
{
	char path[64], buf[256], *p;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')');
	return p ? p[2] : 0;
}

static int stop_sig(pid_t pid)
{
	siginfo_t si = { 0 };

	if (waitid(P_PID, pid, &si, WSTOPPED | WNOHANG | WNOWAIT))
		return -1;
	return si.si_pid == pid && si.si_code == CLD_STOPPED ? si.si_status : 0;
}

static int zombie_status(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, WNOHANG) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? WTERMSIG(st) : -2;
}

int main(int argc, char **argv)
{
	pid_t stopped, tstp, seven, termed;
	pthread_t th;
	int subreaper = 0, ksm;

	if (argc < 2)
		return 2;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	set_knob("/proc/self/oom_score_adj", "345");
	if (knob("/proc/self/loginuid") == 4294967295L)
		set_knob("/proc/self/loginuid", "1234");
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	ksm = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) == 0;
	syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	pthread_create(&th, NULL, worker, NULL);
	stopped = child(1);
	tstp = child(2);
	seven = child(3);
	termed = child(4);
	while (worker_pdeath < 0 || state_of(stopped) != 'T' || state_of(tstp) != 'T' ||
	       state_of(seven) != 'Z' || state_of(termed) != 'Z')
		nap_ms(1);
	target_ready("pid=%d stopped=%d tstp=%d seven=%d termed=%d", getpid(), stopped, tstp,
		     seven, termed);
	while (access(argv[1], F_OK))
		nap_ms(1);

	ask_worker = 1;
	pthread_join(th, NULL);
	prctl(PR_GET_CHILD_SUBREAPER, &subreaper);
	printf("STATE subreaper=%d oom=%ld loginuid=%ld thp=%d ksm=%d membarrier=%d nnp=%d "
	       "pdeath=%d stop=%d tstp=%d seven=%d termed=%d\n",
	       subreaper, knob("/proc/self/oom_score_adj"), knob("/proc/self/loginuid"),
	       prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0),
	       ksm ? prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) : -1,
	       !!(syscall(SYS_membarrier, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0) &
		  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED),
	       prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), worker_pdeath, stop_sig(stopped),
	       stop_sig(tstp), zombie_status(seven), zombie_status(termed));
	fflush(stdout);
	kill(stopped, SIGKILL);
	kill(tstp, SIGKILL);
	return 0;
}
