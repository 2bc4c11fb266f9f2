/* The subset of cmocka's API the kernel tests use, for the cross-compiled aarch64 build (cmocka
 * is not installed for arm64; tests/cross/CMakeLists.txt puts this folder first on the include
 * path). Same names and meanings: a failed assertion or skip() ends the running test, the group
 * runner reports each test and returns the number that failed. Implemented in cmocka.c. */
#ifndef ELM_CROSS_CMOCKA_H
#define ELM_CROSS_CMOCKA_H

#include <stddef.h>
#include <stdint.h>

typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);

struct CMUnitTest {
    const char *name;
    CMUnitTestFunction test_func;
    CMFixtureFunction setup_func;
    CMFixtureFunction teardown_func;
    void *initial_state;
};

#define cmocka_unit_test(f)     \
    {                           \
#f, f, NULL, NULL, NULL \
    }
#define cmocka_unit_test_setup_teardown(f, setup, teardown) \
    {                                                       \
#f, f, setup, teardown, NULL                        \
    }

/* Runs the tests in order; returns how many failed. */
#define cmocka_run_group_tests(tests, setup, teardown) \
    elm_cm_run_group(#tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)
int elm_cm_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
                     CMFixtureFunction setup, CMFixtureFunction teardown);

/* End the running test as failed (with a printf-style reason) or skipped. */
_Noreturn void elm_cm_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void elm_cm_skip(const char *file, int line);
void print_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void elm_cm_int_equal(intmax_t a, intmax_t b, int want_equal, const char *ea, const char *eb,
                      const char *file, int line);
void elm_cm_string_equal(const char *a, const char *b, int want_equal, const char *file, int line);
void elm_cm_memory_equal(const void *a, const void *b, size_t n, const char *file, int line);
void elm_cm_float_equal(double a, double b, double eps, const char *file, int line);

#define fail()        elm_cm_fail(__FILE__, __LINE__, "fail()")
#define fail_msg(...) elm_cm_fail(__FILE__, __LINE__, __VA_ARGS__)
#define skip()        elm_cm_skip(__FILE__, __LINE__)

#define assert_true(c)  ((c) ? (void)0 : elm_cm_fail(__FILE__, __LINE__, "%s is false", #c))
#define assert_false(c) (!(c) ? (void)0 : elm_cm_fail(__FILE__, __LINE__, "%s is true", #c))
#define assert_null(p) \
    ((p) == NULL ? (void)0 : elm_cm_fail(__FILE__, __LINE__, "%s is not NULL", #p))
#define assert_non_null(p) \
    ((p) != NULL ? (void)0 : elm_cm_fail(__FILE__, __LINE__, "%s is NULL", #p))
#define assert_ptr_equal(a, b)                        \
    ((const void *)(a) == (const void *)(b) ? (void)0 \
                                            : elm_cm_fail(__FILE__, __LINE__, "%s != %s", #a, #b))
#define assert_ptr_not_equal(a, b)                    \
    ((const void *)(a) != (const void *)(b) ? (void)0 \
                                            : elm_cm_fail(__FILE__, __LINE__, "%s == %s", #a, #b))
#define assert_int_equal(a, b) \
    elm_cm_int_equal((intmax_t)(a), (intmax_t)(b), 1, #a, #b, __FILE__, __LINE__)
#define assert_int_not_equal(a, b) \
    elm_cm_int_equal((intmax_t)(a), (intmax_t)(b), 0, #a, #b, __FILE__, __LINE__)
#define assert_in_range(v, lo, hi)                                                             \
    ((intmax_t)(v) >= (intmax_t)(lo) && (intmax_t)(v) <= (intmax_t)(hi)                        \
         ? (void)0                                                                             \
         : elm_cm_fail(__FILE__, __LINE__, "%s = %jd is not in [%jd, %jd]", #v, (intmax_t)(v), \
                       (intmax_t)(lo), (intmax_t)(hi)))
#define assert_string_equal(a, b)     elm_cm_string_equal((a), (b), 1, __FILE__, __LINE__)
#define assert_string_not_equal(a, b) elm_cm_string_equal((a), (b), 0, __FILE__, __LINE__)
#define assert_memory_equal(a, b, n)  elm_cm_memory_equal((a), (b), (n), __FILE__, __LINE__)
#define assert_float_equal(a, b, eps) elm_cm_float_equal((a), (b), (eps), __FILE__, __LINE__)

#endif
