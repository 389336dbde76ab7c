# Every test is registered with CTest here, through one helper per kind.
# Exit code 77 means "skipped" (e.g. no network namespace can be had).
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
# LUA_INTERP: found by the top CMakeLists.txt (the stdlib's bytecode).

# tests/core/test_<module>.c: one cmocka executable per core module;
# tests/core/test_lua_<module>.c tests a Lua module of bindings/ from C
# (linked with the bindings and Lua).
function(rstlab_c_test src)
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/core ${CMAKE_SOURCE_DIR}/tests/core)
  target_compile_options(${name} PRIVATE ${RSTLAB_WARNINGS})
  target_compile_definitions(${name} PRIVATE RSTLAB_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data")
  if(name MATCHES "^test_lua_")
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/bindings)
    target_link_libraries(${name} PRIVATE rstlab_lua PkgConfig::LUA)
  endif()
  target_link_libraries(${name} PRIVATE rstlab_core PkgConfig::CMOCKA)
  # The tests that read or write pcap files, or compile filters, with
  # libpcap itself (rstlab loads it only when it needs it).
  if(name MATCHES "^test_(capture|decode)$")
    target_link_libraries(${name} PRIVATE PkgConfig::PCAP)
  endif()
  add_test(NAME core/${name} COMMAND ${name})
  set_tests_properties(core/${name} PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
endfunction()

# Built with AddressSanitizer, rstlab.so can only be loaded by the stock
# (uninstrumented) lua5.4 when the ASan runtime is loaded first: the Lua
# tests, and the suite tests that run lua5.4, get it through LD_PRELOAD
# (suite tests as $RSTLAB_LUA_PRELOAD, see tests/suite/lib.sh).
set(RSTLAB_LUA_PRELOAD "")
if("address" IN_LIST RSTLAB_SANITIZERS)
  if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    set(_asan_rt libasan.so)
  else()
    set(_asan_rt libclang_rt.asan-${CMAKE_SYSTEM_PROCESSOR}.so)
  endif()
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=${_asan_rt}
                  OUTPUT_VARIABLE RSTLAB_LUA_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()

# tests/lua/test_<what>.lua: run by stock lua5.4 with require "rstlab"
# resolving to the built module and the source tree's stdlib.
function(rstlab_lua_test src)
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME lua/${name} COMMAND ${LUA_INTERP} ${src}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(lua/${name} PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77
    DEPENDS rstlab_module
    ENVIRONMENT "LUA_PATH=${CMAKE_SOURCE_DIR}/stdlib/?.lua\;${CMAKE_SOURCE_DIR}/tests/lua/?.lua\;\;;LUA_CPATH=${CMAKE_BINARY_DIR}/?.so\;\;;RSTLAB=$<TARGET_FILE:rstlab>;LD_PRELOAD=${RSTLAB_LUA_PRELOAD}")
endfunction()

# tests/suite/*.sh: runs of the rstlab program over scenario files.
function(rstlab_sh_test src)
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME suite/${name} COMMAND bash ${src}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(suite/${name} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "RSTLAB=$<TARGET_FILE:rstlab>;SRC=${CMAKE_SOURCE_DIR};RSTLAB_MODULE_DIR=${CMAKE_BINARY_DIR};RSTLAB_LUA_PRELOAD=${RSTLAB_LUA_PRELOAD}")
endfunction()

file(GLOB _c_tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/core/test_*.c)
foreach(t ${_c_tests})
  rstlab_c_test(${t})
endforeach()
file(GLOB _lua_tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/lua/test_*.lua)
foreach(t ${_lua_tests})
  rstlab_lua_test(${t})
endforeach()
file(GLOB _sh_tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/suite/test_*.sh)
foreach(t ${_sh_tests})
  rstlab_sh_test(${t})
endforeach()
# It compares machine-wide state (interfaces, tracing instances) before and
# after its runs: nothing else may run meanwhile.
if(TEST suite/test_resources)
  set_tests_properties(suite/test_resources PROPERTIES RUN_SERIAL TRUE)
endif()
