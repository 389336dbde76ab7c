/*
 * rstlab.so, the module stock lua5.4 loads with require "rstlab": the same
 * library as the rstlab program, entered through luaopen_rstlab.
 */
#include "rstlab_lua.h"

/* Referencing the entry point pulls the library's objects out of the
 * static archives into this module. */
int (*const rsl_module_entry)(lua_State *L) = luaopen_rstlab;
