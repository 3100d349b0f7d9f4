# check_secure.cmake — hardened mode on the drop-in, for ctest:
#   cmake -DVICTIM=secure_victim -DMALLOC_LIB=libobjmem-malloc.so -DWORK=dir
#         -DPROGRAM=override_program -DPLUGIN=plugin.so [-DPYTHON3=python3]
#         -P check_secure.cmake
#
# Each misuse of the victim runs under LD_PRELOAD and OBJMEM_SECURE=1 and
# must die of SIGABRT after one objmem report naming the pointer the victim
# printed.  Programs that misuse nothing (the victim's clean run,
# override_program with threads, fork and dlopen, ls, python3) must exit 0
# with no report: the loader's own blocks, freed through objmem, are not
# taken for foreign ones.
cmake_minimum_required(VERSION 3.19)
file(MAKE_DIRECTORY ${WORK})

function(run name)
  # env(1) execs the program, so a signal that ends it reaches us as text
  execute_process(COMMAND env LD_PRELOAD=${MALLOC_LIB} OBJMEM_SECURE=1 ${ARGN}
                  OUTPUT_VARIABLE o ERROR_VARIABLE e RESULT_VARIABLE r)
  file(WRITE ${WORK}/secure-${name}.out "${o}")
  file(WRITE ${WORK}/secure-${name}.err "${e}")
  set(out "${o}" PARENT_SCOPE)
  set(err "${e}" PARENT_SCOPE)
  set(rc "${r}" PARENT_SCOPE)
endfunction()

foreach(mode stack alloca global far unaligned overflow overflow_large double double_aba delete_array)
  run(${mode} ${VICTIM} ${mode})
  if(NOT out MATCHES "ptr=(0x[0-9a-f]+)")
    message(FATAL_ERROR "${mode}: the victim named no pointer (exit ${rc})\n${out}\n${err}")
  endif()
  set(ptr ${CMAKE_MATCH_1})
  # A signal is reported as text ("Child aborted"), an exit as a number.
  if(rc MATCHES "^[0-9]+$" OR NOT rc MATCHES "bort" OR out MATCHES "SURVIVED")
    message(FATAL_ERROR "${mode}: expected SIGABRT, got '${rc}'\n${out}\n${err}")
  endif()
  string(REGEX MATCHALL "objmem: [^\n]*" reports "${err}")
  list(LENGTH reports n)
  if(NOT n EQUAL 1 OR NOT reports MATCHES " ${ptr}")
    message(FATAL_ERROR "${mode}: expected one report naming ${ptr}\n${err}")
  endif()
  message(STATUS "${mode}: ${reports}")
endforeach()

function(expect_clean name)
  run(${name} ${ARGN})
  if(NOT rc EQUAL 0 OR err MATCHES "objmem:")
    message(FATAL_ERROR "${name}: exit ${rc}, expected 0 and no report\n${err}")
  endif()
  message(STATUS "${name}: clean")
endfunction()

# objmem run --secure sets OBJMEM_SECURE=1 (and preloads the library).
if(CLI)
  execute_process(COMMAND env -u OBJMEM_SECURE OBJMEM_MALLOC_LIB=${MALLOC_LIB} ${CLI} run --secure -- ${VICTIM} double
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(rc MATCHES "^[0-9]+$" OR NOT rc MATCHES "bort" OR NOT err MATCHES "objmem: om_free: double free")
    message(FATAL_ERROR "objmem run --secure: expected SIGABRT after a double free report, got '${rc}'\n${err}")
  endif()
  message(STATUS "objmem run --secure: ${rc}")
endif()

expect_clean(victim_clean ${VICTIM} clean)
expect_clean(override_program ${PROGRAM} objmem ${PLUGIN})
expect_clean(ls ls -la /)
if(PYTHON3)
  expect_clean(python3 ${PYTHON3} -c "import json, ctypes, threading; t = threading.Thread(target=lambda: json.dumps(list(range(10**5)))); t.start(); t.join()")
endif()
