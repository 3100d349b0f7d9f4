# check_scripts.cmake — the project's shell scripts:
#   - the Debian packages are listed once, in tools/deps.sh: no other
#     script runs apt-get itself, and run.sh, .ci/run and bench/lib.sh use
#     tools/deps.sh; its test group holds what the tests run;
#   - each bench script's --help prints its opening comment and nothing
#     of the code after it.
# Run with -DSOURCE_DIR=.
set(problems "")
macro(problem)
  string(APPEND problems "  ${ARGN}\n")
endmacro()

# One list of packages.
file(GLOB_RECURSE scripts RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/bench/*.sh" "${SOURCE_DIR}/tools/*.sh")
list(APPEND scripts run.sh .ci/run)
list(REMOVE_ITEM scripts tools/deps.sh)
foreach(s IN LISTS scripts)
  file(STRINGS "${SOURCE_DIR}/${s}" lines)
  foreach(l IN LISTS lines)
    # apt-get as a command (after sudo, $sudo, env, VAR=...), not in a message
    if(l MATCHES "^[ \t]*((sudo|\\$[{]?[A-Za-z_]+[}]?|env|[A-Za-z_]+=[^ ]*)[ \t]+)*apt-get[ \t]")
      problem("${s} runs apt-get itself: '${l}' (install through tools/deps.sh)")
    endif()
  endforeach()
endforeach()
foreach(s run.sh .ci/run bench/lib.sh)
  file(READ "${SOURCE_DIR}/${s}" text)
  if(NOT text MATCHES "tools/deps.sh")
    problem("${s} does not use tools/deps.sh")
  endif()
endforeach()
execute_process(COMMAND sh "${SOURCE_DIR}/tools/deps.sh" list test
                RESULT_VARIABLE rc OUTPUT_VARIABLE test_pkgs ERROR_VARIABLE err)
if(rc)
  problem("tools/deps.sh list test failed: ${err}")
endif()
foreach(p python3 sqlite3 pkg-config scdoc man-db groff-base chromium)
  if(NOT test_pkgs MATCHES "(^|\n)${p}\n")
    problem("tools/deps.sh: the test group lacks ${p}, which the tests run")
  endif()
endforeach()

# Help texts.
foreach(s bench/run.sh bench/objects.sh bench/gc.sh bench/suite.sh bench/python/run.sh)
  get_filename_component(name "${s}" NAME)
  execute_process(COMMAND bash "${SOURCE_DIR}/${s}" --help
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc)
    problem("${s} --help: status ${rc}: ${err}")
  elseif(NOT out MATCHES "^[^\n]*${name}")
    problem("${s} --help does not start with the script's name:\n${out}")
  elseif(out MATCHES "(^|\n)(set |#!|source |here=)")
    problem("${s} --help prints code after its comment:\n${out}")
  endif()
endforeach()

if(problems)
  message(FATAL_ERROR "scripts:\n${problems}")
endif()
message(STATUS "scripts: packages from tools/deps.sh only; bench --help texts end with their comment")
