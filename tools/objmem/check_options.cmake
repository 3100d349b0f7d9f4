# check_options.cmake — `objmem options`, for ctest:
#   cmake -DCLI=path/to/objmem -P check_options.cmake
#
# The text list names every option; --json gives each option's value in
# force, default and origin, following the environment (a value set there,
# a bad value kept at its default with one warning, an unknown name
# warned about); --help prints the grammar; a bad option is bad usage.
cmake_minimum_required(VERSION 3.19)  # string(JSON)

function(run_options out_var err_var rc_var)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${ARGN}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${err_var} "${err}" PARENT_SCOPE)
  set(${rc_var} "${rc}" PARENT_SCOPE)
endfunction()

include(${CMAKE_CURRENT_LIST_DIR}/check_expect.cmake)

# The row of `name` in the JSON list: sets <prefix>_value, _origin, _default.
function(option_row doc name prefix)
  string(JSON rows GET "${doc}" options)
  string(JSON n LENGTH "${rows}")
  math(EXPR last "${n} - 1")
  foreach(i RANGE ${last})
    string(JSON row_name GET "${rows}" ${i} name)
    if(row_name STREQUAL name)
      foreach(key value origin default kind)
        string(JSON v GET "${rows}" ${i} ${key})
        set(${prefix}_${key} "${v}" PARENT_SCOPE)
      endforeach()
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "objmem options --json: no row for ${name}")
endfunction()

set(names CHECKED PURGE_DELAY_MS PURGE_DECOMMIT LARGE_CACHE_MB VERBOSE STATS REPORT_FOREIGN
          BACKGROUND LARGE_DECAY_MS SNAPSHOT_EVERY_MS STATS_JSON MALLOC_LIB SNAPSHOT_FILE)

# Text: every name, once, and the _exit note.
run_options(out err rc --unset=OBJMEM_LARGE_CACHE_MB ${CLI} options)
expect("objmem options: exit status" "${rc}" 0)
foreach(name IN LISTS names)
  expect_match("objmem options lists OBJMEM_${name}" "${out}" "\n  OBJMEM_${name} ")
endforeach()
expect_match("objmem options mentions _exit" "${out}" "_exit\\(\\)")

# JSON: defaults, then the environment's values and origins.
run_options(out err rc --unset=OBJMEM_LARGE_CACHE_MB --unset=OBJMEM_CHECKED ${CLI} options --json)
expect("objmem options --json: exit status" "${rc}" 0)
option_row("${out}" OBJMEM_LARGE_CACHE_MB cache)
expect("LARGE_CACHE_MB value" "${cache_value}" 64)
expect("LARGE_CACHE_MB origin" "${cache_origin}" default)
expect("LARGE_CACHE_MB kind" "${cache_kind}" MiB)

run_options(out err rc OBJMEM_LARGE_CACHE_MB=2G OBJMEM_CHECKED=bogus OBJMEM_STAT=1
            OBJMEM_STATS_JSON=/tmp/r-%p.json ${CLI} options --json)
expect("objmem options --json with settings: exit status" "${rc}" 0)
option_row("${out}" OBJMEM_LARGE_CACHE_MB cache)
expect("LARGE_CACHE_MB=2G value" "${cache_value}" 2048)
expect("LARGE_CACHE_MB=2G origin" "${cache_origin}" environment)
option_row("${out}" OBJMEM_CHECKED checked)
expect("CHECKED=bogus value" "${checked_value}" 0)
expect("CHECKED=bogus origin" "${checked_origin}" default)
option_row("${out}" OBJMEM_STATS_JSON json)
expect("STATS_JSON value" "${json_value}" "/tmp/r-%p.json")
expect("STATS_JSON origin" "${json_origin}" environment)
expect_match("warning for CHECKED=bogus" "${err}"
             "objmem: warning: OBJMEM_CHECKED=bogus is not a switch [^\n]*; using the default 0\n")
expect_match("warning for OBJMEM_STAT" "${err}" "objmem: warning: OBJMEM_STAT=1 is not an objmem option")
string(REGEX MATCHALL "objmem: warning:" warnings "${err}")
list(LENGTH warnings n)
expect("warnings from objmem options" "${n}" 2)

# --help and bad usage.
run_options(out err rc ${CLI} options --help)
expect("objmem options --help: exit status" "${rc}" 0)
expect_match("objmem options --help" "${out}" "usage: objmem options")
expect_match("objmem options --help gives the grammar" "${out}" "1, yes, true, on")
run_options(out err rc ${CLI} help options)
expect("objmem help options: exit status" "${rc}" 0)
run_options(out err rc ${CLI} options --bogus)
expect("objmem options --bogus: exit status" "${rc}" 2)
expect_match("objmem options --bogus" "${err}" "usage: objmem options")
