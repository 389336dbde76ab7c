#!/usr/bin/env bash
# The install is usable: a C program builds against the installed headers
# and libraries through pkg-config and runs a scenario, and stock lua5.4
# loads the installed module.
set -u
. "$SRC/tests/suite/lib.sh"
BUILD=$(dirname "$RSTLAB")

run cmake --install "$BUILD" --prefix "$TMP/inst"
expect_status 0
export PKG_CONFIG_PATH=$TMP/inst/lib/pkgconfig
run sh -c "cc -I'$TMP/inst/include' '$SRC/examples/embed.c' \$(pkg-config --cflags --libs rstlab) -o '$TMP/embed'"
expect_status 0
run "$TMP/embed" "$SRC/examples/new_scenario.lua"
expect_status 0
expect_line '^embedded run: 1 passed, 0 failed$'
run env LD_PRELOAD="${RSTLAB_LUA_PRELOAD:-}" LUA_CPATH="$TMP/inst/lib/lua/5.4/?.so" lua5.4 -e 'print("version " .. require("rstlab").version)'
expect_status 0
expect_line '^version [0-9]+\.[0-9]+\.[0-9]+$'
finish
