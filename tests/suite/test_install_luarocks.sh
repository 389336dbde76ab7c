#!/usr/bin/env bash
# `luarocks make` of this source tree (rstlab-VERSION-1.rockspec, built
# through CMake) into a local tree: stock lua5.4 with that tree's paths
# requires the module and runs the installed scenarios, and the tree's
# rstlab program runs them too. Skipped when luarocks is not installed.
set -u
. "$SRC/tests/suite/lib.sh"
. "$SRC/tests/install/checks.sh"
# A fresh build is never sanitized: no ASan runtime for lua5.4.
RSTLAB_LUA_PRELOAD=
command -v luarocks >/dev/null || { echo "SKIP: no luarocks (Debian: luarocks)"; exit 77; }
ROCKSPEC=$SRC/rstlab-$VERSION-1.rockspec
[ -f "$ROCKSPEC" ] && ok "a rockspec for version $VERSION" || bad "no $ROCKSPEC"

# luarocks builds in the tree it runs in (build.luarocks/): a copy of it.
mkdir -p "$TMP/src" "$TMP/home"
tar -C "$SRC" --exclude=./build --exclude='./build-*' --exclude=./build.luarocks -cf - . |
  tar -C "$TMP/src" -xf -
# HOME: luarocks keeps its cache and config there, none of the user's.
LR=(env HOME="$TMP/home" luarocks --lua-version 5.4)
run sh -c "cd '$TMP/src' && exec \"\$@\"" sh "${LR[@]}" make --tree "$TMP/tree" "$(basename "$ROCKSPEC")"
expect_status 0
expect_line "^rstlab $VERSION-1 is now installed in $TMP/tree\$"
run "${LR[@]}" --tree "$TMP/tree" list --porcelain
expect_line "^rstlab	$VERSION-1	installed	"
for f in lib/lua/5.4/rstlab.so share/lua/5.4/rstlab/expect.lua bin/rstlab; do
  expect_file "$TMP/tree/$f"
done
[ ! -e "$TMP/tree/share/lua/5.4/rstlab/init.lua" ] && ok "no rstlab/init.lua to shadow the module" ||
  bad "share/lua/5.4/rstlab/init.lua would shadow the module"
expect_not_needed "$TMP/tree/lib/lua/5.4/rstlab.so" liblua

paths=$("${LR[@]}" --tree "$TMP/tree" path) || bad "luarocks path failed"
eval "$paths"
run lua5.4 -e 'print(package.searchpath("rstlab", package.cpath))
  print(package.searchpath("rstlab.expect", package.path))'
expect_line "^$TMP/tree/lib/lua/5\\.4/rstlab\\.so\$"
expect_line "^$TMP/tree/share/lua/5\\.4/rstlab/expect\\.lua\$"
run lua5.4 "$SRC/examples/require.lua" "$SRC/scripts/refused.lua"
expect_status 0
expect_line '^2 passed, 0 failed$'
run "$TMP/tree/bin/rstlab" "$SRC/examples/new_scenario.lua"
expect_status 0
expect_line '^1 passed, 0 failed$'
finish
