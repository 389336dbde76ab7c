# Run at install time (cmake/install.cmake): writes rstlab.pc for the prefix
# being installed to, CMAKE_INSTALL_PREFIX here (`cmake --install --prefix`
# included), and installs it (DESTDIR applies). Paths under the prefix are
# written as ${prefix}/..., the usual form; absolute GNUInstallDirs paths
# (-DCMAKE_INSTALL_LIBDIR=/usr/lib64) as they are.
set(prefix "${CMAKE_INSTALL_PREFIX}")
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${RSTLAB_PC_${d}}")
    set(RSTLAB_PC_FULL_${d} "${RSTLAB_PC_${d}}")
  else()
    set(RSTLAB_PC_FULL_${d} "\${prefix}/${RSTLAB_PC_${d}}")
  endif()
endforeach()
set(RSTLAB_PC_PREFIX "${prefix}")
configure_file("${RSTLAB_PC_TEMPLATE}" "${RSTLAB_PC_OUT}" @ONLY)
if(IS_ABSOLUTE "${RSTLAB_PC_LIBDIR}")
  set(_dest "${RSTLAB_PC_LIBDIR}/pkgconfig")
else()
  set(_dest "${prefix}/${RSTLAB_PC_LIBDIR}/pkgconfig")
endif()
file(INSTALL DESTINATION "${_dest}" TYPE FILE FILES "${RSTLAB_PC_OUT}")
