# The compiler warnings of every edgelm build (library, command, tests, fuzzers, benchmarks and the
# aarch64 cross build of tests/cross), listed once. -Werror sits behind ELM_WERROR, on for CI and
# developers; a user building a release with a newer compiler can turn it off.
option(ELM_WERROR "Treat compiler warnings as errors" ON)
# The prototype warnings are C's alone; C++ (the public headers' check) has none to give.
set(ELM_WARNING_FLAGS -Wall -Wextra -Wshadow $<$<COMPILE_LANGUAGE:C>:-Wstrict-prototypes>
                      $<$<COMPILE_LANGUAGE:C>:-Wmissing-prototypes> -Wno-missing-field-initializers)
if(ELM_WERROR)
  list(APPEND ELM_WARNING_FLAGS -Werror)
endif()
add_compile_options(${ELM_WARNING_FLAGS})
