# The library embedders link, its targets, and everything `cmake --install`
# puts in place (README.md, "Installing"). Included by the top CMakeLists.txt
# once rstlab_core, rstlab_lua, the rstlab program and rstlab_module exist.
#
# Targets, the same through find_package(rstlab) and add_subdirectory:
#   rstlab::rstlab         librstlab.so: core, Lua bindings and embedded stdlib
#   rstlab::rstlab_static  librstlab.a: the same objects, for static linking
#   rstlab::lua_module     rstlab.so, the module stock lua5.4 loads (it does not
#                          link liblua: it takes Lua from the interpreter)
#   rstlab::cli            the rstlab program

include(CMakePackageConfigHelpers)

# Where the Lua module and the stdlib's Lua files go: Lua's own layout under
# the prefix, which stock lua5.4 searches for /usr and /usr/local. LuaRocks
# sets both to the rock's directories (rstlab-*.rockspec).
set(RSTLAB_INSTALL_LUA_CMODDIR ${CMAKE_INSTALL_LIBDIR}/lua/5.4 CACHE STRING
    "Where the Lua module rstlab.so is installed (relative to the prefix, or absolute)")
set(RSTLAB_INSTALL_LUA_MODDIR ${CMAKE_INSTALL_DATADIR}/lua/5.4 CACHE STRING
    "Where the stdlib's Lua files are installed (relative to the prefix, or absolute)")
set(RSTLAB_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/rstlab CACHE STRING
    "Where the CMake package (rstlabConfig.cmake) is installed")
option(RSTLAB_INSTALL_DEV "Install the C library, headers, pkg-config file and CMake package" ON)

# The pkg-config modules the library links besides Lua: the .pc file's
# Requires.private, and what the CMake package looks up again for
# rstlab::rstlab_static. A library added to rstlab_core or rstlab_lua goes
# here too (one name), or static consumers miss it (tests/suite/test_install*).
set(RSTLAB_PKG_PRIVATE libnl-3.0 libnl-route-3.0 libnl-idiag-3.0 jansson)

# rstlab_deps::lua and rstlab_deps::libs, the build's own lookups of them.
include(${CMAKE_CURRENT_LIST_DIR}/rstlabDependencies.cmake)
if(NOT rstlab_deps_FOUND)
  message(FATAL_ERROR "rstlab: ${rstlab_deps_MISSING}")
endif()

# <rstlab/rstlab_lua.h> as an installed program includes it, in the build
# tree too (the header lives in bindings/).
configure_file(bindings/rstlab_lua.h ${CMAKE_CURRENT_BINARY_DIR}/include/rstlab/rstlab_lua.h COPYONLY)
set(_rstlab_includes
  $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/core/include>
  $<BUILD_INTERFACE:${CMAKE_CURRENT_BINARY_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_include_directories(rstlab_lua INTERFACE $<BUILD_INTERFACE:${CMAKE_CURRENT_BINARY_DIR}/include>)

# The soname changes with every minor version while the major one is 0.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(RSTLAB_SOVERSION 0.${PROJECT_VERSION_MINOR})
else()
  set(RSTLAB_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()

# One library from the objects of rstlab_core and rstlab_lua, so a file
# added to either list is in it. Only RSL_API functions and luaopen_* are
# exported (hidden visibility for the rest).
add_library(rstlab_shared SHARED $<TARGET_OBJECTS:rstlab_core> $<TARGET_OBJECTS:rstlab_lua>)
# Linking the archives behind the objects adds no object twice (every
# symbol is defined already) but brings in what they link themselves.
target_link_libraries(rstlab_shared PRIVATE rstlab_lua PUBLIC rstlab_deps::lua)
target_include_directories(rstlab_shared INTERFACE ${_rstlab_includes})
set_target_properties(rstlab_shared PROPERTIES OUTPUT_NAME rstlab EXPORT_NAME rstlab
  LINKER_LANGUAGE C VERSION ${PROJECT_VERSION} SOVERSION ${RSTLAB_SOVERSION})
# Every symbol resolved at link time (not with sanitizers: clang leaves
# their runtime to the executable).
if(NOT RSTLAB_SANITIZERS AND NOT RSTLAB_FUZZ)
  target_link_options(rstlab_shared PRIVATE LINKER:--no-undefined)
endif()
add_library(rstlab::rstlab ALIAS rstlab_shared)

add_library(rstlab_static STATIC $<TARGET_OBJECTS:rstlab_core> $<TARGET_OBJECTS:rstlab_lua>)
target_link_libraries(rstlab_static PUBLIC rstlab_deps::lua rstlab_deps::libs)
target_include_directories(rstlab_static INTERFACE ${_rstlab_includes})
set_target_properties(rstlab_static PROPERTIES OUTPUT_NAME rstlab EXPORT_NAME rstlab_static
  LINKER_LANGUAGE C)
add_library(rstlab::rstlab_static ALIAS rstlab_static)
# A sanitized library needs the sanitizer runtimes in every program that
# links it (the Lua module gets them from LD_PRELOAD: tests/tests.cmake).
if(RSTLAB_SANITIZERS)
  target_link_options(rstlab_shared INTERFACE -fsanitize=${_san})
  target_link_options(rstlab_static INTERFACE -fsanitize=${_san})
endif()

set_target_properties(rstlab_module PROPERTIES EXPORT_NAME lua_module)
add_library(rstlab::lua_module ALIAS rstlab_module)
set_target_properties(rstlab PROPERTIES EXPORT_NAME cli)
add_executable(rstlab::cli ALIAS rstlab)

# ---- install -----------------------------------------------------------------
install(TARGETS rstlab EXPORT rstlabTargets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS rstlab_module EXPORT rstlabTargets
        LIBRARY DESTINATION ${RSTLAB_INSTALL_LUA_CMODDIR})
# The stdlib as files too (the module and the program embed their own copy).
# Not init.lua: `require "rstlab"` must find the module first, which
# registers the embedded copies, so that an older tree earlier in
# package.path can never shadow the module's own stdlib.
install(DIRECTORY stdlib/rstlab DESTINATION ${RSTLAB_INSTALL_LUA_MODDIR}
        FILES_MATCHING PATTERN "*.lua" PATTERN "init.lua" EXCLUDE)
install(DIRECTORY scripts/ DESTINATION ${CMAKE_INSTALL_DATADIR}/rstlab/scripts
        FILES_MATCHING PATTERN "*.lua" PATTERN "*.md")
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        FILES_MATCHING PATTERN "*.c" PATTERN "*.lua")
install(FILES man/rstlab.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

if(RSTLAB_INSTALL_DEV)
  install(TARGETS rstlab_shared rstlab_static EXPORT rstlabTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Development
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  # Every public header of core/include/rstlab/, and rstlab_lua.h.
  install(DIRECTORY core/include/rstlab DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          FILES_MATCHING PATTERN "*.h")
  install(FILES bindings/rstlab_lua.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rstlab)

  # The pkg-config file is written at install time, for the prefix it is
  # installed to (cmake --install --prefix included), with real paths.
  set(RSTLAB_PC_SANITIZE "")
  if(RSTLAB_SANITIZERS)
    set(RSTLAB_PC_SANITIZE "-fsanitize=${_san}")
  endif()
  list(JOIN RSTLAB_PKG_PRIVATE " " _pc_private)
  install(CODE "
    set(RSTLAB_PC_TEMPLATE [[${CMAKE_CURRENT_SOURCE_DIR}/bindings/rstlab.pc.in]])
    set(RSTLAB_PC_OUT [[${CMAKE_CURRENT_BINARY_DIR}/pc-install/rstlab.pc]])
    set(RSTLAB_PC_LIBDIR [[${CMAKE_INSTALL_LIBDIR}]])
    set(RSTLAB_PC_INCLUDEDIR [[${CMAKE_INSTALL_INCLUDEDIR}]])
    set(PROJECT_VERSION [[${PROJECT_VERSION}]])
    set(RSTLAB_PC_PRIVATE [[${_pc_private}]])
    set(RSTLAB_PC_SANITIZE [[${RSTLAB_PC_SANITIZE}]])
    include([[${CMAKE_CURRENT_LIST_DIR}/rstlabPc.cmake]])")

  # The CMake package: relocatable (paths relative to where it is found).
  install(EXPORT rstlabTargets NAMESPACE rstlab:: DESTINATION ${RSTLAB_INSTALL_CMAKEDIR})
  list(JOIN RSTLAB_PKG_PRIVATE ";" RSTLAB_PKG_PRIVATE_LIST)
  configure_package_config_file(cmake/rstlabConfig.cmake.in
    ${CMAKE_CURRENT_BINARY_DIR}/rstlabConfig.cmake
    INSTALL_DESTINATION ${RSTLAB_INSTALL_CMAKEDIR}
    PATH_VARS CMAKE_INSTALL_DATADIR RSTLAB_INSTALL_LUA_MODDIR)
  # 0.x: a minor version breaks compatibility, so 0.1 accepts 0.1.* only.
  if(PROJECT_VERSION_MAJOR EQUAL 0)
    set(_compat SameMinorVersion)
  else()
    set(_compat SameMajorVersion)
  endif()
  write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/rstlabConfigVersion.cmake
    COMPATIBILITY ${_compat})
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/rstlabConfig.cmake
                ${CMAKE_CURRENT_BINARY_DIR}/rstlabConfigVersion.cmake
                ${CMAKE_CURRENT_LIST_DIR}/rstlabDependencies.cmake
          DESTINATION ${RSTLAB_INSTALL_CMAKEDIR})
endif()
