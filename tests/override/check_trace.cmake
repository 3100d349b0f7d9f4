# check_trace.cmake — allocation tracing through `objmem run --trace`:
#   cmake -DCLI=objmem -DLEAK=trace_leak -DPYTHON3=python3 -DWORK=dir -P check_trace.cmake
# 1. trace_leak under `objmem run --trace=8`: the leak report on stderr
#    names the planted leak's file:line with its 5 blocks of 4000 bytes.
# 2. The same with OBJMEM_TRACE_FILE: `objmem report` prints the saved JSON
#    and `objmem report --diff` compares it with a report of the untraced
#    leak-free start (an empty site list) and shows the growth.
# 3. python3 -c SCRIPT under `objmem run --trace` prints what it prints
#    without objmem, and the report at exit names the process.
cmake_minimum_required(VERSION 3.16)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(fail msg)
  message(FATAL_ERROR "${msg}")
endfunction()

# 1
execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=LD_PRELOAD ${CLI} run --trace=8 -- ${LEAK}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  fail("trace_leak under objmem run --trace: status ${rc}\n${err}")
endif()
string(REGEX MATCH "trace_leak.c:[0-9]+" site "${out}")
if(NOT site)
  fail("trace_leak printed no line: ${out}")
endif()
if(NOT err MATCHES "leaks: [0-9]+ blocks")
  fail("no leak report on stderr:\n${err}")
endif()
if(NOT err MATCHES "20000 bytes in 5 blocks allocated at [^\n]*${site}\n")
  fail("the leak report does not name ${site} with 5 blocks of 4000 bytes:\n${err}")
endif()
if(NOT err MATCHES "allocation trace of pid [0-9]+ \\([^\n]*trace_leak")
  fail("the report does not name its process:\n${err}")
endif()

# 2
execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=LD_PRELOAD OBJMEM_TRACE_FILE=${WORK}/leak.json
                        ${CLI} run --trace=8 -- ${LEAK}
                OUTPUT_QUIET ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT EXISTS ${WORK}/leak.json)
  fail("no JSON report: status ${rc}\n${err}")
endif()
execute_process(COMMAND ${CLI} report ${WORK}/leak.json OUTPUT_VARIABLE shown RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT shown MATCHES "20000 bytes +5 blocks +[^\n]*${site}")
  fail("objmem report does not show the leak site ${site} (status ${rc}):\n${shown}")
endif()
file(WRITE ${WORK}/empty.json "{\"objmem_trace\": 1, \"pid\": 1, \"command\": \"none\", \"reason\": \"exit\",\n"
     " \"current\": 0, \"peak\": 0, \"blocks\": 0, \"traces\": 0, \"dropped\": 0,\n \"sites\": [\n]}\n")
execute_process(COMMAND ${CLI} report --diff ${WORK}/empty.json ${WORK}/leak.json
                OUTPUT_VARIABLE shown RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT shown MATCHES "${site}: size=20000 B \\(\\+20000 B\\), count=5 \\(\\+5\\)")
  fail("objmem report --diff does not show the growth at ${site} (status ${rc}):\n${shown}")
endif()

# 3
if(NOT PYTHON3)
  fail("python3 was not found at configure time")
endif()
set(script "import json, collections\nd = {str(i): [i] * (i % 7) for i in range(20000)}\nc = collections.Counter(len(v) for v in d.values())\nprint(sorted(c.items()), len(json.dumps(d)))\n")
execute_process(COMMAND ${PYTHON3} -c "${script}" OUTPUT_VARIABLE plain RESULT_VARIABLE rc)
execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=LD_PRELOAD ${CLI} run --trace=4 -- ${PYTHON3} -c "${script}"
                OUTPUT_VARIABLE traced ERROR_VARIABLE err RESULT_VARIABLE rc2)
if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 0 OR NOT plain STREQUAL traced)
  fail("python3 under objmem run --trace: status ${rc2}, output\n${traced}\nexpected\n${plain}\nstderr:\n${err}")
endif()
if(NOT err MATCHES "allocation trace of pid [0-9]+ \\([^\n]*python3")
  fail("no tracing report at python3's exit:\n${err}")
endif()
message(STATUS "tracing: leak at ${site} found; report and --diff read the JSON; python3 traced, same output")
