# check_debug.cmake — debug mode under misuse, for ctest:
#   cmake -DCHECK=c|cxx -DPROGRAM=victim [-DHOW=preload|static]
#         [-DSTATIC_PROGRAM=victim_cxx_static] -DMALLOC_LIB=libobjmem-malloc.so
#         -DWORK=dir [-DCLI=objmem] -P check_debug.cmake
#
# Each mode of the victim runs as a child under OBJMEM_DEBUG=1 (preloaded:
# through `objmem run --debug` when the CLI is built, else LD_PRELOAD by
# hand; static: linked in).  The victim's handler prints each report as a
# line (victim.h); the check wants exactly one, of the expected kind, and
# for a block the victim named, its serial number and size.  A clean run
# must report nothing and om_debug_check find nothing.
cmake_minimum_required(VERSION 3.19)

file(MAKE_DIRECTORY ${WORK})

# run(program how mode [ENV k=v...]): sets out, err, rc in the caller.
function(run program how mode)
  set(env OBJMEM_DEBUG=1 ${ARGN})
  if(how STREQUAL "static")
    set(cmd ${CMAKE_COMMAND} -E env --unset=LD_PRELOAD ${env} ${program} ${mode})
  elseif(CLI)
    set(cmd ${CMAKE_COMMAND} -E env --unset=LD_PRELOAD --unset=OBJMEM_DEBUG ${ARGN}
            ${CLI} run --debug -- ${program} ${mode})
  else()
    set(cmd ${CMAKE_COMMAND} -E env LD_PRELOAD=${MALLOC_LIB} ${env} ${program} ${mode})
  endif()
  execute_process(COMMAND ${cmd} OUTPUT_VARIABLE o ERROR_VARIABLE e RESULT_VARIABLE r)
  file(WRITE ${WORK}/${how}-${mode}.out "${o}")
  file(WRITE ${WORK}/${how}-${mode}.err "${e}")
  set(out "${o}" PARENT_SCOPE)
  set(err "${e}" PARENT_SCOPE)
  set(rc "${r}" PARENT_SCOPE)
endfunction()

function(fail what)
  message(FATAL_ERROR "${what}\nstdout:\n${out}\nstderr:\n${err}")
endfunction()

# One report of kind code, about the victim's block when it named one.
function(expect_one program how mode code)
  run(${program} ${how} ${mode} ${ARGN})
  if(NOT rc EQUAL 0)
    fail("${how} ${mode}: exit status ${rc}")
  endif()
  string(REGEX MATCHALL "report code=[^\n]*" reports "${out}")
  list(LENGTH reports n)
  if(NOT n EQUAL 1)
    fail("${how} ${mode}: ${n} reports, expected one")
  endif()
  if(NOT reports MATCHES "^report code=${code} ")
    fail("${how} ${mode}: expected a '${code}' report")
  endif()
  if(out MATCHES "block serial=([0-9]+) size=([0-9]+)")
    set(serial ${CMAKE_MATCH_1})
    set(size ${CMAKE_MATCH_2})
    if(serial EQUAL 0 OR NOT reports MATCHES " serial=${serial} size=${size} ")
      fail("${how} ${mode}: the report does not name block serial ${serial} of ${size} bytes")
    endif()
  endif()
  # The report names the line that allocated the block (debug mode traces
  # one frame by itself: the program's call).
  if(out MATCHES "site=([^\n]+)")
    set(where "${CMAKE_MATCH_1}")
    string(REPLACE "." "\\." site "${where}")
    if(NOT out MATCHES "message [^\n]*; allocated at [^ \n]+ \\([^)\n]*/${site}\\)")
      fail("${how} ${mode}: the report does not say the block was allocated at ${where}")
    endif()
  endif()
  # om_debug_check at the end counts the report when it made it (uaf),
  # and nothing else: a reported block is left alone.
  set(checks 0)
  if(mode STREQUAL "uaf")
    set(checks 1)
  endif()
  if(NOT out MATCHES "check=${checks}\n")
    fail("${how} ${mode}: om_debug_check should count ${checks}")
  endif()
  message(STATUS "${how} ${mode}: ${reports}")
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

function(expect_clean program how)
  run(${program} ${how} clean)
  if(NOT rc EQUAL 0 OR out MATCHES "report code=" OR NOT out MATCHES "check=0" OR NOT err STREQUAL "")
    fail("${how} clean: exit status ${rc}; expected 0, no report, no stderr")
  endif()
  message(STATUS "${how} clean: no report")
endfunction()

set(space " ")
if(CHECK STREQUAL "c")
  expect_clean(${PROGRAM} ${HOW})
  expect_one(${PROGRAM} ${HOW} overflow "buffer overflow")
  expect_one(${PROGRAM} ${HOW} underflow "buffer underflow")
  expect_one(${PROGRAM} ${HOW} uaf "write after free")
  expect_one(${PROGRAM} ${HOW} uaf-evict "write after free" OBJMEM_DEBUG_QUARANTINE_MB=1)
  expect_one(${PROGRAM} ${HOW} double "double free")
  expect_one(${PROGRAM} ${HOW} double-late "double free" OBJMEM_DEBUG_QUARANTINE_MB=0)
  expect_one(${PROGRAM} ${HOW} stack "foreign pointer")
  # The default handler: the report on stderr, then abort.
  run(${PROGRAM} ${HOW} abort)
  if(rc EQUAL 0 OR NOT err MATCHES "objmem: om_free: buffer overflow 0x[0-9a-f]+: byte 0 past the end"
     OR NOT err MATCHES "debug block of 13 bytes, serial [1-9][0-9]*, from malloc; in small block"
     OR NOT err MATCHES "; allocated at main \\([^)\n]*/victim\\.c:[0-9]+\\)")
    fail("${HOW} abort: expected the overflow report on stderr and an abort (status ${rc})")
  endif()
  message(STATUS "${HOW} abort: ${rc}")
elseif(CHECK STREQUAL "cxx")
  foreach(how preload static)
    set(program ${PROGRAM})
    if(how STREQUAL "static")
      set(program ${STATIC_PROGRAM})
    endif()
    expect_clean(${program} ${how})
    expect_one(${program} ${how} newarray-free "allocator family mismatch")
    if(NOT out MATCHES "family=a free_family=m")
      fail("${how} newarray-free: expected family=a free_family=m")
    endif()
    expect_one(${program} ${how} new-deletearray "allocator family mismatch")
    if(NOT out MATCHES "family=n free_family=a")
      fail("${how} new-deletearray: expected family=n free_family=a")
    endif()
  endforeach()
else()
  message(FATAL_ERROR "unknown CHECK '${CHECK}'")
endif()
