-- LuaRocks: the Lua module, the stdlib's Lua files and the rstlab program,
-- built through CMake (cmake/install.cmake). From a source tree:
--   luarocks --lua-version 5.4 make --tree TREE
-- then `eval "$(luarocks --lua-version 5.4 --tree TREE path)"` and stock
-- lua5.4 can `require "rstlab"`. The C library, headers, pkg-config file and
-- CMake package are not part of the rock (cmake --install gives them).
-- Needs the Debian packages of .ci/deps's build list.
rockspec_format = "3.0"
package = "rstlab"
version = "0.1.0-1"
source = {
   -- `luarocks make` builds the tree it is run in; `luarocks build` wants
   -- this release's source archive in the current directory:
   --   git archive --prefix=rstlab-0.1.0/ -o rstlab-0.1.0.tar.gz HEAD
   url = "file://rstlab-0.1.0.tar.gz",
   dir = "rstlab-0.1.0",
}
description = {
   summary = "A Lua-driven TCP scenario engine: real kernel sockets in network namespaces",
   -- No license field yet: the project has not chosen one (`luarocks lint`
   -- asks for it; `luarocks make` does not).
   detailed = [[
      Each scenario is a short Lua script: real kernel sockets talk inside a
      private network namespace, and the script asserts on what the
      applications saw, on the packets that crossed the wire, and on the
      state the kernel kept. Linux only.
   ]],
}
supported_platforms = { "linux" }
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "cmake",
   variables = {
      CMAKE_INSTALL_PREFIX = "$(PREFIX)",
      CMAKE_INSTALL_BINDIR = "$(BINDIR)",
      RSTLAB_INSTALL_LUA_CMODDIR = "$(LIBDIR)",
      RSTLAB_INSTALL_LUA_MODDIR = "$(LUADIR)",
      RSTLAB_INSTALL_DEV = "OFF",
      RSTLAB_BUILD_TESTS = "OFF",
      RSTLAB_BUILD_EXAMPLES = "OFF",
   },
}
