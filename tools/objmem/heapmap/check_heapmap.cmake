# check_heapmap.cmake — the heap map's CLI tests (label cli):
#   cmake -DCLI=objmem -DCHECK=convert|run|tour -DMALLOC_LIB=libobjmem-malloc.so
#         -DVICTIM=heapmap_victim -DWORK=dir -P check_heapmap.cmake
#
#   convert  snapshots captured by the drop-in (OBJMEM_SNAPSHOT_FILE), a
#            line cut short and a blank line added: `objmem heapmap` writes
#            a page holding the whole ones as a JSON array in place of the
#            placeholder, no "</script" inside the data, a warning for the
#            cut line; no snapshot at all: exit 1 and no page; usage errors
#   run      `objmem run --heapmap`: a C program and python3, two snapshots
#            at least, the command's exit status (and 128+N for a signal),
#            the temporary file removed
#   tour     `objmem tour --heapmap DIR`: one page per chapter
cmake_minimum_required(VERSION 3.19)  # string(JSON)

include(${CMAKE_CURRENT_LIST_DIR}/../check_expect.cmake)

# The page's snapshots: their count in ${count_var}; fails unless the
# placeholder is replaced by a JSON array with no "</" inside it.
function(page_snapshots page count_var)
  file(READ "${page}" html)
  string(FIND "${html}" "/*OBJMEM_SNAPSHOTS*/" placeholder)
  expect("${page}: placeholder left" "${placeholder}" -1)
  # the template's data block (tools/objmem/heapmap/template.html)
  set(marker "<script type=\"application/json\" id=\"objmem-data\">")
  string(FIND "${html}" "${marker}" at REVERSE) # the template's comment names it first
  if(at LESS 0)
    message(FATAL_ERROR "${page}: no '${marker}'")
  endif()
  string(LENGTH "${marker}" n)
  math(EXPR start "${at} + ${n}")
  string(SUBSTRING "${html}" ${start} -1 rest)
  string(FIND "${rest}" "</" close)
  string(FIND "${rest}" "</script>" end)
  expect("${page}: first '</' after the data is the script's end" "${close}" "${end}")
  string(SUBSTRING "${rest}" 0 ${end} data)
  string(JSON count ERROR_VARIABLE err LENGTH "${data}")
  if(err)
    message(FATAL_ERROR "${page}: the data is not a JSON array: ${err}")
  endif()
  string(JSON first GET "${data}" 0 objmem_snapshot)
  expect("${page}: objmem_snapshot" "${first}" 1)
  set(${count_var} ${count} PARENT_SCOPE)
endfunction()

function(check_convert)
  set(snaps ${WORK}/snaps.jsonl)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env LD_PRELOAD=${MALLOC_LIB} OBJMEM_SNAPSHOT_FILE=${snaps}
                          OBJMEM_SNAPSHOT_EVERY_MS=20 ${VICTIM} 0 "</script><b>x</b>"
                  RESULT_VARIABLE rc)
  expect("victim under OBJMEM_SNAPSHOT_FILE: exit status" "${rc}" 0)
  file(STRINGS ${snaps} lines)
  list(LENGTH lines captured)
  if(captured LESS 3)
    message(FATAL_ERROR "OBJMEM_SNAPSHOT_FILE: ${captured} snapshots in 300 ms at 20 ms")
  endif()
  file(READ ${snaps} text)
  expect_match("the command is in the snapshot, '</' escaped" "${text}" "\"command\":\"[^\"]*<\\\\/script>")
  file(APPEND ${snaps} "\n{\"objmem_snapshot\":1,\"cut\":[1,2")
  execute_process(COMMAND ${CLI} heapmap ${snaps} -o ${WORK}/page.html
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  expect("objmem heapmap: exit status" "${rc}" 0)
  expect_match("objmem heapmap: the cut line" "${err}" "snaps.jsonl:[0-9]+: not a whole JSON object")
  page_snapshots(${WORK}/page.html count)
  expect("objmem heapmap: snapshots in the page" "${count}" "${captured}")
  # nothing to show: no page
  file(WRITE ${WORK}/empty.jsonl "\n")
  execute_process(COMMAND ${CLI} heapmap ${WORK}/empty.jsonl -o ${WORK}/none.html
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  expect("objmem heapmap of no snapshot: exit status" "${rc}" 1)
  expect_match("objmem heapmap of no snapshot: stderr" "${err}" "no heap snapshot")
  if(EXISTS ${WORK}/none.html)
    message(FATAL_ERROR "objmem heapmap wrote a page of no snapshot")
  endif()
  foreach(args "heapmap" "heapmap;${snaps}" "heapmap;${snaps};-o" "heapmap;--bad;${snaps};-o;x.html")
    execute_process(COMMAND ${CLI} ${args} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    expect("objmem ${args}: exit status" "${rc}" 2)
  endforeach()
endfunction()

function(run_heapmap page status)
  file(REMOVE ${page})
  execute_process(COMMAND ${CMAKE_COMMAND} -E env TMPDIR=${WORK}/tmp OBJMEM_MALLOC_LIB=${MALLOC_LIB}
                          ${CLI} run --heapmap ${page} ${ARGN}
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  expect("objmem run --heapmap ${ARGN}: exit status (${err})" "${rc}" "${status}")
  page_snapshots(${page} count)
  if(count LESS 2)
    message(FATAL_ERROR "objmem run --heapmap ${ARGN}: ${count} snapshot(s)")
  endif()
  file(GLOB left ${WORK}/tmp/*)
  expect("objmem run --heapmap ${ARGN}: temporary files left" "${left}" "")
endfunction()

function(check_run)
  file(MAKE_DIRECTORY ${WORK}/tmp)
  run_heapmap(${WORK}/c.html 7 --every 20 -- ${VICTIM} 7)
  run_heapmap(${WORK}/every0.html 0 --every 0 -- ${VICTIM} 0)
  # (no ';' in these arguments: CMake would split them there)
  run_heapmap(${WORK}/signal.html 143 -- /bin/sh -c "${VICTIM} && kill -TERM $$")
  find_program(PYTHON3 python3 REQUIRED)
  run_heapmap(${WORK}/py.html 3 --every 20 --
              ${PYTHON3} -c "import sys, time\nx = [str(i) * 5 for i in range(100000)]\ntime.sleep(0.2)\nsys.exit(3)")
  execute_process(COMMAND ${CMAKE_COMMAND} -E env TMPDIR=${WORK}/tmp OBJMEM_MALLOC_LIB=${MALLOC_LIB}
                          ${CLI} run --heapmap ${WORK}/nf.html -- ${WORK}/no-such-command
                  RESULT_VARIABLE rc ERROR_QUIET)
  expect("objmem run --heapmap of a missing command: exit status" "${rc}" 127)
  execute_process(COMMAND ${CLI} run --every 5 -- /bin/true RESULT_VARIABLE rc ERROR_QUIET)
  expect("objmem run --every without --heapmap: exit status" "${rc}" 125)
  execute_process(COMMAND ${CLI} run --heapmap ${WORK}/x.html --every 1.5 -- /bin/true RESULT_VARIABLE rc ERROR_QUIET)
  expect("objmem run --every 1.5: exit status" "${rc}" 125)
  execute_process(COMMAND ${CLI} run --heapmap ${WORK}/no-dir/x.html -- /bin/true RESULT_VARIABLE rc ERROR_QUIET)
  expect("objmem run --heapmap into a missing directory: exit status" "${rc}" 125)
endfunction()

function(check_tour)
  execute_process(COMMAND ${CLI} tour --heapmap ${WORK} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  expect("objmem tour --heapmap: exit status (${err})" "${rc}" 0)
  file(GLOB pages RELATIVE ${WORK} ${WORK}/*.html)
  list(LENGTH pages n)
  expect("objmem tour --heapmap: pages (${pages})" "${n}" 10)
  foreach(page IN LISTS pages)
    expect_match("objmem tour --heapmap: page name" "${page}" "^(0[1-9]|10)-[a-z-]+\\.html$")
    page_snapshots(${WORK}/${page} count)
  endforeach()
  file(GLOB left ${WORK}/.objmem-tour-*)
  expect("objmem tour --heapmap: temporary files left" "${left}" "")
  execute_process(COMMAND ${CLI} tour --heapmap ${WORK}/no-such-dir RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  expect("objmem tour --heapmap into a missing directory: exit status" "${rc}" 1)
endfunction()

file(REMOVE_RECURSE ${WORK}/${CHECK})
file(MAKE_DIRECTORY ${WORK}/${CHECK})
set(WORK ${WORK}/${CHECK})
cmake_language(CALL check_${CHECK})
