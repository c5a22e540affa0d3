# Checks examples/pipeline.cpp end to end on a small tree whose counts are known, plus its
# error paths: a missing directory, a bad argument, a deadline that has already passed.
#
#   cmake -DEXE=<pipeline> -DWORK=<scratch dir> -DREPO=<source dir> -P run_pipeline_test.cmake
foreach(var EXE WORK REPO)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_pipeline_test.cmake: -D${var}=... is required")
  endif()
endforeach()

set(tree ${WORK}/tree)
file(REMOVE_RECURSE ${tree})
file(WRITE ${tree}/a.txt "Hello world, hello!\n")
file(WRITE ${tree}/sub/deeper/b.md "goro fibers say HELLO\nto a world\n")
file(WRITE ${tree}/empty "")
file(WRITE ${tree}/build/skipped.txt "not counted: build trees are skipped\n")
file(WRITE ${tree}/.git/HEAD "not counted either\n")

function(run_pipeline)
  execute_process(COMMAND ${EXE} ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
  set(rc "${rc}" PARENT_SCOPE)
endfunction()

function(expect what text pattern)
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "pipeline: ${what}: expected to match '${pattern}', got:\n${text}")
  endif()
endfunction()

# Known counts: 3 files (a.txt, b.md, empty), 3 lines, 10 words; words of 3+ letters ranked.
run_pipeline(${tree} --workers 3 --top 3)
expect("exit status" "${rc}" "^0$")
expect("files" "${out}" "files: +3 \\(0 unreadable\\)")
expect("lines" "${out}" "lines: +3\n")
expect("words" "${out}" "words: +10\n")
expect("bytes" "${out}" "bytes: +53\n")
expect("top words" "${out}" "top words: +hello\\(3\\) world\\(2\\) fibers\\(1\\)\n")
expect("throughput" "${out}" "throughput: [0-9.]+ MB/s")
string(REGEX MATCH "digest: +[0-9a-f]+" digest3 "${out}")

# The digest does not depend on how many workers there are or in which order files finish.
run_pipeline(${tree} --workers 1)
expect("exit status, 1 worker" "${rc}" "^0$")
string(REGEX MATCH "digest: +[0-9a-f]+" digest1 "${out}")
if(NOT digest1 STREQUAL digest3 OR digest1 STREQUAL "")
  message(FATAL_ERROR "pipeline: digest differs between 1 and 3 workers: '${digest1}' vs '${digest3}'")
endif()

# A failing walker fails the errgroup: message on stderr, exit status 1.
run_pipeline(${tree}/no-such-dir)
expect("missing dir status" "${rc}" "^1$")
expect("missing dir message" "${err}" "pipeline: not a directory: .*no-such-dir")

# Bad arguments: usage, exit status 64.
run_pipeline(--workers 0)
expect("bad argument status" "${rc}" "^64$")
expect("bad argument message" "${err}" "--workers must be at least 1")

# A deadline that has passed: every stage stops, the summary says it is partial, status 2.
run_pipeline(${tree} --timeout-ms 0)
expect("deadline status" "${rc}" "^2$")
expect("deadline summary" "${out}" "partial scan of .*\\(deadline exceeded\\)")

# And the real thing: the repository itself.
run_pipeline(${REPO})
expect("repository scan status" "${rc}" "^0$")
expect("repository scan" "${out}" "files: +[1-9][0-9]* \\(0 unreadable\\)")
