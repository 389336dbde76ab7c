#!/usr/bin/env bash
# A distribution's install: configured for prefix /usr (GNUInstallDirs: the
# multiarch libdir, lib/<triplet>), staged with DESTDIR. Then, in a mount
# namespace of its own where the staging tree is laid over /usr (overlayfs;
# the host's /usr is untouched), it is used as installed: tests/install/
# checks.sh, and plain pkg-config, find_package, lua5.4, man and PATH find it.
set -u
. "$SRC/tests/suite/lib.sh"
. "$SRC/tests/install/checks.sh"
# Fresh builds are never sanitized: no ASan runtime for lua5.4.
RSTLAB_LUA_PRELOAD=
ARCH=$(cc -print-multiarch)
[ -n "$ARCH" ] || { echo "SKIP: the compiler names no multiarch triplet"; exit 77; }
LIBDIR=lib/$ARCH

if [ -n "${RSTLAB_USR_OVERLAY:-}" ]; then
  # Inside the namespace, /usr is the staging tree over the host's /usr.
  check_tree /usr /usr "$LIBDIR"
  echo "-- found without being told where"
  run sh -c 'command -v rstlab'
  expect_line '^/usr/bin/rstlab$'
  run pkg-config --variable=libdir rstlab
  expect_line "^/usr/$LIBDIR\$"
  run env -u LUA_PATH -u LUA_CPATH lua5.4 -e 'print(package.searchpath("rstlab", package.cpath))
    print(require("rstlab").version)'
  expect_line "^/usr/$LIBDIR/lua/5\\.4/rstlab\\.so\$"
  expect_line "^${VERSION//./\\.}\$"
  run env -u MANPATH man -w rstlab
  expect_line '^/usr/share/man/man1/rstlab\.1'
  check_cmake_consumer "$TMP/plain" -S "$SRC/tests/install/consumer"
  echo "$PASS $FAIL" >"$RSTLAB_USR_OVERLAY/counts"
  exit 0
fi

run cmake -S "$SRC" -B "$TMP/build" -DCMAKE_INSTALL_PREFIX=/usr \
  -DRSTLAB_BUILD_TESTS=OFF -DRSTLAB_BUILD_EXAMPLES=OFF
expect_status 0
run cmake --build "$TMP/build" -j "$(nproc)"
expect_status 0
run env DESTDIR="$TMP/stage" cmake --install "$TMP/build"
expect_status 0
# Every file under /usr, staged.
run sh -c "grep -v '^/usr/$LIBDIR/\\|^/usr/bin/\\|^/usr/include/rstlab/\\|^/usr/share/' '$TMP/build/install_manifest.txt'"
expect_status 1
while read -r f; do
  [ -e "$TMP/stage$f" ] || bad "not staged: $f"
done <"$TMP/build/install_manifest.txt"
expect_count 0 '^$'
for f in "$LIBDIR/librstlab.so.$VERSION" "$LIBDIR/librstlab.a" "$LIBDIR/lua/5.4/rstlab.so" \
         "$LIBDIR/pkgconfig/rstlab.pc" "$LIBDIR/cmake/rstlab/rstlabConfig.cmake"; do
  run grep -x "/usr/$f" "$TMP/build/install_manifest.txt"
  expect_status 0
done
# The pkg-config file says where the files will be, not where they were staged.
run cat "$TMP/stage/usr/$LIBDIR/pkgconfig/rstlab.pc"
expect_line '^prefix=/usr$'
expect_line "^libdir=\\\$\\{prefix\\}/$LIBDIR\$"
expect_line '^includedir=\$\{prefix\}/include$'
# No text file names the staging tree (binaries name the build dir in their
# debug information).
run grep -rlI "$TMP" "$TMP/stage"
expect_status 1

# The overlay needs a mount namespace and overlayfs: root (as a user, this
# part is skipped).
overlay='d=$1; shift; mount -t overlay rstlab-usr -o "lowerdir=$d/stage/usr:/usr" /usr && exec "$@"'
if ! unshare --mount --propagation private -- sh -c "$overlay" sh "$TMP" true 2>/dev/null; then
  echo "SKIP: no mount namespace with overlayfs to lay the staging tree over /usr"
  [ "$FAIL" -eq 0 ] && exit 77
  finish
fi
echo "== in a mount namespace, the staging tree over /usr"
timeout 280 unshare --mount --propagation private -- sh -c "$overlay" \
  sh "$TMP" env RSTLAB_USR_OVERLAY="$TMP" bash "$0"
rc=$?
if [ -f "$TMP/counts" ]; then
  read -r p f <"$TMP/counts"
  PASS=$((PASS + p)) FAIL=$((FAIL + f))
else
  bad "the checks in the mount namespace did not finish (status $rc)"
fi
finish
