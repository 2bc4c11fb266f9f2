/* Pieces quantize and synth share: row-parallel work over pthreads, the metadata list with its
 * exact GGUF size (so a plan's file size is known before anything is written), and hashing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert/convert_internal.h"

/* ---- row-parallel work ---- */

int elm__resolve_threads(int n)
{
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    return n < 1 ? 1 : n > 256 ? 256 : n;
}

typedef struct {
    elm__rows_fn fn;
    void *ctx;
    int64_t r0, r1;
    int tid;
} rows_job_t;

static void *rows_thread(void *arg)
{
    rows_job_t *j = arg;
    j->fn(j->ctx, j->r0, j->r1, j->tid);
    return NULL;
}

int elm__parallel_rows(int n_threads, int64_t n_rows, elm__rows_fn fn, void *ctx)
{
    if (n_threads > n_rows) n_threads = (int)(n_rows > 0 ? n_rows : 1);
    if (n_threads <= 1) {
        if (n_rows > 0) fn(ctx, 0, n_rows, 0);
        return 0;
    }
    rows_job_t jobs[256];
    pthread_t th[256];
    int started = 0, rc = 0;
    for (int t = 0; t < n_threads; t++) {
        jobs[t] = (rows_job_t){fn, ctx, n_rows * t / n_threads, n_rows * (t + 1) / n_threads, t};
    }
    for (int t = 1; t < n_threads; t++) {
        if (pthread_create(&th[t], NULL, rows_thread, &jobs[t])) {
            rc = ELM_ENOMEM;
            break;
        }
        started = t;
    }
    fn(ctx, jobs[0].r0, jobs[0].r1, 0);
    for (int t = 1; t <= started; t++)
        pthread_join(th[t], NULL);
    /* Threads that could not start: do their rows here. */
    for (int t = started + 1; t < n_threads; t++)
        fn(ctx, jobs[t].r0, jobs[t].r1, 0);
    (void)rc; /* the work is done either way */
    return 0;
}

uint64_t elm__fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* ---- metadata list ---- */

void elm__kvlist_free(elm__kvlist_t *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++)
        free(l->kv[i].key);
    for (size_t i = 0; i < l->n_owned; i++)
        free(l->owned[i]);
    free(l->kv);
    free(l->owned);
    memset(l, 0, sizeof *l);
}

int elm__kvlist_own(elm__kvlist_t *l, void *p)
{
    if (!p) return ELM_ENOMEM;
    if (l->n_owned == l->cap_owned) {
        size_t cap = l->cap_owned ? 2 * l->cap_owned : 16;
        void **o = realloc(l->owned, cap * sizeof *o);
        if (!o) {
            free(p);
            return ELM_ENOMEM;
        }
        l->owned = o;
        l->cap_owned = cap;
    }
    l->owned[l->n_owned++] = p;
    return 0;
}

int elm__kvlist_add(elm__kvlist_t *l, const char *key, const elm_gguf_value_t *v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        elm__kv_t *kv = realloc(l->kv, cap * sizeof *kv);
        if (!kv) return ELM_ENOMEM;
        l->kv = kv;
        l->cap = cap;
    }
    char *k = strdup(key);
    if (!k) return ELM_ENOMEM;
    l->kv[l->n].key = k;
    l->kv[l->n].v = *v;
    l->n++;
    return 0;
}

int elm__kvlist_add_u32(elm__kvlist_t *l, const char *key, uint32_t v)
{
    elm_gguf_value_t x = {.type = ELM_GGUF_UINT32, .u = v};
    return elm__kvlist_add(l, key, &x);
}

int elm__kvlist_add_f32(elm__kvlist_t *l, const char *key, float v)
{
    elm_gguf_value_t x = {.type = ELM_GGUF_FLOAT32, .f = v};
    return elm__kvlist_add(l, key, &x);
}

int elm__kvlist_add_bool(elm__kvlist_t *l, const char *key, bool v)
{
    elm_gguf_value_t x = {.type = ELM_GGUF_BOOL, .u = v};
    return elm__kvlist_add(l, key, &x);
}

int elm__kvlist_add_str(elm__kvlist_t *l, const char *key, const char *s)
{
    char *c = strdup(s);
    int rc = elm__kvlist_own(l, c);
    if (rc) return rc;
    elm_gguf_value_t x = {.type = ELM_GGUF_STRING, .s = {c, strlen(c)}};
    return elm__kvlist_add(l, key, &x);
}

uint64_t elm__value_bytes(const elm_gguf_value_t *v)
{
    switch (v->type) {
    case ELM_GGUF_STRING: return 8 + v->s.len;
    case ELM_GGUF_ARRAY: {
        uint64_t b = 4 + 8;
        if (v->arr.type == ELM_GGUF_STRING) {
            for (uint64_t i = 0; i < v->arr.n; i++)
                b += 8 + v->arr.items[i].s.len;
        } else if (v->arr.type == ELM_GGUF_ARRAY) {
            for (uint64_t i = 0; i < v->arr.n; i++)
                b += elm__value_bytes(&v->arr.items[i]);
        } else {
            b += v->arr.n * elm_gguf_vtype_size(v->arr.type);
        }
        return b;
    }
    default: return elm_gguf_vtype_size(v->type);
    }
}

uint64_t elm__kvlist_bytes(const elm__kvlist_t *l)
{
    uint64_t b = 0;
    for (size_t i = 0; i < l->n; i++)
        b += 8 + strlen(l->kv[i].key) + 4 + elm__value_bytes(&l->kv[i].v);
    return b;
}

/* ---- encoding a tensor, chunk by chunk ---- */

typedef struct {
    const elm__encode_t *job;
    uint8_t *dst;
    int64_t row0;
} encode_ctx_t;

static void encode_rows(void *arg, int64_t r0, int64_t r1, int tid)
{
    encode_ctx_t *c = arg;
    const elm__encode_t *j = c->job;
    float *scratch = j->scratch + (size_t)tid * (size_t)j->ne0;
    for (int64_t r = r0; r < r1; r++) {
        uint8_t *out = c->dst + (size_t)r * j->row_bytes;
        if (!j->quantize) {
            j->fill(j->user, c->row0 + r, (float *)(void *)out);
        } else {
            j->fill(j->user, c->row0 + r, scratch);
            j->quantize(scratch, out, j->ne0);
        }
    }
}

int elm__encode_tensor(elm_gguf_writer_t *w, const elm__encode_t *job, int n_threads, uint8_t *buf,
                       size_t buf_bytes, elm__progress_t *pr)
{
    int64_t rows_per_chunk = (int64_t)(buf_bytes / job->row_bytes);
    if (rows_per_chunk < 1) rows_per_chunk = 1;
    for (int64_t r = 0; r < job->n_rows; r += rows_per_chunk) {
        int64_t n = job->n_rows - r < rows_per_chunk ? job->n_rows - r : rows_per_chunk;
        encode_ctx_t c = {job, buf, r};
        elm__parallel_rows(n_threads, n, encode_rows, &c);
        size_t bytes = (size_t)n * job->row_bytes;
        int rc = elm_gguf_writer_write(w, buf, bytes);
        if (rc) return rc;
        elm__progress_add(pr, bytes);
    }
    return 0;
}

void elm__progress_add(elm__progress_t *pr, uint64_t bytes)
{
    pr->done += bytes;
    if (pr->fn) pr->fn(pr->done, pr->total, pr->user);
}

const char *elm_convert_stats_types(const elm_convert_stats_t *s, char *buf, size_t len)
{
    bool used[ELM_TYPE_COUNT] = {false};
    size_t at = 0;
    buf[0] = 0;
    for (;;) {
        int best = -1;
        for (int t = 0; t < ELM_TYPE_COUNT; t++)
            if (!used[t] && s->type_count[t] &&
                (best < 0 || s->type_count[t] > s->type_count[best]))
                best = t;
        if (best < 0 || at >= len) break;
        used[best] = true;
        const elm_type_info_t *ti = elm_type_info(best);
        int k = snprintf(buf + at, len - at, "%s%s %llu", at ? ", " : "", ti ? ti->name : "?",
                         (unsigned long long)s->type_count[best]);
        if (k < 0) break;
        at += (size_t)k;
    }
    return buf;
}
