/* `criu-lite show`: images built here through the image API are printed as
 * JSON, which python3's json module parses back and compares with what the
 * test wrote; the summaries are checked line by line; malformed input gets
 * one line on stderr and a non-zero exit. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/image.h"
#include "images/log.h"
#include "test/helpers.h"

/* dir: the test's scratch (show's stdout and stderr, the checker);
 * dir/d: the dump directory, opened as dfd. */
static char dir[256];
static int dfd = -1, rootfd = -1;

static void setup(void)
{
	log_set_level(0);
	make_tmpdir(dir, sizeof(dir), "show");
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(rootfd, 0);
	cr_assert_eq(mkdirat(rootfd, "d", 0700), 0);
	dfd = openat(rootfd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
}

static void teardown(void)
{
	if (dfd >= 0)
		close(dfd);
	if (rootfd >= 0)
		close(rootfd);
	dfd = rootfd = -1;
	rm_rf(dir);
}

TestSuite(show, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---- */

static void write_img(enum img_kind kind, int pid, const void *const *msgs, size_t n)
{
	struct img *img = img_create(dfd, kind, pid);

	cr_assert_not_null(img, "img_create: %s", strerror(errno));
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(img_write(img, msgs[i]), 0);
	cr_assert_eq(img_close(img), 0);
}

static void write_at(int at, const char *name, const void *p, size_t len)
{
	int fd = openat(at, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static void write_file(const char *name, const void *p, size_t len)
{
	write_at(dfd, name, p, len);
}

/* show's output, in the scratch dir */
static size_t read_file(const char *name, char *buf, size_t len)
{
	int fd = openat(rootfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	cr_assert_geq(fd, 0, "open %s", name);
	n = read(fd, buf, len - 1);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	close(fd);
	return n;
}

/* Run `criu-lite show ARGS` with stdout to out.json and stderr to err.txt
 * in the test dir; returns the exit status (128+sig if it crashed). */
static int show(const char *args)
{
	char bin[4096];

	cr_assert_not_null(realpath(criu_lite_path(), bin), "no %s", criu_lite_path());
	snprintf(bin + 2048, 2048, "%s/d", dir);
	reseal_dump(bin + 2048);
	return run_cmd(NULL, 0, "cd '%s/d' && '%s' show %s >../out.json 2>../err.txt", dir, bin, args);
}

/* Compares out.json with `expected` (JSON text) using python3's parser,
 * which rejects invalid UTF-8, raw control characters and bad escapes.
 * Objects in `expected` must be present with equal values; extra keys are
 * fine in mode "subset", refused in "exact", and refused only at the top
 * level in "top"; arrays must match element by element. */
static const char json_checker[] =
	"import json, sys\n"
	"def match(e, g, p):\n"
	"    if isinstance(e, dict):\n"
	"        if not isinstance(g, dict): return p + ': expected an object, got %r' % (g,)\n"
	"        if (exact or (top and p == '$')) and set(e) != set(g): return p + ': keys %s, expected %s' % (sorted(g), sorted(e))\n"
	"        for k in e:\n"
	"            if k not in g: return p + '.' + k + ': missing'\n"
	"            r = match(e[k], g[k], p + '.' + k)\n"
	"            if r: return r\n"
	"        return None\n"
	"    if isinstance(e, list):\n"
	"        if not isinstance(g, list) or len(g) != len(e): return p + ': expected %r, got %r' % (e, g)\n"
	"        for i in range(len(e)):\n"
	"            r = match(e[i], g[i], '%s[%d]' % (p, i))\n"
	"            if r: return r\n"
	"        return None\n"
	"    if type(e) != type(g) or e != g: return p + ': expected %r, got %r' % (e, g)\n"
	"    return None\n"
	"exact = sys.argv[3] == 'exact'\n"
	"top = sys.argv[3] == 'top'\n"
	"try:\n"
	"    got = json.load(open(sys.argv[1], encoding='utf-8'))\n"
	"except Exception as ex:\n"
	"    print('invalid JSON: %s' % ex); sys.exit(1)\n"
	"r = match(json.load(open(sys.argv[2])), got, '$')\n"
	"if r: print(r); sys.exit(1)\n";

static void assert_json(const char *expected, const char *mode)
{
	char msg[4096];
	int r;

	write_at(rootfd, "check.py", json_checker, strlen(json_checker));
	write_at(rootfd, "expected.json", expected, strlen(expected));
	/* the system python when there is one: a version manager's shim on PATH
	 * can cost a second per call */
	r = run_cmd(msg, sizeof(msg), "cd '%s' && py=/usr/bin/python3 && { [ -x $py ] || py=python3; }"
		    " && $py check.py out.json expected.json %s 2>&1", dir, mode);
	cr_assert_eq(r, 0, "show's JSON differs: %s", msg);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A failure: status 1, nothing on stdout, one line on stderr naming `what`. */
static void assert_clean_failure(int status, const char *what)
{
	char out[4096], err[4096];

	cr_assert_eq(status, 1, "exit status %d, expected 1", status);
	read_file("err.txt", err, sizeof(err));
	cr_assert_eq(count_lines(err), 1, "expected one line on stderr, got: %s", err);
	cr_assert(strstr(err, what), "stderr does not mention '%s': %s", what, err);
	cr_assert_eq(read_file("out.json", out, sizeof(out)), 0, "stdout not empty: %s", out);
}

/* ---- JSON of single images ---- */

Test(show, proc_image_exact_json)
{
	static uint8_t cmdline[] = { 'a', 'b', 0, 0xff, 0x10 };
	static uint32_t groups[] = { 4, 27 };
	CredsEntry creds = CREDS_ENTRY__INIT;
	SigactionEntry sa[2] = { SIGACTION_ENTRY__INIT, SIGACTION_ENTRY__INIT };
	SigactionEntry *sas[2] = { &sa[0], &sa[1] };
	RlimitEntry rl = RLIMIT_ENTRY__INIT, *rls[1] = { &rl };
	ProcEntry pe = PROC_ENTRY__INIT;
	const void *msgs[1] = { &pe };

	pe.pid = 4242;
	pe.ppid = 1;
	pe.pgid = 4242;
	pe.sid = 77;
	/* quote, backslash, newline, control, DEL, invalid byte, valid é, CJK */
	pe.comm = "q\"b\\n\n\x01\x7f\xff\xc3\xa9\xe6\x97\xa5";
	pe.has_cmdline = true;
	pe.cmdline.data = cmdline;
	pe.cmdline.len = sizeof(cmdline);
	pe.cwd = "/tmp";
	creds.uid = 1000;
	creds.gid = 1000;
	creds.n_groups = 2;
	creds.groups = groups;
	creds.cap_eff = 0x1ffffffffffull;
	creds.cap_bnd = 0;
	pe.creds = &creds;
	sa[0].sig = 2;
	sa[0].handler = 0x401136;
	sa[0].flags = 0x4000000;
	sa[0].restorer = 0x7f0000001000ull;
	sa[0].mask = 1ull << 14;
	sa[1].sig = 15;
	sa[1].handler = 1;
	pe.n_sigactions = 2;
	pe.sigactions = sas;
	rl.resource = 7;
	rl.cur = 1024;
	rl.max = UINT64_MAX;	/* RLIM_INFINITY must survive as an exact number */
	pe.n_rlimits = 1;
	pe.rlimits = rls;
	pe.has_nice = true;
	pe.nice = -5;
	pe.has_coredump_filter = true;
	pe.coredump_filter = 0x33;
	write_img(IMG_PROC, 4242, msgs, 1);

	cr_assert_eq(show("proc-4242.img"), 0);
	assert_json("{\"magic\": \"PROC\", \"entries\": [{"
		    "\"pid\": 4242, \"ppid\": 1, \"pgid\": 4242, \"sid\": 77,"
		    "\"comm\": \"q\\\"b\\\\n\\n\\u0001\\u007f\\u00ff\\u00e9\\u65e5\","
		    "\"cmdline\": \"616200ff10\", \"cwd\": \"/tmp\","
		    "\"rlimits\": [{\"resource\": 7, \"cur\": 1024, \"max\": 18446744073709551615}],"
		    "\"creds\": {\"uid\": 1000, \"euid\": 0, \"suid\": 0, \"fsuid\": 0, \"gid\": 1000,"
		    "  \"egid\": 0, \"sgid\": 0, \"fsgid\": 0, \"groups\": [4, 27],"
		    "  \"cap_inh\": \"0x0\", \"cap_prm\": \"0x0\", \"cap_eff\": \"0x1ffffffffff\","
		    "  \"cap_bnd\": \"0x0\", \"cap_amb\": \"0x0\"},"
		    "\"sigactions\": ["
		    "  {\"sig\": 2, \"handler\": \"0x401136\", \"flags\": \"0x4000000\","
		    "   \"restorer\": \"0x7f0000001000\", \"mask\": \"0x4000\"},"
		    "  {\"sig\": 15, \"handler\": \"0x1\", \"flags\": \"0x0\", \"restorer\": \"0x0\","
		    "   \"mask\": \"0x0\"}],"
		    "\"coredump_filter\": 51, \"nice\": -5}]}", "exact");
}

Test(show, invalid_utf8_is_escaped_not_copied)
{
	ProcEntry pe = PROC_ENTRY__INIT;
	const void *msgs[1] = { &pe };
	char out[4096];

	/* a lone continuation byte, an overlong '/', a surrogate, a truncated
	 * 3-byte sequence at the end */
	pe.comm = "\x80-\xc0\xaf-\xed\xa0\x80-\xe6\x97";
	write_img(IMG_PROC, 9, msgs, 1);
	cr_assert_eq(show("proc-9.img"), 0);
	read_file("out.json", out, sizeof(out));
	cr_assert(strstr(out, "\"\\u0080-\\u00c0\\u00af-\\u00ed\\u00a0\\u0080-\\u00e6\\u0097\""),
		  "%s", out);
	assert_json("{\"entries\": [{\"comm\": \"\\u0080-\\u00c0\\u00af-\\u00ed\\u00a0\\u0080-"
		    "\\u00e6\\u0097\"}]}", "subset");
}

Test(show, thread_bytes_hex_encode_every_byte)
{
	static uint8_t regs[256], sig0[128], sig1[128];
	ProtobufCBinaryData pend[2] = { { sizeof(sig0), sig0 }, { sizeof(sig1), sig1 } };
	SigaltstackEntry ss = SIGALTSTACK_ENTRY__INIT;
	ThreadEntry te = THREAD_ENTRY__INIT, te2 = THREAD_ENTRY__INIT;
	const void *msgs[2] = { &te, &te2 };
	char exp[8192], hex[600];
	size_t n = 0;

	for (int i = 0; i < 256; i++) {
		regs[i] = (uint8_t)i;
		n += snprintf(hex + n, sizeof(hex) - n, "%02x", i);
	}
	memset(sig0, 0xab, sizeof(sig0));
	te.tid = 10;
	te.gpregs.data = regs;
	te.gpregs.len = sizeof(regs);
	te.blocked = 0xfffffffe7ffbfeffull;
	te.n_pending = 2;
	te.pending = pend;
	ss.sp = 0x7ffc00000000ull;
	ss.flags = 2;
	ss.size = 8192;
	te.sigaltstack = &ss;
	te2.tid = 11;	/* empty required bytes: "" */
	write_img(IMG_THREADS, 10, msgs, 2);

	cr_assert_eq(show("threads-10.img"), 0);
	snprintf(exp, sizeof(exp),
		 "{\"magic\": \"THREADS\", \"entries\": ["
		 "{\"tid\": 10, \"gpregs\": \"%s\", \"blocked\": \"0xfffffffe7ffbfeff\","
		 " \"pending\": [\"%.256s\", \"%.256s\"],"
		 " \"sigaltstack\": {\"sp\": \"0x7ffc00000000\", \"flags\": 2, \"size\": 8192}},"
		 "{\"tid\": 11, \"gpregs\": \"\", \"blocked\": \"0x0\"}]}",
		 hex, "abababababababababababababababababababababababababababababababababababab"
		      "abababababababababababababababababababababababababababababababababababab"
		      "abababababababababababababababababababababababababababababababababababab"
		      "abababababababababababababababababababab",
		 "0000000000000000000000000000000000000000000000000000000000000000000000000000"
		 "0000000000000000000000000000000000000000000000000000000000000000000000000000"
		 "0000000000000000000000000000000000000000000000000000000000000000000000000000"
		 "00000000000000000000000000000000000000");
	assert_json(exp, "exact");
}

Test(show, pagemap_head_then_runs)
{
	PagemapHead head = PAGEMAP_HEAD__INIT;
	PagemapEntry e1 = PAGEMAP_ENTRY__INIT, e2 = PAGEMAP_ENTRY__INIT;
	const void *msgs[3] = { &head, &e1, &e2 };

	head.pages_file = "pages-7.img";
	e1.vaddr = 0x7f1234560000ull;
	e1.nr_pages = 3;
	e1.flags = PE_PRESENT;
	e1.has_pages_off = true;
	e1.pages_off = 0;
	e2.vaddr = 0x7f1234563000ull;
	e2.nr_pages = 1;
	e2.flags = PE_ZERO;
	write_img(IMG_PAGEMAP, 7, msgs, 3);

	cr_assert_eq(show("pagemap-7.img"), 0);
	assert_json("{\"magic\": \"PAGEMAP\", \"entries\": [{\"pages_file\": \"pages-7.img\"},"
		    "{\"vaddr\": \"0x7f1234560000\", \"nr_pages\": 3, \"flags\": \"0x1\","
		    " \"pages_off\": \"0x0\"},"
		    "{\"vaddr\": \"0x7f1234563000\", \"nr_pages\": 1, \"flags\": \"0x2\"}]}", "exact");
}

Test(show, enums_by_name_and_empty_image)
{
	FdEntry fd = FD_ENTRY__INIT;
	PipeInfo pi = PIPE_INFO__INIT;
	const void *msgs[1] = { &fd };

	fd.fd = 3;
	fd.type = FD_TYPE__FD_PIPE;
	fd.flags = O_WRONLY;
	pi.ino = 123456;
	pi.has_data = true;
	pi.data.data = (uint8_t *)"hi\n";
	pi.data.len = 3;
	fd.pipe = &pi;
	fd.link = "pipe:[123456]";
	write_img(IMG_FILES, 5, msgs, 1);
	cr_assert_eq(show("files-5.img"), 0);
	assert_json("{\"magic\": \"FILES\", \"entries\": [{\"fd\": 3, \"type\": \"FD_PIPE\","
		    " \"flags\": \"0x1\", \"pipe\": {\"ino\": 123456, \"data\": \"68690a\"},"
		    " \"link\": \"pipe:[123456]\"}]}", "exact");

	write_img(IMG_FILES, 6, NULL, 0);
	cr_assert_eq(show("files-6.img"), 0);
	assert_json("{\"magic\": \"FILES\", \"entries\": []}", "exact");
}

/* An image from a newer writer: a field our schema lacks is shown, not lost. */
Test(show, unknown_fields_are_kept)
{
	static const uint8_t img[] = {
		0x02, 0x00, 0x4c, 0x43,	/* pstree magic */
		12, 0, 0, 0,
		0x08, 5, 0x10, 1, 0x18, 5, 0x20, 5,	/* pid ppid pgid sid */
		0xa0, 0x06, 0x2a,	/* field 100 (no one's), varint 42 */
		0xaa, 0x06, 0x00,	/* field 101, empty bytes */
	};
	uint8_t fixed[sizeof(img)];

	memcpy(fixed, img, sizeof(img));
	fixed[4] = sizeof(img) - 8;
	write_file("pstree.img", fixed, sizeof(fixed));
	cr_assert_eq(show("pstree.img"), 0);
	assert_json("{\"magic\": \"PSTREE\", \"entries\": [{\"pid\": 5, \"ppid\": 1, \"pgid\": 5,"
		    " \"sid\": 5, \"_unknown\": [{\"tag\": 100, \"wire_type\": 0, \"data\": \"2a\"},"
		    " {\"tag\": 101, \"wire_type\": 2, \"data\": \"00\"}]}]}", "exact");
}

Test(show, help_and_usage_errors)
{
	char out[4096];

	cr_assert_eq(show("--help"), 0);
	read_file("out.json", out, sizeof(out));
	cr_assert(strstr(out, "usage: criu-lite show"), "%s", out);
	cr_assert_eq(show(""), 2);
	cr_assert_eq(show("--ps"), 2, "--ps without -D must be refused");
	cr_assert_eq(show("a.img b.img"), 2);
}

/* ---- failures ---- */

Test(show, missing_file)
{
	assert_clean_failure(show("no-such.img"), "no-such.img");
}

Test(show, bad_magic)
{
	write_file("proc-1.img", "hello, world", 12);
	assert_clean_failure(show("proc-1.img"), "not a criu-lite image");
}

static void write_valid_pstree(const char *name, size_t cut)
{
	PstreeEntry pe = PSTREE_ENTRY__INIT;
	const void *msgs[2] = { &pe, &pe };
	char buf[256];
	struct stat st;
	int fd;

	pe.pid = 5;
	pe.ppid = 1;
	pe.pgid = 5;
	pe.sid = 5;
	write_img(IMG_PSTREE, 0, msgs, 2);
	cr_assert_eq(fstatat(dfd, "pstree.img", &st, 0), 0);
	fd = openat(dfd, "pstree.img", O_RDONLY);
	cr_assert_eq(read(fd, buf, st.st_size), st.st_size);
	close(fd);
	unlinkat(dfd, "pstree.img", 0);
	write_file(name, buf, st.st_size - cut);
}

Test(show, truncated_entry)
{
	/* every cut inside the second entry must be refused, none may crash */
	for (size_t cut = 1; cut < 12; cut++) {
		write_valid_pstree("pstree.img", cut);
		assert_clean_failure(show("pstree.img"), "truncated");
	}
}

Test(show, corrupt_length_and_garbage)
{
	static const uint8_t huge[] = { 0x02, 0x00, 0x4c, 0x43, 0xff, 0xff, 0xff, 0xff, 0x08, 0x05 };
	static const uint8_t garbage[] = { 0x02, 0x00, 0x4c, 0x43, 0x04, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };

	write_file("pstree.img", huge, sizeof(huge));
	assert_clean_failure(show("pstree.img"), "corrupt");
	write_file("pstree.img", garbage, sizeof(garbage));
	assert_clean_failure(show("pstree.img"), "malformed");
}

Test(show, dir_missing)
{
	assert_clean_failure(show("-D no-such-dir"), "no-such-dir");
	assert_clean_failure(show("-D no-such-dir --ps"), "no-such-dir");
}

/* ---- a whole synthetic dump directory ---- */

static void build_tree(void)
{
	static uint32_t t100[] = { 100, 103, 104 }, t101[] = { 101 }, t102[] = { 102 };
	PstreeEntry p[3] = { PSTREE_ENTRY__INIT, PSTREE_ENTRY__INIT, PSTREE_ENTRY__INIT };
	const void *msgs[3] = { &p[0], &p[1], &p[2] };
	static const char *comms[3] = { "root", "child", "grandchild" };
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	const void *invp[1] = { &inv };

	p[0] = (PstreeEntry)PSTREE_ENTRY__INIT;
	p[0].pid = 100, p[0].ppid = 1, p[0].pgid = 100, p[0].sid = 90;
	p[0].n_threads = 3, p[0].threads = t100;
	p[1].pid = 101, p[1].ppid = 100, p[1].pgid = 100, p[1].sid = 90;
	p[1].n_threads = 1, p[1].threads = t101;
	p[2].pid = 102, p[2].ppid = 101, p[2].pgid = 102, p[2].sid = 90;
	p[2].n_threads = 1, p[2].threads = t102;
	write_img(IMG_PSTREE, 0, msgs, 3);
	for (int i = 0; i < 3; i++) {
		ProcEntry pe = PROC_ENTRY__INIT;
		const void *m[1] = { &pe };

		pe.pid = p[i].pid, pe.ppid = p[i].ppid, pe.pgid = p[i].pgid, pe.sid = p[i].sid;
		pe.comm = (char *)comms[i];
		write_img(IMG_PROC, pe.pid, m, 1);
	}
	inv.format_version = IMG_FORMAT_VERSION;
	inv.tool_version = CRIU_LITE_VERSION;
	inv.kernel_release = "6.18";
	inv.root_pid = 100;
	inv.page_size = 4096;
	inv.xcr0 = 0xe7;
	inv.xsave_size = 2432;
	write_img(IMG_INVENTORY, 0, invp, 1);
}

/* Process 100: two VMAs; the pagemap covers some of each, and one run
 * crosses from the first into the second. The JSON of single images shows
 * them as written, out of order if asked (every reader of a dump refuses
 * that: --mem gets them in order). */
static void build_mem(bool vmas_out_of_order)
{
	VmaEntry v[2] = { VMA_ENTRY__INIT, VMA_ENTRY__INIT };
	const void *vm[2] = { &v[1], &v[0] };
	PagemapHead head = PAGEMAP_HEAD__INIT;
	PagemapEntry e[4] = { PAGEMAP_ENTRY__INIT, PAGEMAP_ENTRY__INIT, PAGEMAP_ENTRY__INIT,
			      PAGEMAP_ENTRY__INIT };
	const void *pm[5] = { &head, &e[0], &e[1], &e[2], &e[3] };
	static char pages[5 * 4096];

	v[0].start = 0x10000, v[0].end = 0x20000;	/* 16 pages */
	v[0].prot = PROT_READ | PROT_WRITE, v[0].flags = MAP_PRIVATE | MAP_ANONYMOUS;
	v[0].name = "[heap]";
	v[1].start = 0x20000, v[1].end = 0x24000;	/* 4 pages */
	v[1].prot = PROT_READ | PROT_EXEC, v[1].flags = MAP_SHARED;
	v[1].name = "/usr/lib/libx.so";
	if (!vmas_out_of_order)
		vm[0] = &v[0], vm[1] = &v[1];
	write_img(IMG_MM, 100, vm, 2);
	head.pages_file = "pages-100.img";
	e[0].vaddr = 0x10000, e[0].nr_pages = 2, e[0].flags = PE_PRESENT;
	e[0].has_pages_off = true, e[0].pages_off = 0;
	e[1].vaddr = 0x13000, e[1].nr_pages = 3, e[1].flags = PE_ZERO;
	e[2].vaddr = 0x1f000, e[2].nr_pages = 3, e[2].flags = PE_PRESENT;	/* 1 + 2 */
	e[2].has_pages_off = true, e[2].pages_off = 2 * 4096;
	e[3].vaddr = 0x23000, e[3].nr_pages = 1, e[3].flags = PE_FILE;
	write_img(IMG_PAGEMAP, 100, pm, 5);
	write_file("pages-100.img", pages, sizeof(pages));
}

static void build_files(void)
{
	FdEntry f[5];
	FileIdentity id = FILE_IDENTITY__INIT;
	PipeInfo pr = PIPE_INFO__INIT, pw = PIPE_INFO__INIT;
	SocketInfo s = SOCKET_INFO__INIT, t = SOCKET_INFO__INIT;
	SockAddr sl = SOCK_ADDR__INIT, tl = SOCK_ADDR__INIT;
	const void *m[5] = { &f[0], &f[1], &f[2], &f[3], &f[4] };

	for (int i = 0; i < 5; i++)
		f[i] = (FdEntry)FD_ENTRY__INIT;
	f[0].fd = 0, f[0].type = FD_TYPE__FD_CHR, f[0].flags = O_RDWR, f[0].link = "/dev/null";
	f[1].fd = 3, f[1].type = FD_TYPE__FD_REG, f[1].flags = O_WRONLY | O_APPEND;
	f[1].has_pos = true, f[1].pos = 12345;
	id.path = "/tmp/log file.txt";
	f[1].file = &id;
	f[2].fd = 4, f[2].type = FD_TYPE__FD_PIPE, f[2].flags = O_RDONLY;
	pr.ino = 777, pr.has_data = true, pr.data.data = (uint8_t *)"hello", pr.data.len = 5;
	f[2].pipe = &pr;
	f[3].fd = 5, f[3].type = FD_TYPE__FD_PIPE, f[3].flags = O_WRONLY;
	pw.ino = 777;
	f[3].pipe = &pw;
	f[4].fd = 6, f[4].type = FD_TYPE__FD_SOCKET, f[4].flags = O_RDWR;
	s.family = AF_INET, s.type = SOCK_STREAM, s.has_state = true, s.state = 10;
	s.ino = 999, s.local = &sl, s.has_backlog = true, s.backlog = 128;
	sl.ip = "0.0.0.0", sl.has_port = true, sl.port = 8080;
	f[4].sock = &s;
	write_img(IMG_FILES, 100, m, 5);

	FdEntry u = FD_ENTRY__INIT;
	const void *um[1] = { &u };

	u.fd = 7, u.type = FD_TYPE__FD_SOCKET, u.flags = O_RDWR;
	t.family = AF_UNIX, t.type = SOCK_STREAM, t.has_state = true, t.state = 1, t.ino = 5001;
	t.local = &tl, tl.path = "@abstract-name", t.has_peer_ino = true, t.peer_ino = 5002;
	u.sock = &t;
	write_img(IMG_FILES, 101, um, 1);
}

Test(show, dir_json_keys_every_file)
{
	char exp[2048];

	build_tree();
	build_mem(true);
	write_file("notes.txt", "x", 1);
	cr_assert_eq(show("-D ."), 0);
	snprintf(exp, sizeof(exp),
		 "{\"inventory.img\": {\"magic\": \"INVENTORY\", \"entries\": [{\"root_pid\": 100,"
		 "   \"xcr0\": \"0xe7\", \"page_size\": 4096, \"tool_version\": \"%s\"}]},"
		 " \"pstree.img\": {\"magic\": \"PSTREE\", \"entries\": ["
		 "   {\"pid\": 100, \"threads\": [100, 103, 104]}, {\"pid\": 101}, {\"pid\": 102}]},"
		 " \"proc-100.img\": {\"magic\": \"PROC\", \"entries\": [{\"comm\": \"root\"}]},"
		 " \"proc-101.img\": {\"magic\": \"PROC\", \"entries\": [{\"comm\": \"child\"}]},"
		 " \"proc-102.img\": {\"magic\": \"PROC\", \"entries\": [{\"comm\": \"grandchild\"}]},"
		 " \"mm-100.img\": {\"magic\": \"MM\", \"entries\": [{\"start\": \"0x20000\"},"
		 "   {\"start\": \"0x10000\", \"name\": \"[heap]\"}]},"
		 " \"pagemap-100.img\": {\"magic\": \"PAGEMAP\", \"entries\": ["
		 "   {\"pages_file\": \"pages-100.img\"}, {}, {}, {}, {}]},"
		 " \"pages-100.img\": {\"raw\": true, \"size\": %d},"
		 " \"notes.txt\": {\"unknown\": true, \"size\": 1}}",
		 CRIU_LITE_VERSION, 5 * 4096);
	assert_json(exp, "top");
}

Test(show, dir_with_a_corrupt_image_stays_valid_json)
{
	char err[4096];

	build_tree();
	write_file("proc-101.img", "\x04\x00\x4c\x43\x09\x00\x00\x00\x08", 9);
	cr_assert_eq(show("-D ."), 1);
	read_file("err.txt", err, sizeof(err));
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert(strstr(err, "proc-101.img"), "%s", err);
	assert_json("{\"proc-100.img\": {\"entries\": [{\"comm\": \"root\"}]},"
		    " \"proc-101.img\": {\"error\": \"Input/output error\"},"
		    " \"proc-102.img\": {\"entries\": [{\"comm\": \"grandchild\"}]}}", "subset");
}

Test(show, ps_tree)
{
	char out[4096];
	int pid, ppid, pgid, sid, thr, indent[3];
	char comm[3][32];
	const char *line;

	build_tree();
	cr_assert_eq(show("-D . --ps"), 0);
	read_file("out.json", out, sizeof(out));
	cr_assert_eq(count_lines(out), 4, "%s", out);
	line = strchr(out, '\n') + 1;
	for (int i = 0; i < 3; i++) {
		int start, end;

		cr_assert_eq(sscanf(line, "%d %d %d %d %d %n%31s%n", &pid, &ppid, &pgid, &sid, &thr,
				    &start, comm[i], &end), 6, "%s", line);
		indent[i] = start;
		cr_assert_eq(pid, 100 + i);
		cr_assert_eq(ppid, i ? 99 + i : 1);
		cr_assert_eq(thr, i ? 1 : 3);
		cr_assert_eq(sid, 90);
		line = strchr(line, '\n') + 1;
		(void)end;
	}
	cr_assert_str_eq(comm[0], "root");
	cr_assert_str_eq(comm[1], "child");
	cr_assert_str_eq(comm[2], "grandchild");
	/* %n after the blank skip points at COMM: each generation 2 deeper */
	cr_assert_lt(indent[0], indent[1]);
	cr_assert_lt(indent[1], indent[2]);
}

static const char *find_line(const char *out, const char *needle)
{
	const char *p = strstr(out, needle);

	cr_assert(p, "no line with '%s' in:\n%s", needle, out);
	while (p > out && p[-1] != '\n')
		p--;
	return p;
}

Test(show, mem_counts_pages_per_vma)
{
	char out[8192], range[64], prot[8], size[16], name[64];
	unsigned long present, zero, file, parent, unpop;
	const char *l;

	build_tree();
	build_mem(false);
	cr_assert_eq(show("-D . --mem"), 0);
	read_file("out.json", out, sizeof(out));

	l = find_line(out, "[heap]");
	cr_assert_eq(sscanf(l, "%63s %7s %15s %lu %lu %lu %lu %lu %63s", range, prot, size, &present,
			    &zero, &file, &parent, &unpop, name), 9, "%s", l);
	cr_assert_str_eq(range, "000000010000-000000020000");
	cr_assert_str_eq(prot, "rw-p");
	cr_assert_str_eq(size, "64K");
	cr_assert_eq(present, 3);	/* 2 + the first page of the crossing run */
	cr_assert_eq(zero, 3);
	cr_assert_eq(file, 0);
	cr_assert_eq(unpop, 10);

	l = find_line(out, "/usr/lib/libx.so");
	cr_assert_eq(sscanf(l, "%63s %7s %15s %lu %lu %lu %lu %lu %63s", range, prot, size, &present,
			    &zero, &file, &parent, &unpop, name), 9, "%s", l);
	cr_assert_str_eq(prot, "r-xs");
	cr_assert_eq(present, 2);
	cr_assert_eq(file, 1);
	cr_assert_eq(unpop, 1);
	cr_assert(strstr(out, "2 VMAs, 20 pages: 5 stored in pages-100.img, 3 zero, 1 file, "
			      "0 in parent, 11 unpopulated"), "%s", out);
	/* processes without an mm image are said so, not an error */
	cr_assert(strstr(out, "pid 101 (child)\n  no mm image"), "%s", out);
}

Test(show, files_described)
{
	char out[8192];

	build_tree();
	build_files();
	cr_assert_eq(show("-D . --files"), 0);
	read_file("out.json", out, sizeof(out));
	cr_assert(strstr(find_line(out, " 0  CHR"), "/dev/null (rw)"), "%s", out);
	cr_assert(strstr(find_line(out, " 3  REG"), "/tmp/log file.txt pos 12345 (w,append)"),
		  "%s", out);
	cr_assert(strstr(find_line(out, " 4  PIPE"), "pipe:[777] 5 bytes queued (r)"), "%s", out);
	cr_assert(strstr(find_line(out, " 5  PIPE"), "pipe:[777] queued bytes recorded with fd 4"),
		  "%s", out);
	cr_assert(strstr(find_line(out, " 6  SOCKET"), "inet stream LISTEN 0.0.0.0:8080 backlog 128"),
		  "%s", out);
	cr_assert(strstr(find_line(out, " 7  SOCKET"),
			 "unix stream ESTABLISHED @abstract-name -> peer ino 5002"), "%s", out);
	cr_assert(strstr(out, "pid 102 (grandchild)\n  no files image"), "%s", out);
}

Test(show, summaries_need_a_pstree)
{
	assert_clean_failure(show("-D . --ps"), "pstree.img");
}

Test(show, ps_with_a_corrupt_proc_image_prints_the_rest)
{
	char out[4096], err[4096];

	build_tree();
	write_file("proc-101.img", "\x04\x00\x4c\x43\x09\x00\x00\x00\x08", 9);
	cr_assert_eq(show("-D . --ps"), 1);
	read_file("out.json", out, sizeof(out));
	read_file("err.txt", err, sizeof(err));
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert(strstr(err, "proc-101.img"), "%s", err);
	cr_assert(strstr(out, "root\n") && strstr(out, "  ?\n") && strstr(out, "grandchild\n"),
		  "%s", out);
}

/* ---- on a real dump ---- */

struct dumped {
	struct target t;
	pid_t pid, child, grandchild;
};

static void dump_family(struct dumped *d)
{
	char pid[16], path[300], err[4096];
	int st;

	target_start(&d->t, "dump_family", NULL);
	d->pid = target_ready_u64(&d->t, "pid");
	d->child = target_ready_u64(&d->t, "child");
	d->grandchild = target_ready_u64(&d->t, "grandchild");
	snprintf(pid, sizeof(pid), "%d", d->pid);
	snprintf(path, sizeof(path), "%s/d", dir);
	st = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", path, NULL);
	cr_assert_eq(st, 0, "dump failed (%d): %s", st, err);
}

Test(show, real_dump_as_json)
{
	struct dumped d;
	char exp[2048];

	dump_family(&d);
	cr_assert_eq(show("-D ."), 0);
	snprintf(exp, sizeof(exp),
		 "{\"inventory.img\": {\"magic\": \"INVENTORY\", \"entries\": [{\"root_pid\": %d}]},"
		 " \"pstree.img\": {\"entries\": [{\"pid\": %d, \"threads\": [%d]},"
		 "   {\"pid\": %d, \"ppid\": %d}, {\"pid\": %d, \"ppid\": %d}]},"
		 " \"proc-%d.img\": {\"entries\": [{\"pid\": %d}]},"
		 " \"threads-%d.img\": {\"entries\": [{\"tid\": %d}]},"
		 " \"files-%d.img\": {\"magic\": \"FILES\"},"
		 " \"mm-%d.img\": {\"magic\": \"MM\"},"
		 " \"pagemap-%d.img\": {\"magic\": \"PAGEMAP\"},"
		 " \"pages-%d.img\": {\"raw\": true}}",
		 d.pid, d.pid, d.pid, d.child, d.pid, d.grandchild, d.child, d.grandchild, d.grandchild,
		 d.child, d.child, d.pid, d.pid, d.pid, d.pid);
	assert_json(exp, "subset");
	target_kill(&d.t);
}

/* Every VMA /proc/PID/maps lists is in --mem with its range and protection,
 * and the per-VMA counts add up to the totals line. */
static void check_mem_against_maps(const char *out, pid_t pid)
{
	char maps[65536], needle[128], hdr[64];
	unsigned long long s, e, vmas, pages, stored, zero, file, parent, unpop;
	unsigned long long sum[5] = { 0 }, nlines = 0;
	const char *sec, *p;
	char perms[8];

	snprintf(hdr, sizeof(hdr), "pid %d (", pid);
	sec = strstr(out, hdr);
	cr_assert(sec, "no section for %d:\n%s", pid, out);
	cr_assert_eq(run_cmd(maps, sizeof(maps), "cat /proc/%d/maps", pid), 0);
	for (p = maps; *p; p = strchr(p, '\n') + 1) {
		cr_assert_eq(sscanf(p, "%llx-%llx %7s", &s, &e, perms), 3);
		snprintf(needle, sizeof(needle), "%012llx-%012llx %s ", s, e, perms);
		cr_assert(strstr(sec, needle), "pid %d: no '%s' in:\n%s", pid, needle, sec);
		if (!strchr(p, '\n'))
			break;
	}
	/* skip the "pid" and column header lines; VMA lines until the totals */
	p = strchr(strchr(sec, '\n') + 1, '\n') + 1;
	for (;; p = strchr(p, '\n') + 1) {
		unsigned long long c[5];
		char r[64], pr[8], sz[16];

		/* the totals line ("N VMAs, ...") does not scan as a VMA line */
		if (sscanf(p, "%63s %7s %15s %llu %llu %llu %llu %llu", r, pr, sz, &c[0], &c[1],
			   &c[2], &c[3], &c[4]) != 8)
			break;
		for (int i = 0; i < 5; i++)
			sum[i] += c[i];
		nlines++;
	}
	cr_assert(sscanf(p, " %llu VMAs, %llu pages: %llu stored in %*s %llu zero, %llu file, "
			      "%llu in parent, %llu unpopulated", &vmas, &pages, &stored, &zero, &file,
			      &parent, &unpop) == 7, "no totals line at: %s", p);
	cr_assert_eq(vmas, nlines);
	cr_assert_eq(stored, sum[0]);
	cr_assert_eq(zero, sum[1]);
	cr_assert_eq(file, sum[2]);
	cr_assert_eq(unpop, sum[4]);
	cr_assert_eq(pages, sum[0] + sum[1] + sum[2] + sum[3] + sum[4]);
	cr_assert_gt(stored, 0, "a running process has written pages");
}

Test(show, real_dump_summaries)
{
	struct dumped d;
	char out[65536], want[512], link[256], path[64];
	pid_t pids[3];
	ssize_t n;

	dump_family(&d);
	pids[0] = d.pid, pids[1] = d.child, pids[2] = d.grandchild;

	cr_assert_eq(show("-D . --ps"), 0);
	read_file("out.json", out, sizeof(out));
	for (int i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "%7d %7d", pids[i], i ? pids[i - 1] : getpid());
		cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
		snprintf(want, sizeof(want), "%*sdump_family\n", 2 + 2 * i, "");
		cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
	}

	cr_assert_eq(show("-D . --mem"), 0);
	read_file("out.json", out, sizeof(out));
	for (int i = 0; i < 3; i++)
		check_mem_against_maps(out, pids[i]);
	cr_assert(strstr(out, "[heap]") && strstr(out, "[stack]") && strstr(out, "[vdso]"),
		  "%s", out);

	/* stdout of the family is the pipe target_start made */
	cr_assert_eq(show("-D . --files"), 0);
	read_file("out.json", out, sizeof(out));
	snprintf(path, sizeof(path), "/proc/%d/fd/1", d.pid);
	n = readlink(path, link, sizeof(link) - 1);
	cr_assert_gt(n, 0);
	link[n] = '\0';
	snprintf(want, sizeof(want), "1  PIPE        %s", link);
	cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
	target_kill(&d.t);
}

/* --files on a process holding one fd of every kind: each line says what a
 * user would look for (queued bytes, addresses, the memfd's name). */
Test(show, real_dump_files_described)
{
	struct target t;
	char fm[300], path[300], pid[16], err[4096], out[16384], want[512];
	const char *l;
	int st;

	snprintf(fm, sizeof(fm), "%s/fm", dir);
	cr_assert_eq(mkdir(fm, 0700), 0);
	target_start(&t, "files_mix", fm, NULL);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	snprintf(path, sizeof(path), "%s/d", dir);
	st = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", path, NULL);
	cr_assert_eq(st, 0, "dump failed (%d): %s", st, err);
	cr_assert_eq(show("-D . --files"), 0);
	read_file("out.json", out, sizeof(out));

	snprintf(want, sizeof(want), "%5d  PIPE", (int)target_ready_u64(&t, "pipe_r"));
	l = find_line(out, want);
	snprintf(want, sizeof(want), " %d bytes queued (r)", (int)target_ready_u64(&t, "pipe_len"));
	cr_assert(strstr(l, want), "no '%s' in: %.200s", want, l);

	snprintf(want, sizeof(want), "%5d  SOCKET      inet stream LISTEN 127.0.0.1:%d backlog",
		 (int)target_ready_u64(&t, "tlsn"), (int)target_ready_u64(&t, "port"));
	find_line(out, want);
	snprintf(want, sizeof(want), "%5d  SOCKET      unix stream LISTEN %s/sock ",
		 (int)target_ready_u64(&t, "ulsn"), fm);
	find_line(out, want);
	snprintf(want, sizeof(want), "%5d  SOCKET      inet stream ESTABLISHED 127.0.0.1:%d -> 127.0.0.1:",
		 (int)target_ready_u64(&t, "tsrv"), (int)target_ready_u64(&t, "port"));
	find_line(out, want);
	snprintf(want, sizeof(want), "%5d  MEMFD       memfd:criu-lite-mix ",
		 (int)target_ready_u64(&t, "memfd"));
	find_line(out, want);
	snprintf(want, sizeof(want), "%5d  REG         %s/reg.txt pos ",
		 (int)target_ready_u64(&t, "reg"), fm);
	find_line(out, want);
	target_kill(&t);
}

Test(show, dir_refuses_an_image_under_another_kinds_name)
{
	char err[4096];

	build_tree();
	/* a valid pstree image, but named as process 101's proc image */
	cr_assert_eq(renameat(dfd, "pstree.img", dfd, "proc-101.img"), 0);
	cr_assert_eq(show("-D ."), 1);
	read_file("err.txt", err, sizeof(err));
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert(strstr(err, "proc-101.img") && strstr(err, "magic"), "%s", err);
	assert_json("{\"proc-101.img\": {\"error\": \"Invalid argument\"}}", "subset");
}
