/* Restore target: vector registers hold known values across a dump. The
 * main thread loads ymm0-15 (and, with AVX-512, zmm0-31 and k1-k7) in
 * assembly and then loops in assembly, sleeping 1 ms per turn in
 * nanosleep, until the file argv[1] exists; only then does it store the
 * registers and compare. Another thread prints READY once the registers
 * are loaded, so that printing cannot disturb them. Prints "AVX ok ..." or
 * "AVX BAD ...". */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static uint8_t in[32 * 64] __attribute__((aligned(64)));
static uint8_t out[32 * 64] __attribute__((aligned(64)));
static uint64_t kin[8], kout[8];
static volatile int loaded;
static const struct timespec ms = { 0, 1000 * 1000 };
static const char *go;

/* Sleep 1 ms, then access(go, F_OK); again until it succeeds. */
#define WAIT_LOOP \
	"movl $1, %[flag]\n\t" \
	"1:\n\t" \
	"mov $35, %%eax\n\t" "mov %[ts], %%rdi\n\t" "xor %%esi, %%esi\n\t" "syscall\n\t" \
	"mov $21, %%eax\n\t" "mov %[path], %%rdi\n\t" "xor %%esi, %%esi\n\t" "syscall\n\t" \
	"test %%eax, %%eax\n\t" "jnz 1b\n\t"

#define LY(n) "vmovdqu " #n "*32(%[in]), %%ymm" #n "\n\t"
#define SY(n) "vmovdqu %%ymm" #n ", " #n "*32(%[out])\n\t"
#define Y16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)

static void spin_ymm(void)
{
	__asm__ volatile(Y16(LY) WAIT_LOOP Y16(SY)
			 : [flag] "=m"(loaded)
			 : [in] "r"(in), [out] "r"(out), [ts] "r"(&ms), [path] "r"(go)
			 : "rax", "rcx", "rdx", "rsi", "rdi", "r11", "memory", "cc",
			   "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
			   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

#define LZ(n) "vmovdqu64 " #n "*64(%[in]), %%zmm" #n "\n\t"
#define SZ(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%[out])\n\t"
#define LK(n) "kmovq " #n "*8(%[kin]), %%k" #n "\n\t"
#define SK(n) "kmovq %%k" #n ", " #n "*8(%[kout])\n\t"
#define Z32(M) Y16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) \
	M(27) M(28) M(29) M(30) M(31)
#define K7(M) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

__attribute__((target("avx512f,avx512bw")))
static void spin_zmm(void)
{
	__asm__ volatile(Z32(LZ) K7(LK) WAIT_LOOP Z32(SZ) K7(SK)
			 : [flag] "=m"(loaded)
			 : [in] "r"(in), [out] "r"(out), [kin] "r"(kin), [kout] "r"(kout),
			   [ts] "r"(&ms), [path] "r"(go)
			 : "rax", "rcx", "rdx", "rsi", "rdi", "r11", "memory", "cc",
			   "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
			   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",
			   "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
			   "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31",
			   "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

static int zmm;

static void *announce(void *arg)
{
	(void)arg;
	while (!loaded)
		usleep(1000);
	target_ready("pid=%d avx512=%d", getpid(), zmm);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t regs, width;
	pthread_t th;

	if (argc < 2)
		return 2;
	go = argv[1];
	zmm = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3) ^ 0xa5;
	for (int k = 0; k < 8; k++)
		kin[k] = 0x0123456789abcdefull * (uint64_t)(k + 1);
	pthread_create(&th, NULL, announce, NULL);
	if (zmm)
		spin_zmm();
	else
		spin_ymm();
	regs = zmm ? 32 : 16;
	width = zmm ? 64 : 32;
	for (size_t r = 0; r < regs; r++)
		for (size_t b = 0; b < width; b++)
			if (out[r * width + b] != in[r * width + b]) {
				printf("AVX BAD %cmm%zu byte %zu\n", zmm ? 'z' : 'y', r, b);
				return 1;
			}
	for (int k = 1; zmm && k < 8; k++)
		if (kout[k] != kin[k]) {
			printf("AVX BAD k%d\n", k);
			return 1;
		}
	printf("AVX ok %s=%zu k=%d\n", zmm ? "zmm" : "ymm", regs, zmm ? 7 : 0);
	fflush(stdout);
	return 0;
}
