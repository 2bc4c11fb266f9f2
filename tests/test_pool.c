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

/* Run a loop of n items on n_threads of the pool (0: all) and check every item ran once on a
 * thread index below n_threads; returns how many distinct threads took part. */
static int run_loop_on(elm_pool_t *p, int n_threads, int64_t n, int64_t min_chunk)
{
    loop_t *l = calloc(1, sizeof *l);
    l->hits = calloc((size_t)(n > 0 ? n : 1), sizeof *l->hits);
    l->n = n;
    l->n_threads = n_threads > 0 ? n_threads : elm_pool_n_threads(p);
    elm_pool_for_threads(p, n_threads, n, min_chunk, mark, l);
    for (int64_t i = 0; i < n; i++)
        if (atomic_load(&l->hits[i]) != 1)
            fail_msg("n %lld chunk %lld: item %lld ran %d times", (long long)n,
                     (long long)min_chunk, (long long)i, atomic_load(&l->hits[i]));
    assert_int_equal(atomic_load(&l->bad_range), 0);
    assert_int_equal(atomic_load(&l->bad_thread), 0);
    int used = 0;
    for (int t = 0; t < ELM_POOL_MAX_THREADS; t++)
        used += atomic_load(&l->used[t]) > 0;
    free(l->hits);
    free(l);
    return used;
}

static void run_loop(elm_pool_t *p, int64_t n, int64_t min_chunk)
{
    run_loop_on(p, 0, n, min_chunk);
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

/* Thousands of small loops in a row, as a forward pass dispatches them; prints what one
 * dispatch costs (the loop body is trivial), on all threads and on fewer. */
static void test_many_dispatches(void **state)
{
    (void)state;
    static const struct {
        int pool, use;
    } cases[] = {{2, 2}, {4, 4}, {4, 2}, {4, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        elm_pool_t *p = NULL;
        assert_int_equal(elm_pool_create(cases[c].pool, &p, NULL), 0);
        atomic_llong total = 0;
        const int loops = 20000;
        const uint64_t d0 = elm_pool_dispatches(p), t0 = elm_time_ns();
        for (int i = 0; i < loops; i++)
            elm_pool_for_threads(p, cases[c].use, 64, 1, add_one, &total);
        const uint64_t t1 = elm_time_ns();
        assert_int_equal(atomic_load(&total), (long long)loops * 64);
        /* a loop on one thread runs inline: no dispatch */
        assert_int_equal(elm_pool_dispatches(p) - d0, cases[c].use > 1 ? (uint64_t)loops : 0);
        printf("  %d loops on %d of %d threads: %.2f us per dispatch\n", loops, cases[c].use,
               cases[c].pool, (double)(t1 - t0) / loops / 1e3);
        elm_pool_free(p);
    }
}

/* A loop on fewer threads than the pool has uses only the first ones, and the pool still runs
 * loops on all of its threads afterwards (the idle workers were not lost). */
static void test_fewer_threads(void **state)
{
    (void)state;
    elm_pool_t *p = NULL;
    assert_int_equal(elm_pool_create(4, &p, NULL), 0);
    static const int64_t sizes[] = {1, 7, 33, 1023, 4097};
    for (int round = 0; round < 50; round++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            assert_true(run_loop_on(p, 2, sizes[s], 1) <= 2);
            assert_int_equal(run_loop_on(p, 1, sizes[s], 1), 1);
            assert_true(run_loop_on(p, 3, sizes[s], 1) <= 3);
            run_loop_on(p, 0, sizes[s], 1);
            run_loop_on(p, 99, sizes[s], 1); /* above the pool's count: all */
        }
    /* after the extra workers fell asleep, a loop on all threads wakes them */
    run_loop_on(p, 2, 1000, 1);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    run_loop_on(p, 4, 4097, 1);
    run_loop_on(NULL, 3, 100, 1);
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
        cmocka_unit_test(test_every_item_once), cmocka_unit_test(test_many_dispatches),
        cmocka_unit_test(test_fewer_threads),   cmocka_unit_test(test_wake_after_sleep),
        cmocka_unit_test(test_bad_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
