/* base/: error table, diagnostics, overflow-checked arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "edgelm/base.h"
#include "testutil.h"

static void test_strerror_every_code(void **state)
{
    (void)state;
    /* Every code has its own message and name; unknown codes still get a string. */
#define CHECK(name, val, msg)                                              \
    assert_string_equal(elm_strerror(ELM_E##name), msg);                   \
    assert_string_equal(elm_errname(ELM_E##name), "ELM_E" #name);          \
    assert_true(ELM_E##name < 0);
    ELM_ERRNO_MAP(CHECK)
#undef CHECK
    assert_string_equal(elm_strerror(0), "success");
    assert_string_equal(elm_strerror(-99999), "unknown error");
    assert_string_equal(elm_errname(-99999), "ELM_E?");
}

static void test_from_errno(void **state)
{
    (void)state;
    assert_int_equal(elm_from_errno(ENOENT), ELM_ENOENT);
    assert_int_equal(elm_from_errno(EACCES), ELM_EACCES);
    assert_int_equal(elm_from_errno(ENOMEM), ELM_ENOMEM);
    assert_int_equal(elm_from_errno(EIO), ELM_EIO);
    assert_int_equal(elm_from_errno(0), ELM_OK);
}

static void test_diag(void **state)
{
    (void)state;
    elm_diag_t d;
    assert_int_equal(elm_diag(&d, ELM_EIO, "%s: read failed (%s)", "a.gguf", "disk?"), ELM_EIO);
    assert_int_equal(d.code, ELM_EIO);
    assert_string_equal(d.msg, "a.gguf: read failed (disk?)");
    elm_diag_clear(&d);
    assert_int_equal(d.code, 0);
    assert_string_equal(d.msg, "");
    assert_int_equal(elm_diag(NULL, ELM_EINVAL, "x"), ELM_EINVAL);
    elm_diag_clear(NULL);
}

static void test_checked_math(void **state)
{
    (void)state;
    uint64_t r = 7;
    assert_int_equal(elm_mul_u64(1ull << 32, 1ull << 31, &r), 0);
    assert_true(r == 1ull << 63);
    assert_int_equal(elm_mul_u64(1ull << 32, 1ull << 32, &r), ELM_ERANGE);
    assert_true(r == 0);
    assert_int_equal(elm_add_u64(UINT64_MAX, 1, &r), ELM_ERANGE);
    assert_int_equal(elm_add_u64(1, 2, &r), 0);
    assert_true(r == 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_every_code),
        cmocka_unit_test(test_from_errno),
        cmocka_unit_test(test_diag),
        cmocka_unit_test(test_checked_math),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
