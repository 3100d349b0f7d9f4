# check_version.cmake — objmem's version is written once (project(VERSION)
# in CMakeLists.txt) and every copy agrees with it:
#   - objmem.h writes no version number of its own and includes the
#     generated objmem_version.h;
#   - OM_VERSION_MAJOR/MINOR/PATCH/STRING as a compiler sees them through
#     objmem.h, and om_version() of the shared library, from a program
#     built here (not in sanitizer builds: it would need their runtime);
#   - the pkg-config file's Version and the CMake package's version file;
#   - `objmem version` (when the CLI is built);
#   - CHANGELOG.md has a section for the version.
# Run with -DVERSION= -DSOURCE_DIR= -DBUILD_DIR= [-DCLI=] [-DCC= -DLIB=].
set(problems "")
macro(problem)
  string(APPEND problems "  ${ARGN}\n")
endmacro()

# objmem.h: no hand-written version.
file(READ "${SOURCE_DIR}/include/objmem.h" header)
if(header MATCHES "#[ \t]*define[ \t]+OM_VERSION_(MAJOR|MINOR|PATCH|STRING)")
  problem("include/objmem.h defines OM_VERSION_${CMAKE_MATCH_1} itself (it belongs to objmem_version.h)")
endif()
if(NOT header MATCHES "#[ \t]*include[ \t]+\"objmem_version.h\"")
  problem("include/objmem.h does not include \"objmem_version.h\"")
endif()

# The generated header.
set(gen "${BUILD_DIR}/include/objmem_version.h")
if(NOT EXISTS "${gen}")
  problem("${gen} was not generated")
else()
  file(READ "${gen}" text)
  foreach(part MAJOR MINOR PATCH)
    string(REGEX MATCH "#define OM_VERSION_${part} ([0-9]+)" m "${text}")
    set(${part} "${CMAKE_MATCH_1}")
  endforeach()
  string(REGEX MATCH "#define OM_VERSION_STRING \"([^\"]*)\"" m "${text}")
  if(NOT "${MAJOR}.${MINOR}.${PATCH}" STREQUAL VERSION OR NOT CMAKE_MATCH_1 STREQUAL VERSION)
    problem("objmem_version.h says ${MAJOR}.${MINOR}.${PATCH} / \"${CMAKE_MATCH_1}\", not ${VERSION}")
  endif()
endif()

# The macros through objmem.h, and om_version() of the shared library.
if(CC AND LIB)
  set(work "${BUILD_DIR}/check-version")
  file(MAKE_DIRECTORY "${work}")
  file(WRITE "${work}/v.c" "#include <objmem.h>\n#include <stdio.h>\n"
    "int main(void) {\n"
    "    printf(\"%d.%d.%d %s %s\", OM_VERSION_MAJOR, OM_VERSION_MINOR, OM_VERSION_PATCH,\n"
    "           OM_VERSION_STRING, om_version());\n"
    "    return 0;\n}\n")
  get_filename_component(libdir "${LIB}" DIRECTORY)
  execute_process(COMMAND "${CC}" -I "${SOURCE_DIR}/include" -I "${BUILD_DIR}/include" "${work}/v.c"
                          "${LIB}" "-Wl,-rpath,${libdir}" -o "${work}/v"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc)
    problem("a program including objmem.h does not build: ${out}")
  else()
    execute_process(COMMAND "${work}/v" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
    if(rc OR NOT out STREQUAL "${VERSION} ${VERSION} ${VERSION}")
      problem("objmem.h's macros and om_version() say \"${out}\" (major.minor.patch string runtime), not ${VERSION}")
    endif()
  endif()
endif()

# pkg-config and the CMake package.
file(STRINGS "${BUILD_DIR}/objmem.pc" pcver REGEX "^Version:")
if(NOT pcver STREQUAL "Version: ${VERSION}")
  problem("objmem.pc says '${pcver}', not 'Version: ${VERSION}'")
endif()
file(STRINGS "${BUILD_DIR}/objmemConfigVersion.cmake" cfgver REGEX "set\\(PACKAGE_VERSION ")
if(NOT cfgver MATCHES "\"${VERSION}\"")
  problem("objmemConfigVersion.cmake says '${cfgver}', not ${VERSION}")
endif()

# The CLI.
if(CLI)
  execute_process(COMMAND "${CLI}" version RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  if(rc OR NOT out STREQUAL "objmem ${VERSION}\n")
    problem("`objmem version` printed '${out}' (status ${rc}), not 'objmem ${VERSION}'")
  endif()
endif()

# The changelog.
set(heads "")
if(EXISTS "${SOURCE_DIR}/CHANGELOG.md")
  file(STRINGS "${SOURCE_DIR}/CHANGELOG.md" heads REGEX "^## \\[")
endif()
set(found FALSE)
foreach(h IN LISTS heads)
  if(h MATCHES "^## \\[${VERSION}\\]")
    set(found TRUE)
  endif()
endforeach()
if(NOT found)
  problem("CHANGELOG.md has no section '## [${VERSION}]'")
endif()

if(problems)
  message(FATAL_ERROR "the version is not ${VERSION} everywhere:\n${problems}")
endif()
message(STATUS "version ${VERSION}: objmem.h, objmem_version.h, om_version(), objmem.pc, "
               "objmemConfigVersion.cmake, objmem version, CHANGELOG.md agree")
