/* Two pty pairs the program holds both ends of, in every state a restore
 * must keep: pair A with its own termios (raw-ish, odd control chars and
 * speed), a window size, packet mode on the master, the slave in exclusive
 * mode, bytes queued each way (written by the slave, not read by the
 * master; written by the master, not read by the slave); pair B locked,
 * its slave never opened.
 *
 * argv[1]: file to wait for. READY pid=P a=N b=M (the /dev/pts numbers).
 * After the wait it prints one line:
 *   PTY termios=<0|1> winsize=RxC pkt=<0|1> locka=<0|1> lockb=<0|1> excl=<0|1>
 *       out=<bytes> in=<bytes> ping=<bytes> pong=<bytes> index=<same|N>
 * termios is 1 when TCGETS2 reads what it read before the dump. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <asm/termbits.h>
#include <sys/ioctl.h>

#include "target.h"

int posix_openpt(int flags);
int unlockpt(int fd);

static struct termios2 want;

/* What fd has to read within a second (packet mode: the data byte first). */
static void take(int fd, char *buf, size_t len, int packet)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char tmp[256];
	ssize_t n = -1;

	buf[0] = '\0';
	if (poll(&p, 1, 1000) == 1)
		n = read(fd, tmp, sizeof(tmp) - 1);
	if (n <= packet)
		return;
	tmp[n] = '\0';
	if (packet && tmp[0] != 0)	/* TIOCPKT_DATA */
		return;
	snprintf(buf, len, "%s", tmp + packet);
	buf[strcspn(buf, "\r\n")] = '\0';
}

static int open_pair(int *slave, unsigned int *idx)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	if (m < 0 || unlockpt(m) || ioctl(m, TIOCGPTN, idx))
		exit(1);
	if (slave)
		*slave = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	return m;
}

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	struct winsize ws = { 33, 111, 640, 480 };
	int ma, sa, mb, one = 1, v;
	unsigned int ia, ib, now;
	struct termios2 got;
	char out[64], in[64], ping[64], pong[64];

	if (argc < 2)
		return 2;
	ma = open_pair(&sa, &ia);
	mb = open_pair(NULL, &ib);
	if (ioctl(sa, TCGETS2, &want))
		return 1;
	want.c_lflag &= ~(ICANON | ECHO | ISIG);
	want.c_iflag &= ~ICRNL;
	want.c_oflag |= OPOST | ONLCR;
	want.c_cc[VMIN] = 1;
	want.c_cc[VTIME] = 0;
	want.c_cc[VINTR] = 0x07;
	want.c_cflag = (want.c_cflag & ~CBAUD) | B57600;
	if (ioctl(sa, TCSETS2, &want) || ioctl(sa, TCGETS2, &want) ||
	    ioctl(sa, TIOCSWINSZ, &ws) || ioctl(ma, TIOCPKT, &one) || ioctl(sa, TIOCEXCL) ||
	    ioctl(mb, TIOCSPTLCK, &one))
		return 1;
	/* queued: the slave's output (ONLCR makes \n \r\n), the master's input */
	if (write(sa, "to-master\n", 10) != 10 || write(ma, "to-slave\r", 9) != 9)
		return 1;
	for (int i = 0; i < 1000; i++) {
		int qm = 0, qs = 0;

		ioctl(ma, FIONREAD, &qm);
		ioctl(sa, FIONREAD, &qs);
		if (qm == 11 && qs == 9)
			break;
		nanosleep(&ms, NULL);
	}
	target_ready("pid=%d a=%u b=%u", getpid(), ia, ib);
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);

	printf("PTY termios=%d", !ioctl(sa, TCGETS2, &got) && !memcmp(&got, &want, sizeof(got)));
	memset(&ws, 0, sizeof(ws));
	ioctl(sa, TIOCGWINSZ, &ws);
	printf(" winsize=%ux%u+%ux%u", ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel);
	printf(" pkt=%d", !ioctl(ma, TIOCGPKT, &v) ? v : -1);
	printf(" locka=%d", !ioctl(ma, TIOCGPTLCK, &v) ? v : -1);
	printf(" lockb=%d", !ioctl(mb, TIOCGPTLCK, &v) ? v : -1);
	printf(" excl=%d", !ioctl(sa, TIOCGEXCL, &v) ? v : -1);
	take(ma, out, sizeof(out), 1);
	take(sa, in, sizeof(in), 0);
	if (write(sa, "ping\n", 5) != 5 || write(ma, "pong", 4) != 4)
		return 1;
	take(ma, ping, sizeof(ping), 1);
	take(sa, pong, sizeof(pong), 0);
	printf(" out=%s in=%s ping=%s pong=%s", out, in, ping, pong);
	if (!ioctl(ma, TIOCGPTN, &now) && now == ia)
		printf(" index=same\n");
	else
		printf(" index=%u\n", now);
	fflush(stdout);
	return 0;
}
