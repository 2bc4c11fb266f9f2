/* Shared test helpers: where the fixtures and the shared data live, and the skip-or-fail rule for
 * missing data (EDGELM_REQUIRE_DATA=1 turns a skip into a failure, as CI needs). Include after
 * <cmocka.h>. */
#ifndef ELM_TESTUTIL_H
#define ELM_TESTUTIL_H

#include <stddef.h>

/* Path of a file under tests/fixtures/ (static buffer, valid until the next call). */
const char *elm_test_fixture(const char *rel);

/* Path of a file under EDGELM_TEST_DATA (default ../shared/data), or NULL when it is missing: then
 * the test has been skipped (with the reason printed) or failed when data is required. Use as
 *   const char *p = elm_test_data("reference/quant/quant-vectors.gguf"); if (!p) return; */
const char *elm_test_data(const char *rel);

/* Deterministic random numbers for tests: splitmix64, as the quant vectors' generator uses. */
#include <stdint.h>
typedef struct {
    uint64_t state;
} elm_test_rng_t;

/* A uniform double in (0, 1). */
double elm_test_uniform(elm_test_rng_t *r);

/* A standard normal (Box-Muller over two uniforms). */
float elm_test_normal(elm_test_rng_t *r);

/* Read a whole file into a malloc'd buffer (caller frees); NULL on failure. */
void *elm_test_read_file(const char *path, size_t *size);

/* ---- comparing logits with a reference ---- */

/* The first index of the largest of n values. */
int elm_test_argmax(const float *x, int n);

/* The largest value minus the second largest (how clear the argmax is). */
double elm_test_margin(const float *x, int n);

/* The numbers of a JSON array (a cJSON *) as ints into out, at most max (the test fails beyond);
 * returns the count. */
int elm_test_json_ints(const void *array, int32_t *out, int max);

#endif
