# The programs both consumers (find_package: consumer/, add_subdirectory:
# subdir/) build from the rstlab:: targets alone.
#   CONSUMER_PROGRAMS   NAME=SOURCE entries: each is built twice, NAME
#                       linking rstlab::rstlab, NAME_static rstlab::rstlab_static
#   CONSUMER_LIBS_NAME  further libraries NAME links (e.g. ev)
# targets.txt says where the package's other targets are.
foreach(p ${CONSUMER_PROGRAMS})
  string(REGEX MATCH "^([A-Za-z0-9_]+)=(.+)$" _ok "${p}")
  if(NOT _ok)
    message(FATAL_ERROR "CONSUMER_PROGRAMS: '${p}' is not NAME=SOURCE")
  endif()
  set(name ${CMAKE_MATCH_1})
  set(src ${CMAKE_MATCH_2})
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE rstlab::rstlab ${CONSUMER_LIBS_${name}})
  add_executable(${name}_static ${src})
  target_link_libraries(${name}_static PRIVATE rstlab::rstlab_static ${CONSUMER_LIBS_${name}})
endforeach()
file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/targets.txt CONTENT
"lua_module=$<TARGET_FILE:rstlab::lua_module>
cli=$<TARGET_FILE:rstlab::cli>
rstlab=$<TARGET_FILE:rstlab::rstlab>
rstlab_static=$<TARGET_FILE:rstlab::rstlab_static>
")
