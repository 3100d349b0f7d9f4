# check_install.cmake — the installed package, as a user gets it: install
# the build tree into one prefix, MOVE that prefix elsewhere, then use it
# from there:
#   - objmem.pc (pkg-config, PKG_CONFIG_PATH at the moved prefix) must name
#     the moved prefix in its flags and give the project's version; the
#     README's example ("Using the library") is built with the README's two
#     commands, shared and -static, and run (LD_LIBRARY_PATH for the shared
#     one);
#   - the CMake package (find_package, CMAKE_PREFIX_PATH at the moved
#     prefix) builds tests/consumer (shared and static) and the README's
#     example, which run (CMake's build rpath);
#   - no installed pkg-config or CMake file names the first prefix;
#   - objmem_version.h sits beside objmem.h; the man pages and the objmem
#     command are installed when they were built, and `objmem version`
#     gives the version.
# Run with -DBUILD_DIR= -DSOURCE_DIR= -DWORK= -DVERSION= -DCC=
#          [-DCLI=ON] [-DMAN=ON].
file(REMOVE_RECURSE "${WORK}")
set(first "${WORK}/first")
set(prefix "${WORK}/moved")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${first}"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "install failed: ${rc}")
endif()
file(RENAME "${first}" "${prefix}")

# What is installed where.
file(GLOB pc "${prefix}/lib*/pkgconfig/objmem.pc" "${prefix}/lib/*/pkgconfig/objmem.pc")
if(NOT pc)
  message(FATAL_ERROR "no objmem.pc installed")
endif()
get_filename_component(pcdir "${pc}" DIRECTORY)
get_filename_component(libdir "${pcdir}" DIRECTORY)
set(expect "${prefix}/include/objmem.h" "${prefix}/include/objmem_version.h")
if(MAN)
  list(APPEND expect "${prefix}/share/man/man3/libobjmem.3")
endif()
if(CLI)
  list(APPEND expect "${prefix}/bin/objmem")
  if(MAN)
    list(APPEND expect "${prefix}/share/man/man1/objmem.1")
  endif()
endif()
foreach(f IN LISTS expect)
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
file(GLOB_RECURSE meta "${pcdir}/*" "${libdir}/cmake/objmem/*")
foreach(f IN LISTS meta)
  file(READ "${f}" text)
  string(FIND "${text}" "${first}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "${f} names the prefix it was installed to (${first}): not relocatable")
  endif()
endforeach()

# pkg-config, from the moved prefix.
find_program(PKG_CONFIG pkg-config)
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "pkg-config not found (Debian: pkg-config; ./run.sh test installs it)")
endif()
function(pkgconfig out)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env "PKG_CONFIG_PATH=${pcdir}" ${PKG_CONFIG} ${ARGN} objmem
                  RESULT_VARIABLE rc OUTPUT_VARIABLE flags ERROR_VARIABLE err
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(rc)
    message(FATAL_ERROR "pkg-config ${ARGN} objmem failed: ${err}")
  endif()
  set(${out} "${flags}" PARENT_SCOPE)
endfunction()
pkgconfig(modversion --modversion)
if(NOT modversion STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config --modversion objmem: '${modversion}', not ${VERSION}")
endif()
pkgconfig(flags --cflags --libs)
separate_arguments(flags UNIX_COMMAND "${flags}")
set(seen_I FALSE)
set(seen_L FALSE)
foreach(f IN LISTS flags)
  if(f MATCHES "^-([IL])(.*)")
    set(kind ${CMAKE_MATCH_1})
    get_filename_component(dir "${CMAKE_MATCH_2}" REALPATH)
    get_filename_component(want "${prefix}/include" REALPATH)
    if(kind STREQUAL "L")
      get_filename_component(want "${libdir}" REALPATH)
    endif()
    string(FIND "${f}" "-${kind}${prefix}/" at)
    string(FIND "${f}" "${first}" at_first)
    if(at_first GREATER_EQUAL 0)
      message(FATAL_ERROR "pkg-config --cflags --libs objmem gives ${f}, in the prefix it was "
                          "installed to (${first}), not the moved one: objmem.pc is not relocatable")
    endif()
    if(NOT at EQUAL 0)
      continue() # a dependency's own flags (Requires.private: libunwind, libdw)
    endif()
    if(NOT dir STREQUAL want)
      message(FATAL_ERROR "pkg-config --cflags --libs objmem gives ${f}, not ${want} in the moved "
                          "prefix: the installed objmem.pc is not relocatable")
    endif()
    set(seen_${kind} TRUE)
  endif()
endforeach()
if(NOT seen_I OR NOT seen_L)
  message(FATAL_ERROR "pkg-config --cflags --libs objmem: no -I or no -L: ${flags}")
endif()
pkgconfig(static_flags --static --cflags --libs)
separate_arguments(static_flags UNIX_COMMAND "${static_flags}")

# The README's example.
file(READ "${SOURCE_DIR}/README.md" readme)
string(FIND "${readme}" "## Using the library" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md has no section 'Using the library'")
endif()
string(SUBSTRING "${readme}" ${at} -1 readme)
string(FIND "${readme}" "```c\n" start)
string(SUBSTRING "${readme}" ${start} -1 readme)
string(LENGTH "```c\n" skip)
string(SUBSTRING "${readme}" ${skip} -1 readme)
string(FIND "${readme}" "\n```" end)
string(SUBSTRING "${readme}" 0 ${end} example)
set(app "${WORK}/app.c")
file(WRITE "${app}" "${example}\n")

function(run_example what)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${libdir}" ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc OR NOT out MATCHES "class 1, 32-byte block")
    message(FATAL_ERROR "${what}: status ${rc}:\n${out}${err}")
  endif()
  message(STATUS "${what}: runs")
endfunction()
foreach(mode shared static)
  if(mode STREQUAL "shared")
    set(cmd "${CC}" "${app}" ${flags} -o "${WORK}/app-pc-shared")
  else()
    set(cmd "${CC}" -static "${app}" ${static_flags} -o "${WORK}/app-pc-static")
  endif()
  execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc)
    message(FATAL_ERROR "README example through pkg-config (${mode}) does not build:\n${cmd}\n${out}")
  endif()
  run_example("README example, pkg-config, ${mode}" "${WORK}/app-pc-${mode}")
endforeach()

# The CMake package, from the moved prefix.
execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${WORK}/build"
                        "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE=Release
                        "-DCMAKE_C_COMPILER=${CC}" "-DREADME_EXAMPLE=${app}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc)
  message(FATAL_ERROR "consumer configure failed:\n${out}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${WORK}/build" RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc)
  message(FATAL_ERROR "consumer build failed:\n${out}")
endif()
foreach(exe consumer_shared consumer_static)
  execute_process(COMMAND "${WORK}/build/${exe}" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  if(rc OR NOT out MATCHES "^consumer ok: objmem ${VERSION} [(]objmem.h ${VERSION}[)]\n$")
    message(FATAL_ERROR "${exe} failed (${rc}): ${out}")
  endif()
  message(STATUS "${exe}: ${out}")
endforeach()
execute_process(COMMAND "${WORK}/build/readme_example" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(rc OR NOT out MATCHES "class 1, 32-byte block")
  message(FATAL_ERROR "README example through find_package: status ${rc}:\n${out}")
endif()
message(STATUS "README example, find_package: runs")

if(CLI)
  execute_process(COMMAND "${prefix}/bin/objmem" version RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  if(rc OR NOT out STREQUAL "objmem ${VERSION}\n")
    message(FATAL_ERROR "installed objmem version: '${out}' (status ${rc}), not objmem ${VERSION}")
  endif()
endif()
