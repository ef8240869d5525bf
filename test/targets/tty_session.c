/* A session with a pty of its own as controlling terminal, as a terminal
 * emulator or sshd makes one: the root holds the master; S starts a new
 * session and takes the slave as its controlling terminal; J, S's child,
 * leads the foreground group.
 *
 * argv[1]: file to wait for. READY pid=P s=S once all is set. After the
 * wait S prints "S leader=<0|1> ctty=<0|1> fg=<0|1>" (it leads its
 * session, /dev/tty is the slave and its session's, J's group is in the
 * foreground); then the root types ^C on the master and J, whose group is
 * the foreground, prints "J sigint pgid=<0|1> sid=<0|1>". */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include "target.h"

int posix_openpt(int flags);
int unlockpt(int fd);
char *ptsname(int fd);

static volatile sig_atomic_t got_int;

static void on_int(int sig)
{
	(void)sig;
	got_int = 1;
}

static void wait_go(const char *go)
{
	const struct timespec ms = { 0, 1000 * 1000 };

	while (access(go, F_OK))
		nanosleep(&ms, NULL);
}

static int job(int ready, pid_t s)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	struct sigaction sa = { .sa_handler = on_int };

	sigaction(SIGINT, &sa, NULL);
	setpgid(0, 0);
	if (write(ready, "j", 1) != 1)
		return 1;
	while (!got_int)
		nanosleep(&ms, NULL);
	printf("J sigint pgid=%d sid=%d\n", getpgrp() == getpid(), getsid(0) == s);
	fflush(stdout);
	return 0;
}

static int session(const char *slave, const char *go, int ready, int said)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	unsigned int a = 0, b = 1;
	int fd, tty;
	pid_t j;

	setsid();
	fd = open(slave, O_RDWR);	/* the first terminal a leader opens is its own */
	j = fork();
	if (j == 0)
		return job(ready, getppid());
	setpgid(j, j);
	sigaction(SIGINT, &ign, NULL);
	if (fd < 0 || tcsetpgrp(fd, j) || write(ready, "s", 1) != 1)
		return 1;
	wait_go(go);
	tty = open("/dev/tty", O_RDWR);
	printf("S leader=%d ctty=%d fg=%d\n", getsid(0) == getpid(),
	       tty >= 0 && !ioctl(tty, TIOCGDEV, &a) && !ioctl(fd, TIOCGDEV, &b) && a == b &&
	       tcgetsid(tty) == getpid(), tcgetpgrp(fd) == j);
	fflush(stdout);
	if (write(said, "s", 1) != 1)
		return 1;
	waitpid(j, NULL, 0);
	return 0;
}

int main(int argc, char **argv)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY), ready[2], said[2];
	char slave[64], c;
	pid_t s;

	if (argc < 2 || m < 0 || unlockpt(m) || pipe(ready) || pipe(said))
		return 2;
	snprintf(slave, sizeof(slave), "%s", ptsname(m));
	s = fork();
	if (s == 0) {
		close(m);
		return session(slave, argv[1], ready[1], said[1]);
	}
	for (int i = 0; i < 2; i++)
		if (read(ready[0], &c, 1) != 1)
			return 1;
	target_ready("pid=%d s=%d", getpid(), s);
	if (read(said[0], &c, 1) != 1)	/* S has reported, after the go */
		return 1;
	if (write(m, "\003", 1) != 1)
		return 1;
	waitpid(s, NULL, 0);
	return 0;
}
