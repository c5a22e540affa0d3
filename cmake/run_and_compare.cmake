# Runs a program and checks that its standard output equals a file, byte for byte.
#
#   cmake -DEXE=<program> -DEXPECTED=<file.out> -DACTUAL=<file> -P run_and_compare.cmake
#
# Fails when the program exits non-zero or prints anything else; the program's stderr passes
# through. The actual output is written to ACTUAL, and shown as a diff against EXPECTED.
foreach(var EXE EXPECTED ACTUAL)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_and_compare.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${EXE} OUTPUT_VARIABLE actual RESULT_VARIABLE rc)
file(WRITE ${ACTUAL} "${actual}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "${EXE} failed (exit status: ${rc})")
endif()

file(READ ${EXPECTED} expected)
if(NOT actual STREQUAL expected)
  find_program(DIFF diff)
  if(DIFF)
    execute_process(COMMAND ${DIFF} -u ${EXPECTED} ${ACTUAL})
  else()
    message("--- expected (${EXPECTED}):\n${expected}--- actual (${ACTUAL}):\n${actual}")
  endif()
  message(FATAL_ERROR "${EXE}: output differs from ${EXPECTED}")
endif()
