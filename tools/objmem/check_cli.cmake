# check_cli.cmake — CLI tests run by ctest:
#   cmake -DCLI=path/to/objmem
#         -DCHECK=tour_json|tour_text|stats_json|usage|help|write_error -P check_cli.cmake
#   cmake -DCLI=... -DCHECK=run_stats|run_json|run_env|run_usage|run_json_errors
#         -DMALLOC_LIB=libobjmem-malloc.so -DOTHER_LIB=any.so -DWORK=dir -P check_cli.cmake
#   cmake -DCLI=... -DCHECK=run_relocated -DMALLOC_LIB=... -DWORK=dir
#         -DBUILD_DIR=build -DLIBDIR=lib -DSONAME=libobjmem-malloc.so.N -P check_cli.cmake
#
# tour_json parses `objmem tour --json` and checks the claims the tour makes
# to a learner (each one is printed in the text tour as well); tour_text
# checks that the text tour says them.
cmake_minimum_required(VERSION 3.19)  # string(JSON)

function(run_cli out_var rc_var)
  execute_process(COMMAND ${CLI} ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${rc_var} "${rc}" PARENT_SCOPE)
endfunction()

# run_cli with stderr too, and environment settings NAME=VALUE first:
#   run_env(out err rc ENV A=1 B=2 ARGS run -- ...)
function(run_env out_var err_var rc_var)
  cmake_parse_arguments(R "" "" "ENV;ARGS" ${ARGN})
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${R_ENV} ${CLI} ${R_ARGS}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc
                  WORKING_DIRECTORY ${WORK})
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${err_var} "${err}" PARENT_SCOPE)
  set(${rc_var} "${rc}" PARENT_SCOPE)
endfunction()

include(${CMAKE_CURRENT_LIST_DIR}/check_expect.cmake)

function(json_get out_var doc)
  string(JSON value ERROR_VARIABLE err GET "${doc}" ${ARGN})
  if(err)
    message(FATAL_ERROR "JSON: ${ARGN}: ${err}")
  endif()
  set(${out_var} "${value}" PARENT_SCOPE)
endfunction()

function(check_size_classes doc)
  json_get(blocks "${doc}" size_classes blocks)
  string(JSON n LENGTH "${blocks}")
  math(EXPR last "${n} - 1")
  foreach(i RANGE ${last})
    json_get(request "${blocks}" ${i} request)
    json_get(class "${blocks}" ${i} class)
    json_get(kind "${blocks}" ${i} kind)
    if(request LESS_EQUAL 512)
      math(EXPR want "(${request} - 1) >> 4")
      expect("class of ${request}" "${class}" "${want}")
      expect("kind of ${request}" "${kind}" small)
    elseif(request LESS_EQUAL 1024)
      expect("kind of ${request}" "${kind}" small)
    elseif(request LESS_EQUAL 131072)
      expect("kind of ${request}" "${kind}" medium)
    else()
      expect("kind of ${request}" "${kind}" large)
    endif()
  endforeach()
  json_get(masking "${doc}" size_classes pool_found_by_masking)
  expect("pool found by masking" "${masking}" ON)
endfunction()

function(check_pool_life doc)
  json_get(events "${doc}" pool_life events)
  string(JSON n LENGTH "${events}")
  set(states "")
  math(EXPR last "${n} - 1")
  foreach(i RANGE ${last})
    json_get(state "${events}" ${i} state)
    string(APPEND states "${state} ")
  endforeach()
  if(NOT states MATCHES "^empty used full used full used .*empty $")
    message(FATAL_ERROR "pool states: got '${states}'")
  endif()
  json_get(reused "${doc}" pool_life freed_block_reused)
  expect("freed block reused" "${reused}" ON)
endfunction()

function(check_arenas doc)
  json_get(sorted "${doc}" arena_order fullest_first)
  expect("arenas fullest first" "${sorted}" ON)
  json_get(head "${doc}" arena_order new_pool_from_head)
  expect("new pool from the head arena" "${head}" ON)
  json_get(returned "${doc}" arena_release moments 3 arenas_returned)
  if(returned LESS 60)
    message(FATAL_ERROR "only ${returned} arenas returned after freeing 64 MiB")
  endif()
  json_get(purged "${doc}" pool_purge moments 2 pools_purged)
  if(purged LESS 1)
    message(FATAL_ERROR "no pool purged by om_trim(0)")
  endif()
  json_get(mmaps "${doc}" large steps 1 mmap_calls)
  expect("mmap calls for one large block" "${mmaps}" 1)
  json_get(munmaps "${doc}" large steps 4 munmap_calls)
  expect("munmap calls after om_trim" "${munmaps}" 1)
endfunction()

function(json_type out_var doc)
  string(JSON type ERROR_VARIABLE err TYPE "${doc}" ${ARGN})
  if(err)
    message(FATAL_ERROR "JSON: ${ARGN}: ${err}")
  endif()
  set(${out_var} "${type}" PARENT_SCOPE)
endfunction()

# expect_delta(what a b delta): b == a + delta
function(expect_delta what a b delta)
  math(EXPR want "${a} + ${delta}")
  expect("${what}" "${b}" "${want}")
endfunction()

# The objects chapter: counts rise and fall, an object is freed at zero, a
# free list hands back the same address, a teardown returns every count to
# its baseline, a weak reference dies with its referent.
function(check_objects doc)
  json_get(obj "${doc}" objects)
  json_get(held "${obj}" lock_held)
  expect("runtime lock held in the objects chapter" "${held}" ON)
  json_get(held "${obj}" lock_held_after)
  expect("runtime lock released after the objects chapter" "${held}" OFF)
  json_get(interval "${obj}" switch_interval_us)
  if(interval LESS 1)
    message(FATAL_ERROR "switch interval ${interval} us")
  endif()

  json_get(rows "${obj}" refcounts)
  set(counts "")
  string(JSON n LENGTH "${rows}")
  math(EXPR last "${n} - 1")
  foreach(i RANGE ${last})
    json_get(count "${rows}" ${i} refcount)
    string(APPEND counts "${count} ")
  endforeach()
  expect("reference counts of f" "${counts}" "1 2 3 2 1 ")

  json_get(before "${obj}" freed_at_zero str_live_before)
  json_get(after "${obj}" freed_at_zero str_live_after)
  expect_delta("live str objects after the last reference went" ${before} ${after} -1)
  json_get(used_before "${obj}" freed_at_zero pool_blocks_used_before)
  json_get(used_after "${obj}" freed_at_zero pool_blocks_used_after)
  expect_delta("blocks used in the str's pool" ${used_before} ${used_after} -1)
  json_get(owned "${obj}" freed_at_zero owned_before)
  expect("om_owns(str block) before" "${owned}" ON)
  json_get(owned "${obj}" freed_at_zero owned_after)
  expect("om_owns(str block) after" "${owned}" OFF)
  json_get(header "${obj}" freed_at_zero str_header_bytes)
  expect("bytes before a str object" "${header}" 0)
  json_get(header "${obj}" freed_at_zero list_header_bytes)
  expect("bytes before a list object (collector header)" "${header}" 16)

  json_get(same "${obj}" freelist same_address)
  expect("new float got the parked float's address" "${same}" ON)
  json_get(allocated "${obj}" freelist parked_block_allocated)
  expect("a parked float's block stays allocated" "${allocated}" ON)
  json_get(before "${obj}" freelist parked_before)
  json_get(after "${obj}" freelist parked_after_free)
  expect_delta("float free list after a float died" ${before} ${after} 1)
  json_get(before "${obj}" freelist hits_before)
  json_get(after "${obj}" freelist hits_after)
  expect_delta("float free-list hits after a new float" ${before} ${after} 1)
  json_get(limit "${obj}" freelist freelist_limit)
  expect("float free-list limit (CPython's)" "${limit}" 100)

  json_get(items "${obj}" teardown items)
  json_get(base "${obj}" teardown moments 0 tuples)
  json_get(built "${obj}" teardown moments 1 tuples)
  expect_delta("tuples alive after building the list" ${base} ${built} ${items})
  json_get(back "${obj}" teardown back_to_baseline)
  expect("live counts back to the baseline after the teardown" "${back}" ON)
  json_get(destroyed "${obj}" teardown floats_destroyed)
  expect("floats destroyed by the teardown" "${destroyed}" "${items}")
  json_get(parked "${obj}" teardown floats_parked)
  expect("floats parked by the teardown" "${parked}" "${limit}")

  json_type(type "${obj}" weakref get_while_alive)
  expect("om_weakref_get while the list lives" "${type}" STRING)
  json_type(type "${obj}" weakref get_after)
  expect("om_weakref_get after the list died" "${type}" NULL)
  json_type(type "${obj}" weakref get_in_callback)
  expect("om_weakref_get inside the callback" "${type}" NULL)
  json_get(calls "${obj}" weakref callback_calls)
  expect("weak reference callbacks run" "${calls}" 1)
  json_get(match "${obj}" weakref callback_ref_matches)
  expect("callback got its weak reference" "${match}" ON)

  json_get(types "${obj}" types)
  json_get(cleared "${obj}" freelists_cleared)
  if(cleared LESS 1)
    message(FATAL_ERROR "om_freelists_clear() freed ${cleared} objects")
  endif()
endfunction()

# The cycle collector chapter: a cycle that counting keeps alive, found and
# freed by a young collection; survivors move up a generation; a due
# collection waits for om_gc_poll; weak reference callback, finalizers,
# clear in that order; the collector left as found.  Times: present only.
function(check_gc doc)
  json_get(gc "${doc}" gc)
  foreach(pair "lock_held;ON" "lock_held_after;OFF" "enabled;ON" "callback_add;0"
               "callback_remove;0" "collector_as_found;ON")
    list(GET pair 0 key)
    list(GET pair 1 want)
    json_get(got "${gc}" ${key})
    expect("gc ${key}" "${got}" "${want}")
  endforeach()

  # 1. the cycle: both counts stay at 1, both lists stay alive and tracked
  json_get(steps "${gc}" cycle steps)
  string(JSON n LENGTH "${steps}")
  math(EXPR last "${n} - 1")
  json_type(type "${steps}" 0 b_refcount)
  expect("b's count before b exists" "${type}" NULL)
  json_get(counts "${steps}" 0 a_refcount)
  string(APPEND counts " ")
  foreach(i RANGE 1 ${last})
    json_get(a "${steps}" ${i} a_refcount)
    json_get(b "${steps}" ${i} b_refcount)
    string(APPEND counts "${a}/${b} ")
  endforeach()
  expect("reference counts of a/b through the cycle" "${counts}" "1 2/1 2/2 1/2 1/1 ")
  json_get(before "${gc}" cycle lists_live_before)
  json_get(after "${gc}" cycle lists_live_after)
  expect_delta("live lists after del a, b" ${before} ${after} 2)
  json_get(tracked "${gc}" cycle a_tracked)
  expect("om_gc_is_tracked(a)" "${tracked}" ON)
  json_get(tracked "${gc}" cycle b_tracked)
  expect("om_gc_is_tracked(b)" "${tracked}" ON)

  # 2. the young collection finds and frees them
  json_get(found "${gc}" collect returned)
  expect("om_gc_collect(0) on the cycle returned" "${found}" 2)
  json_get(phase "${gc}" collect callbacks 0 phase)
  expect("first callback" "${phase}" start)
  json_get(phase "${gc}" collect callbacks 1 phase)
  expect("second callback" "${phase}" stop)
  json_get(collected "${gc}" collect callbacks 1 collected)
  expect("collected (callback)" "${collected}" 2)
  json_get(c0_start "${gc}" collect moments 0 count0)
  json_get(c0_before "${gc}" collect moments 1 count0)
  json_get(c0_after "${gc}" collect moments 2 count0)
  expect_delta("count[0] after making the cycle" ${c0_start} ${c0_before} 2)
  expect("count[0] after the young collection" "${c0_after}" 0)
  json_get(c1_before "${gc}" collect moments 1 count1)
  json_get(c1_after "${gc}" collect moments 2 count1)
  expect_delta("count[1] after the young collection" ${c1_before} ${c1_after} 1)
  json_get(lists_start "${gc}" collect moments 0 lists_live)
  json_get(lists_after "${gc}" collect moments 2 lists_live)
  expect("live lists after the collection" "${lists_after}" "${lists_start}")
  json_get(runs_before "${gc}" collect stats 0 collections)
  json_get(runs_after "${gc}" collect stats 3 collections)
  expect_delta("generation 0 collections (om_gc_get_stats)" ${runs_before} ${runs_after} 1)
  json_get(coll_before "${gc}" collect stats 0 collected)
  json_get(coll_after "${gc}" collect stats 3 collected)
  expect_delta("generation 0 collected (om_gc_get_stats)" ${coll_before} ${coll_after} 2)

  # 3. generations, thresholds, the safe point
  json_get(young0 "${gc}" generations moments 0 gen0)
  json_get(old0 "${gc}" generations moments 0 gen1)
  json_get(young1 "${gc}" generations moments 1 gen0)
  json_get(old1 "${gc}" generations moments 1 gen1)
  expect("live containers made" "${young0}" 4)
  expect("generation 0 after a young collection" "${young1}" 0)
  expect_delta("generation 1 after a young collection" ${old0} ${old1} ${young0})
  foreach(pair "threshold0;2000" "threshold1;10" "threshold2;10")
    list(GET pair 0 key)
    list(GET pair 1 want)
    json_get(got "${gc}" generations ${key})
    expect("gc ${key}" "${got}" "${want}")
  endforeach()
  json_get(count "${gc}" generations poll moments 0 count0)
  if(NOT count GREATER 2000)
    message(FATAL_ERROR "count[0] ${count} did not pass threshold 0 before the poll")
  endif()
  foreach(pair "collections_during_allocation;0" "callbacks_during_allocation;0"
               "poll_collections;1" "poll_returned;0" "poll_again_returned;0"
               "poll_again_callbacks;0")
    list(GET pair 0 key)
    list(GET pair 1 want)
    json_get(got "${gc}" generations poll ${key})
    expect("gc poll ${key}" "${got}" "${want}")
  endforeach()
  json_get(count "${gc}" generations poll moments 1 count0)
  expect("count[0] after om_gc_poll()" "${count}" 0)

  # 4. weak reference callback -> finalizers -> clear (and release)
  json_get(events "${gc}" order events)
  string(JSON n LENGTH "${events}")
  math(EXPR last "${n} - 1")
  set(calls "")
  foreach(i RANGE ${last})
    json_get(call "${events}" ${i} call)
    string(APPEND calls "${call} ")
  endforeach()
  if(NOT calls MATCHES "^callback finalize finalize clear (clear |release )*$")
    message(FATAL_ERROR "order of the collector's calls: got '${calls}'")
  endif()
  string(REGEX MATCHALL "release" releases "${calls}")
  list(LENGTH releases releases)
  expect("objects of the finalizer cycle released" "${releases}" 2)
  json_get(note "${gc}" order events 0 note)
  expect("om_weakref_get in the callback" "${note}" "om_weakref_get(r) = NULL")
  json_get(found "${gc}" order returned)
  expect("om_gc_collect(0) on the finalizer cycle returned" "${found}" 2)
  json_get(live "${gc}" order nodes_live)
  expect("nodes alive after the collection" "${live}" 0)

  # 5. the timed run: numbers present, values machine-dependent
  json_get(objects "${gc}" timed objects)
  json_get(found "${gc}" timed returned)
  expect("om_gc_collect(0) on the ring returned" "${found}" "${objects}")
  json_get(live "${gc}" timed lists_live_after)
  expect("ring lists alive after the collection" "${live}" 0)
  foreach(key duration_ns ns_per_object)
    json_type(type "${gc}" timed ${key})
    expect("type of timed ${key}" "${type}" NUMBER)
  endforeach()
endfunction()

# The text tour: the objects chapter's claims as a learner reads them.
function(check_tour_text out)
  foreach(re "[0-9]+\\. Objects: counted, freed at zero, reused"
             "om_lock_held\\(\\) +yes"
             "om_owns\\(block\\) after +no"
             "g got f's address +yes"
             "live counts back where they began +yes"
             "del l\n +-> callback\\(r, 'shopping list'\\) runs: om_weakref_get\\(r\\) = NULL"
             "om_weakref_get\\(r\\) after del l +NULL"
             "[0-9]+\\. Cycles: what counting cannot free"
             "del b +om_decref\\(b\\) +1 +1 +[0-9]+\n"
             "om_gc_is_tracked\\(a\\) +yes"
             "om_gc_collect\\(0\\)\n +-> callback: collection of generation 0 starting\n +-> callback: collection of generation 0 done: 2 collected in [0-9.]+ µs\n"
             "om_gc_collect\\(0\\) returned +2\n"
             "threshold 0 \\(young collection\\) +2000"
             "collections while allocating +0"
             "om_gc_poll\\(\\)\n +-> callback: collection of generation 0 starting"
             "1 +callback +r +om_weakref_get\\(r\\) = NULL\n +2 +finalize +[xy]"
             "live nodes after +0\n"
             "time \\(machine-dependent\\) +[0-9.]+ ms"
             "per object \\(machine-dependent\\) +[0-9.]+ ns"
             "om_gc_callback_remove\\(\\) returned +0"
             "collector enabled, same thresholds +yes"
             "[0-9]+\\. The statistics report")
    if(NOT out MATCHES "${re}")  # (expect_match would print the whole tour)
      message(FATAL_ERROR "objmem tour: no text matches '${re}'")
    endif()
  endforeach()
endfunction()

# ---- objmem run ----------------------------------------------------------
set(report_head "objmem [0-9.]+ allocator statistics")

# The report at exit is the drop-in's own destructor speaking, so it proves
# the preload was active; the command's exit status must come through.
function(check_run_stats)
  run_env(out err rc ARGS run --stats -- /bin/true)
  expect("objmem run --stats -- /bin/true exit status" "${rc}" 0)
  expect_match("stderr of objmem run --stats" "${err}" "${report_head}")
  run_env(out err rc ARGS run -- /bin/true)
  expect("objmem run -- /bin/true exit status" "${rc}" 0)
  if(err MATCHES "${report_head}")
    message(FATAL_ERROR "objmem run without --stats printed the report: ${err}")
  endif()
  run_env(out err rc ARGS run --stats /bin/false)
  expect("objmem run --stats /bin/false exit status" "${rc}" 1)
  expect_match("stderr of false under objmem run --stats" "${err}" "${report_head}")
  # (dash leaves by _exit, so no destructor and no report: status only)
  run_env(out err rc ARGS run /bin/sh -c "exit 3")
  expect("objmem run sh -c 'exit 3' exit status" "${rc}" 3)
endfunction()

# The report is valid JSON; min_arenas > 0 asks that the command really
# allocated from objmem (/bin/true never calls malloc; ls does).
function(check_run_json_file file min_arenas)
  if(NOT EXISTS ${file})
    message(FATAL_ERROR "objmem run --json did not write ${file}")
  endif()
  file(READ ${file} doc)
  json_get(version "${doc}" version)
  json_get(classes "${doc}" classes)
  json_get(allocated "${doc}" arenas_allocated)
  if(allocated LESS min_arenas)
    message(FATAL_ERROR "${file}: arenas_allocated is ${allocated}: objmem was not the malloc")
  endif()
endfunction()

# An absolute FILE, then a relative one from a command that changes
# directory before it exits: run makes FILE absolute.
function(check_run_json)
  run_env(out err rc ARGS run --json ${WORK}/abs.json -- /bin/true)
  expect("objmem run --json FILE -- /bin/true exit status" "${rc}" 0)
  check_run_json_file(${WORK}/abs.json 0)
  run_env(out err rc ARGS run --json=rel.json /bin/sh -c "cd / && ls -l >/dev/null")
  expect("objmem run --json=rel.json exit status" "${rc}" 0)
  check_run_json_file(${WORK}/rel.json 1)
endfunction()

# LD_PRELOAD gets the library first and keeps what was there; PYTHONMALLOC
# is set unless the user set it; OBJMEM_MALLOC_LIB chooses the library.
function(check_run_env)
  set(lib ${MALLOC_LIB})
  set(show [[printf '%s|%s|%s' "$LD_PRELOAD" "$PYTHONMALLOC" "${OBJMEM_STATS-unset}"]])
  run_env(out err rc ENV LD_PRELOAD=${OTHER_LIB} ARGS run -- /bin/sh -c "${show}")
  expect("objmem run with LD_PRELOAD set: exit status" "${rc}" 0)
  expect("environment under objmem run" "${out}" "${lib}:${OTHER_LIB}|malloc|unset")
  run_env(out err rc ENV --unset=LD_PRELOAD PYTHONMALLOC=pymalloc
          ARGS run --stats -- /bin/sh -c "${show}")
  expect("environment under objmem run --stats" "${out}" "${lib}|pymalloc|1")
  run_env(out err rc ENV OBJMEM_MALLOC_LIB=${MALLOC_LIB} --unset=LD_PRELOAD
          ARGS run -- /bin/sh -c "${show}")
  expect("environment with OBJMEM_MALLOC_LIB" "${out}" "${lib}|malloc|unset")
  # --secure: the hardened build beside the library, unless the user chose one
  string(REPLACE "libobjmem-malloc.so" "libobjmem-malloc-secure.so" secure_lib "${lib}")
  set(show_secure [[printf '%s|%s' "$LD_PRELOAD" "$OBJMEM_SECURE"]])
  if(EXISTS ${secure_lib})
    run_env(out err rc ENV --unset=LD_PRELOAD ARGS run --secure -- /bin/sh -c "${show_secure}")
    expect("environment under objmem run --secure" "${out}" "${secure_lib}|1")
  endif()
  run_env(out err rc ENV OBJMEM_MALLOC_LIB=${MALLOC_LIB} --unset=LD_PRELOAD
          ARGS run --secure -- /bin/sh -c "${show_secure}")
  expect("environment under objmem run --secure with OBJMEM_MALLOC_LIB" "${out}" "${lib}|1")
  run_env(out err rc ENV OBJMEM_MALLOC_LIB=${WORK}/no-such-lib.so ARGS run -- /bin/true)
  expect("objmem run with a missing OBJMEM_MALLOC_LIB: exit status" "${rc}" 125)
  expect_match("objmem run with a missing OBJMEM_MALLOC_LIB" "${err}"
               "OBJMEM_MALLOC_LIB=.*no-such-lib.so")
  # A bad option: one warning, though objmem run and the command it execs
  # (the same process) both read the options.
  run_env(out err rc ENV --unset=LD_PRELOAD OBJMEM_PURGE_DELAY_MS=abc ARGS run -- /bin/true)
  expect("objmem run with a bad option: exit status" "${rc}" 0)
  string(REGEX MATCHALL "OBJMEM_PURGE_DELAY_MS=abc" warnings "${err}")
  list(LENGTH warnings n)
  expect("objmem run with a bad option: warnings" "${n}" 1)
endfunction()

# objmem run's exit codes are env(1)'s: 125 its own failure, 126 a
# command that cannot be run, 127 one that is not there; -h/--help among
# its options is help, after the command it is the command's.
function(check_run_usage)
  foreach(args "run" "run;--" "run;--stats;--" "run;--json" "run;--bogus;--;/bin/true")
    run_env(out err rc ARGS ${args})
    expect("objmem ${args}: exit status" "${rc}" 125)
    expect_match("objmem ${args}: stderr" "${err}" "usage: objmem run")
  endforeach()
  run_env(out err rc ARGS run -- ${WORK}/no-such-program arg)
  expect("objmem run -- no-such-program: exit status" "${rc}" 127)
  expect_match("objmem run -- no-such-program" "${err}" "cannot run '.*no-such-program'")
  run_env(out err rc ARGS run -- no-such-program-in-path)
  expect("objmem run -- no-such-program-in-path: exit status" "${rc}" 127)
  file(WRITE ${WORK}/not-executable "#!/bin/sh\nexit 0\n")
  foreach(cmd ${WORK}/not-executable ${WORK})
    run_env(out err rc ARGS run -- ${cmd})
    expect("objmem run -- ${cmd} (found, cannot run): exit status" "${rc}" 126)
    expect_match("objmem run -- ${cmd}" "${err}" "cannot run '${cmd}': ")
  endforeach()
  foreach(args "run;--help" "run;-h" "run;--stats;--help;--;/bin/false")
    run_env(out err rc ARGS ${args})
    expect("objmem ${args}: exit status" "${rc}" 0)
    expect_match("objmem ${args}: stdout" "${out}" "^usage: objmem run")
  endforeach()
  set(show [[printf '%s|' "$0" "$@"]])
  foreach(dashes "" "--")
    run_env(out err rc ARGS run ${dashes} /bin/sh -c "${show}" --help -h)
    expect("objmem run ${dashes} sh --help -h: exit status" "${rc}" 0)
    expect("objmem run ${dashes} sh --help -h: the command's own options" "${out}" "--help|-h|")
  endforeach()
  run_env(out err rc ARGS help run)
  expect("objmem help run: exit status" "${rc}" 0)
  expect_match("objmem help run" "${out}" "usage: objmem run")
endfunction()

# --json FILE that cannot be written: refused up front with 125 when run
# can tell; otherwise (the directory went away while the command ran, or
# the variable was set by hand) the drop-in says so at exit, naming FILE.
function(check_run_json_errors)
  file(WRITE ${WORK}/plain-file "")
  foreach(pair "${WORK}/no-such-dir/x.json;No such file or directory"
               "${WORK};Is a directory"
               "${WORK}/plain-file/x.json;Not a directory")
    list(GET pair 0 file)
    list(GET pair 1 why)
    run_env(out err rc ARGS run --json ${file} -- /bin/true)
    expect("objmem run --json ${file}: exit status" "${rc}" 125)
    expect_match("objmem run --json ${file}: stderr" "${err}" "objmem run: --json ${file}: .*${why}")
  endforeach()
  # the drop-in alone (/bin/true keeps stderr open until exit: coreutils'
  # programs that close it at exit leave nowhere to report to)
  foreach(pair "${WORK}/no-such-dir/x.json;No such file or directory"
               "${WORK};Is a directory" "/dev/full;No space left on device")
    list(GET pair 0 file)
    list(GET pair 1 why)
    execute_process(COMMAND ${CMAKE_COMMAND} -E env LD_PRELOAD=${MALLOC_LIB}
                            OBJMEM_STATS_JSON=${file} /bin/true
                    RESULT_VARIABLE rc ERROR_VARIABLE err)
    expect("OBJMEM_STATS_JSON=${file} /bin/true: exit status" "${rc}" 0)
    expect_match("OBJMEM_STATS_JSON=${file}: stderr" "${err}"
                 "objmem: cannot write the statistics report to ${file}: ${why}")
  endforeach()
  # through objmem run: the directory is there at the start, gone at exit
  file(MAKE_DIRECTORY ${WORK}/going)
  run_env(out err rc ARGS run --json ${WORK}/going/x.json -- /bin/sh -c "rmdir ${WORK}/going && /bin/true")
  expect("objmem run --json into a directory removed by the command: exit status" "${rc}" 0)
  expect_match("objmem run --json into a removed directory: stderr" "${err}"
               "cannot write the statistics report to ${WORK}/going/x.json: No such file or directory")
endfunction()

# An installed objmem finds the library installed beside it, also after
# the prefix has moved, and before any build tree's; when it is gone, the
# message names where it looked.
function(check_run_relocated)
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK}/prefix
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  expect("cmake --install --prefix ${WORK}/prefix: ${err}" "${rc}" 0)
  file(RENAME ${WORK}/prefix ${WORK}/moved)
  set(CLI ${WORK}/moved/bin/objmem)
  set(lib ${WORK}/moved/${LIBDIR}/${SONAME})
  set(show [[printf '%s' "$LD_PRELOAD"]])
  run_env(out err rc ENV --unset=LD_PRELOAD --unset=OBJMEM_MALLOC_LIB
          ARGS run -- /bin/sh -c "${show}")
  expect("moved prefix: objmem run exit status (${err})" "${rc}" 0)
  expect("moved prefix: the library objmem run preloads" "${out}" "${lib}")
  run_env(out err rc ENV --unset=LD_PRELOAD --unset=OBJMEM_MALLOC_LIB ARGS run --stats -- /bin/true)
  expect("moved prefix: objmem run --stats -- /bin/true exit status" "${rc}" 0)
  expect_match("moved prefix: the drop-in's report" "${err}" "${report_head}")
  run_env(out err rc ENV --unset=LD_PRELOAD OBJMEM_MALLOC_LIB=${MALLOC_LIB}
          ARGS run -- /bin/sh -c "${show}")
  expect("moved prefix: OBJMEM_MALLOC_LIB wins" "${out}" "${MALLOC_LIB}")
  file(GLOB libs ${WORK}/moved/${LIBDIR}/libobjmem-malloc.so*)
  file(REMOVE ${libs})
  run_env(out err rc ENV --unset=OBJMEM_MALLOC_LIB ARGS run -- /bin/true)
  expect("moved prefix without the library: exit status" "${rc}" 125)
  expect_match("moved prefix without the library: stderr" "${err}"
               "cannot find ${SONAME}; looked in:\n  ${lib} \\(beside this objmem\\): No such file")
  expect_match("moved prefix without the library: stderr" "${err}" "OBJMEM_MALLOC_LIB")
endfunction()

# -h/--help: every command, on stdout, status 0; `objmem help run` says
# what run sets, reads and returns.
function(check_help)
  foreach(cmd tour stats run help version)
    foreach(opt -h --help)
      run_cli(out rc ${cmd} ${opt})
      expect("objmem ${cmd} ${opt}: exit status" "${rc}" 0)
      expect_match("objmem ${cmd} ${opt}: stdout" "${out}" "^usage: objmem ${cmd}")
    endforeach()
  endforeach()
  foreach(args "tour;--json;--help" "stats;--json;-h")
    run_cli(out rc ${args})
    expect("objmem ${args}: exit status" "${rc}" 0)
    expect_match("objmem ${args}: stdout" "${out}" "^usage: objmem")
  endforeach()
  run_cli(out rc help run)
  expect("objmem help run: exit status" "${rc}" 0)
  foreach(re "exit status" "\n +125 +objmem run failed" "\n +126 +CMD was found but"
             "\n +127 +CMD was not found" "OBJMEM_MALLOC_LIB +the library" "LD_PRELOAD +the library"
             "PYTHONMALLOC=malloc" "OBJMEM_STATS=1" "OBJMEM_STATS_JSON" "beside this objmem")
    expect_match("objmem help run" "${out}" "${re}")
  endforeach()
  run_cli(out rc help)
  expect("objmem help: exit status" "${rc}" 0)
  foreach(re "exit status" "2 bad usage" "125" "126" "127" "-h/--help")
    expect_match("objmem help" "${out}" "${re}")
  endforeach()
endfunction()

# A failed write to stdout is an error, not a silent success.
function(check_write_error)
  if(NOT EXISTS /dev/full)
    message(STATUS "no /dev/full: skipped")
    return()
  endif()
  foreach(args "--help" "version" "help;run" "tour;--help" "stats;--json" "run;--help")
    execute_process(COMMAND ${CLI} ${args} OUTPUT_FILE /dev/full ERROR_VARIABLE err
                    RESULT_VARIABLE rc)
    set(want 1)
    if(args MATCHES "^run")
      set(want 125)
    endif()
    expect("objmem ${args} > /dev/full: exit status" "${rc}" ${want})
    expect_match("objmem ${args} > /dev/full: stderr" "${err}" "No space left on device")
  endforeach()
  execute_process(COMMAND ${CLI} version OUTPUT_FILE /dev/full ERROR_VARIABLE err)
  expect("objmem version > /dev/full: stderr" "${err}"
         "objmem: write error: No space left on device\n")
endfunction()

# The tracing chapter: exact counts per site, the comparison's frees, and
# everything given back.  A build without libunwind says tracing is
# unavailable, and that is all it can check.
function(check_tracing doc)
  json_get(available "${doc}" tracing available)
  if(NOT available)
    message(STATUS "tour: tracing unavailable in this build (no libunwind): not checked")
    return()
  endif()
  foreach(site "tour_site_small;2000;128000" "tour_site_big;40;163840" "tour_site_leak;500;40000")
    list(GET site 0 fn)
    list(GET site 1 want_count)
    list(GET site 2 want_bytes)
    json_get(rows "${doc}" tracing sites)
    string(JSON n LENGTH "${rows}")
    math(EXPR last "${n} - 1")
    set(found OFF)
    foreach(i RANGE ${last})
      json_get(f "${rows}" ${i} function)
      if(f STREQUAL fn)
        json_get(count "${rows}" ${i} count)
        json_get(bytes "${rows}" ${i} bytes)
        expect("tracing: ${fn} blocks" "${count}" "${want_count}")
        expect("tracing: ${fn} bytes" "${bytes}" "${want_bytes}")
        set(found ON)
      endif()
    endforeach()
    expect("tracing: a site named ${fn}" "${found}" ON)
  endforeach()
  json_get(rows "${doc}" tracing compare)
  json_get(first "${rows}" 0 function)
  json_get(diff "${rows}" 0 count_diff)
  expect("tracing: the largest change" "${first} ${diff}" "tour_site_small -2000")
  json_get(after "${doc}" tracing traced_bytes_after)
  expect("tracing: bytes after the frees" "${after}" 121920)
endfunction()

if(CHECK STREQUAL "tour_json")
  run_cli(out rc tour --json)
  expect("objmem tour --json exit status" "${rc}" 0)
  check_size_classes("${out}")
  check_pool_life("${out}")
  check_arenas("${out}")
  check_objects("${out}")
  check_gc("${out}")
  check_tracing("${out}")
  json_get(report "${out}" stats report)
elseif(CHECK STREQUAL "tour_text")
  run_cli(out rc tour)
  expect("objmem tour exit status" "${rc}" 0)
  check_tour_text("${out}")
elseif(CHECK STREQUAL "stats_json")
  run_cli(out rc stats --json)
  expect("objmem stats --json exit status" "${rc}" 0)
  json_get(classes "${out}" classes)
elseif(CHECK STREQUAL "usage")
  run_cli(out rc)
  expect("objmem (no command)" "${rc}" 2)
  run_cli(out rc no-such-command)
  expect("objmem no-such-command" "${rc}" 2)
  run_cli(out rc tour --no-such-option)
  expect("objmem tour --no-such-option" "${rc}" 2)
  run_cli(out rc help)
  expect("objmem help" "${rc}" 0)
  run_cli(out rc version)
  expect("objmem version" "${rc}" 0)
  if(NOT out MATCHES "^objmem [0-9]+\\.[0-9]+\\.[0-9]+")
    message(FATAL_ERROR "objmem version printed '${out}'")
  endif()
elseif(CHECK STREQUAL "help" OR CHECK STREQUAL "write_error")
  cmake_language(CALL check_${CHECK})
elseif(CHECK MATCHES "^run_")
  file(REMOVE_RECURSE ${WORK}/${CHECK})
  file(MAKE_DIRECTORY ${WORK}/${CHECK})
  set(WORK ${WORK}/${CHECK})
  cmake_language(CALL check_${CHECK})
else()
  message(FATAL_ERROR "unknown CHECK '${CHECK}'")
endif()
