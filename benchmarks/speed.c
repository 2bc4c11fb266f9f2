/* benchmarks/speed: the speed table against llama.cpp (issue 5). For each model file and thread
 * count: ppN and tgN with llama-bench's definitions (mean ± sd over repetitions after a warm-up,
 * elm_bench_pptg), the effective bandwidth of decode, the read bandwidth of the harness's
 * streaming-sum loop measured in the same run (elm_bench_read_gbs, so a ratio survives the host's
 * noise), and the peak RSS of a child process that ran only that model. llama.cpp's figures are
 * parsed from the reference file at run time. Not a test. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "edgelm/bench.h"
#include "edgelm/convert.h"
#include "edgelm/engine.h"
#include "edgelm/gguf.h"
#include "edgelm/kernels.h"
#include "edgelm/probe.h"

enum { MAX_LIST = 8, MAX_TESTS = 8, MAX_REPS = 64, MAX_MODELS = 64, MAX_REF_ROWS = 128 };
enum { BW_PASSES = 5 }; /* timed passes of each read-bandwidth measurement */

static const char usage_text[] =
    "usage: speed [options] MODEL.gguf...\n"
    "\n"
    "For each model (in its own child process) and thread count: ppN (N random tokens decoded\n"
    "into an empty cache in batches of 512) and tgN (N one-token decodes from an empty cache),\n"
    "mean ± sd of tokens/s over -r repetitions after one warm-up, as llama-bench measures them;\n"
    "effective GB/s = weight bytes × tg tokens/s; read GB/s of a streaming sum over a large\n"
    "buffer measured right before each model; peak RSS of the model's process. Prints one\n"
    "markdown table, with llama.cpp's figures from the reference file beside ours.\n"
    "\n"
    "options:\n"
    "  -t LIST        thread counts (default 1,2)\n"
    "  -p LIST        prompt lengths of the ppN tests (default 128,512; 0: none)\n"
    "  -n LIST        generation lengths of the tgN tests (default 128; 0: none)\n"
    "  -r N           repetitions after the warm-up (default 3)\n"
    "  --bw-mib N     size of the read-bandwidth buffer in MiB (default 1024)\n"
    "  --no-mmap      read each model into memory instead of mapping it (llama-bench -mmp 0)\n"
    "  --ref FILE     llama.cpp's figures (default $EDGELM_REFERENCE, else\n"
    "                 ../shared/reference/llamacpp-cpu.md)\n"
    "  -h, --help     this text\n"
    "\n"
    "The model name shown is the file name without .gguf and without a trailing -QUANT; it is\n"
    "matched against the reference table's model column (qwen2.5-0.5b-Q4_0.gguf ->\n"
    "qwen2.5-0.5b, Q4_0).\n";

/* ---- options ---- */

typedef struct {
    char name[16]; /* "pp512", "tg128" */
    uint32_t n_prompt, n_gen;
} test_t;

typedef struct {
    int threads[MAX_LIST], n_threads;
    test_t tests[MAX_TESTS];
    int n_tests;
    int reps;
    bool no_mmap;
    size_t bw_bytes;
    const char *ref_path;
    const char *models[MAX_MODELS];
    int n_models;
} opts_t;

/* Parse "1,2,4" into out (at most MAX_LIST values in [lo, hi]); 0 or -1 with a message. */
static int parse_list(const char *opt, const char *s, int lo, int hi, int *out, int *n)
{
    *n = 0;
    for (const char *p = s; *p;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < lo || v > hi || (*end && *end != ',') || *n == MAX_LIST) {
            fprintf(stderr, "speed: %s '%s': expected up to %d comma-separated integers in %d..%d\n",
                    opt, s, MAX_LIST, lo, hi);
            return -1;
        }
        out[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0) {
        fprintf(stderr, "speed: %s needs a value such as 1,2\n", opt);
        return -1;
    }
    return 0;
}

static int add_tests(opts_t *o, const char *prefix, const int *v, int n)
{
    for (int i = 0; i < n; i++) {
        if (v[i] == 0) continue;
        if (o->n_tests == MAX_TESTS) {
            fprintf(stderr, "speed: more than %d tests\n", MAX_TESTS);
            return -1;
        }
        test_t *t = &o->tests[o->n_tests++];
        snprintf(t->name, sizeof t->name, "%s%d", prefix, v[i]);
        t->n_prompt = prefix[0] == 'p' ? (uint32_t)v[i] : 0;
        t->n_gen = prefix[0] == 't' ? (uint32_t)v[i] : 0;
    }
    return 0;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    int pp[MAX_LIST] = {128, 512}, n_pp = 2, tg[MAX_LIST] = {128}, n_tg = 1, mib = 1024;
    memset(o, 0, sizeof *o);
    o->threads[0] = 1, o->threads[1] = 2, o->n_threads = 2;
    o->reps = 3;
    o->ref_path = getenv("EDGELM_REFERENCE");
    if (!o->ref_path || !*o->ref_path) o->ref_path = "../shared/reference/llamacpp-cpu.md";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (a[0] != '-') {
            if (o->n_models == MAX_MODELS) {
                fprintf(stderr, "speed: more than %d models\n", MAX_MODELS);
                return -1;
            }
            o->models[o->n_models++] = a;
            continue;
        }
        if (!strcmp(a, "--no-mmap")) {
            o->no_mmap = true;
            continue;
        }
        if (i + 1 == argc) {
            fprintf(stderr, "speed: %s needs a value (see --help)\n", a);
            return -1;
        }
        const char *v = argv[++i];
        int one[MAX_LIST] = {0}, n_one = 0, rc = 0;
        if (!strcmp(a, "-t")) rc = parse_list(a, v, 1, 256, o->threads, &o->n_threads);
        else if (!strcmp(a, "-p")) rc = parse_list(a, v, 0, 4096, pp, &n_pp);
        else if (!strcmp(a, "-n")) rc = parse_list(a, v, 0, 4096, tg, &n_tg);
        else if (!strcmp(a, "-r")) rc = parse_list(a, v, 1, MAX_REPS, one, &n_one);
        else if (!strcmp(a, "--bw-mib")) rc = parse_list(a, v, 64, 1 << 20, one, &n_one);
        else if (!strcmp(a, "--ref")) o->ref_path = v;
        else {
            fprintf(stderr, "speed: unknown option %s (see --help)\n", a);
            return -1;
        }
        if (rc) return -1;
        if (n_one != 0 && n_one != 1) {
            fprintf(stderr, "speed: %s takes one number, not a list\n", a);
            return -1;
        }
        if (!strcmp(a, "-r")) o->reps = one[0];
        if (!strcmp(a, "--bw-mib")) mib = one[0];
    }
    if (o->n_models == 0) {
        fprintf(stderr, "speed: no model given (usage: speed [options] MODEL.gguf...; `make "
                        "bench-speed` synthesizes the models and runs it)\n");
        return -1;
    }
    if (add_tests(o, "pp", pp, n_pp) || add_tests(o, "tg", tg, n_tg)) return -1;
    if (o->n_tests == 0) {
        fprintf(stderr, "speed: -p and -n are both 0: nothing to measure\n");
        return -1;
    }
    o->bw_bytes = (size_t)mib << 20;
    return 0;
}

/* ---- llama.cpp's figures, parsed from the reference file ---- */

typedef struct {
    char model[48], quant[16];
    int threads;
    double v[MAX_TESTS]; /* per opts test; NAN when the table has no such column or cell */
} ref_row_t;

typedef struct {
    char key[48], quant[16]; /* "qwen", "Q4_0": key is a prefix of the model name */
    double mib;
} ref_rss_t;

typedef struct {
    char why[320]; /* "" when the table was read */
    ref_row_t rows[MAX_REF_ROWS];
    int n_rows;
    char rss_why[160]; /* "" when the peak-RSS prose was read */
    ref_rss_t rss[MAX_REF_ROWS];
    int n_rss;
} ref_t;

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

/* Split a markdown table line "| a | b |" in place into at most max trimmed cells. */
static int split_cells(char *line, char **cells, int max)
{
    int n = 0;
    char *p = strchr(line, '|');
    if (!p) return 0;
    for (p++; n < max;) {
        char *bar = strchr(p, '|');
        if (!bar) break;
        *bar = '\0';
        cells[n++] = trim(p);
        p = bar + 1;
    }
    return n;
}

static int find_col(char **cells, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcasecmp(cells[i], name)) return i;
    return -1;
}

static bool parse_number(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s) return false;
    *out = v;
    return true;
}

/* The table whose header has model, quant and threads columns; our tests' columns by name. */
static void parse_ref_table(char *text, const opts_t *o, ref_t *r)
{
    int c_model = -1, c_quant = -1, c_thr = -1, c_test[MAX_TESTS];
    bool header = false;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *cells[32];
        int n = line[strspn(line, " ")] == '|' ? split_cells(line, cells, 32) : 0;
        if (n == 0) {
            if (header && r->n_rows) break; /* the table ended */
            continue;
        }
        if (!header) {
            c_model = find_col(cells, n, "model"), c_quant = find_col(cells, n, "quant");
            c_thr = find_col(cells, n, "threads");
            header = c_model >= 0 && c_quant >= 0 && c_thr >= 0;
            for (int t = 0; t < o->n_tests; t++) c_test[t] = find_col(cells, n, o->tests[t].name);
            continue;
        }
        if (strspn(cells[0], "-: ") == strlen(cells[0])) continue; /* the |---| line */
        double thr;
        if (r->n_rows == MAX_REF_ROWS || c_model >= n || c_quant >= n || c_thr >= n ||
            !parse_number(cells[c_thr], &thr))
            continue;
        ref_row_t *row = &r->rows[r->n_rows++];
        snprintf(row->model, sizeof row->model, "%s", cells[c_model]);
        snprintf(row->quant, sizeof row->quant, "%s", cells[c_quant]);
        row->threads = (int)thr;
        for (int t = 0; t < o->n_tests; t++)
            if (c_test[t] < 0 || c_test[t] >= n || !parse_number(cells[c_test[t]], &row->v[t]))
                row->v[t] = NAN;
    }
}

/* The prose "Peak resident memory ...: qwen F16 1046 MiB, Q8_0 604, ... (623 with mmap, ...);
 * llama F16 2552, ...": one segment per model between semicolons, a model key, then QUANT
 * NUMBER pairs; parenthesised remarks and units are skipped. */
static void parse_ref_rss(const char *text, ref_t *r)
{
    const char *p = strstr(text, "Peak resident memory");
    if (!p || !(p = strchr(p, ':'))) {
        snprintf(r->rss_why, sizeof r->rss_why, "no \"Peak resident memory ...:\" paragraph");
        return;
    }
    const char *end = strstr(p, "\n\n");
    size_t len = end ? (size_t)(end - p - 1) : strlen(p + 1);
    char *buf = malloc(len + 1);
    if (!buf) return;
    size_t k = 0;
    int depth = 0;
    for (size_t i = 0; i < len; i++) { /* drop (remarks) and fold lines */
        char c = p[1 + i];
        if (c == '(') depth++;
        else if (c == ')' && depth) depth--;
        else if (!depth) buf[k++] = c == '\n' || c == ',' ? ' ' : c;
    }
    buf[k] = '\0';
    char *save_seg;
    for (char *seg = strtok_r(buf, ";", &save_seg); seg; seg = strtok_r(NULL, ";", &save_seg)) {
        char *save_tok, *key = strtok_r(seg, " ", &save_tok), *quant = NULL;
        for (char *tok = key ? strtok_r(NULL, " ", &save_tok) : NULL; tok;
             tok = strtok_r(NULL, " ", &save_tok)) {
            double v;
            elm_ftype_t f;
            if (elm_ftype_from_name(tok, &f) == 0) quant = tok;
            else if (quant && parse_number(tok, &v) && r->n_rss < MAX_REF_ROWS) {
                ref_rss_t *e = &r->rss[r->n_rss++];
                snprintf(e->key, sizeof e->key, "%s", key);
                snprintf(e->quant, sizeof e->quant, "%s", quant);
                e->mib = v;
                quant = NULL;
            }
        }
    }
    free(buf);
    if (r->n_rss == 0)
        snprintf(r->rss_why, sizeof r->rss_why, "no \"model QUANT MiB\" figures after \"Peak resident memory\"");
}

/* Read the reference file into r; on failure r->why says why (the table then shows n/a). */
static void load_ref(const opts_t *o, ref_t *r)
{
    memset(r, 0, sizeof *r);
    char *text;
    size_t n;
    elm_diag_t d;
    if (elm_file_read(o->ref_path, 1 << 20, &text, &n, &d)) {
        snprintf(r->why, sizeof r->why, "%.200s (set EDGELM_REFERENCE or --ref to llamacpp-cpu.md)",
                 d.msg);
        snprintf(r->rss_why, sizeof r->rss_why, "no reference file");
        return;
    }
    parse_ref_rss(text, r);
    parse_ref_table(text, o, r);
    free(text);
    if (r->n_rows == 0)
        snprintf(r->why, sizeof r->why, "%s: no markdown table with model, quant and threads columns",
                 o->ref_path);
}

static const ref_row_t *ref_find(const ref_t *r, const char *model, const char *quant, int threads)
{
    for (int i = 0; i < r->n_rows; i++)
        if (!strcasecmp(r->rows[i].model, model) && !strcasecmp(r->rows[i].quant, quant) &&
            r->rows[i].threads == threads)
            return &r->rows[i];
    return NULL;
}

static double ref_rss_mib(const ref_t *r, const char *model, const char *quant)
{
    for (int i = 0; i < r->n_rss; i++)
        if (!strncasecmp(model, r->rss[i].key, strlen(r->rss[i].key)) &&
            !strcasecmp(quant, r->rss[i].quant))
            return r->rss[i].mib;
    return NAN;
}

/* ---- read bandwidth ---- */

/* Raise best[t] to the read bandwidth at each thread count measured now (the best of BW_PASSES
 * passes of the harness's read loop; 0, with the reason on stderr, when it fails). Called before
 * and after each model: a pass that another process's burst slowed down is not the host's
 * bandwidth, so each row keeps the better of the two. */
static void measure_bandwidth(const opts_t *o, const void *buf, const char *when, double *best)
{
    for (int ti = 0; ti < o->n_threads; ti++) {
        elm_diag_t d;
        double gbs;
        if (elm_bench_read_gbs(buf, o->bw_bytes, o->threads[ti], BW_PASSES, &gbs, &d))
            fprintf(stderr, "speed: %s\n", d.msg);
        fprintf(stderr, "speed: read bandwidth %s, %d thread(s): %.1f GB/s\n", when, o->threads[ti], gbs);
        if (gbs > best[ti]) best[ti] = gbs;
    }
}

/* ---- one model, in a child process ---- */

typedef struct {
    elm_stat_t tps[MAX_TESTS]; /* tokens/s; not valid when the test did not run */
} thread_result_t;

typedef struct {
    char err[600];     /* "" on success */
    uint64_t weight_bytes;
    double peak_rss_mib; /* NAN when it could not be read */
    thread_result_t th[MAX_LIST];
} model_result_t;

/* Load the model and run every test at every thread count into *r; progress goes to stderr. */
static void run_model(const opts_t *o, const char *path, const char *label, model_result_t *r)
{
    elm_diag_t d = {0};
    elm_model_t *m = NULL;
    uint64_t peak;
    /* Start the peak at this process's own size, not the parent's history ("5": reset VmHWM). */
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    if (cr) fputs("5", cr), fclose(cr);
    elm_model_params_t mp = elm_model_default_params();
    mp.use_mmap = !o->no_mmap;
    if (elm_model_load(path, &mp, NULL, &m, &d)) {
        snprintf(r->err, sizeof r->err, "%s", d.msg);
        return;
    }
    r->weight_bytes = elm_model_weight_bytes(m);
    for (int ti = 0; ti < o->n_threads; ti++) {
        for (int k = 0; k < o->n_tests; k++) {
            thread_result_t *tr = &r->th[ti];
            const test_t *t = &o->tests[k];
            if (elm_bench_pptg(m, o->threads[ti], t->n_prompt, t->n_gen, (uint32_t)o->reps,
                               &tr->tps[k], &d)) {
                snprintf(r->err, sizeof r->err, "%s th %d %s: %s", path, o->threads[ti], t->name, d.msg);
                goto done;
            }
            fprintf(stderr, "speed: %s th %d %s: %.2f ± %.2f t/s\n", label, o->threads[ti], t->name,
                    tr->tps[k].mean, tr->tps[k].sd);
        }
    }
done:
    elm_model_free(m);
    r->peak_rss_mib = elm_mem_peak_rss(NULL, &peak, NULL) ? NAN : (double)peak / (1 << 20);
}

/* Fork, run the model in the child, and read its result back through a pipe. */
static void run_model_child(const opts_t *o, const char *path, const char *label, model_result_t *r)
{
    int fd[2];
    memset(r, 0, sizeof *r);
    r->peak_rss_mib = NAN;
    fflush(NULL);
    if (pipe(fd)) {
        snprintf(r->err, sizeof r->err, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->err, sizeof r->err, "fork: %s", strerror(errno));
        close(fd[0]), close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        run_model(o, path, label, r);
        const char *p = (const char *)r;
        for (size_t left = sizeof *r; left;) {
            ssize_t w = write(fd[1], p, left);
            if (w <= 0) _exit(1);
            p += w, left -= (size_t)w;
        }
        _exit(0);
    }
    close(fd[1]);
    size_t got = 0;
    for (ssize_t n; got < sizeof *r; got += (size_t)n)
        if ((n = read(fd[0], (char *)r + got, sizeof *r - got)) <= 0) break;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got == sizeof *r) return;
    memset(r, 0, sizeof *r);
    r->peak_rss_mib = NAN;
    if (WIFSIGNALED(status))
        snprintf(r->err, sizeof r->err, "%s: the benchmark process died of signal %d%s", path,
                 WTERMSIG(status), WTERMSIG(status) == SIGKILL ? " (out of memory?)" : "");
    else
        snprintf(r->err, sizeof r->err, "%s: the benchmark process exited (%d) without a result",
                 path, WEXITSTATUS(status));
}

/* ---- model identity ---- */

typedef struct {
    char label[128]; /* file name without .gguf */
    char name[128];  /* label without a trailing -QUANT */
    char quant[16];
    double file_mb;
    char err[600];
    char skip[200]; /* why the row is skipped (an architecture this engine does not run), or "" */
} model_id_t;

/* True when arch is a word of elm_engine_archs()' space-separated list. */
static bool engine_runs(const char *arch)
{
    const char *list = elm_engine_archs();
    size_t n = strlen(arch);
    for (const char *p = list; n && (p = strstr(p, arch)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
    return false;
}

/* The name, quant and size of a model file; err set (and nothing else) when it cannot be read. */
static void identify(const char *path, model_id_t *id)
{
    elm_diag_t d = {0};
    elm_gguf_t *g = NULL;
    uint32_t ft;
    memset(id, 0, sizeof *id);
    const char *base = strrchr(path, '/');
    snprintf(id->label, sizeof id->label, "%s", base ? base + 1 : path);
    size_t n = strlen(id->label);
    if (n > 5 && !strcasecmp(id->label + n - 5, ".gguf")) id->label[n - 5] = '\0';
    memcpy(id->name, id->label, sizeof id->name);
    if (access(path, R_OK)) {
        snprintf(id->err, sizeof id->err, "%s: %s (run `make bench-speed` to synthesize the models, "
                 "or `edgelm synth SHAPE:QUANT -o FILE`)", path, strerror(errno));
        return;
    }
    if (elm_gguf_open(path, &g, &d)) {
        snprintf(id->err, sizeof id->err, "%s", d.msg);
        return;
    }
    id->file_mb = (double)elm_gguf_file_size(g) / 1e6;
    char *dash = strrchr(id->name, '-');
    elm_ftype_t f;
    if (elm_gguf_get_u32(g, "general.file_type", &ft) == 0)
        snprintf(id->quant, sizeof id->quant, "%s", elm_ftype_name((elm_ftype_t)ft));
    else if (dash && elm_ftype_from_name(dash + 1, &f) == 0)
        snprintf(id->quant, sizeof id->quant, "%s", elm_ftype_name(f));
    else
        snprintf(id->quant, sizeof id->quant, "?");
    if (dash && !strcasecmp(dash + 1, id->quant)) *dash = '\0';
    /* a row for a family the engine does not run yet is skipped, not failed (the table is
     * declared ahead of the engine) */
    elm_str_t a;
    char arch[32] = "?";
    if (elm_gguf_get_str(g, "general.architecture", &a) == 0 && a.len < sizeof arch) {
        memcpy(arch, a.ptr, a.len);
        arch[a.len] = '\0';
    }
    if (!engine_runs(arch))
        snprintf(id->skip, sizeof id->skip,
                 "skipped: architecture '%s' is not in this engine (it runs: %s)", arch,
                 elm_engine_archs());
    elm_gguf_close(g);
}

/* ---- the table ---- */

static void print_machine(void)
{
    elm_sys_info_t *si = calloc(1, sizeof *si); /* large: a frequency slot per possible CPU */
    char date[64] = "?", cpus[32] = "? CPUs";
    time_t now = time(NULL);
    struct tm tmv;
    elm_probe_ctx_t ctx = {0};
    if (gmtime_r(&now, &tmv)) strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tmv);
    bool have = si && elm_sys_info(&ctx, si, NULL) == 0;
    if (have && si->n_cpus.valid) snprintf(cpus, sizeof cpus, "%.0f CPUs", si->n_cpus.value);
    printf("machine: %s, %s, features: %s; %s\n",
           have && si->cpu_model.valid ? si->cpu_model.text : "unknown CPU", cpus,
           *elm_cpu_features() ? elm_cpu_features() : "none", date);
    free(si);
}

static void cell_speed(char *out, size_t cap, const elm_stat_t *tps)
{
    if (tps->valid) snprintf(out, cap, "%.2f ± %.2f", tps->mean, tps->sd);
    else snprintf(out, cap, "—");
}

static void cell_ref(char *out, size_t cap, const elm_stat_t *tps, double ref)
{
    if (isnan(ref)) snprintf(out, cap, "n/a");
    else if (!tps->valid) snprintf(out, cap, "%g", ref);
    else snprintf(out, cap, "%g (%.2fx)", ref, tps->mean / ref);
}

static void cell_num(char *out, size_t cap, double v, const char *fmt)
{
    if (isnan(v)) snprintf(out, cap, "n/a");
    else snprintf(out, cap, fmt, v);
}

int main(int argc, char **argv)
{
    opts_t o;
    static ref_t ref;
    static model_id_t ids[MAX_MODELS];
    static model_result_t res[MAX_MODELS];
    static double bw[MAX_MODELS][MAX_LIST];
    int failed = 0, tg = -1;
    if (parse_args(argc, argv, &o)) return 2;
    for (int k = o.n_tests - 1; k >= 0; k--)
        if (o.tests[k].n_gen) tg = k;
    load_ref(&o, &ref);
    if (ref.why[0]) fprintf(stderr, "speed: llama.cpp figures n/a: %s\n", ref.why);

    /* One buffer for every bandwidth pass, on huge pages as a model read into memory is (the
     * read loop would otherwise pay a TLB miss every 4 KiB that decode does not), touched once
     * so its pages exist, and kept out of the children (MADV_DONTFORK) so it never counts in a
     * model's peak RSS. */
    void *buf = elm_big_alloc(o.bw_bytes);
    if (!buf) {
        fprintf(stderr, "speed: no memory for the %zu MiB read-bandwidth buffer (try --bw-mib 256)\n",
                o.bw_bytes >> 20);
        return 1;
    }
    madvise(buf, o.bw_bytes, MADV_DONTFORK);
    memset(buf, 1, o.bw_bytes);

    for (int i = 0; i < o.n_models; i++) {
        identify(o.models[i], &ids[i]);
        if (ids[i].err[0]) {
            fprintf(stderr, "speed: %s\n", ids[i].err);
            failed++;
            continue;
        }
        if (ids[i].skip[0]) {
            fprintf(stderr, "speed: %s: %s\n", ids[i].label, ids[i].skip);
            continue;
        }
        measure_bandwidth(&o, buf, "before", bw[i]);
        run_model_child(&o, o.models[i], ids[i].label, &res[i]);
        if (res[i].err[0]) {
            fprintf(stderr, "speed: %s\n", res[i].err);
            failed++;
        }
        measure_bandwidth(&o, buf, "after", bw[i]);
    }
    elm_big_free(buf, o.bw_bytes);

    print_machine();
    printf("models %s\n", o.no_mmap ? "read into memory (--no-mmap)" : "mapped (mmap, as llama-bench)");
    printf("\n| model | quant | file MB | th |");
    for (int k = 0; k < o.n_tests; k++) printf(" %s t/s | llama.cpp (ratio) |", o.tests[k].name);
    printf(" eff GB/s | read GB/s | roofline t/s | tg / roofline | peak RSS MiB | llama.cpp RSS MiB |\n");
    printf("| --- | --- | ---: | ---: |");
    for (int k = 0; k < o.n_tests; k++) printf(" ---: | ---: |");
    printf(" ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < o.n_models; i++) {
        const model_id_t *id = &ids[i];
        const model_result_t *r = &res[i];
        if (id->err[0]) {
            printf("| %s | error: %s |\n", id->label, id->err);
            continue;
        }
        if (id->skip[0]) {
            printf("| %s | %s | %.0f | | %s |\n", id->name, id->quant, id->file_mb, id->skip);
            continue;
        }
        for (int ti = 0; ti < o.n_threads; ti++) {
            const thread_result_t *tr = &r->th[ti];
            const ref_row_t *rr = ref_find(&ref, id->name, id->quant, o.threads[ti]);
            char c1[64], c2[64];
            printf("| %s | %s | %.0f | %d |", id->name, id->quant, id->file_mb, o.threads[ti]);
            for (int k = 0; k < o.n_tests; k++) {
                cell_speed(c1, sizeof c1, &tr->tps[k]);
                cell_ref(c2, sizeof c2, &tr->tps[k], rr ? rr->v[k] : NAN);
                printf(" %s | %s |", c1, c2);
            }
            bool have_tg = tg >= 0 && tr->tps[tg].valid && r->weight_bytes;
            double wgb = (double)r->weight_bytes * 1e-9, roof = bw[i][ti] > 0 ? bw[i][ti] / wgb : NAN;
            cell_num(c1, sizeof c1, have_tg ? wgb * tr->tps[tg].mean : NAN, "%.1f");
            printf(" %s | %.1f |", c1, bw[i][ti]);
            cell_num(c1, sizeof c1, roof, "%.1f");
            cell_num(c2, sizeof c2, have_tg ? 100 * tr->tps[tg].mean / roof : NAN, "%.0f %%");
            printf(" %s | %s |", c1, c2);
            cell_num(c1, sizeof c1, r->peak_rss_mib, "%.0f");
            cell_num(c2, sizeof c2, ref_rss_mib(&ref, id->name, id->quant), "%.0f");
            printf(" %s | %s |\n", c1, c2);
            if (r->err[0] && ti == o.n_threads - 1) printf("| %s | error: %s |\n", id->name, r->err);
        }
    }
    printf("\nmean ± sd of tokens/s over %d repetitions after one warm-up (llama-bench's ppN/tgN); "
           "eff GB/s = weight bytes × %s t/s; read GB/s: best of %d passes summing a %zu MiB "
           "buffer on huge pages with the widest loads "
           "before and %d after each model; roofline = read GB/s ÷ weight bytes; peak RSS: VmHWM of the "
           "model's own process.\n",
           o.reps, tg >= 0 ? o.tests[tg].name : "tg", BW_PASSES, o.bw_bytes >> 20, BW_PASSES);
    if (ref.why[0]) printf("llama.cpp: n/a: %s\n", ref.why);
    else printf("llama.cpp: %s%s%s\n", o.ref_path, ref.rss_why[0] ? "; peak RSS n/a: " : "", ref.rss_why);
    return failed ? 1 : 0;
}
