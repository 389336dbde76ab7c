/*
 * rstlab for C programs that embed Lua: the one installed header that
 * mentions lua_State.
 *
 * luaopen_rstlab(L) returns the module table that `require "rstlab"` gives
 * a script (scenario(), run(), ...) and registers the embedded Lua stdlib in
 * package.preload, so no file needs to be installed beside the program.
 */
#ifndef RSTLAB_LUA_H
#define RSTLAB_LUA_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

__attribute__((visibility("default"))) int luaopen_rstlab(lua_State *L);
/* The C primitives alone ("rstlab.core"). */
__attribute__((visibility("default"))) int luaopen_rstlab_core(lua_State *L);

#ifdef __cplusplus
}
#endif
#endif
