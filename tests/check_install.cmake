# check_install.cmake — install the build tree to a scratch prefix, then
# configure, build and run tests/consumer against it (shared and static),
# and check the pkg-config file.  Run with -DBUILD_DIR= -DSOURCE_DIR= -DWORK=
file(REMOVE_RECURSE "${WORK}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK}/prefix"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "install failed: ${rc}")
endif()
file(GLOB pc "${WORK}/prefix/lib*/pkgconfig/objmem.pc" "${WORK}/prefix/lib/*/pkgconfig/objmem.pc")
if(NOT pc)
  message(FATAL_ERROR "no objmem.pc installed")
endif()
file(READ "${pc}" pctext)
if(NOT pctext MATCHES "Libs: -L\\$\\{libdir\\} -lobjmem" OR NOT pctext MATCHES "Version: ")
  message(FATAL_ERROR "objmem.pc looks wrong:\n${pctext}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${WORK}/build"
                        "-DCMAKE_PREFIX_PATH=${WORK}/prefix" -DCMAKE_BUILD_TYPE=Release
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
  if(rc OR NOT out MATCHES "consumer ok")
    message(FATAL_ERROR "${exe} failed (${rc}): ${out}")
  endif()
  message(STATUS "${exe}: ${out}")
endforeach()
