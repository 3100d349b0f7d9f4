# check_expect.cmake — the assertions the command-line tool's check
# scripts share (check_cli.cmake, check_options.cmake,
# heapmap/check_heapmap.cmake): each fails the script with a message
# naming what was checked, what came and what was wanted.

function(expect what got want)
  if(NOT "${got}" STREQUAL "${want}")
    message(FATAL_ERROR "${what}: got '${got}', expected '${want}'")
  endif()
endfunction()

function(expect_match what text regex)
  if(NOT text MATCHES "${regex}")
    message(FATAL_ERROR "${what}: '${text}' does not match '${regex}'")
  endif()
endfunction()
