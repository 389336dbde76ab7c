# What an installed tree must give its users, for tests/suite/test_install*.sh
# (sourced after tests/suite/lib.sh): check_tree ROOT PREFIX LIBDIR checks
# the tree installed for PREFIX, as it is seen at ROOT (the prefix itself;
# test_install_usr.sh lays a DESTDIR staging tree over /usr first), LIBDIR
# relative to the prefix. Every program it builds also runs, and a scenario
# must pass.

VERSION=$(sed -n 's/^project(rstlab VERSION \([0-9.]*\) .*/\1/p' "$SRC/CMakeLists.txt")
# The soname's version: 0.MINOR while the major version is 0.
case $VERSION in
  0.*) SOVERSION=$(echo "$VERSION" | cut -d. -f1-2) ;;
  *) SOVERSION=${VERSION%%.*} ;;
esac

# The C programs built against every tree, through pkg-config and through
# CMake (tests/install/consumer/programs.cmake), then run; one line each:
#   program NAME SOURCE 'EXTRA -l NAMES' 'EXPECTED LINE' ARG...
# (SOURCE and ARGs relative to the source tree).
P_NAME=() P_SRC=() P_LIBS=() P_RE=() P_ARGS=()
program() {
  P_NAME+=("$1") P_SRC+=("$2") P_LIBS+=("$3") P_RE+=("$4")
  shift 4
  P_ARGS+=("$*")
}
program consumer tests/install/consumer/main.c '' \
  "^consumer: rstlab ${VERSION//./\\.}, 2 passed, 0 failed\$" scripts/refused.lua
program embed examples/embed.c '' '^embedded run: 1 passed, 0 failed$' examples/new_scenario.lua
program run_string examples/run_string.c '' '^inline\.lua: a FIN, then EOF: pass in '
program host_loop examples/host_loop.c 'ev' \
  '^1 of 1 scenarios finished, 1 passed; the program.s timer fired [0-9]+ times' examples/new_scenario.lua

# run_programs DIR SUFFIX [ENV...]: run DIR/NAME$SUFFIX of every program.
run_programs() {
  local dir=$1 suffix=$2 i args
  shift 2
  for i in "${!P_NAME[@]}"; do
    read -ra args <<<"${P_ARGS[$i]}"
    run env "$@" "$dir/${P_NAME[$i]}$suffix" "${args[@]/#/$SRC/}"
    expect_status 0
    expect_line "${P_RE[$i]}"
  done
}

# expect_needed FILE REGEX: FILE's DT_NEEDED has REGEX (the whole name);
# expect_not_needed FILE REGEX: none starts with REGEX.
expect_needed() {
  run readelf -d "$1"
  expect_line "\(NEEDED\).*\[$2\]"
}
expect_not_needed() {
  run readelf -d "$1"
  expect_status 0
  expect_no_line "\(NEEDED\).*\[$2"
}

expect_file() {
  if [ -e "$1" ] || [ -L "$1" ]; then ok "installed: ${1#"$TMP"/}"; else bad "missing: ${1#"$TMP"/}"; fi
}

check_tree() {
  local root=$1 prefix=$2 libdir=$3 f
  local lib=$root/$libdir

  echo "-- the files ($prefix, libdir $libdir)"
  for f in bin/rstlab "$libdir/librstlab.so" "$libdir/librstlab.so.$SOVERSION" \
           "$libdir/librstlab.so.$VERSION" "$libdir/librstlab.a" \
           "$libdir/lua/5.4/rstlab.so" include/rstlab/rstlab.h include/rstlab/rstlab_lua.h \
           "$libdir/pkgconfig/rstlab.pc" "$libdir/cmake/rstlab/rstlabConfig.cmake" \
           "$libdir/cmake/rstlab/rstlabConfigVersion.cmake" \
           share/lua/5.4/rstlab/expect.lua share/lua/5.4/rstlab/runner/cli.lua \
           share/rstlab/scripts/refused.lua share/rstlab/scripts/CATALOGUE.md \
           share/man/man1/rstlab.1 share/doc/rstlab/examples/embed.c; do
    expect_file "$root/$f"
  done
  # Every public header of the source tree is installed.
  for f in "$SRC"/core/include/rstlab/*.h; do
    expect_file "$root/include/rstlab/$(basename "$f")"
  done
  # The module's require "rstlab" must stay the module's: no init.lua.
  [ ! -e "$root/share/lua/5.4/rstlab/init.lua" ] && ok "no rstlab/init.lua to shadow the module" ||
    bad "share/lua/5.4/rstlab/init.lua would shadow the module"
  run readelf -d "$lib/librstlab.so.$VERSION"
  expect_line "\(SONAME\).*\[librstlab\.so\.${SOVERSION//./\\.}\]"
  # The API and nothing else: hidden visibility for all but RSL_API.
  run sh -c "nm -D --defined-only '$lib/librstlab.so.$VERSION' | awk '{print \$3}'"
  expect_status 0
  expect_line '^rsl_version$'
  expect_line '^luaopen_rstlab$'
  run sh -c "nm -D --defined-only '$lib/librstlab.so.$VERSION' | awk '{print \$3}' |
             grep -Ev '^(rsl_|luaopen_rstlab|__)'"
  expect_status 1 # no other name (__: sanitizers' own, in a sanitized build)
  # Stock lua5.4 has Lua linked in: a second copy in the module would break.
  expect_not_needed "$lib/lua/5.4/rstlab.so" 'liblua'

  echo "-- the installed program runs the installed suite"
  run "$root/bin/rstlab" --version
  expect_status 0
  expect_line "^rstlab ${VERSION//./\\.}\$"
  run "$root/bin/rstlab" -j 2 "$root/share/rstlab/scripts/refused.lua"
  expect_status 0
  expect_line '^2 passed, 0 failed$'

  echo "-- C programs through pkg-config alone"
  local pc=(env PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config)
  run "${pc[@]}" --modversion rstlab
  expect_line "^${VERSION//./\\.}\$"
  run "${pc[@]}" --variable=libdir rstlab
  expect_line "^$lib\$"
  run "${pc[@]}" --variable=includedir rstlab
  expect_line "^$root/include\$"
  local i flags
  flags=$("${pc[@]}" --cflags --libs rstlab) || bad "pkg-config --cflags --libs rstlab failed"
  mkdir -p "$TMP/pc"
  for i in "${!P_NAME[@]}"; do
    local extra=() l
    for l in ${P_LIBS[$i]}; do extra+=("-l$l"); done
    # shellcheck disable=SC2086 # flags: words from pkg-config
    run cc -Wall -Werror "$SRC/${P_SRC[$i]}" $flags "${extra[@]}" -o "$TMP/pc/${P_NAME[$i]}"
    expect_status 0
    expect_needed "$TMP/pc/${P_NAME[$i]}" "librstlab\.so\.${SOVERSION//./\\.}"
  done
  run_programs "$TMP/pc" "" LD_LIBRARY_PATH="$lib"

  echo "-- a CMake project through find_package alone"
  check_cmake_consumer "$TMP/cm" -S "$SRC/tests/install/consumer" -DCMAKE_PREFIX_PATH="$root"
  run cat "$TMP/cm/targets.txt"
  expect_line "^lua_module=$lib/lua/5\.4/rstlab\.so\$"
  expect_line "^cli=$root/bin/rstlab\$"
  expect_line "^rstlab=$lib/librstlab\.so\.${VERSION//./\\.}\$"
  expect_line "^rstlab_static=$lib/librstlab\.a\$"
  # Version checking: 0.x releases are compatible within their minor version.
  local want
  for want in "$VERSION" "${VERSION%.*}"; do
    run cmake -S "$SRC/tests/install/consumer" -B "$TMP/cm-want" -DCMAKE_PREFIX_PATH="$root" \
      -DRSTLAB_WANT="$want"
    expect_status 0
    rm -rf "$TMP/cm-want"
  done
  for want in 0.2 1.0 9; do
    run cmake -S "$SRC/tests/install/consumer" -B "$TMP/cm-want" -DCMAKE_PREFIX_PATH="$root" \
      -DRSTLAB_WANT="$want"
    expect_status 1
    expect_line 'version: '"${VERSION//./\\.}"
    rm -rf "$TMP/cm-want"
  done

  echo "-- stock lua5.4 requires the installed module"
  local luaenv=(env LD_PRELOAD="${RSTLAB_LUA_PRELOAD:-}" LUA_CPATH="$lib/lua/5.4/?.so;;"
                LUA_PATH="$root/share/lua/5.4/?.lua;$root/share/lua/5.4/?/init.lua;;")
  run "${luaenv[@]}" lua5.4 -e '
    print("module " .. package.searchpath("rstlab", package.cpath))
    print("expect " .. package.searchpath("rstlab.expect", package.path))
    print("version " .. require("rstlab").version)'
  expect_status 0
  expect_line "^module $lib/lua/5\.4/rstlab\.so\$"
  expect_line "^expect $root/share/lua/5\.4/rstlab/expect\.lua\$"
  expect_line "^version ${VERSION//./\\.}\$"
  run "${luaenv[@]}" lua5.4 "$root/share/doc/rstlab/examples/require.lua" \
    "$root/share/rstlab/scripts/refused.lua"
  expect_status 0
  expect_count 2 '^pass  .*refused\.lua: '
  expect_line '^2 passed, 0 failed$'

  echo "-- the manual page"
  run env MANPATH="$root/share/man" man -w rstlab
  expect_line "^$root/share/man/man1/rstlab\.1"
  run env MANWIDTH=80 man -l "$root/share/man/man1/rstlab.1"
  expect_status 0
  expect_line '^ +rstlab - run Lua scenarios of TCP behaviour'
  expect_line "rstlab ${VERSION//./\\.} "
  expect_line '^ +--time-scale F'
  run groff -man -Tutf8 -ww -z "$root/share/man/man1/rstlab.1"
  expect_status 0
  [ -s "$OUT" ] && bad "groff warns about the manual page" || ok "groff -ww: no warning"
}

# check_cmake_consumer DIR CMAKE-ARGS...: configure and build a consumer
# project with every program into DIR, run them (shared and static).
check_cmake_consumer() {
  local dir=$1 i progs=() libs=()
  shift
  for i in "${!P_NAME[@]}"; do
    progs+=("${P_NAME[$i]}=$SRC/${P_SRC[$i]}")
    libs+=("-DCONSUMER_LIBS_${P_NAME[$i]}=${P_LIBS[$i]// /;}")
  done
  run cmake -B "$dir" "$@" "-DCONSUMER_PROGRAMS=$(IFS=';'; echo "${progs[*]}")" "${libs[@]}"
  expect_status 0
  run cmake --build "$dir" -j "$(nproc)"
  expect_status 0
  # No LD_LIBRARY_PATH: CMake's build RPATH comes from the imported target.
  run_programs "$dir" ""
  run_programs "$dir" _static
  for i in "${!P_NAME[@]}"; do
    expect_needed "$dir/${P_NAME[$i]}" "librstlab\.so\.${SOVERSION//./\\.}"
    expect_not_needed "$dir/${P_NAME[$i]}_static" 'librstlab'
  done
}
