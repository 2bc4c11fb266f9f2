/* The weight × activation products of the forward pass. Activations are converted once per
 * row to the weights' dot-product type (q8_0, q8_K, f16; f32 weights take them as they are),
 * once for every product of a group that reads them. Decode (one row, or the solo rows of several
 * sequences) lays each converted row out once more for the type's gemv kernel, by the thread
 * that converted it, and hands tiles of output rows to the gemv, row after row while the tile's
 * weights stay in cache (or makes one vec_dot per output row); prefill is cut into 2-D tiles
 * handed to the type's gemm kernel. Products of a group (q/k/v, gate/up) share one pool loop, and
 * an epilogue fuses the steps that follow each tile (bias, RoPE, cache store, prefill's SiLU ×
 * up, residual add) while its outputs are still in cache. */

#include "engine/engine_internal.h"

/* Decode: output rows per task unit (rounded up to the group's alignment). */
#define TILE_OUT_DECODE 16
/* Prefill: output rows × activation rows of a tile. 64 weight rows of a 0.5-1B model are
 * 30-180 KiB, kept in L2 while 64 activation rows stream past them. */
#define TILE_OUT 64
#define TILE_ACT 64

static size_t act_row_bytes(const elm__weight_t *w)
{
    uint64_t row = 0;
    if (w->tr->vec_dot_type == ELM_TYPE_F32) return 0;
    if (elm_type_row_size(w->tr->vec_dot_type, (uint64_t)w->ne0, &row) != 0) return 0;
    return (size_t)row;
}

/* What lays an activation row out for w's gemv or panels (NULL: none; panels then read the
 * converted rows). */
static elm_gemv_prepare_fn prepare_fn(const elm__weight_t *w)
{
    return w->panel ? w->panel->prepare : w->tr->gemv ? w->tr->gemv_prepare : NULL;
}

/* Bytes of w's layout of one activation row; 0: decode loops over vec_dot. */
static size_t gemv_bytes(const elm__weight_t *w)
{
    return prepare_fn(w) ? prepare_fn(w)(w->ne0, NULL, NULL) : 0;
}

/* Scratch pieces start on cache lines (the gemv layouts are read with aligned 512-bit loads). */
#define QBUF_ALIGN 64

static size_t align_up(size_t n)
{
    return (n + QBUF_ALIGN - 1) / QBUF_ALIGN * QBUF_ALIGN;
}

size_t elm__matmul_scratch(const elm__weight_t *const *ws, size_t n_ws, int64_t n_rows,
                           int64_t n_solo)
{
    size_t conv = 0, prep = 0, panel_prep = 0;
    for (size_t i = 0; i < n_ws; i++) {
        const size_t b = act_row_bytes(ws[i]), p = gemv_bytes(ws[i]);
        if (b > conv) conv = b;
        if (p > prep) prep = p;
        if (ws[i]->panel && p > panel_prep) panel_prep = p;
    }
    if (n_solo < 1) n_solo = 1;
    /* panels take laid-out rows in prefill too */
    const size_t batch = align_up(conv * (size_t)n_rows) + align_up(panel_prep) * (size_t)n_rows,
                 decode = align_up(conv * (size_t)n_solo) + align_up(prep) * (size_t)n_solo;
    /* + one line to align the buffer's start */
    return (batch > decode ? batch : decode) * ELM__MM_MAX_OUT + QBUF_ALIGN;
}

typedef struct {
    const elm__mm_group_t *g;
    const float *x;
    int64_t n_rows;
    /* activations of each product in its vec_dot_type, act_stride bytes a row */
    const void *act[ELM__MM_MAX_OUT];
    size_t act_stride[ELM__MM_MAX_OUT];
    /* conversions: which products own a converted copy (the others share one), and those that
     * only their products' layouts read (each thread converts its rows into one row of the copy
     * and lays them out from there, so the copy's other rows are never touched) */
    int conv[ELM__MM_MAX_OUT], n_conv;
    bool conv_row_per_thread[ELM__MM_MAX_OUT];
    /* decode: each product's gemv layouts of its activation rows, prep_stride bytes apart
     * (NULL: vec_dot loop), and whether it owns them (laid out after the conversion it reads;
     * the others share one) */
    char *prep[ELM__MM_MAX_OUT];
    size_t prep_stride[ELM__MM_MAX_OUT];
    bool prep_owner[ELM__MM_MAX_OUT];
    bool solo; /* every row computed as a one-row product (decode) */
    /* tiling */
    int64_t tile_o, tile_r, n_rt;
    int64_t first[ELM__MM_MAX_OUT + 1]; /* first tile of each product (not paired) */
} mm_job_t;

static void convert_rows(void *ctx, int64_t begin, int64_t end, int thread)
{
    const mm_job_t *j = ctx;
    for (int64_t it = begin; it < end; it++) {
        const int i = j->conv[it / j->n_rows];
        const int64_t r = it % j->n_rows, n = j->g->out[i].w->ne0;
        const elm_from_float_fn from = elm_traits(j->g->out[i].w->tr->vec_dot_type)->from_float;
        const char *act = (const char *)j->act[i] +
                          (size_t)(j->conv_row_per_thread[i] ? thread : r) * j->act_stride[i];
        from(j->x + r * n, (void *)act, n);
        for (int k = 0; k < j->g->n_out; k++)
            if (j->prep_owner[k] && j->act[k] == j->act[i])
                prepare_fn(j->g->out[k].w)(n, act, j->prep[k] + (size_t)r * j->prep_stride[k]);
    }
}

void elm__matmul_block(const elm_type_traits_t *tr, int64_t n, int64_t n_out, int64_t n_act,
                       const void *w, size_t w_stride, const void *a, size_t a_stride, float *y,
                       size_t ldy)
{
    if (n_act > 1 && tr->gemm) {
        tr->gemm(n, n_out, n_act, w, w_stride, a, a_stride, y, ldy);
        return;
    }
    if (n_act == 1 && tr->vec_dots) { /* the same bits as the loop below */
        tr->vec_dots(n, n_out, w, w_stride, a, y);
        return;
    }
    for (int64_t o = 0; o < n_out; o++)
        for (int64_t r = 0; r < n_act; r++)
            tr->vec_dot(n, &y[(size_t)r * ldy + o], (const char *)w + (size_t)o * w_stride,
                        (const char *)a + (size_t)r * a_stride);
}

/* Outputs [o0, o1) × activation rows [r0, r1) of product i, computed by thread. */
static void tile(const mm_job_t *j, int i, int64_t o0, int64_t o1, int64_t r0, int64_t r1,
                 int thread)
{
    const elm__mm_out_t *out = &j->g->out[i];
    const elm__weight_t *w = out->w;
    /* where output (r0, o0) goes, and rows' distance */
    float *const y0 =
        out->per_tile ? out->y + (size_t)thread * out->ldy : out->y + (size_t)r0 * out->ldy + o0;
    const size_t ldy = out->per_tile ? (size_t)(o1 - o0) : out->ldy;
    if (w->panel) { /* each row through the same instructions, whatever their number */
        const char *a = j->prep[i] ? j->prep[i] : (const char *)j->act[i];
        const size_t a_stride = j->prep[i] ? j->prep_stride[i] : j->act_stride[i];
        w->panel->rows(w->ne0, o1 - o0,
                       (const char *)w->data + (size_t)(o0 / ELM__PANEL_ROWS) * w->panel_bytes,
                       w->panel_bytes, a + (size_t)r0 * a_stride, a_stride, r1 - r0, y0, ldy);
        return;
    }
    const char *wt = (const char *)w->data + (size_t)o0 * w->row_bytes;
    /* Decode: each row alone, as if it were the only one, so its result does not depend on
     * the others; the tile's weight rows stay in cache from the first row to the last, and the
     * type's multi-row gemv reads and unpacks each weight block once for several rows. */
    if (j->solo && j->prep[i] && r1 - r0 > 1 && w->tr->gemv_rows) {
        w->tr->gemv_rows(w->ne0, o1 - o0, wt, w->row_bytes,
                         j->prep[i] + (size_t)r0 * j->prep_stride[i], j->prep_stride[i], r1 - r0,
                         y0, ldy);
        return;
    }
    for (int64_t r = r0; r < r1 && j->solo; r++) {
        float *y = y0 + (size_t)(r - r0) * ldy;
        if (j->prep[i])
            w->tr->gemv(w->ne0, o1 - o0, wt, w->row_bytes,
                        j->prep[i] + (size_t)r * j->prep_stride[i], y);
        else
            elm__matmul_block(w->tr, w->ne0, o1 - o0, 1, wt, w->row_bytes,
                              (const char *)j->act[i] + (size_t)r * j->act_stride[i],
                              j->act_stride[i], y, ldy);
    }
    if (j->solo) return;
    elm__matmul_block(w->tr, w->ne0, o1 - o0, r1 - r0, wt, w->row_bytes,
                      (const char *)j->act[i] + (size_t)r0 * j->act_stride[i], j->act_stride[i], y0,
                      ldy);
}

static void run_tiles(void *ctx, int64_t begin, int64_t end, int thread)
{
    const mm_job_t *j = ctx;
    const elm__mm_group_t *g = j->g;
    const float *tile_buf = NULL;
    for (int k = 0; k < g->n_out; k++)
        if (g->out[k].per_tile) tile_buf = g->out[k].y + (size_t)thread * g->out[k].ldy;
    for (int64_t it = begin; it < end; it++) {
        int i = 0;
        if (!g->paired)
            while (it >= j->first[i + 1])
                i++;
        const int64_t local = it - (g->paired ? 0 : j->first[i]);
        const int64_t ne1 = g->out[i].w->ne1;
        const int64_t o0 = local / j->n_rt * j->tile_o, r0 = local % j->n_rt * j->tile_r;
        const int64_t o1 = o0 + j->tile_o < ne1 ? o0 + j->tile_o : ne1;
        const int64_t r1 = r0 + j->tile_r < j->n_rows ? r0 + j->tile_r : j->n_rows;
        if (g->paired)
            for (int k = 0; k < g->n_out; k++)
                tile(j, k, o0, o1, r0, r1, thread);
        else
            tile(j, i, o0, o1, r0, r1, thread);
        if (g->epilogue) g->epilogue(g->ctx, i, r0, r1, o0, o1, tile_buf);
    }
}

static int64_t round_up(int64_t n, int64_t m)
{
    return (n + m - 1) / m * m;
}

/* Output rows of a tile: a multiple of align, and of whole panels when a product has them. */
static int64_t tile_out(bool solo, int64_t align, bool panels)
{
    int64_t t = round_up(solo ? TILE_OUT_DECODE : TILE_OUT, align);
    while (panels && t % ELM__PANEL_ROWS)
        t += align;
    return t;
}

size_t elm__matmul_tile_floats(int64_t align, int64_t n_solo)
{
    if (align < 1) align = 1;
    const int64_t prefill = tile_out(false, align, true), decode = tile_out(true, align, true);
    return (size_t)(prefill > decode ? prefill : decode) *
           (size_t)(n_solo > TILE_ACT ? n_solo : TILE_ACT);
}

void elm__matmul_group(elm_pool_t *pool, int n_threads, const elm__mm_group_t *g, const float *x,
                       int64_t n_rows, void *qbuf)
{
    if (n_rows <= 0 || g->n_out <= 0) return;
    mm_job_t j = {.g = g, .x = x, .n_rows = n_rows, .solo = n_rows == 1 || g->solo_rows};
    const int64_t ne0 = g->out[0].w->ne0;

    /* One converted copy of x per distinct vec_dot_type. */
    qbuf = (void *)(((uintptr_t)qbuf + QBUF_ALIGN - 1) / QBUF_ALIGN * QBUF_ALIGN);
    size_t off = 0;
    for (int i = 0; i < g->n_out; i++) {
        const elm__weight_t *w = g->out[i].w;
        if (w->tr->vec_dot_type == ELM_TYPE_F32) {
            j.act[i] = x;
            j.act_stride[i] = (size_t)ne0 * sizeof(float);
            continue;
        }
        int same = -1;
        for (int k = 0; k < i; k++)
            if (g->out[k].w->tr->vec_dot_type == w->tr->vec_dot_type) same = k;
        if (same >= 0) {
            j.act[i] = j.act[same];
            j.act_stride[i] = j.act_stride[same];
            continue;
        }
        j.act_stride[i] = act_row_bytes(w);
        j.act[i] = (char *)qbuf + off;
        off += align_up(j.act_stride[i] * (size_t)n_rows);
        j.conv[j.n_conv++] = i;
    }
    /* Decode, and panels always: one layout per row and distinct layout function (q4_K and
     * q5_K share theirs), made from a converted copy (a product that reads x as it is gets
     * none). */
    bool panels = false;
    for (int i = 0; i < g->n_out; i++) {
        const elm__weight_t *w = g->out[i].w;
        const size_t bytes = gemv_bytes(w);
        panels |= w->panel != NULL;
        if (bytes == 0 || j.act[i] == x || !(j.solo || w->panel)) continue;
        for (int k = 0; k < i && !j.prep[i]; k++)
            if (j.prep[k] && prepare_fn(g->out[k].w) == prepare_fn(w)) {
                j.prep[i] = j.prep[k];
                j.prep_stride[i] = j.prep_stride[k];
            }
        if (j.prep[i]) continue;
        j.prep[i] = (char *)qbuf + off;
        j.prep_stride[i] = align_up(bytes);
        j.prep_owner[i] = true;
        off += j.prep_stride[i] * (size_t)n_rows;
    }
    const int pool_threads = elm_pool_n_threads(pool),
              threads = n_threads < 1 || n_threads > pool_threads ? pool_threads : n_threads;
    for (int c = 0; c < j.n_conv; c++) {
        const int i = j.conv[c];
        bool laid_out = n_rows >= threads;
        for (int k = 0; k < g->n_out; k++)
            if (j.act[k] == j.act[i] && !j.prep[k]) laid_out = false;
        j.conv_row_per_thread[i] = laid_out;
    }
    if (j.n_conv)
        elm_pool_for_threads(pool, n_threads, j.n_conv * n_rows, elm__min_chunk(ne0, 1),
                             convert_rows, &j);

    const int64_t align = g->align > 0 ? g->align : 1;
    j.tile_o = tile_out(j.solo, align, panels);
    j.tile_r = j.solo || n_rows < TILE_ACT ? n_rows : TILE_ACT;
    j.n_rt = (n_rows + j.tile_r - 1) / j.tile_r;
    int64_t n_items = 0;
    for (int i = 0; i < (g->paired ? 1 : g->n_out); i++) {
        j.first[i] = n_items;
        n_items += (g->out[i].w->ne1 + j.tile_o - 1) / j.tile_o * j.n_rt;
    }
    j.first[g->paired ? 1 : g->n_out] = n_items;
    const int64_t work = j.tile_o * j.tile_r * ne0 * (g->paired ? g->n_out : 1);
    elm_pool_for_threads(pool, n_threads, n_items, elm__min_chunk(work, 1), run_tiles, &j);
}

void elm__matmul(elm_pool_t *pool, int n_threads, const elm__weight_t *w, const float *x,
                 int64_t n_rows, float *y, void *qbuf)
{
    const elm__mm_group_t g = {.out = {{w, y, (size_t)w->ne1}}, .n_out = 1, .align = 1};
    elm__matmul_group(pool, n_threads, &g, x, n_rows, qbuf);
}
