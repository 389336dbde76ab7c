# Fuzz targets (libFuzzer), built when RSTLAB_FUZZ is on. They need clang:
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DRSTLAB_FUZZ=ON \
#         -DRSTLAB_SANITIZERS='address;undefined'
# Everything is compiled with -fsanitize=fuzzer-no-link (coverage for the
# fuzzer); the targets link libFuzzer's main. Each target is also a CTest
# test: a short bounded run (RSTLAB_FUZZ_TIME seconds, default 30) from the
# seed corpus in tests/fuzz/corpus/<name>/, through tests/fuzz/run.sh.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "RSTLAB_FUZZ needs clang (libFuzzer): -DCMAKE_C_COMPILER=clang")
endif()
set(RSTLAB_FUZZ_TIME 30 CACHE STRING "Seconds each fuzz target runs as a CTest test")
enable_testing()

function(rstlab_fuzz_target name)
  add_executable(fuzz_${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${name}.c)
  target_include_directories(fuzz_${name} PRIVATE ${CMAKE_SOURCE_DIR}/core ${CMAKE_SOURCE_DIR}/bindings)
  target_compile_options(fuzz_${name} PRIVATE ${RSTLAB_WARNINGS})
  target_link_libraries(fuzz_${name} PRIVATE ${ARGN})
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  add_test(NAME fuzz/${name}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh $<TARGET_FILE:fuzz_${name}>
                   ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name} ${RSTLAB_FUZZ_TIME}
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(fuzz/${name} PROPERTIES TIMEOUT 600)
endfunction()

rstlab_fuzz_target(decode rstlab_core)
rstlab_fuzz_target(addr rstlab_core)
rstlab_fuzz_target(expect rstlab_lua PkgConfig::LUA)
