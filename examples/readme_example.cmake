# readme_example.cmake — the README's first example ("Using the library"),
# compiled and run as it is written there.
#   cmake -DMODE=extract -DREADME=README.md -DOUT=readme_example.c -P readme_example.cmake
#     writes the first ```c block after "## Using the library" to OUT
#   cmake -DMODE=check -DEXE=readme_example -DWORK=dir -P readme_example.cmake
#     runs it with stdout to a file, as `./app > out.txt` does: its printf
#     line must come before the report, which it writes to fd 1 directly
cmake_minimum_required(VERSION 3.19)

if(MODE STREQUAL "extract")
  file(READ ${README} text)
  string(FIND "${text}" "\n## Using the library" at)
  if(at LESS 0)
    message(FATAL_ERROR "${README}: no '## Using the library' section")
  endif()
  string(SUBSTRING "${text}" ${at} -1 text)
  string(FIND "${text}" "\n```c\n" begin)
  if(begin LESS 0)
    message(FATAL_ERROR "${README}: no C example under '## Using the library'")
  endif()
  math(EXPR begin "${begin} + 6")
  string(SUBSTRING "${text}" ${begin} -1 text)
  string(FIND "${text}" "\n```" end)
  math(EXPR end "${end} + 1")
  string(SUBSTRING "${text}" 0 ${end} code)
  file(WRITE ${OUT}.tmp "/* generated from ${README}: edit the README */\n${code}")
  file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
elseif(MODE STREQUAL "check")
  file(MAKE_DIRECTORY ${WORK})
  execute_process(COMMAND ${EXE} OUTPUT_FILE ${WORK}/out.txt RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${EXE} > out.txt: exit status ${rc}")
  endif()
  file(READ ${WORK}/out.txt out)
  string(FIND "${out}" "class 1, 32-byte block" line)
  string(FIND "${out}" "allocator statistics" report)
  if(line LESS 0 OR report LESS 0)
    message(FATAL_ERROR "${EXE} > out.txt: the printf line or the report is missing:\n${out}")
  endif()
  if(NOT line LESS report)
    message(FATAL_ERROR "${EXE} > out.txt: the printf line comes after the report "
                        "(stdout's buffer was not flushed before om_stats_write(1)):\n${out}")
  endif()
else()
  message(FATAL_ERROR "MODE must be extract or check")
endif()
