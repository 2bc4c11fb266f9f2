/* base/: the version, error table, diagnostics, overflow-checked arithmetic, whole-file reads, statistics. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "edgelm/base.h"
#include "testutil.h"

static void test_version(void **state)
{
    (void)state;
    /* The library, the headers and the build (ELM_VERSION, CMake's project version, which
     * CMakeLists.txt reads from base.h) agree, and the string is made of the three numbers. */
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", EDGELM_VERSION_MAJOR, EDGELM_VERSION_MINOR,
             EDGELM_VERSION_PATCH);
    assert_string_equal(EDGELM_VERSION_STRING, want);
    assert_string_equal(elm_version(), EDGELM_VERSION_STRING);
    assert_string_equal(ELM_VERSION, EDGELM_VERSION_STRING);
}

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

/* ---- files ---- */

/* A fresh temporary file holding n bytes of data (or a pattern when data is NULL); its path in
 * path[64]. */
static void temp_file(char path[64], const char *data, size_t n)
{
    snprintf(path, 64, "/tmp/elm_test_base_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    for (size_t off = 0; off < n;) {
        char chunk[4096];
        size_t k = n - off < sizeof chunk ? n - off : sizeof chunk;
        for (size_t i = 0; i < k; i++)
            chunk[i] = data ? data[off + i] : (char)('a' + (off + i) % 26);
        assert_true(write(fd, chunk, k) == (ssize_t)k);
        off += k;
    }
    close(fd);
}

static void test_file_read(void **state)
{
    (void)state;
    char path[64], *buf;
    size_t len;
    elm_diag_t d;
    temp_file(path, "hello\nworld", 11);
    assert_int_equal(elm_file_read(path, 0, &buf, &len, &d), 0);
    assert_int_equal(len, 11);
    assert_string_equal(buf, "hello\nworld"); /* NUL-terminated */
    free(buf);
    /* exactly at the limit is fine; one byte over names the path and the limit */
    assert_int_equal(elm_file_read(path, 11, &buf, &len, &d), 0);
    free(buf);
    buf = (char *)path, len = 5;
    assert_int_equal(elm_file_read(path, 10, &buf, &len, &d), ELM_ERANGE);
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_int_equal(d.code, ELM_ERANGE);
    assert_non_null(strstr(d.msg, path));
    assert_non_null(strstr(d.msg, "larger than 10 bytes"));
    unlink(path);

    /* empty: a valid "" buffer */
    temp_file(path, "", 0);
    assert_int_equal(elm_file_read(path, 0, &buf, &len, &d), 0);
    assert_non_null(buf);
    assert_int_equal(len, 0);
    assert_int_equal(buf[0], '\0');
    free(buf);
    unlink(path);

    /* larger than the first allocation, with a limit that is not a power of two */
    temp_file(path, NULL, 200001);
    assert_int_equal(elm_file_read(path, 200001, &buf, &len, NULL), 0);
    assert_int_equal(len, 200001);
    assert_int_equal(buf[200000], 'a' + 200000 % 26);
    assert_int_equal(buf[200001], '\0');
    free(buf);
    assert_int_equal(elm_file_read(path, 131072, &buf, &len, NULL), ELM_ERANGE);
    assert_null(buf);
    unlink(path);
}

static void test_file_read_errors(void **state)
{
    (void)state;
    char *buf = (char *)"x";
    size_t len = 3;
    elm_diag_t d;
    const char *missing = "/tmp/elm_test_base_no_such_file";
    unlink(missing);
    assert_int_equal(elm_file_read(missing, 0, &buf, &len, &d), ELM_ENOENT);
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_string_equal(d.msg,
                        "/tmp/elm_test_base_no_such_file: cannot open (No such file or directory)");
    assert_int_equal(elm_file_read("/tmp", 0, &buf, &len, &d), ELM_EINVAL);
    assert_string_equal(d.msg, "/tmp: is a directory, not a file");
    assert_null(buf);
    /* /proc files say size 0 but have text */
    assert_int_equal(elm_file_read("/proc/self/status", 0, &buf, &len, NULL), 0);
    assert_true(len > 0 && strlen(buf) == len);
    free(buf);
}

/* ---- statistics ---- */

static void test_stats_mean_sd(void **state)
{
    (void)state;
    double m, sd;
    const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
    elm_stats_mean_sd(x, 8, &m, &sd);
    assert_true(fabs(m - 5) < 1e-12);
    assert_true(fabs(sd - 2.1380899352993950) < 1e-12); /* sqrt(32 / 7) */
    elm_stats_mean_sd(x, 1, &m, &sd);
    assert_true(m == 2 && sd == 0);
    elm_stats_mean_sd(x, 0, &m, &sd);
    assert_true(m == 0 && sd == 0);
}

static void test_stats_percentile(void **state)
{
    (void)state;
    double x[] = {5, 1, 4, 2, 3};
    elm_stats_sort(x, 5);
    for (int i = 0; i < 5; i++) assert_true(x[i] == i + 1);
    assert_true(fabs(elm_stats_percentile(x, 5, 50) - 3) < 1e-12);
    assert_true(fabs(elm_stats_percentile(x, 5, 90) - 4.6) < 1e-12); /* rank 3.6 */
    assert_true(fabs(elm_stats_percentile(x, 5, 99) - 4.96) < 1e-12);
    assert_true(elm_stats_percentile(x, 5, 0) == 1);
    assert_true(elm_stats_percentile(x, 5, 100) == 5);
    const double two[] = {10, 20};
    assert_true(fabs(elm_stats_percentile(two, 2, 25) - 12.5) < 1e-12);
    assert_true(elm_stats_percentile(two, 1, 99) == 10);
}

static void test_stats_intervals(void **state)
{
    (void)state;
    assert_true(elm_stats_t975(1) == 12.706);
    assert_true(elm_stats_t975(30) == 2.042);
    assert_true(elm_stats_t975(31) == 1.96 && elm_stats_t975(0) == 1.96);
    double m, h;
    const double x[] = {1, 2, 3, 4};
    elm_stats_ci95(x, 4, &m, &h);
    assert_true(fabs(m - 2.5) < 1e-12);
    assert_true(fabs(h - 2.0539714) < 1e-6); /* 3.182 * sqrt(5/3) / 2 */
    elm_stats_ci95(x, 1, &m, &h);
    assert_true(m == 1 && h == 0);
    double lo, hi;
    elm_stats_wilson95(5, 10, &lo, &hi); /* centre 0.5, half 1.96 * sqrt(0.0346036) / 1.38415 */
    assert_true(fabs(lo - 0.2366) < 5e-5 && fabs(hi - 0.7634) < 5e-5);
    elm_stats_wilson95(0, 2, &lo, &hi);
    assert_true(lo == 0 && fabs(hi - 0.6576) < 5e-5);
    elm_stats_wilson95(10, 10, &lo, &hi);
    assert_true(fabs(lo - 0.7225) < 5e-5 && fabs(hi - 1) < 1e-12);
    elm_stats_wilson95(0, 0, &lo, &hi);
    assert_true(lo == 0 && hi == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_strerror_every_code),
        cmocka_unit_test(test_from_errno),
        cmocka_unit_test(test_diag),
        cmocka_unit_test(test_checked_math),
        cmocka_unit_test(test_file_read),
        cmocka_unit_test(test_file_read_errors),
        cmocka_unit_test(test_stats_mean_sd),
        cmocka_unit_test(test_stats_percentile),
        cmocka_unit_test(test_stats_intervals),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
