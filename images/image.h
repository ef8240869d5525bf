/* The image I/O layer: every image file is a 4-byte magic naming its kind,
 * then entries framed as `u32 length | protobuf message`. One table (image.c)
 * maps each kind to its file name, magic and protobuf-c descriptor; nothing
 * else in criu-lite knows how an image is laid out on disk. */
#ifndef CRIU_LITE_IMAGE_H
#define CRIU_LITE_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <protobuf-c/protobuf-c.h>

#include "inventory.pb-c.h"
#include "proc.pb-c.h"
#include "thread.pb-c.h"
#include "mm.pb-c.h"
#include "files.pb-c.h"
#include "crash.pb-c.h"

#define IMG_FORMAT_VERSION 1
#define CRIU_LITE_VERSION "0.1.0"

/* Largest entry a reader accepts: pipe data and XSAVE areas stay far below. */
#define IMG_MAX_ENTRY (64u << 20)

enum img_kind {
	IMG_INVENTORY,
	IMG_PSTREE,
	IMG_STATS,
	IMG_PROC,	/* proc-PID.img: one proc_entry */
	IMG_THREADS,	/* threads-PID.img: a thread_entry per thread, leader first */
	IMG_MM,		/* mm-PID.img: a vma_entry per VMA, in address order */
	IMG_PAGEMAP,	/* pagemap-PID.img: pagemap_head, then pagemap_entry runs */
	IMG_FILES,	/* files-PID.img: an fd_entry per open fd */
	IMG_CRASH,	/* crash.img: a crash_entry, in a crash store directory */
	IMG_GHOST,	/* ghost-ID.img: a deleted file's (or memfd's) head and data */
	IMG_FCOPY,	/* fcopy.img: an fcopy_entry per file the tree could write */
	IMG_KIND_COUNT
};

/* vma_entry.status */
#define VMA_AREA_REGULAR	(1u << 0)	/* ordinary mapping a process can recreate */
#define VMA_ANON		(1u << 1)
#define VMA_FILE_PRIVATE	(1u << 2)
#define VMA_FILE_SHARED		(1u << 3)
#define VMA_ANON_SHARED		(1u << 4)	/* MAP_SHARED|MAP_ANONYMOUS, SysV shm, memfd */
#define VMA_HEAP		(1u << 5)
#define VMA_STACK		(1u << 6)
#define VMA_VDSO		(1u << 7)
#define VMA_VVAR		(1u << 8)	/* [vvar] and [vvar_vclock]: never dumped */
#define VMA_VSYSCALL		(1u << 9)	/* [vsyscall]: kernel's, fixed, not a VMA to restore */
#define VMA_FILE_DELETED	(1u << 10)	/* mapped file was unlinked: contents dumped */
#define VMA_ELF_HEADER		(1u << 11)	/* file mapping whose first page is an ELF header */

/* vma_entry.madv */
#define VMA_MADV_DONTFORK	(1u << 0)
#define VMA_MADV_WIPEONFORK	(1u << 1)
#define VMA_MADV_DONTDUMP	(1u << 2)

/* pagemap_entry.flags */
#define PE_PRESENT	(1u << 0)	/* bytes are in the pages file at pages_off */
#define PE_ZERO		(1u << 1)	/* populated, all zero: nothing stored */
#define PE_FILE		(1u << 2)	/* private file page never written: read it from the file */
#define PE_PARENT	(1u << 3)	/* unchanged since the pre-dump: in the parent's images */

/* The raw copy of fcopy.img's file n ("fcopy-N.data"), and whether a
 * file name is one. */
int img_fcopy_name(uint32_t n, char *buf, size_t len);
bool img_is_fcopy_data(const char *name);

/* inventory_entry.kind */
#define INVENTORY_KIND_DUMP	0
#define INVENTORY_KIND_PREDUMP	1

struct img;
struct arena;

/* Name of an image file; pid is ignored for the per-dump kinds. */
int img_name(enum img_kind kind, int pid, char *buf, size_t len);
const ProtobufCMessageDescriptor *img_descriptor(enum img_kind kind);
/* The 4 bytes an image of this kind starts with (little-endian u32). */
uint32_t img_magic(enum img_kind kind);
/* Which kind a file name is (and its pid), or -1. */
int img_kind_from_name(const char *name, int *pid);

/* Create an image for writing: any old file of that name is unlinked first,
 * then created O_EXCL|O_NOFOLLOW mode 0600, so a planted symlink cannot
 * redirect the write. Returns NULL with errno set, after logging. */
struct img *img_create(int dirfd, enum img_kind kind, int pid);
int img_write(struct img *img, const void *msg);
/* Flushes and closes; returns the first error any write met (-errno). */
int img_close(struct img *img);
/* Close and remove a half-written image. */
void img_abort(struct img *img, int dirfd);

/* Open an image for reading and check its magic. NULL with errno set:
 * ENOENT (logged only when `must_exist`), EINVAL for a bad magic. */
struct img *img_open(int dirfd, enum img_kind kind, int pid, bool must_exist);
/* Open by file name (for `show FILE.img`); the magic decides the kind. */
struct img *img_open_path(const char *path);
enum img_kind img_kind_of(const struct img *img);
/* Read the next entry: 1 and *out set, 0 at a clean end of file, -errno on
 * a truncated or malformed entry (logged, naming the file). The descriptor
 * is the table's unless `desc` is given (pagemap_head). */
int img_read(struct img *img, const ProtobufCMessageDescriptor *desc, void **out);
void img_close_read(struct img *img);
/* Entries read from img from now on are unpacked into a (images/arena.h;
 * NULL: the heap, as by default): they are freed with the arena, never
 * with img_free; the read_one/read_all helpers below respect that on
 * their own errors. */
void img_use_arena(struct img *img, struct arena *a);

/* The parts of img_read, for image_read_all.c: the next entry's bytes,
 * hashed, counted and checked as img_read does (1, *p valid until the next
 * call, to be freed when *owned), 0 at the end, or -errno (logged); one
 * entry unpacked into a (NULL: the heap; NULL returned: malformed, which
 * img_malformed says); an entry read, given back (only the heap's are
 * freed); the arena set, the file's name and size. */
int img_frame(struct img *img, uint8_t **p, uint32_t *len, bool *owned);
void *img_unpack(const struct img *img, const ProtobufCMessageDescriptor *desc,
		 struct arena *a, const uint8_t *p, uint32_t len);
void img_malformed(const struct img *img);
void img_drop(const struct img *img, void *msg);
struct arena *img_arena(const struct img *img);
const char *img_file_name(const struct img *img);
long long img_file_size(const struct img *img);

/* msg appended to the array *v of *n entries (room for *cap, grown by
 * doubling): 0, or -ENOMEM with nothing changed. */
int img_push(void ***v, size_t *n, size_t *cap, void *msg);

/* Convenience: open, read exactly one entry, close. -ENOENT if absent. */
int img_read_one(int dirfd, enum img_kind kind, int pid, bool must_exist, void **out);
/* The same on an open image, closed after; img_read_all_from likewise. */
int img_read_one_from(struct img *img, void **out);
int img_read_all_from(struct img *img, const ProtobufCMessageDescriptor *first, void ***out,
		      size_t *n);
/* Integrity (images/image_sum.h): at its end, the image must match sum
 * (entries, size, hash) or img_read fails there. sum must outlive img. */
void img_expect(struct img *img, const ImageSum *sum);
/* Whether the image ended in a good seal (inventory.img since issue 15). */
bool img_sealed(const struct img *img);
/* Every entry of an image into a malloc'd array (*n of them), the first
 * decoded with `first` if given (pagemap_head). 0, or -errno with nothing
 * left allocated; -ENOENT logged only when `must_exist`. */
int img_read_all(int dirfd, enum img_kind kind, int pid, bool must_exist,
		 const ProtobufCMessageDescriptor *first, void ***out, size_t *n);
/* img_read_one and img_read_all (no `first`), their entries unpacked into
 * a: free the array of img_read_all_in with free(), its entries with a. */
int img_read_one_in(int dirfd, enum img_kind kind, int pid, bool must_exist, struct arena *a,
		    void **out);
int img_read_all_in(int dirfd, enum img_kind kind, int pid, bool must_exist, struct arena *a,
		    void ***out, size_t *n);
/* img_free each of v[0..n) and free v. */
void img_free_all(void **v, size_t n);
void img_free(void *msg);

/* Create a raw file in the dump directory with the same safety as images. */
int img_create_raw(int dirfd, const char *name);
/* write() until all of p is out (retrying EINTR): 0, or -errno (-EIO for
 * a write that took nothing), for raw files such as pages images. */
int img_write_all(int fd, const void *p, size_t len);
/* A whole image of n entries (one: &msg, 1), or none: a half-written
 * image is removed. 0 or -errno (logged). */
int img_write_entries(int dirfd, enum img_kind kind, int pid, void *const *msgs, size_t n);
/* The directory a dump is written into, opened (O_DIRECTORY): created if
 * missing (*made, when not NULL, says so), refused if it already holds an
 * inventory. The fd or -errno (logged). */
int img_dir_create(const char *dir, bool *made);
/* Atomically publish the inventory: written to a temporary name, then renamed.
 * It lists the sums of every file noted in dirfd (image_sum.h), and is sealed. */
int img_write_inventory(int dirfd, const InventoryEntry *inv);

#endif
