/* The cmocka subset of tests/cross/cmocka.h: a failed assertion or skip() long-jumps out of the
 * running test back to the group runner, which prints cmocka's per-test lines. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka.h"

enum { RESULT_PASS, RESULT_FAIL, RESULT_SKIP };

static jmp_buf test_exit;
static int test_running;

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
    fflush(stdout);
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void print_message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

void print_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

_Noreturn void elm_cm_fail(const char *file, int line, const char *fmt, ...)
{
    char where[512];
    snprintf(where, sizeof where, "[  ERROR   ] --- %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vreport(where, fmt, ap);
    va_end(ap);
    if (!test_running) abort();
    longjmp(test_exit, RESULT_FAIL);
}

_Noreturn void elm_cm_skip(const char *file, int line)
{
    (void)file, (void)line;
    if (!test_running) abort();
    longjmp(test_exit, RESULT_SKIP);
}

void elm_cm_int_equal(intmax_t a, intmax_t b, int want_equal, const char *ea, const char *eb,
                      const char *file, int line)
{
    if ((a == b) == want_equal) return;
    elm_cm_fail(file, line, "%s = %jd (%#jx) %s %s = %jd (%#jx)", ea, a, (uintmax_t)a,
                want_equal ? "!=" : "==", eb, b, (uintmax_t)b);
}

void elm_cm_string_equal(const char *a, const char *b, int want_equal, const char *file, int line)
{
    const int equal = a && b ? strcmp(a, b) == 0 : a == b;
    if (equal == want_equal) return;
    elm_cm_fail(file, line, "\"%s\" %s \"%s\"", a ? a : "(null)",
                want_equal ? "!=" : "==", b ? b : "(null)");
}

void elm_cm_memory_equal(const void *a, const void *b, size_t n, const char *file, int line)
{
    const unsigned char *p = a, *q = b;
    for (size_t i = 0; i < n; i++)
        if (p[i] != q[i])
            elm_cm_fail(file, line, "memory differs at byte %zu of %zu: 0x%02x != 0x%02x", i, n,
                        p[i], q[i]);
}

void elm_cm_float_equal(double a, double b, double eps, const char *file, int line)
{
    if (fabs(a - b) <= eps) return;
    elm_cm_fail(file, line, "%.9g != %.9g (epsilon %g)", a, b, eps);
}

/* Runs one test (with its fixtures) and says how it ended. */
static int run_one(const struct CMUnitTest *t)
{
    void *state = t->initial_state;
    volatile int result = RESULT_PASS;
    test_running = 1;
    const int jumped = setjmp(test_exit);
    if (jumped) {
        result = jumped;
    } else {
        if (t->setup_func && t->setup_func(&state) != 0)
            elm_cm_fail(__FILE__, __LINE__, "setup of %s failed", t->name);
        t->test_func(&state);
        if (t->teardown_func && t->teardown_func(&state) != 0)
            elm_cm_fail(__FILE__, __LINE__, "teardown of %s failed", t->name);
    }
    test_running = 0;
    return result;
}

int elm_cm_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
                     CMFixtureFunction setup, CMFixtureFunction teardown)
{
    void *group_state = NULL;
    printf("[==========] %s: Running %zu test(s).\n", name, n);
    if (setup && setup(&group_state) != 0) {
        printf("[  ERROR   ] %s: group setup failed\n", name);
        return (int)n;
    }
    size_t passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        printf("[ RUN      ] %s\n", tests[i].name);
        fflush(stdout);
        const int r = run_one(&tests[i]);
        fflush(stdout);
        if (r == RESULT_PASS) {
            printf("[       OK ] %s\n", tests[i].name);
            passed++;
        } else if (r == RESULT_SKIP) {
            printf("[  SKIPPED ] %s\n", tests[i].name);
            skipped++;
        } else {
            printf("[  FAILED  ] %s\n", tests[i].name);
            failed++;
        }
    }
    if (teardown) teardown(&group_state);
    printf("[==========] %s: %zu test(s) run.\n", name, n);
    printf("[  PASSED  ] %zu test(s).\n", passed);
    if (skipped) printf("[  SKIPPED ] %zu test(s).\n", skipped);
    if (failed) printf("[  FAILED  ] %zu test(s).\n", failed);
    fflush(stdout);
    return (int)failed;
}
