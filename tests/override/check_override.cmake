# check_override.cmake — the drop-in malloc under real programs, for ctest:
#   cmake -DCHECK=program|static|python|sqlite -DMALLOC_LIB=libobjmem-malloc.so
#         -DWORK=dir [-DCLI=objmem] [-DDEBUG=1] [per check: -DPROGRAM= -DSTATIC_PROGRAM=
#         -DPLUGIN= | -DPYTHON3= -DSCRIPT= | -DSQLITE3= -DGENERATOR=]
#         -P check_override.cmake
#
# Each check runs a program twice, plain and on objmem, and requires the same
# stdout from both, exit status 0 from both, and evidence that objmem really
# served malloc in the second run (the program's own om_owns checks, and the
# JSON report the drop-in writes at exit).
cmake_minimum_required(VERSION 3.19)  # string(JSON)

# Command prefix that runs what follows on objmem, writing the JSON report to
# json: `objmem run` when the CLI is built, else the environment by hand.
# With -DDEBUG=1, in debug mode (objmem run --debug, OBJMEM_DEBUG=1): any
# error it finds aborts the run, so the same output means none.
function(objmem_prefix out_var json)
  if(CLI)
    set(debug_opt "")
    if(DEBUG)
      set(debug_opt --debug)
    endif()
    set(cmd ${CMAKE_COMMAND} -E env --unset=LD_PRELOAD ${CLI} run ${debug_opt} --json ${json} --)
  else()
    set(cmd ${CMAKE_COMMAND} -E env LD_PRELOAD=${MALLOC_LIB} PYTHONMALLOC=malloc
            OBJMEM_STATS_JSON=${json})
    if(DEBUG)
      list(APPEND cmd OBJMEM_DEBUG=1)
    endif()
  endif()
  set(${out_var} ${cmd} PARENT_SCOPE)
endfunction()

# run(NAME name PREFIX var [INPUT file] COMMAND ...): runs the command after
# the prefix held in variable var, saves its output to WORK/name.out and
# .err, and fails unless the status is 0.
function(run)
  cmake_parse_arguments(R "" "NAME;INPUT;PREFIX" "COMMAND" ${ARGN})
  set(input "")
  if(R_INPUT)
    set(input INPUT_FILE ${R_INPUT})
  endif()
  set(prefix ${${R_PREFIX}})
  execute_process(COMMAND ${prefix} ${R_COMMAND} ${input}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc
                  WORKING_DIRECTORY ${WORK})
  file(WRITE ${WORK}/${R_NAME}.out "${out}")
  file(WRITE ${WORK}/${R_NAME}.err "${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${R_NAME}: exit status ${rc}\ncommand: ${R_PREFIX} ${R_COMMAND}\n"
                        "stderr:\n${err}")
  endif()
  set(${R_NAME}_out "${out}" PARENT_SCOPE)
  set(${R_NAME}_err "${err}" PARENT_SCOPE)
endfunction()

function(require_same_output a b)
  if(NOT "${${a}_out}" STREQUAL "${${b}_out}")
    execute_process(COMMAND diff -u ${WORK}/${a}.out ${WORK}/${b}.out OUTPUT_VARIABLE d)
    message(FATAL_ERROR "stdout differs between ${a} and ${b}:\n${d}")
  endif()
  string(LENGTH "${${a}_out}" n)
  if(n EQUAL 0)
    message(FATAL_ERROR "${a} printed nothing")
  endif()
  message(STATUS "${a} and ${b}: same stdout (${n} bytes)")
endfunction()

function(require_match what text regex)
  if(NOT text MATCHES "${regex}")
    message(FATAL_ERROR "${what}: expected to match '${regex}', got:\n${text}")
  endif()
endfunction()

function(json_number out_var doc key)
  string(JSON value ERROR_VARIABLE err GET "${doc}" ${key})
  if(err)
    message(FATAL_ERROR "JSON report: ${key}: ${err}")
  endif()
  set(${out_var} "${value}" PARENT_SCOPE)
endfunction()

# The report written at exit: proof that objmem served at least min_arenas
# arenas' worth of malloc.
function(require_report json min_arenas)
  if(NOT EXISTS ${json})
    message(FATAL_ERROR "no JSON report at ${json}: the drop-in was not loaded")
  endif()
  file(READ ${json} doc)
  json_number(arenas "${doc}" arenas_allocated)
  json_number(large "${doc}" large_count)
  json_number(peak "${doc}" os_bytes_peak)
  json_number(foreign "${doc}" foreign_frees_ignored)
  message(STATUS "report: arenas_allocated=${arenas} large_count=${large} "
                 "os_bytes_peak=${peak} foreign_frees_ignored=${foreign}")
  if(arenas LESS min_arenas)
    message(FATAL_ERROR "arenas_allocated = ${arenas} < ${min_arenas}: objmem was not the malloc")
  endif()
endfunction()

function(require_tool var name)
  if(NOT ${var})
    message(FATAL_ERROR "${name} was not found when the build was configured.  Install it "
                        "(./run.sh does: apt-get install ${name}) and configure again.")
  endif()
endfunction()

set(plain ${CMAKE_COMMAND} -E env --unset=LD_PRELOAD)
set(name ${CHECK})
if(DEBUG)
  set(name ${CHECK}-debug)
endif()
file(REMOVE_RECURSE ${WORK}/${name})
file(MAKE_DIRECTORY ${WORK}/${name})
set(WORK ${WORK}/${name})
set(json ${WORK}/report.json)
objmem_prefix(on_objmem ${json})

if(CHECK STREQUAL "program")
  run(NAME plain PREFIX plain COMMAND ${PROGRAM} libc ${PLUGIN})
  run(NAME objmem PREFIX on_objmem COMMAND ${PROGRAM} objmem ${PLUGIN})
  require_same_output(plain objmem)
  require_match("override_program under objmem, stderr" "${objmem_err}" "[1-9][0-9]* passed, 0 failed")
  require_report(${json} 1)
elseif(CHECK STREQUAL "static")
  run(NAME plain PREFIX plain COMMAND ${PROGRAM} libc ${PLUGIN})
  run(NAME static PREFIX plain COMMAND ${STATIC_PROGRAM} static ${PLUGIN})
  require_same_output(plain static)
  require_match("override_program_static, stderr" "${static_err}" "[1-9][0-9]* passed, 0 failed")
elseif(CHECK STREQUAL "python")
  require_tool(PYTHON3 python3)
  set(plain_python ${plain} --unset=PYTHONMALLOC)
  run(NAME plain PREFIX plain_python COMMAND ${PYTHON3} ${SCRIPT})
  run(NAME objmem PREFIX on_objmem COMMAND ${PYTHON3} ${SCRIPT})
  require_same_output(plain objmem)
  require_match("python, plain, stderr" "${plain_err}" "objmem: not loaded")
  if(NOT objmem_err MATCHES "objmem: om_owns true for ([0-9]+) of ([0-9]+) objects"
     OR NOT CMAKE_MATCH_1 EQUAL CMAKE_MATCH_2 OR CMAKE_MATCH_1 EQUAL 0)
    message(FATAL_ERROR "python on objmem: stderr should say that om_owns is true for all of "
                        "a sample of objects, and says:\n${objmem_err}")
  endif()
  require_report(${json} 4)
elseif(CHECK STREQUAL "sqlite")
  require_tool(SQLITE3 sqlite3)
  require_tool(PYTHON3 python3)
  run(NAME workload PREFIX plain COMMAND ${PYTHON3} ${GENERATOR})
  run(NAME plain PREFIX plain INPUT ${WORK}/workload.out COMMAND ${SQLITE3} :memory:)
  run(NAME objmem PREFIX on_objmem INPUT ${WORK}/workload.out COMMAND ${SQLITE3} :memory:)
  require_same_output(plain objmem)
  if(NOT plain_err STREQUAL "")
    message(FATAL_ERROR "sqlite3 reported errors on the workload:\n${plain_err}")
  endif()
  require_report(${json} 2)
else()
  message(FATAL_ERROR "unknown CHECK '${CHECK}'")
endif()
