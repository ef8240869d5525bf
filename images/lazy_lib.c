/* Loading a library on first use: see lazy_lib.h. */
#include <dlfcn.h>
#include <errno.h>

#include "images/lazy_lib.h"
#include "images/log.h"

int lazy_lib_load(struct lazy_lib *l)
{
	void *h;

	if (l->state)
		return l->state > 0 ? 0 : l->state;
	/* RTLD_NODELETE: the pointers stay good after any later dlclose. */
	h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!h) {
		pr_err("cannot load %s, needed %s: %s (is its Debian package installed?)",
		       l->soname, l->what, dlerror());
		return l->state = -ENOENT;
	}
	for (size_t i = 0; i < l->nr; i++) {
		*l->syms[i].slot = dlsym(h, l->syms[i].name);
		if (!*l->syms[i].slot) {
			pr_err("cannot load %s, needed %s: it has no %s", l->soname, l->what,
			       l->syms[i].name);
			return l->state = -ENOENT;
		}
	}
	l->state = 1;
	return 0;
}
