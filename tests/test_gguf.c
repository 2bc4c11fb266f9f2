/* gguf/: type table, reader validation (one fixture per error code), writer round trips and
 * errors, typed getters, and reading real models and vocabularies from the shared data. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "edgelm/gguf.h"
#include "testutil.h"

/* ---- helpers ---- */

static char tmp_dir[256];

static int make_tmp_dir(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/elm_test_gguf_XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int remove_tmp_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
    static char bufs[4][512]; /* a few calls may be alive at once */
    static int next;
    char *buf = bufs[next++ % 4];
    snprintf(buf, sizeof bufs[0], "%s/%s", tmp_dir, name);
    return buf;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool str_eq(elm_str_t s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

/* Deep equality of two metadata values. */
static bool value_eq(const elm_gguf_value_t *a, const elm_gguf_value_t *b)
{
    if (a->type != b->type) return false;
    switch (a->type) {
    case ELM_GGUF_STRING: return a->s.len == b->s.len && memcmp(a->s.ptr, b->s.ptr, a->s.len) == 0;
    case ELM_GGUF_FLOAT32: case ELM_GGUF_FLOAT64: return a->f == b->f;
    case ELM_GGUF_INT8: case ELM_GGUF_INT16: case ELM_GGUF_INT32: case ELM_GGUF_INT64: return a->i == b->i;
    case ELM_GGUF_ARRAY: {
        if (a->arr.type != b->arr.type || a->arr.n != b->arr.n) return false;
        size_t es = elm_gguf_vtype_size(a->arr.type);
        if (es) return a->arr.n == 0 || memcmp(a->arr.data, b->arr.data, a->arr.n * es) == 0;
        for (uint64_t i = 0; i < a->arr.n; i++)
            if (!value_eq(&a->arr.items[i], &b->arr.items[i])) return false;
        return true;
    }
    default: return a->u == b->u;
    }
}

static elm_gguf_t *open_ok(const char *path)
{
    elm_gguf_t *g = NULL;
    elm_diag_t d;
    int rc = elm_gguf_open(path, &g, &d);
    if (rc) print_error("open %s: %s\n", path, d.msg);
    assert_int_equal(rc, 0);
    assert_non_null(g);
    return g;
}

/* ---- types ---- */

static void test_types(void **state)
{
    (void)state;
    static const struct { int id; const char *name; uint32_t blck, size; } want[] = {
        {0, "f32", 1, 4}, {1, "f16", 1, 2}, {30, "bf16", 1, 2}, {2, "q4_0", 32, 18},
        {3, "q4_1", 32, 20}, {6, "q5_0", 32, 22}, {7, "q5_1", 32, 24}, {8, "q8_0", 32, 34},
        {9, "q8_1", 32, 36}, {10, "q2_K", 256, 84}, {11, "q3_K", 256, 110}, {12, "q4_K", 256, 144},
        {13, "q5_K", 256, 176}, {14, "q6_K", 256, 210}, {15, "q8_K", 256, 292},
        {16, "iq2_xxs", 256, 66}, {17, "iq2_xs", 256, 74}, {18, "iq3_xxs", 256, 98},
        {19, "iq1_s", 256, 50}, {20, "iq4_nl", 32, 18}, {21, "iq3_s", 256, 110},
        {22, "iq2_s", 256, 82}, {23, "iq4_xs", 256, 136}, {24, "i8", 1, 1}, {25, "i16", 1, 2},
        {26, "i32", 1, 4}, {27, "i64", 1, 8}, {28, "f64", 1, 8}, {29, "iq1_m", 256, 56},
        {34, "tq1_0", 256, 54}, {35, "tq2_0", 256, 66}, {39, "mxfp4", 32, 17},
    };
    int known = 0;
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const elm_type_info_t *ti = elm_type_info(want[k].id);
        assert_non_null(ti);
        assert_string_equal(ti->name, want[k].name);
        assert_int_equal(ti->blck_size, want[k].blck);
        assert_int_equal(ti->type_size, want[k].size);
        elm_type_t t;
        assert_int_equal(elm_type_from_name(want[k].name, &t), 0);
        assert_int_equal(t, want[k].id);
    }
    for (int id = -1; id <= ELM_TYPE_COUNT; id++) known += elm_type_info(id) != NULL;
    assert_int_equal(known, (int)(sizeof want / sizeof want[0]));
    static const int retired[] = {4, 5, 31, 32, 33, 36, 37, 38, 40, -1};
    for (size_t k = 0; k < sizeof retired / sizeof retired[0]; k++) assert_null(elm_type_info(retired[k]));

    elm_type_t t = ELM_TYPE_Q8_0;
    assert_int_equal(elm_type_from_name("Q4_K", &t), 0);
    assert_int_equal(t, ELM_TYPE_Q4_K);
    assert_int_equal(elm_type_from_name("BF16", &t), 0);
    assert_int_equal(t, ELM_TYPE_BF16);
    assert_int_equal(elm_type_from_name("q4_2", &t), ELM_EINVAL);

    uint64_t sz = 7;
    assert_int_equal(elm_type_row_size(ELM_TYPE_Q4_K, 512, &sz), 0);
    assert_true(sz == 288);
    assert_int_equal(elm_type_row_size(ELM_TYPE_Q4_0, 33, &sz), ELM_EINVAL);
    assert_true(sz == 0);
    assert_int_equal(elm_type_row_size(4, 32, &sz), ELM_EINVAL);
    assert_int_equal(elm_type_row_size(ELM_TYPE_F64, UINT64_MAX / 4, &sz), ELM_ERANGE);
    assert_true(sz == 0);

    assert_string_equal(elm_gguf_vtype_name(ELM_GGUF_UINT32), "uint32");
    assert_string_equal(elm_gguf_vtype_name(ELM_GGUF_ARRAY), "array");
    assert_string_equal(elm_gguf_vtype_name(13), "?");
    assert_int_equal(elm_gguf_vtype_size(ELM_GGUF_FLOAT64), 8);
    assert_int_equal(elm_gguf_vtype_size(ELM_GGUF_BOOL), 1);
    assert_int_equal(elm_gguf_vtype_size(ELM_GGUF_STRING), 0);
}

/* ---- metadata round trip ---- */

static void write_all_types(elm_gguf_writer_t *w)
{
    static const uint8_t u8s[] = {0, 255};
    static const int8_t i8s[] = {-128, 127};
    static const uint16_t u16s[] = {0, 65535};
    static const int16_t i16s[] = {-32768, 32767};
    static const int32_t i32s[] = {INT32_MIN, INT32_MAX, 0};
    static const uint64_t u64s[] = {0, UINT64_MAX};
    static const int64_t i64s[] = {INT64_MIN, INT64_MAX};
    static const float f32s[] = {1.5f, -0.0f, 3.4e38f};
    static const double f64s[] = {-1e300, 0.1};
    static const uint8_t bools[] = {1, 0, 1};
    static const char *const strs[] = {"hello", "", "\xe2\x96\x81the", "<0x0A>"};
    assert_int_equal(elm_gguf_writer_add_str(w, "general.architecture", "llama"), 0);
    assert_int_equal(elm_gguf_writer_add_str(w, "empty.str", ""), 0);
    assert_int_equal(elm_gguf_writer_add_u32(w, "u32", UINT32_MAX), 0);
    assert_int_equal(elm_gguf_writer_add_i32(w, "i32", INT32_MIN), 0);
    assert_int_equal(elm_gguf_writer_add_u64(w, "u64", UINT64_MAX), 0);
    assert_int_equal(elm_gguf_writer_add_f32(w, "f32", 0.25f), 0);
    assert_int_equal(elm_gguf_writer_add_bool(w, "bool.t", true), 0);
    assert_int_equal(elm_gguf_writer_add_bool(w, "bool.f", false), 0);
    elm_gguf_value_t v = {.type = ELM_GGUF_INT64, .i = INT64_MIN};
    assert_int_equal(elm_gguf_writer_add_value(w, "i64.min", &v), 0);
    v.i = INT64_MAX;
    assert_int_equal(elm_gguf_writer_add_value(w, "i64.max", &v), 0);
    v = (elm_gguf_value_t){.type = ELM_GGUF_FLOAT64, .f = -2.2250738585072014e-308};
    assert_int_equal(elm_gguf_writer_add_value(w, "f64", &v), 0);
    v = (elm_gguf_value_t){.type = ELM_GGUF_UINT8, .u = 200};
    assert_int_equal(elm_gguf_writer_add_value(w, "u8", &v), 0);
    v = (elm_gguf_value_t){.type = ELM_GGUF_INT8, .i = -100};
    assert_int_equal(elm_gguf_writer_add_value(w, "i8", &v), 0);
    v = (elm_gguf_value_t){.type = ELM_GGUF_UINT16, .u = 65535};
    assert_int_equal(elm_gguf_writer_add_value(w, "u16", &v), 0);
    v = (elm_gguf_value_t){.type = ELM_GGUF_INT16, .i = -32768};
    assert_int_equal(elm_gguf_writer_add_value(w, "i16", &v), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.u8", ELM_GGUF_UINT8, u8s, 2), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.i8", ELM_GGUF_INT8, i8s, 2), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.u16", ELM_GGUF_UINT16, u16s, 2), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.i16", ELM_GGUF_INT16, i16s, 2), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.i32", ELM_GGUF_INT32, i32s, 3), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.u64", ELM_GGUF_UINT64, u64s, 2), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.i64", ELM_GGUF_INT64, i64s, 2), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.f32", ELM_GGUF_FLOAT32, f32s, 3), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.f64", ELM_GGUF_FLOAT64, f64s, 2), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.bool", ELM_GGUF_BOOL, bools, 3), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "arr.empty", ELM_GGUF_UINT32, NULL, 0), 0);
    assert_int_equal(elm_gguf_writer_add_arr_str(w, "arr.str", strs, 4), 0);
    assert_int_equal(elm_gguf_writer_add_arr_str(w, "arr.str.empty", NULL, 0), 0);

    /* [[["a", ""], []], [[1, 2]], []]: arrays of arrays of strings, empty inner arrays */
    elm_gguf_value_t s2[2] = {{.type = ELM_GGUF_STRING, .s = {"a", 1}},
                              {.type = ELM_GGUF_STRING, .s = {"", 0}}};
    elm_gguf_value_t lvl2a[2] = {{.type = ELM_GGUF_ARRAY}, {.type = ELM_GGUF_ARRAY}};
    lvl2a[0].arr.type = ELM_GGUF_STRING, lvl2a[0].arr.n = 2, lvl2a[0].arr.items = s2;
    lvl2a[1].arr.type = ELM_GGUF_STRING, lvl2a[1].arr.n = 0;
    static const uint32_t nums[] = {1, 2};
    elm_gguf_value_t lvl2b[1] = {{.type = ELM_GGUF_ARRAY}};
    lvl2b[0].arr.type = ELM_GGUF_UINT32, lvl2b[0].arr.n = 2, lvl2b[0].arr.data = nums;
    elm_gguf_value_t lvl1[3] = {{.type = ELM_GGUF_ARRAY}, {.type = ELM_GGUF_ARRAY}, {.type = ELM_GGUF_ARRAY}};
    lvl1[0].arr.type = ELM_GGUF_ARRAY, lvl1[0].arr.n = 2, lvl1[0].arr.items = lvl2a;
    lvl1[1].arr.type = ELM_GGUF_ARRAY, lvl1[1].arr.n = 1, lvl1[1].arr.items = lvl2b;
    lvl1[2].arr.type = ELM_GGUF_ARRAY, lvl1[2].arr.n = 0;
    elm_gguf_value_t top = {.type = ELM_GGUF_ARRAY};
    top.arr.type = ELM_GGUF_ARRAY, top.arr.n = 3, top.arr.items = lvl1;
    assert_int_equal(elm_gguf_writer_add_value(w, "arr.nested", &top), 0);
}

static void check_all_types(const elm_gguf_t *g)
{
    elm_str_t s;
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    const elm_gguf_value_t *a;
    assert_int_equal(elm_gguf_get_str(g, "general.architecture", &s), 0);
    assert_true(str_eq(s, "llama"));
    assert_int_equal(elm_gguf_get_str(g, "empty.str", &s), 0);
    assert_true(s.len == 0);
    assert_int_equal(elm_gguf_get_u64(g, "u32", &u), 0);
    assert_true(u == UINT32_MAX);
    assert_int_equal(elm_gguf_get_i64(g, "i32", &i), 0);
    assert_true(i == INT32_MIN);
    assert_int_equal(elm_gguf_get_u64(g, "u64", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(elm_gguf_get_f64(g, "f32", &f), 0);
    assert_true(f == 0.25);
    assert_int_equal(elm_gguf_get_bool(g, "bool.t", &b), 0);
    assert_true(b);
    assert_int_equal(elm_gguf_get_bool(g, "bool.f", &b), 0);
    assert_false(b);
    assert_int_equal(elm_gguf_get_i64(g, "i64.min", &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(elm_gguf_get_i64(g, "i64.max", &i), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(elm_gguf_get_f64(g, "f64", &f), 0);
    assert_true(f == -2.2250738585072014e-308);
    assert_int_equal(elm_gguf_get(g, "u8")->type, ELM_GGUF_UINT8);
    assert_int_equal(elm_gguf_get_u64(g, "u8", &u), 0);
    assert_true(u == 200);
    assert_int_equal(elm_gguf_get_i64(g, "i8", &i), 0);
    assert_true(i == -100);
    assert_int_equal(elm_gguf_get_u64(g, "u16", &u), 0);
    assert_true(u == 65535);
    assert_int_equal(elm_gguf_get_i64(g, "i16", &i), 0);
    assert_true(i == -32768);

    assert_int_equal(elm_gguf_get_arr(g, "arr.u8", &a), 0);
    assert_int_equal(a->arr.type, ELM_GGUF_UINT8);
    assert_true(elm_gguf_arr_i64(a, 1) == 255);
    assert_int_equal(elm_gguf_get_arr(g, "arr.i8", &a), 0);
    assert_true(elm_gguf_arr_i64(a, 0) == -128);
    assert_int_equal(elm_gguf_get_arr(g, "arr.u16", &a), 0);
    assert_true(elm_gguf_arr_i64(a, 1) == 65535);
    assert_int_equal(elm_gguf_get_arr(g, "arr.i16", &a), 0);
    assert_true(elm_gguf_arr_i64(a, 0) == -32768);
    assert_int_equal(elm_gguf_get_arr(g, "arr.i32", &a), 0);
    assert_true(a->arr.n == 3 && elm_gguf_arr_i64(a, 0) == INT32_MIN && elm_gguf_arr_i64(a, 1) == INT32_MAX);
    assert_int_equal(elm_gguf_get_arr(g, "arr.u64", &a), 0);
    assert_true(elm_gguf_arr_f64(a, 1) == 18446744073709551615.0);
    assert_int_equal(elm_gguf_get_arr(g, "arr.i64", &a), 0);
    assert_true(elm_gguf_arr_i64(a, 0) == INT64_MIN && elm_gguf_arr_i64(a, 1) == INT64_MAX);
    assert_int_equal(elm_gguf_get_arr(g, "arr.f32", &a), 0);
    assert_true(elm_gguf_arr_f64(a, 0) == 1.5 && elm_gguf_arr_f64(a, 2) == (double)3.4e38f);
    assert_true(elm_gguf_arr_i64(a, 0) == 1);
    assert_int_equal(elm_gguf_get_arr(g, "arr.f64", &a), 0);
    assert_true(elm_gguf_arr_f64(a, 0) == -1e300 && elm_gguf_arr_f64(a, 1) == 0.1);
    assert_int_equal(elm_gguf_get_arr(g, "arr.bool", &a), 0);
    assert_true(a->arr.n == 3 && elm_gguf_arr_i64(a, 1) == 0 && elm_gguf_arr_i64(a, 2) == 1);
    assert_int_equal(elm_gguf_get_arr(g, "arr.empty", &a), 0);
    assert_true(a->arr.n == 0 && a->arr.type == ELM_GGUF_UINT32);
    assert_int_equal(elm_gguf_get_arr(g, "arr.str", &a), 0);
    assert_int_equal(a->arr.type, ELM_GGUF_STRING);
    assert_true(a->arr.n == 4);
    assert_true(str_eq(a->arr.items[0].s, "hello"));
    assert_true(a->arr.items[1].s.len == 0);
    assert_true(str_eq(a->arr.items[2].s, "\xe2\x96\x81the"));
    assert_true(str_eq(a->arr.items[3].s, "<0x0A>"));
    assert_int_equal(elm_gguf_get_arr(g, "arr.str.empty", &a), 0);
    assert_true(a->arr.n == 0 && a->arr.type == ELM_GGUF_STRING);

    assert_int_equal(elm_gguf_get_arr(g, "arr.nested", &a), 0);
    assert_int_equal(a->arr.type, ELM_GGUF_ARRAY);
    assert_true(a->arr.n == 3);
    const elm_gguf_value_t *l0 = &a->arr.items[0];
    assert_true(l0->arr.type == ELM_GGUF_ARRAY && l0->arr.n == 2);
    assert_true(l0->arr.items[0].arr.type == ELM_GGUF_STRING && l0->arr.items[0].arr.n == 2);
    assert_true(str_eq(l0->arr.items[0].arr.items[0].s, "a"));
    assert_true(l0->arr.items[0].arr.items[1].s.len == 0);
    assert_true(l0->arr.items[1].arr.type == ELM_GGUF_STRING && l0->arr.items[1].arr.n == 0);
    const elm_gguf_value_t *l1 = &a->arr.items[1];
    assert_true(l1->arr.n == 1 && l1->arr.items[0].arr.type == ELM_GGUF_UINT32);
    assert_true(elm_gguf_arr_i64(&l1->arr.items[0], 1) == 2);
    assert_true(a->arr.items[2].arr.n == 0);
}

static void test_roundtrip_metadata(void **state)
{
    (void)state;
    const char *path = tmp_path("meta.gguf");
    elm_gguf_writer_t *w;
    elm_diag_t d;
    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    write_all_types(w);
    assert_int_equal(elm_gguf_writer_finish(w, &d), 0);
    assert_false(file_exists(tmp_path("meta.gguf.tmp")));

    elm_gguf_t *g = open_ok(path);
    assert_int_equal(elm_gguf_version(g), 3);
    assert_true(elm_gguf_n_tensors(g) == 0);
    assert_true(elm_gguf_n_kv(g) == 29);
    assert_string_equal(elm_gguf_kv_at(g, 0)->key, "general.architecture");
    assert_null(elm_gguf_kv_at(g, 29));
    assert_int_equal(elm_gguf_alignment(g), 32);
    check_all_types(g);

    /* Copy every value into a new file through add_value, as quantize does, and compare. */
    const char *copy = tmp_path("copy.gguf");
    assert_int_equal(elm_gguf_writer_open(copy, &w, &d), 0);
    for (uint64_t i = 0; i < elm_gguf_n_kv(g); i++) {
        const elm_gguf_kv_t *kv = elm_gguf_kv_at(g, i);
        assert_int_equal(elm_gguf_writer_add_value(w, kv->key, &kv->value), 0);
    }
    assert_int_equal(elm_gguf_writer_finish(w, &d), 0);
    elm_gguf_t *g2 = open_ok(copy);
    assert_true(elm_gguf_n_kv(g2) == elm_gguf_n_kv(g));
    for (uint64_t i = 0; i < elm_gguf_n_kv(g); i++) {
        const elm_gguf_kv_t *a = elm_gguf_kv_at(g, i), *b = elm_gguf_kv_at(g2, i);
        assert_string_equal(a->key, b->key);
        assert_true(value_eq(&a->value, &b->value));
    }
    check_all_types(g2);
    elm_gguf_close(g2);
    elm_gguf_close(g);
}

/* ---- tensor round trip ---- */

typedef struct {
    const char *name;
    elm_type_t type;
    uint32_t n_dims;
    int64_t ne[4];
} tdesc_t;

static const tdesc_t tensors[] = {
    {"tok_embd.weight", ELM_TYPE_F32, 2, {7, 3}},
    {"norm.weight", ELM_TYPE_F16, 1, {5}},
    {"blk.0.attn_q.weight", ELM_TYPE_Q4_0, 2, {64, 2}},
    {"blk.0.ffn_up.weight", ELM_TYPE_Q4_K, 3, {256, 1, 2}},
    {"empty", ELM_TYPE_F32, 2, {0, 4}},
    {"blk.0.idx", ELM_TYPE_I8, 4, {3, 1, 1, 2}},
    {"output.weight", ELM_TYPE_Q8_0, 1, {32}},
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

static uint64_t tensor_bytes(const tdesc_t *t)
{
    uint64_t row, n = 1;
    assert_int_equal(elm_type_row_size(t->type, (uint64_t)t->ne[0], &row), 0);
    for (uint32_t j = 1; j < t->n_dims; j++) n *= (uint64_t)t->ne[j];
    return row * n;
}

static void roundtrip_tensors(uint32_t alignment)
{
    char name[64];
    snprintf(name, sizeof name, "tensors-%u.gguf", alignment);
    const char *path = tmp_path(name);
    uint64_t total = 0;
    for (size_t k = 0; k < N_TENSORS; k++) total += tensor_bytes(&tensors[k]);
    uint8_t *data = malloc(total);
    assert_non_null(data);
    for (uint64_t k = 0; k < total; k++) data[k] = (uint8_t)(k * 31 + 7);

    elm_gguf_writer_t *w;
    elm_diag_t d;
    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    assert_int_equal(elm_gguf_writer_add_str(w, "general.architecture", "llama"), 0);
    for (size_t k = 0; k < N_TENSORS; k++)
        assert_int_equal(elm_gguf_writer_add_tensor(w, tensors[k].name, tensors[k].type,
                                                    tensors[k].n_dims, tensors[k].ne), 0);
    if (alignment != 32) assert_int_equal(elm_gguf_writer_add_u32(w, "general.alignment", alignment), 0);
    /* Odd-sized pieces that start and end mid-tensor and span tensors. */
    for (uint64_t off = 0; off < total;) {
        size_t piece = (size_t)(total - off < 37 ? total - off : 37);
        assert_int_equal(elm_gguf_writer_write(w, data + off, piece), 0);
        off += piece;
    }
    assert_int_equal(elm_gguf_writer_finish(w, &d), 0);

    elm_gguf_t *g = open_ok(path);
    assert_int_equal(elm_gguf_alignment(g), alignment);
    assert_true(elm_gguf_data_offset(g) % alignment == 0);
    assert_true(elm_gguf_n_tensors(g) == N_TENSORS);
    assert_true(elm_gguf_file_size(g) % alignment == 0);
    uint64_t src = 0;
    for (size_t k = 0; k < N_TENSORS; k++) {
        const elm_gguf_tensor_t *t = elm_gguf_tensor_at(g, k);
        assert_non_null(t);
        assert_ptr_equal(elm_gguf_find_tensor(g, tensors[k].name), t);
        assert_string_equal(t->name, tensors[k].name);
        assert_int_equal(t->type, tensors[k].type);
        assert_int_equal(t->n_dims, tensors[k].n_dims);
        uint64_t n = 1;
        for (int j = 0; j < 4; j++) {
            int64_t want = j < (int)tensors[k].n_dims ? tensors[k].ne[j] : 1;
            assert_true(t->ne[j] == want);
            n *= (uint64_t)want;
        }
        assert_true(t->n_elements == n);
        assert_true(t->offset % alignment == 0);
        assert_true(t->size == tensor_bytes(&tensors[k]));
        assert_true(t->size == 0 || memcmp(t->data, data + src, t->size) == 0);
        src += t->size;
    }
    assert_null(elm_gguf_tensor_at(g, N_TENSORS));
    assert_null(elm_gguf_find_tensor(g, "missing"));
    elm_gguf_close(g);
    free(data);
}

static void test_roundtrip_tensors_align32(void **state)
{
    (void)state;
    roundtrip_tensors(32);
}

static void test_roundtrip_tensors_align64(void **state)
{
    (void)state;
    roundtrip_tensors(64);
}

/* Padding bytes between tensors are zero and the data section starts where the header says. */
static void test_writer_padding(void **state)
{
    (void)state;
    const char *path = tmp_path("pad.gguf");
    elm_gguf_writer_t *w;
    elm_diag_t d;
    int64_t ne = 3;
    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    assert_int_equal(elm_gguf_writer_add_tensor(w, "a", ELM_TYPE_I8, 1, &ne), 0);
    assert_int_equal(elm_gguf_writer_add_tensor(w, "b", ELM_TYPE_I8, 1, &ne), 0);
    assert_int_equal(elm_gguf_writer_write(w, "\xff\xff\xff\xff\xff\xff", 6), 0);
    assert_int_equal(elm_gguf_writer_finish(w, &d), 0);
    size_t size;
    uint8_t *buf = elm_test_read_file(path, &size);
    assert_non_null(buf);
    elm_gguf_t *g;
    assert_int_equal(elm_gguf_open_memory(buf, size, "pad.gguf", &g, &d), 0);
    uint64_t base = elm_gguf_data_offset(g);
    assert_true(elm_gguf_find_tensor(g, "b")->offset == 32);
    assert_true(size == base + 64);
    for (uint64_t k = 0; k < 64; k++) assert_int_equal(buf[base + k], (k % 32) < 3 ? 0xff : 0);
    elm_gguf_close(g);
    free(buf);
}

/* ---- writer errors ---- */

static void test_writer_errors(void **state)
{
    (void)state;
    elm_gguf_writer_t *w;
    elm_diag_t d;
    int64_t ne[2] = {32, 2};
    int64_t bad[2] = {33, 2};
    int64_t neg[1] = {-1};
    const char *path = tmp_path("err.gguf");

    /* Each error is returned at once and the first is reported by finish(). */
    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    assert_int_equal(elm_gguf_writer_add_u32(w, "k", 1), 0);
    assert_int_equal(elm_gguf_writer_add_u32(w, "k", 2), ELM_EEXIST);
    assert_int_equal(elm_gguf_writer_add_u32(w, "other", 2), ELM_EEXIST); /* sticky */
    assert_int_equal(elm_gguf_writer_finish(w, &d), ELM_EEXIST);
    assert_int_equal(d.code, ELM_EEXIST);
    assert_non_null(strstr(d.msg, "k"));
    assert_non_null(strstr(d.msg, "err.gguf"));
    assert_false(file_exists(path));
    assert_false(file_exists(tmp_path("err.gguf.tmp")));

    struct { int expect; const char *needle; } cases[] = {
        {ELM_EEXIST, "t0"}, {ELM_EINVAL, "t1"}, {ELM_EINVAL, "block"}, {ELM_EINVAL, "dimensions"},
        {ELM_EINVAL, "negative"}, {ELM_EINVAL, "alignment"}, {ELM_EINVAL, ""}, {ELM_ERANGE, "u8"},
        {ELM_EINVAL, "longer than 63 bytes"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
        assert_int_equal(elm_gguf_writer_add_tensor(w, "t0", ELM_TYPE_Q8_0, 2, ne), 0);
        int rc = 0;
        elm_gguf_value_t v = {.type = ELM_GGUF_UINT8, .u = 256};
        switch (c) {
        case 0: rc = elm_gguf_writer_add_tensor(w, "t0", ELM_TYPE_F32, 1, ne); break;
        case 1: rc = elm_gguf_writer_add_tensor(w, "t1", (elm_type_t)4, 1, ne); break;
        case 2: rc = elm_gguf_writer_add_tensor(w, "t2", ELM_TYPE_Q4_K, 2, bad); break;
        case 3: rc = elm_gguf_writer_add_tensor(w, "t3", ELM_TYPE_F32, 5, ne); break;
        case 4: rc = elm_gguf_writer_add_tensor(w, "t4", ELM_TYPE_F32, 1, neg); break;
        case 5: rc = elm_gguf_writer_add_u32(w, "general.alignment", 48); break;
        case 6: rc = elm_gguf_writer_add_u32(w, "", 1); break;
        case 7: rc = elm_gguf_writer_add_value(w, "u8", &v); break;
        case 8:
            rc = elm_gguf_writer_add_tensor(
                w, "blk.0.a_very_long_tensor_name_that_llama_cpp_would_refuse.weight", ELM_TYPE_F32, 1, ne);
            break;
        }
        assert_int_equal(rc, cases[c].expect);
        assert_int_equal(elm_gguf_writer_finish(w, &d), cases[c].expect);
        assert_non_null(strstr(d.msg, cases[c].needle));
        assert_false(file_exists(path));
    }

    /* More bytes than declared. */
    static uint8_t zeros[200];
    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    assert_int_equal(elm_gguf_writer_add_tensor(w, "t0", ELM_TYPE_Q8_0, 2, ne), 0);
    assert_int_equal(elm_gguf_writer_write(w, zeros, 60), 0);
    assert_int_equal(elm_gguf_writer_write(w, zeros, 9), ELM_ERANGE);
    assert_int_equal(elm_gguf_writer_finish(w, &d), ELM_ERANGE);
    assert_false(file_exists(path));

    /* Missing bytes: the message names the tensor. Declaring after the first write fails too. */
    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    assert_int_equal(elm_gguf_writer_add_tensor(w, "t0", ELM_TYPE_Q8_0, 2, ne), 0);
    assert_int_equal(elm_gguf_writer_add_tensor(w, "blk.1.attn_k.weight", ELM_TYPE_F32, 1, ne), 0);
    assert_int_equal(elm_gguf_writer_write(w, zeros, 100), 0);
    assert_int_equal(elm_gguf_writer_finish(w, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "blk.1.attn_k.weight"));
    assert_false(file_exists(path));

    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    assert_int_equal(elm_gguf_writer_write(w, zeros, 0), 0);
    assert_int_equal(elm_gguf_writer_add_u32(w, "late", 1), ELM_EINVAL);
    elm_gguf_writer_free(w);
    assert_false(file_exists(tmp_path("err.gguf.tmp")));
    elm_gguf_writer_free(NULL);

    /* A folder that does not exist. */
    assert_int_equal(elm_gguf_writer_open("/nonexistent-dir/x.gguf", &w, &d), ELM_ENOENT);
    assert_null(w);
    assert_non_null(strstr(d.msg, "/nonexistent-dir/x.gguf.tmp"));
}

/* ---- getters ---- */

static void test_getters(void **state)
{
    (void)state;
    elm_gguf_t *g = open_ok(elm_test_fixture("gguf/valid.gguf"));
    uint64_t u = 9;
    uint32_t u32 = 9;
    int64_t i = 9;
    double f = 9;
    bool b = true;
    elm_str_t s = {"x", 1};
    const elm_gguf_value_t *a = (const elm_gguf_value_t *)&s;

    assert_int_equal(elm_gguf_get_u64(g, "missing", &u), ELM_ENOKEY);
    assert_true(u == 0);
    assert_int_equal(elm_gguf_get_u32(g, "general.name", &u32), ELM_EKEYTYPE);
    assert_true(u32 == 0);
    assert_int_equal(elm_gguf_get_u64(g, "test.i64", &u), ELM_ERANGE);
    assert_int_equal(elm_gguf_get_i64(g, "test.i64", &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(elm_gguf_get_u32(g, "llama.context_length", &u32), 0);
    assert_int_equal(u32, 128);
    assert_int_equal(elm_gguf_get_f64(g, "llama.context_length", &f), 0);
    assert_true(f == 128.0);
    assert_int_equal(elm_gguf_get_f64(g, "test.f64", &f), 0);
    assert_true(f == 2.5);
    assert_int_equal(elm_gguf_get_i64(g, "test.f64", &i), ELM_EKEYTYPE);
    assert_true(i == 0);
    assert_int_equal(elm_gguf_get_f64(g, "general.name", &f), ELM_EKEYTYPE);
    assert_true(f == 0);
    assert_int_equal(elm_gguf_get_bool(g, "test.bool", &b), 0);
    assert_true(b);
    assert_int_equal(elm_gguf_get_bool(g, "llama.context_length", &b), ELM_EKEYTYPE);
    assert_false(b);
    assert_int_equal(elm_gguf_get_u64(g, "test.bool", &u), ELM_EKEYTYPE);
    assert_int_equal(elm_gguf_get_str(g, "general.name", &s), 0);
    assert_true(str_eq(s, "fixture"));
    assert_int_equal(elm_gguf_get_str(g, "test.tokens", &s), ELM_EKEYTYPE);
    assert_true(s.len == 0 && s.ptr != NULL);
    assert_int_equal(elm_gguf_get_arr(g, "general.name", &a), ELM_EKEYTYPE);
    assert_null(a);
    assert_int_equal(elm_gguf_get_arr(g, "test.nested", &a), 0);
    assert_true(a->arr.n == 3 && a->arr.items[0].arr.type == ELM_GGUF_INT32);
    assert_true(elm_gguf_arr_i64(&a->arr.items[0], 1) == -2);
    assert_true(str_eq(a->arr.items[1].arr.items[0].s, "x"));
    assert_true(a->arr.items[2].arr.n == 0);
    assert_null(elm_gguf_get(g, "nope"));
    assert_null(elm_gguf_get(g, ""));

    const elm_gguf_tensor_t *t = elm_gguf_find_tensor(g, "output.weight");
    assert_non_null(t);
    assert_int_equal(t->type, ELM_TYPE_Q8_0);
    assert_true(t->size == 34 && t->n_elements == 32 && t->offset == 32);
    assert_int_equal(((const uint8_t *)t->data)[2], 0);
    assert_int_equal(((const uint8_t *)t->data)[33], 31);
    t = elm_gguf_find_tensor(g, "tok_embd.weight");
    float x[4];
    memcpy(x, t->data, sizeof x);
    assert_true(x[0] == 1 && x[3] == 4);
    elm_gguf_close(g);

    /* A v2 file with no tensors is valid. */
    g = open_ok(elm_test_fixture("gguf/valid_v2_no_tensors.gguf"));
    assert_int_equal(elm_gguf_version(g), 2);
    assert_true(elm_gguf_n_tensors(g) == 0);
    elm_gguf_close(g);
}

/* A file from an independent encoder (make_fixtures.py): every value type, alignment 64. */
static void test_rich_fixture(void **state)
{
    (void)state;
    elm_gguf_t *g = open_ok(elm_test_fixture("gguf/valid_rich.gguf"));
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    elm_str_t s;
    const elm_gguf_value_t *a;
    assert_int_equal(elm_gguf_alignment(g), 64);
    assert_true(elm_gguf_data_offset(g) % 64 == 0);
    assert_int_equal(elm_gguf_get_u64(g, "r.0", &u), 0);
    assert_true(u == 255);
    assert_int_equal(elm_gguf_get_i64(g, "r.1", &i), 0);
    assert_true(i == -128);
    assert_int_equal(elm_gguf_get_u64(g, "r.2", &u), 0);
    assert_true(u == 65535);
    assert_int_equal(elm_gguf_get_i64(g, "r.3", &i), 0);
    assert_true(i == -32768);
    assert_int_equal(elm_gguf_get_u64(g, "r.4", &u), 0);
    assert_true(u == UINT32_MAX);
    assert_int_equal(elm_gguf_get_i64(g, "r.5", &i), 0);
    assert_true(i == INT32_MIN);
    assert_int_equal(elm_gguf_get_f64(g, "r.6", &f), 0);
    assert_true(f == 0.5);
    assert_int_equal(elm_gguf_get_bool(g, "r.7", &b), 0);
    assert_false(b);
    assert_int_equal(elm_gguf_get_u64(g, "r.10", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(elm_gguf_get_i64(g, "r.10", &i), ELM_ERANGE);
    assert_int_equal(elm_gguf_get_i64(g, "r.11", &i), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(elm_gguf_get_f64(g, "r.12", &f), 0);
    assert_true(f == -1e300);
    assert_int_equal(elm_gguf_get_str(g, "r.8", &s), 0);
    assert_true(s.len == 0);
    assert_int_equal(elm_gguf_get_arr(g, "rich.nested", &a), 0);
    assert_true(a->arr.n == 2 && a->arr.items[0].arr.n == 1);
    assert_true(str_eq(a->arr.items[0].arr.items[0].arr.items[0].s, "deep"));
    assert_true(a->arr.items[0].arr.items[0].arr.items[1].s.len == 0);
    assert_true(a->arr.items[1].arr.n == 0 && a->arr.items[1].arr.type == ELM_GGUF_ARRAY);
    assert_int_equal(elm_gguf_get_arr(g, "rich.empty", &a), 0);
    assert_true(a->arr.n == 0 && a->arr.type == ELM_GGUF_FLOAT64);
    static const struct { const char *name; elm_type_t type; uint64_t size, n, offset; } want[] = {
        {"blk.0.ffn_down.weight", ELM_TYPE_Q4_K, 144, 256, 0},
        {"blk.0.attn_norm.weight", ELM_TYPE_F16, 6, 3, 192},
        {"rope_freqs", ELM_TYPE_I32, 16, 4, 256},
    };
    for (size_t k = 0; k < 3; k++) {
        const elm_gguf_tensor_t *t = elm_gguf_find_tensor(g, want[k].name);
        assert_non_null(t);
        assert_int_equal(t->type, want[k].type);
        assert_true(t->size == want[k].size && t->n_elements == want[k].n);
        assert_true(t->offset == want[k].offset);
        for (uint64_t j = 0; j < t->size; j++)
            assert_int_equal(((const uint8_t *)t->data)[j], (uint8_t)((k + 1) * 16 + j));
    }
    elm_gguf_close(g);
}

/* add_value rejects values it cannot encode instead of writing a broken file. */
static void test_writer_bad_values(void **state)
{
    (void)state;
    const char *path = tmp_path("badval.gguf");
    elm_gguf_writer_t *w;
    elm_diag_t d;
    elm_gguf_value_t item = {.type = ELM_GGUF_UINT32, .u = 1};
    elm_gguf_value_t arr = {.type = ELM_GGUF_ARRAY};
    arr.arr.type = ELM_GGUF_STRING, arr.arr.n = 1, arr.arr.items = &item; /* item is no string */
    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    assert_int_equal(elm_gguf_writer_add_value(w, "mixed", &arr), ELM_EINVAL);
    assert_int_equal(elm_gguf_writer_finish(w, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "mixed"));

    /* Nine levels of arrays: more than any reader accepts. */
    elm_gguf_value_t lv[10];
    lv[0] = (elm_gguf_value_t){.type = ELM_GGUF_STRING, .s = {"x", 1}};
    for (int k = 1; k < 10; k++) {
        lv[k] = (elm_gguf_value_t){.type = ELM_GGUF_ARRAY};
        lv[k].arr.type = lv[k - 1].type, lv[k].arr.n = 1, lv[k].arr.items = &lv[k - 1];
    }
    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    assert_int_equal(elm_gguf_writer_add_value(w, "deep8", &lv[8]), 0);
    assert_int_equal(elm_gguf_writer_add_value(w, "deep9", &lv[9]), ELM_EINVAL);
    elm_gguf_writer_free(w);

    elm_gguf_value_t bad = {.type = (elm_gguf_vtype_t)13};
    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    assert_int_equal(elm_gguf_writer_add_value(w, "bad", &bad), ELM_EINVAL);
    elm_gguf_writer_free(w);
    assert_int_equal(elm_gguf_writer_open(path, &w, &d), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "s", ELM_GGUF_STRING, "x", 1), ELM_EINVAL);
    elm_gguf_writer_free(w);
    assert_false(file_exists(path));
}

/* ---- read into memory (--no-mmap) ---- */

/* A copied file reads as the mapped one: the same keys and values, and every tensor's bytes,
 * at addresses of its own. */
static void test_open_copy(void **state)
{
    (void)state;
    const char *path = elm_test_fixture("gguf/valid_rich.gguf");
    elm_gguf_t *mapped = open_ok(path), *copied = NULL;
    elm_diag_t d;
    int rc = elm_gguf_open_as(path, ELM_GGUF_COPY, &copied, &d);
    if (rc) print_error("copy %s: %s\n", path, d.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(elm_gguf_file_size(copied), elm_gguf_file_size(mapped));
    assert_int_equal(elm_gguf_data_offset(copied), elm_gguf_data_offset(mapped));
    assert_int_equal(elm_gguf_n_kv(copied), elm_gguf_n_kv(mapped));
    for (uint64_t i = 0; i < elm_gguf_n_kv(mapped); i++) {
        const elm_gguf_kv_t *a = elm_gguf_kv_at(mapped, i), *b = elm_gguf_kv_at(copied, i);
        assert_string_equal(a->key, b->key);
        assert_true(value_eq(&a->value, &b->value));
    }
    assert_true(elm_gguf_n_tensors(mapped) > 0);
    assert_int_equal(elm_gguf_n_tensors(copied), elm_gguf_n_tensors(mapped));
    for (uint64_t i = 0; i < elm_gguf_n_tensors(mapped); i++) {
        const elm_gguf_tensor_t *a = elm_gguf_tensor_at(mapped, i), *b = elm_gguf_tensor_at(copied, i);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->size, b->size);
        assert_true(a->data != b->data);
        assert_memory_equal(a->data, b->data, a->size);
    }
    elm_gguf_close(copied);
    elm_gguf_close(mapped);
}

/* ---- validation fixtures: one per error code ---- */

static void expect_fixture(const char *file, int code, const char *needle)
{
    char rel[128];
    snprintf(rel, sizeof rel, "gguf/%s", file);
    const char *path = elm_test_fixture(rel);
    elm_gguf_t *g = (elm_gguf_t *)&g;
    elm_diag_t d;
    int rc = elm_gguf_open(path, &g, &d);
    if (rc != code) print_error("%s: got %s: %s\n", file, elm_errname(rc), d.msg);
    assert_int_equal(rc, code);
    assert_int_equal(d.code, code);
    assert_null(g);
    assert_non_null(strstr(d.msg, path));
    if (!strstr(d.msg, needle)) print_error("%s: message lacks \"%s\": %s\n", file, needle, d.msg);
    assert_non_null(strstr(d.msg, needle));

    /* The same when the file is read into memory (--no-mmap). */
    g = (elm_gguf_t *)&g;
    assert_int_equal(elm_gguf_open_as(path, ELM_GGUF_COPY, &g, &d), code);
    assert_null(g);
    assert_non_null(strstr(d.msg, needle));

    /* The same through a caller's buffer. */
    size_t size;
    void *buf = elm_test_read_file(path, &size);
    assert_non_null(buf);
    g = (elm_gguf_t *)&g;
    assert_int_equal(elm_gguf_open_memory(buf, size, file, &g, &d), code);
    assert_null(g);
    assert_non_null(strstr(d.msg, file));
    free(buf);
}

#define FIXTURE_TEST(fn, file, code, needle)            \
    static void fn(void **state)                        \
    {                                                   \
        (void)state;                                    \
        expect_fixture(file, code, needle);             \
    }
FIXTURE_TEST(test_bad_magic, "bad_magic.gguf", ELM_EGGUF_MAGIC, "magic")
FIXTURE_TEST(test_bad_version, "bad_version.gguf", ELM_EGGUF_VERSION, "too old")
FIXTURE_TEST(test_big_endian, "big_endian.gguf", ELM_EGGUF_VERSION, "big-endian GGUF is not supported")
FIXTURE_TEST(test_truncated, "truncated.gguf", ELM_EGGUF_TRUNCATED, "general.name")
FIXTURE_TEST(test_bad_count, "bad_count.gguf", ELM_EGGUF_COUNT, "1099511627776 metadata entries")
FIXTURE_TEST(test_bad_string, "bad_string.gguf", ELM_EGGUF_STRING, "general.name")
FIXTURE_TEST(test_bad_array, "bad_array.gguf", ELM_EGGUF_ARRAY, "tokenizer.ggml.tokens")
FIXTURE_TEST(test_bad_kv_type, "bad_kv_type.gguf", ELM_EGGUF_KV_TYPE, "general.weird")
FIXTURE_TEST(test_bad_ndim, "bad_ndim.gguf", ELM_EGGUF_NDIM, "blk.0.attn_q.weight")
FIXTURE_TEST(test_bad_shape, "bad_shape.gguf", ELM_EGGUF_SHAPE, "blk.0.attn_q.weight")
FIXTURE_TEST(test_bad_shape_overflow, "bad_shape_overflow.gguf", ELM_EGGUF_SHAPE, "overflows")
FIXTURE_TEST(test_bad_tensor_type, "bad_tensor_type.gguf", ELM_EGGUF_TENSOR_TYPE, "blk.0.attn_q.weight")
FIXTURE_TEST(test_bad_bounds, "bad_bounds.gguf", ELM_EGGUF_BOUNDS, "blk.0.attn_q.weight data [offset 0, 256 bytes] extends past the end of the file")
FIXTURE_TEST(test_bad_align, "bad_align.gguf", ELM_EGGUF_ALIGN, "general.alignment")
FIXTURE_TEST(test_bad_align_type, "bad_align_type.gguf", ELM_EGGUF_ALIGN, "uint64")
FIXTURE_TEST(test_dup_key, "dup_key.gguf", ELM_EGGUF_DUP_KEY, "general.name")
FIXTURE_TEST(test_dup_tensor, "dup_tensor.gguf", ELM_EGGUF_DUP_TENSOR, "output.weight")
FIXTURE_TEST(test_bad_block, "bad_block.gguf", ELM_EGGUF_BLOCK, "blk.0.attn_q.weight")
FIXTURE_TEST(test_bad_offset, "bad_offset.gguf", ELM_EGGUF_OFFSET, "blk.0.attn_q.weight")
FIXTURE_TEST(test_overlap, "overlap.gguf", ELM_EGGUF_OVERLAP, "blk.0.ffn_down.weight")
FIXTURE_TEST(test_nesting, "nesting.gguf", ELM_EGGUF_NESTING, "test.deep")
FIXTURE_TEST(test_empty_key, "empty_key.gguf", ELM_EGGUF_KEY, "empty key")

static void test_bounds_message(void **state)
{
    (void)state;
    elm_diag_t d;
    elm_gguf_t *g;
    assert_int_equal(elm_gguf_open(elm_test_fixture("gguf/bad_bounds.gguf"), &g, &d), ELM_EGGUF_BOUNDS);
    assert_non_null(strstr(d.msg, "(size 160; truncated download?)"));
}

/* ---- opening files that are not GGUF ---- */

static void test_open_errors(void **state)
{
    (void)state;
    elm_gguf_t *g = (elm_gguf_t *)&g;
    elm_diag_t d;
    assert_int_equal(elm_gguf_open(tmp_path("missing.gguf"), &g, &d), ELM_ENOENT);
    assert_null(g);
    assert_non_null(strstr(d.msg, "missing.gguf: no such file"));

    assert_int_equal(elm_gguf_open(tmp_dir, &g, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "is a directory"));

    const char *empty = tmp_path("empty.gguf");
    FILE *f = fopen(empty, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(elm_gguf_open(empty, &g, &d), ELM_EGGUF_TRUNCATED);
    assert_non_null(strstr(d.msg, "empty.gguf: file is empty"));
    assert_int_equal(elm_gguf_open_memory(NULL, 0, "mem", &g, &d), ELM_EGGUF_TRUNCATED);

    assert_int_equal(elm_gguf_open_memory("GG", 2, "short", &g, &d), ELM_EGGUF_TRUNCATED);
    assert_int_equal(elm_gguf_open_memory("version https://git-lfs", 23, "lfs", &g, &d), ELM_EGGUF_MAGIC);
    assert_non_null(strstr(d.msg, "Git LFS"));
    assert_int_equal(elm_gguf_open_memory("FUGG\0\0\0\3", 8, "be", &g, &d), ELM_EGGUF_MAGIC);
    assert_non_null(strstr(d.msg, "big-endian"));
    static const uint8_t v4[24] = {'G', 'G', 'U', 'F', 4};
    assert_int_equal(elm_gguf_open_memory(v4, sizeof v4, "v4", &g, &d), ELM_EGGUF_VERSION);
    static const uint8_t v0[24] = {'G', 'G', 'U', 'F', 0};
    assert_int_equal(elm_gguf_open_memory(v0, sizeof v0, "v0", &g, &d), ELM_EGGUF_VERSION);

    if (geteuid() != 0) { /* root reads anything */
        const char *locked = tmp_path("locked.gguf");
        f = fopen(locked, "wb");
        assert_non_null(f);
        fclose(f);
        chmod(locked, 0);
        assert_int_equal(elm_gguf_open(locked, &g, &d), ELM_EACCES);
        assert_non_null(strstr(d.msg, "permission denied"));
    }
    elm_gguf_close(NULL);
}

/* ---- real files from the shared data ---- */

static void test_real_model(void **state)
{
    (void)state;
    const char *p = elm_test_data("models/stories260K-f32.gguf");
    if (!p) return;
    elm_gguf_t *g = open_ok(p);
    elm_str_t s;
    assert_int_equal(elm_gguf_get_str(g, "general.architecture", &s), 0);
    assert_true(str_eq(s, "llama"));
    assert_true(elm_gguf_n_tensors(g) == 48);
    uint32_t n;
    assert_int_equal(elm_gguf_get_u32(g, "llama.embedding_length", &n), 0);
    assert_int_equal(n, 64);
    const elm_gguf_value_t *a;
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.tokens", &a), 0);
    assert_int_equal(a->arr.type, ELM_GGUF_STRING);
    assert_true(a->arr.n == 512);
    for (uint64_t i = 0; i < elm_gguf_n_tensors(g); i++) {
        const elm_gguf_tensor_t *t = elm_gguf_tensor_at(g, i);
        assert_ptr_equal(elm_gguf_find_tensor(g, t->name), t);
        assert_true(elm_gguf_data_offset(g) + t->offset + t->size <= elm_gguf_file_size(g));
    }
    assert_non_null(elm_gguf_find_tensor(g, "token_embd.weight"));
    elm_gguf_close(g);
}

/* Copy a real model, metadata and tensors, the way quantize streams it, and compare. */
static void test_copy_real_model(void **state)
{
    (void)state;
    const char *p = elm_test_data("models/stories260K-f32.gguf");
    if (!p) return;
    elm_gguf_t *g = open_ok(p);
    const char *out = tmp_path("stories-copy.gguf");
    elm_gguf_writer_t *w;
    elm_diag_t d;
    assert_int_equal(elm_gguf_writer_open(out, &w, &d), 0);
    for (uint64_t i = 0; i < elm_gguf_n_kv(g); i++) {
        const elm_gguf_kv_t *kv = elm_gguf_kv_at(g, i);
        assert_int_equal(elm_gguf_writer_add_value(w, kv->key, &kv->value), 0);
    }
    for (uint64_t i = 0; i < elm_gguf_n_tensors(g); i++) {
        const elm_gguf_tensor_t *t = elm_gguf_tensor_at(g, i);
        assert_int_equal(elm_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne), 0);
    }
    for (uint64_t i = 0; i < elm_gguf_n_tensors(g); i++) {
        const elm_gguf_tensor_t *t = elm_gguf_tensor_at(g, i);
        assert_int_equal(elm_gguf_writer_write(w, t->data, t->size), 0);
    }
    assert_int_equal(elm_gguf_writer_finish(w, &d), 0);
    elm_gguf_t *c = open_ok(out);
    assert_true(elm_gguf_n_kv(c) == elm_gguf_n_kv(g));
    assert_true(elm_gguf_n_tensors(c) == elm_gguf_n_tensors(g));
    for (uint64_t i = 0; i < elm_gguf_n_kv(g); i++) {
        const elm_gguf_kv_t *a = elm_gguf_kv_at(g, i);
        const elm_gguf_value_t *b = elm_gguf_get(c, a->key);
        assert_non_null(b);
        assert_true(value_eq(&a->value, b));
    }
    for (uint64_t i = 0; i < elm_gguf_n_tensors(g); i++) {
        const elm_gguf_tensor_t *a = elm_gguf_tensor_at(g, i), *b = elm_gguf_tensor_at(c, i);
        assert_string_equal(a->name, b->name);
        assert_true(a->type == b->type && a->n_dims == b->n_dims && a->size == b->size);
        assert_memory_equal(a->ne, b->ne, sizeof a->ne);
        assert_memory_equal(a->data, b->data, a->size);
    }
    elm_gguf_close(c);
    elm_gguf_close(g);
}

static void test_real_vocab(void **state)
{
    (void)state;
    const char *p = elm_test_data("vocab/ggml-vocab-qwen2.gguf");
    if (!p) return;
    elm_gguf_t *g = open_ok(p);
    const elm_gguf_value_t *a;
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.tokens", &a), 0);
    assert_int_equal(a->arr.type, ELM_GGUF_STRING);
    assert_true(a->arr.n > 150000);
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.merges", &a), 0);
    assert_true(a->arr.n > 0);
    elm_gguf_close(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_roundtrip_metadata),
        cmocka_unit_test(test_roundtrip_tensors_align32),
        cmocka_unit_test(test_roundtrip_tensors_align64),
        cmocka_unit_test(test_writer_padding),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_rich_fixture),
        cmocka_unit_test(test_open_copy),
        cmocka_unit_test(test_writer_bad_values),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_big_endian),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_count),
        cmocka_unit_test(test_bad_string),
        cmocka_unit_test(test_bad_array),
        cmocka_unit_test(test_bad_kv_type),
        cmocka_unit_test(test_bad_ndim),
        cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_bad_shape_overflow),
        cmocka_unit_test(test_bad_tensor_type),
        cmocka_unit_test(test_bad_bounds),
        cmocka_unit_test(test_bounds_message),
        cmocka_unit_test(test_bad_align),
        cmocka_unit_test(test_bad_align_type),
        cmocka_unit_test(test_dup_key),
        cmocka_unit_test(test_dup_tensor),
        cmocka_unit_test(test_bad_block),
        cmocka_unit_test(test_bad_offset),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_empty_key),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_real_model),
        cmocka_unit_test(test_copy_real_model),
        cmocka_unit_test(test_real_vocab),
    };
    return cmocka_run_group_tests_name("gguf", tests, make_tmp_dir, remove_tmp_dir);
}
