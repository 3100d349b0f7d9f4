# scdoc.cmake — render one man page: scdoc < IN > OUT.
# Run with -DSCDOC= -DIN= -DOUT= (a build step of CMakeLists.txt).
get_filename_component(dir "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${dir}")
execute_process(COMMAND "${SCDOC}" INPUT_FILE "${IN}" OUTPUT_FILE "${OUT}.tmp"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc)
  file(REMOVE "${OUT}.tmp")
  message(FATAL_ERROR "scdoc failed on ${IN}: ${err}")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
