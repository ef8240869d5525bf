/* Images never raise privilege (issue 15). Whoever can write a dump can
 * write its creds: when the directory or any file in it is not root's, or
 * is writable by group or others, the tree is restored as the images'
 * owner (uid and gid of the first file that is not root's), with no
 * capabilities and no supplementary groups, whatever proc-PID.img says.
 * Images only root could have written are trusted as they are. A dump
 * that anyone may write but whose files are all root's names no owner to
 * fall back to: refused. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "images/arena.h"
#include "images/log.h"
#include "restore/rst.h"

struct owner {
	bool untrusted;
	bool found;
	uid_t uid;
	gid_t gid;
	const char *why;
};

static void look(struct owner *o, const struct stat *st)
{
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		o->untrusted = true;
		o->why = "writable by others";
	}
	if (st->st_uid == 0)
		return;
	o->untrusted = true;
	o->why = o->why ? o->why : "not root's";
	if (!o->found) {
		o->found = true;
		o->uid = st->st_uid;
		o->gid = st->st_gid;
	}
}

static int look_dir(int dirfd, struct owner *o)
{
	int fd = dup(dirfd);
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (fd < 0 || fstat(dirfd, &st) || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return pr_perror("cannot look at the image directory");
	}
	look(o, &st);
	while ((de = readdir(d)))
		/* A symlink's mode means nothing (a pre-dump's "parent" link):
		 * what it leads to is looked at as it is opened. */
		if (strcmp(de->d_name, "..") && !fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) &&
		    !S_ISLNK(st.st_mode))
			look(o, &st);
	closedir(d);
	return 0;
}

/* creds as the owner: ids, no groups, no capabilities (the bounding set
 * and no_new_privs as dumped: they only ever take away). */
static int as_owner(struct rst_proc *p, const struct owner *o)
{
	CredsEntry *c = p->pe->creds;

	if (!c) {
		c = arena_calloc(p->arena, 1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		creds_entry__init(c);
		c->cap_bnd = ~0ull;
		p->pe->creds = c;
	}
	c->uid = c->euid = c->suid = c->fsuid = o->uid;
	c->gid = c->egid = c->sgid = c->fsgid = o->gid;
	arena_release(p->arena, c->groups);
	c->groups = NULL;
	c->n_groups = 0;
	c->cap_inh = c->cap_prm = c->cap_eff = c->cap_amb = 0;
	return 0;
}

/* Foreign formats keep their own handle (dr.dirfd is -1): the dump's
 * directory, or the archive file itself, looked at by path. */
static int look_path(const char *path, struct owner *o)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;
	struct stat st;

	if (fd >= 0) {
		r = look_dir(fd, o);
		close(fd);
		return r;
	}
	if (stat(path, &st))
		return pr_perror("cannot look at %s", path);
	look(o, &st);
	return 0;
}

int rst_trust_images(struct rst_tree *t)
{
	struct owner o = { 0 };
	struct stat st;
	int r = t->dr.dirfd >= 0 ? look_dir(t->dr.dirfd, &o) : look_path(t->dir, &o);

	for (size_t i = 0; !r && i < t->nr_procs; i++)
		for (size_t s = 0; s < t->procs[i].nr_src; s++)
			/* A memfd is criu-lite's own (an archive's pages
			 * unpacked): only files count. */
			if (t->procs[i].src[s]->pages_fd >= 0 &&
			    fcntl(t->procs[i].src[s]->pages_fd, F_GET_SEALS) < 0 &&
			    !fstat(t->procs[i].src[s]->pages_fd, &st))
				look(&o, &st);
	if (r || !o.untrusted)
		return r;
	if (!o.found) {
		pr_err("%s: the images are writable by others and none names an owner to restore "
		       "as: refusing (chmod go-w them, or chown them to their user)", t->dir);
		return -EPERM;
	}
	pr_info("%s: images %s: restoring as uid %u gid %u without capabilities", t->dir, o.why,
		(unsigned)o.uid, (unsigned)o.gid);
	for (size_t i = 0; !r && i < t->nr_procs; i++)
		if (t->procs[i].pe)
			r = as_owner(&t->procs[i], &o);
	return r;
}
