/* base/pool.c: every item of a parallel loop runs exactly once on a valid thread index, for
 * awkward sizes and many back-to-back loops; bad thread counts are named errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "edgelm/pool.h"
#include "testutil.h"

typedef struct {
    atomic_int *hits;
    atomic_int bad_range;
    atomic_int bad_thread;
    atomic_int used[ELM_POOL_MAX_THREADS];
    int n_threads;
    int64_t n;
} loop_t;

static void mark(void *ctx, int64_t begin, int64_t end, int thread)
{
    loop_t *l = ctx;
    if (begin < 0 || end > l->n || begin >= end) atomic_fetch_add(&l->bad_range, 1);
    if (thread < 0 || thread >= l->n_threads) {
        atomic_fetch_add(&l->bad_thread, 1);
        return;
    }
    atomic_fetch_add(&l->used[thread], 1);
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&l->hits[i], 1);
}

static void run_loop(elm_pool_t *p, int64_t n, int64_t min_chunk)
{
    loop_t *l = calloc(1, sizeof *l);
    l->hits = calloc((size_t)(n > 0 ? n : 1), sizeof *l->hits);
    l->n = n;
    l->n_threads = elm_pool_n_threads(p);
    elm_pool_for(p, n, min_chunk, mark, l);
    for (int64_t i = 0; i < n; i++)
        if (atomic_load(&l->hits[i]) != 1)
            fail_msg("n %lld chunk %lld: item %lld ran %d times", (long long)n,
                     (long long)min_chunk, (long long)i, atomic_load(&l->hits[i]));
    assert_int_equal(atomic_load(&l->bad_range), 0);
    assert_int_equal(atomic_load(&l->bad_thread), 0);
    free(l->hits);
    free(l);
}

static void test_every_item_once(void **state)
{
    (void)state;
    static const int threads[] = {1, 2, 3, 8};
    static const int64_t sizes[] = {0, 1, 7, 17, 33, 255, 1023, 4097};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        elm_pool_t *p = NULL;
        assert_int_equal(elm_pool_create(threads[t], &p, NULL), 0);
        assert_int_equal(elm_pool_n_threads(p), threads[t]);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            run_loop(p, sizes[s], 1);
            run_loop(p, sizes[s], 16);
        }
        elm_pool_free(p);
    }
    run_loop(NULL, 100, 1); /* no pool: inline */
}

static void add_one(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    atomic_fetch_add((atomic_llong *)ctx, end - begin);
}

/* Thousands of small loops in a row, as a forward pass dispatches them. */
static void test_many_dispatches(void **state)
{
    (void)state;
    elm_pool_t *p = NULL;
    assert_int_equal(elm_pool_create(4, &p, NULL), 0);
    atomic_llong total = 0;
    const int loops = 20000;
    uint64_t t0 = elm_time_ns();
    for (int i = 0; i < loops; i++)
        elm_pool_for(p, 64, 1, add_one, &total);
    uint64_t t1 = elm_time_ns();
    assert_int_equal(atomic_load(&total), (long long)loops * 64);
    printf("  %d dispatches over 4 threads: %.2f us each\n", loops,
           (double)(t1 - t0) / loops / 1e3);
    elm_pool_free(p);
}

/* A pool that idles long enough for its workers to sleep still wakes for the next loop. */
static void test_wake_after_sleep(void **state)
{
    (void)state;
    elm_pool_t *p = NULL;
    assert_int_equal(elm_pool_create(3, &p, NULL), 0);
    for (int r = 0; r < 3; r++) {
        run_loop(p, 1000, 1);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    elm_pool_free(p);
}

static void test_bad_counts(void **state)
{
    (void)state;
    elm_pool_t *p = (elm_pool_t *)&p;
    elm_diag_t d;
    assert_int_equal(elm_pool_create(0, &p, &d), ELM_ERANGE);
    assert_null(p);
    assert_non_null(strstr(d.msg, "thread count 0 is out of range"));
    assert_int_equal(elm_pool_create(-3, &p, NULL), ELM_ERANGE);
    assert_int_equal(elm_pool_create(ELM_POOL_MAX_THREADS + 1, &p, NULL), ELM_ERANGE);
    elm_pool_free(NULL);
    assert_int_equal(elm_pool_n_threads(NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_many_dispatches),
        cmocka_unit_test(test_wake_after_sleep),
        cmocka_unit_test(test_bad_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
