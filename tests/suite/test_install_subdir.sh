#!/usr/bin/env bash
# A project that adds the rstlab sources with add_subdirectory gets the
# rstlab:: targets of the installed package, include directories and all:
# it builds the programs of tests/install/checks.sh (shared and static) and
# they run.
set -u
. "$SRC/tests/suite/lib.sh"
. "$SRC/tests/install/checks.sh"
# A fresh build is never sanitized: no ASan runtime for lua5.4.
RSTLAB_LUA_PRELOAD=

check_cmake_consumer "$TMP/subdir" -S "$SRC/tests/install/subdir" -DRSTLAB_SOURCE_DIR="$SRC"
run cat "$TMP/subdir/targets.txt"
expect_line "^lua_module=$TMP/subdir/rstlab/rstlab\.so\$"
expect_line "^cli=$TMP/subdir/rstlab/rstlab\$"
expect_line "^rstlab_static=$TMP/subdir/rstlab/librstlab\.a\$"
# The module built there is the one stock lua5.4 loads.
run env LUA_CPATH="$TMP/subdir/rstlab/?.so" \
  lua5.4 "$SRC/examples/require.lua" "$SRC/scripts/refused.lua"
expect_status 0
expect_line '^2 passed, 0 failed$'
finish
