/*
 * rstlab.so, the module stock lua5.4 loads with require "rstlab": the same
 * library as the rstlab program, entered through luaopen_rstlab.
 */
#include "rstlab_lua.h"

/* Referencing the entry point pulls the library's objects out of the
 * static archives into this module. */
int (*const rsl_module_entry)(lua_State *L) = luaopen_rstlab;

#if defined(__SANITIZE_ADDRESS__)
#include <stdlib.h>
#include <string.h>

/* A module built with AddressSanitizer can only be loaded by the stock
 * (uninstrumented) lua5.4 with the ASan runtime preloaded (LD_PRELOAD; see
 * tests/tests.cmake). Once loaded, the runtime must not follow into the
 * programs this process starts (sh, find, sort): they are not ours, and
 * their leaks at exit would read as ours. Forked scenario processes keep
 * the runtime: they are copies of this process. */
__attribute__((constructor)) static void rsl_module_drop_preload(void)
{
	const char *p = getenv("LD_PRELOAD");
	if (p != NULL && strstr(p, "asan") != NULL)
		unsetenv("LD_PRELOAD");
}
#endif
