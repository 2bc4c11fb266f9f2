/* Shared test helpers: fixture and shared-data paths, and the skip-or-fail rule for missing data.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "edgelm/base.h"
#include "testutil.h"

const char *elm_test_fixture(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", ELM_FIXTURES_DIR, rel);
    return buf;
}

const char *elm_test_data(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("EDGELM_TEST_DATA");
    if (!root || !*root) root = ELM_TEST_DATA_DEFAULT;
    snprintf(buf, sizeof buf, "%s/%s", root, rel);
    struct stat st;
    if (stat(buf, &st) == 0) return buf;
    const char *req = getenv("EDGELM_REQUIRE_DATA");
    if (req && strcmp(req, "1") == 0) {
        fail_msg(
            "required test data %s is missing (set EDGELM_TEST_DATA to the shared data folder)",
            buf);
        return NULL;
    }
    printf("SKIPPED: %s is missing (set EDGELM_TEST_DATA to the shared data folder)\n", buf);
    skip();
    return NULL;
}

void *elm_test_read_file(const char *path, size_t *size)
{
    char *buf;
    size_t n;
    if (elm_file_read(path, 0, &buf, &n, NULL)) return NULL;
    if (size) *size = n;
    return buf;
}

double elm_test_uniform(elm_test_rng_t *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * 0x1p-53;
}

float elm_test_normal(elm_test_rng_t *r)
{
    const double u1 = elm_test_uniform(r), u2 = elm_test_uniform(r);
    return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}

int elm_test_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

double elm_test_margin(const float *x, int n)
{
    const int a = elm_test_argmax(x, n);
    double second = -INFINITY;
    for (int i = 0; i < n; i++)
        if (i != a && x[i] > second) second = x[i];
    return x[a] - second;
}

int elm_test_json_ints(const void *array, int32_t *out, int max)
{
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, (const cJSON *)array)
    {
        assert_true(i < max);
        out[i++] = (int32_t)it->valuedouble;
    }
    return i;
}
