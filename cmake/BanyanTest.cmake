# banyan_add_test(NAME SOURCES src... LIBS lib... LABELS label... [TIMEOUT s])
#
# One executable per test file, emitting TAP, registered with CTest.  Every
# test runs with BANYAN_TEST_TMPDIR pointing at a directory of its own, and
# BANYAN_BIN at the built CLI.
function(banyan_add_test name)
    cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE banyan_tap ${T_LIBS})
    banyan_register_test(${name} $<TARGET_FILE:${name}> LABELS ${T_LABELS}
                         TIMEOUT ${T_TIMEOUT})
endfunction()

# banyan_register_test(NAME command LABELS ... [TIMEOUT s])
function(banyan_register_test name cmd)
    cmake_parse_arguments(T "" "TIMEOUT" "LABELS" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 120)
    endif()
    set(tmp ${CMAKE_BINARY_DIR}/testtmp/${name})
    # BANYAN_SANITIZED=1 in the ASan build: its memory figures are not the
    # program's (shadow memory, quarantine), so tests skip checks of them.
    # BANYAN_SHARE_FILE: each test shares the host only between its own
    # banyans (a test's fair share must not depend on what else runs).
    if(ASAN)
        set(sanitized 1)
    else()
        set(sanitized 0)
    endif()
    add_test(NAME ${name}
             COMMAND ${CMAKE_COMMAND} -E env
                     BANYAN_TEST_TMPDIR=${tmp}
                     BANYAN_BIN=$<TARGET_FILE:banyan>
                     BANYAN_SRCDIR=${PROJECT_SOURCE_DIR}
                     BANYAN_SANITIZED=${sanitized}
                     BANYAN_SHARE_FILE=${tmp}/banyan-share
                     ${CMAKE_SOURCE_DIR}/tests/run-test.sh ${tmp} ${cmd})
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}"
                         TIMEOUT ${T_TIMEOUT})
endfunction()

# banyan_module(NAME DEPS lib...) - the static library banyan_NAME from the
# *.c files of the current folder, linking its dependencies publicly.
function(banyan_module name)
    cmake_parse_arguments(M "" "" "DEPS" ${ARGN})
    file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
    if(srcs)
        add_library(banyan_${name} STATIC ${srcs})
        target_link_libraries(banyan_${name} PUBLIC banyan_util ${M_DEPS})
    else() # a module still being written
        add_library(banyan_${name} INTERFACE)
        target_link_libraries(banyan_${name} INTERFACE banyan_util ${M_DEPS})
    endif()
endfunction()

# banyan_module_tests(MODULE [LIBS lib...] [LABELS label...]) - one test
# executable per test_*.c in the current folder, named MODULE_FILE.
function(banyan_module_tests module)
    cmake_parse_arguments(M "" "TIMEOUT" "LIBS;LABELS" ${ARGN})
    if(NOT M_LABELS)
        set(M_LABELS unit)
    endif()
    file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test_*.c)
    foreach(src ${tests})
        get_filename_component(base ${src} NAME_WE)
        string(REGEX REPLACE "^test_" "" base ${base})
        banyan_add_test(${module}_${base} SOURCES ${src}
                        LIBS banyan_${module} ${M_LIBS}
                        LABELS ${M_LABELS} TIMEOUT ${M_TIMEOUT})
    endforeach()
endfunction()
