#!/usr/bin/env bash
# The install of this build into an /opt-style prefix (cmake --install
# --prefix, no DESTDIR) is usable as tests/install/checks.sh says: the
# program, C programs through pkg-config and through find_package (shared
# and static), stock lua5.4 with require, the manual page.
set -u
. "$SRC/tests/suite/lib.sh"
. "$SRC/tests/install/checks.sh"
BUILD=$(dirname "$RSTLAB")
LIBDIR=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$BUILD/CMakeCache.txt")

PREFIX=$TMP/opt/rstlab-$VERSION
run cmake --install "$BUILD" --prefix "$PREFIX"
expect_status 0
check_tree "$PREFIX" "$PREFIX" "$LIBDIR"
# The pkg-config file names the prefix it was installed to, not the
# build's CMAKE_INSTALL_PREFIX.
run cat "$PREFIX/$LIBDIR/pkgconfig/rstlab.pc"
expect_line "^prefix=$PREFIX\$"
finish
