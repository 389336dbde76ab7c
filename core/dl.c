/*
 * Libraries loaded on first use, not linked.
 *
 * A library linked into the program is mapped and relocated at the start
 * of every run, and its constructors run, whether the run needs it or
 * not. libnftables (with libnftnl, libmnl, libxtables, libgmp) cost 1 to
 * 1.7 ms a run; libpcap (with libdbus, libsystemd, libgcrypt, libibverbs'
 * company) 2.6 ms. Most runs make no firewall rule and compile no filter
 * of a script's own, so each is loaded by the first call that needs it,
 * and stays loaded for the life of the process.
 */
#include "internal.h"

#include <dlfcn.h>
#include <stdio.h>

int rsl_dl_load(bool *loaded, const char *soname, const char *package,
                const char *const *names, void **slots, size_t n, char *err, size_t errlen)
{
	if (*loaded)
		return RSL_OK;
	/* Never closed: the process may need it again. */
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		rsl_format_error(err, errlen, "cannot load %s (Debian: apt-get install %s): %s",
		                 soname, package, dlerror());
		return RSL_EUNAVAIL;
	}
	for (size_t i = 0; i < n; i++) {
		slots[i] = dlsym(h, names[i]);
		if (slots[i] == NULL) {
			rsl_format_error(err, errlen, "%s has no %s", soname, names[i]);
			dlclose(h);
			return RSL_EUNAVAIL;
		}
	}
	*loaded = true;
	return RSL_OK;
}
