# Builds and runs tests/consumer/main.cpp the way a goro user would; one ctest test per MODE:
#   install    configure goro from GORO_SOURCE_DIR (tests, examples, bench off), install it into
#              WORK_DIR/prefix, then build find_package/ with CMAKE_PREFIX_PATH=WORK_DIR/prefix
#   subdir     build add_subdirectory/ with -DGORO_SOURCE_DIR=...
#   pkgconfig  compile main.cpp with `pkg-config --cflags --libs goro` from WORK_DIR/prefix
#              (needs the prefix that MODE=install leaves behind)
# Required: -DMODE= -DGORO_SOURCE_DIR= -DWORK_DIR= -DCMAKE_CXX_COMPILER= -DGENERATOR=
# Optional: -DMAKE_PROGRAM= -DBoost_DIR= -DPKG_CONFIG=
foreach(var MODE GORO_SOURCE_DIR WORK_DIR CMAKE_CXX_COMPILER GENERATOR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(consumer_dir ${CMAKE_CURRENT_LIST_DIR})
set(prefix ${WORK_DIR}/prefix)
set(common_args -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER} -DCMAKE_BUILD_TYPE=Debug
                -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(MAKE_PROGRAM)
  list(APPEND common_args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(Boost_DIR AND EXISTS "${Boost_DIR}")
  list(APPEND common_args -DBoost_DIR=${Boost_DIR})
endif()

# step(<what> <command>...): runs the command, fails the test with <what> if it fails.
function(step what)
  message(STATUS "consumer ${MODE}: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "consumer ${MODE}: ${what} failed (${rc}): ${ARGN}")
  endif()
endfunction()

# run_app(<program>): runs the consumer and checks its output.
function(run_app program)
  execute_process(COMMAND ${program} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  message(STATUS "consumer ${MODE}: ${program} printed: ${out}")
  if(NOT rc STREQUAL "0" OR NOT out STREQUAL "consumer ok 5050\n")
    message(FATAL_ERROR "consumer ${MODE}: ${program} failed (${rc}), printed \"${out}\"")
  endif()
endfunction()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${WORK_DIR}/goro-build ${prefix} ${WORK_DIR}/find_package-build)
  step("configure goro" ${CMAKE_COMMAND} -S ${GORO_SOURCE_DIR} -B ${WORK_DIR}/goro-build ${common_args}
       -DGORO_BUILD_TESTS=OFF -DGORO_BUILD_EXAMPLES=OFF -DGORO_BUILD_BENCH=OFF)
  step("build goro" ${CMAKE_COMMAND} --build ${WORK_DIR}/goro-build)
  step("install goro" ${CMAKE_COMMAND} --install ${WORK_DIR}/goro-build --prefix ${prefix})
  step("configure consumer" ${CMAKE_COMMAND} -S ${consumer_dir}/find_package -B ${WORK_DIR}/find_package-build
       ${common_args} -DCMAKE_PREFIX_PATH=${prefix})
  # The consumer must have found the goro just installed, not another one on the system.
  file(STRINGS ${WORK_DIR}/find_package-build/CMakeCache.txt goro_dir REGEX "^goro_DIR:")
  string(REGEX REPLACE "^goro_DIR:[A-Z]+=" "" goro_dir "${goro_dir}")
  string(FIND "${goro_dir}" "${prefix}/" at)
  if(NOT at EQUAL 0)
    message(FATAL_ERROR "consumer install: found goro in \"${goro_dir}\", not under ${prefix}")
  endif()
  step("build consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/find_package-build)
  run_app(${WORK_DIR}/find_package-build/consumer)

elseif(MODE STREQUAL "subdir")
  file(REMOVE_RECURSE ${WORK_DIR}/add_subdirectory-build)
  step("configure consumer" ${CMAKE_COMMAND} -S ${consumer_dir}/add_subdirectory
       -B ${WORK_DIR}/add_subdirectory-build ${common_args} -DGORO_SOURCE_DIR=${GORO_SOURCE_DIR})
  step("build consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/add_subdirectory-build)
  run_app(${WORK_DIR}/add_subdirectory-build/consumer)

elseif(MODE STREQUAL "pkgconfig")
  if(NOT PKG_CONFIG)
    message(FATAL_ERROR "run_consumer.cmake: -DPKG_CONFIG=<pkg-config> is required")
  endif()
  file(GLOB_RECURSE pc_file ${prefix}/goro.pc)
  if(NOT pc_file)
    message(FATAL_ERROR "consumer pkgconfig: no goro.pc under ${prefix} (run consumer_install first)")
  endif()
  get_filename_component(pc_dir "${pc_file}" DIRECTORY)
  set(ENV{PKG_CONFIG_PATH} ${pc_dir})
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs goro OUTPUT_VARIABLE flags
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "consumer pkgconfig: `pkg-config --cflags --libs goro` failed (${rc})")
  endif()
  message(STATUS "consumer pkgconfig: pkg-config --cflags --libs goro: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  file(MAKE_DIRECTORY ${WORK_DIR}/pkgconfig-build)
  step("compile consumer" ${CMAKE_CXX_COMPILER} ${consumer_dir}/main.cpp ${flags}
       -o ${WORK_DIR}/pkgconfig-build/consumer)
  run_app(${WORK_DIR}/pkgconfig-build/consumer)

else()
  message(FATAL_ERROR "run_consumer.cmake: unknown MODE \"${MODE}\"")
endif()
