# The libraries under rstlab's, as imported targets of names of their own
# (a project's PkgConfig::LUA or Threads::Threads is never redefined):
#   rstlab_deps::lua   Lua 5.4, headers and library (rstlab_lua.h includes lua.h)
#   rstlab_deps::libs  what the static library links besides: libpcap, libnl,
#                      libev, threads (libnftables is loaded at run time: core/nft.c)
# Used by the build (cmake/install.cmake) and by the installed package
# (rstlabConfig.cmake). In: RSTLAB_PKG_PRIVATE, the pkg-config modules of
# rstlab_deps::libs. Out: rstlab_deps_FOUND, and rstlab_deps_MISSING saying
# what is missing.
set(rstlab_deps_FOUND TRUE)
set(rstlab_deps_MISSING "")
find_package(PkgConfig QUIET)
find_package(Threads QUIET)
if(NOT PKG_CONFIG_FOUND)
  set(rstlab_deps_FOUND FALSE)
  set(rstlab_deps_MISSING "pkg-config is needed to find Lua 5.4 and the libraries rstlab links")
  return()
endif()

if(NOT TARGET rstlab_deps::lua)
  pkg_check_modules(_rstlab_lua QUIET IMPORTED_TARGET GLOBAL lua5.4)
  if(NOT _rstlab_lua_FOUND)
    set(rstlab_deps_FOUND FALSE)
    string(APPEND rstlab_deps_MISSING "no pkg-config module lua5.4 (Debian: liblua5.4-dev). ")
  else()
    add_library(rstlab_deps::lua INTERFACE IMPORTED GLOBAL)
    set_target_properties(rstlab_deps::lua PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::_rstlab_lua)
  endif()
endif()

if(NOT TARGET rstlab_deps::libs)
  pkg_check_modules(_rstlab_libs QUIET IMPORTED_TARGET GLOBAL ${RSTLAB_PKG_PRIVATE})
  # Debian's libev has no pkg-config file.
  find_library(RSTLAB_EV_LIBRARY ev)
  if(NOT _rstlab_libs_FOUND)
    set(rstlab_deps_FOUND FALSE)
    string(APPEND rstlab_deps_MISSING
           "some of the pkg-config modules ${RSTLAB_PKG_PRIVATE} are missing. ")
  elseif(NOT RSTLAB_EV_LIBRARY)
    set(rstlab_deps_FOUND FALSE)
    string(APPEND rstlab_deps_MISSING "no libev (Debian: libev-dev). ")
  else()
    add_library(rstlab_deps::libs INTERFACE IMPORTED GLOBAL)
    set(_rstlab_libs PkgConfig::_rstlab_libs ${RSTLAB_EV_LIBRARY})
    if(CMAKE_THREAD_LIBS_INIT)
      list(APPEND _rstlab_libs ${CMAKE_THREAD_LIBS_INIT})
    endif()
    set_target_properties(rstlab_deps::libs PROPERTIES INTERFACE_LINK_LIBRARIES "${_rstlab_libs}")
    unset(_rstlab_libs)
  endif()
endif()
