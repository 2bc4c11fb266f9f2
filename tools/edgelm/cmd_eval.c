/* `edgelm eval`: model quality on this device. `eval ppl` prints perplexity over a text the way
 * llama-perplexity does; `eval gsm8k` answers GSM8K questions greedily and scores pass@1, with one
 * JSON record per question. Final results (and GSM8K's records) are appended to the results
 * store. The work is src/eval's; this file parses, calls and prints. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "edgelm/bench.h"
#include "edgelm/engine.h"
#include "edgelm/eval.h"
#include "edgelm/pool.h"
#include "edgelm/store.h"
#include "edgelm/tokenizer.h"

static const char ppl_head[] =
    "usage: edgelm eval ppl -m MODEL -f TEXT [-c N] [-b N] [-t N] [--kv-type f16|f32] [--json]\n"
    "                       [--db FILE | --no-db]\n"
    "\n"
    "Perplexity by llama-perplexity's method. The file (one trailing newline dropped) is\n"
    "tokenized once with BOS, cut into chunks of -c tokens (the tail is unused), the first\n"
    "token of each chunk replaced by BOS, and the second half of each chunk scored. Prints the\n"
    "running estimate after each chunk ([1]x,[2]y,...) and the final PPL +/- its error.\n";

static const char ppl_tail[] =
    "example:\n"
    "  edgelm eval ppl -m stories260K.gguf -f tinystories_sample.txt -c 128 --kv-type f32\n";

static const char gsm8k_head[] =
    "usage: edgelm eval gsm8k -m MODEL [-n N|all] [--shots K] [--seed S] [--data FILE]\n"
    "                         [--max-tokens N] [--json FILE] [--db FILE | --no-db] [options]\n"
    "\n"
    "GSM8K pass@1 with greedy decoding in the model's chat template; the answer is the number\n"
    "after \"####\", else after \"The answer is\", else the last number, compared exactly.\n";

static const char gsm8k_tail[] =
    "example:\n"
    "  edgelm eval gsm8k -m qwen2.5-0.5b-instruct-q4_k_m.gguf -n 100 --json gsm8k.jsonl\n";

#define DB_HELP                                                                                 \
    "results store the final result is appended to (gsm8k: with\n"                            \
    "every question's record); default $XDG_DATA_HOME/edgelm/results.db,\n"                     \
    "else ~/.local/share/edgelm/results.db; schema in docs/store.md"

/* The options both subcommands take, c pointing at a common_args_t: the model's first, the
 * store's last. */
#define MODEL_OPTS(c)                                                                           \
    ELM_OPT_STR("--model", "-m", "FILE", &(c)->model, "GGUF model"),                            \
        ELM_OPT_INT("--threads", "-t", "N", &(c)->n_threads, 1, ELM_POOL_MAX_THREADS,           \
                    "threads (default: the number of CPUs)"),                                   \
        ELM_OPT_FN("--kv-type", NULL, "f16|f32", parse_kv_type, &(c)->kv_type,                  \
                   "KV cache type (default f16)")
#define STORE_OPTS(c)                                                                           \
    ELM_OPT_STR("--db", NULL, "FILE", &(c)->db, DB_HELP),                                       \
        ELM_OPT_FLAG("--no-db", NULL, &(c)->no_db, "do not append to the results store")

/* ---- arguments ---- */

typedef struct {
    const char *model, *db;
    int n_threads, n_ctx;
    elm_type_t kv_type;
    bool no_db;
} common_args_t;

static int parse_kv_type(const char *v, void *dst, char *err, size_t err_len)
{
    if (!strcmp(v, "f16") || !strcmp(v, "f32")) {
        *(elm_type_t *)dst = strcmp(v, "f32") ? ELM_TYPE_F16 : ELM_TYPE_F32;
        return 0;
    }
    snprintf(err, err_len, "must be f16 or f32");
    return -1;
}

/* -n: a question count, or "all" (0). */
static int parse_count(const char *v, void *dst, char *err, size_t err_len)
{
    int64_t n = 0;
    if (strcmp(v, "all") && elm_parse_i64(v, 1, INT32_MAX, &n)) {
        snprintf(err, err_len, "must be a question count >= 1 or 'all'");
        return -1;
    }
    *(size_t *)dst = (size_t)n;
    return 0;
}

static common_args_t common_defaults(int n_ctx)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = ncpu < 1 ? 1 : ncpu > ELM_POOL_MAX_THREADS ? ELM_POOL_MAX_THREADS : (int)ncpu;
    return (common_args_t){.n_threads = threads, .n_ctx = n_ctx, .kv_type = ELM_TYPE_F16};
}

/* What both subcommands check after parsing; ELM_CLI_GO or the usage error's status. */
static int common_check(const char *cmd, const common_args_t *c)
{
    if (!c->model) return elm_cli_usage_error(cmd, "no model given (-m MODEL)");
    if (c->no_db && c->db) return elm_cli_usage_error(cmd, "--db and --no-db go against each other");
    return ELM_CLI_GO;
}

typedef struct {
    common_args_t c;
    const char *file;
    int n_batch;
    bool json;
} ppl_args_t;

typedef struct {
    common_args_t c;
    const char *data, *train, *json, *tmpl_name;
    int64_t seed;
    int n_strata, shots, max_tokens;
    elm_gsm8k_params_t p;
} gsm8k_args_t;

/* Returns ELM_CLI_GO, or the exit status of --help or a usage error. */
static int ppl_parse(ppl_args_t *a, int argc, char **argv)
{
    *a = (ppl_args_t){.c = common_defaults(512), .n_batch = 512};
    elm_opt_t opts[] = {
        MODEL_OPTS(&a->c),
        ELM_OPT_STR("--file", "-f", "FILE", &a->file, "text file (at least 2 x N tokens)"),
        ELM_OPT_INT("--ctx", "-c", "N", &a->c.n_ctx, 4, 1 << 24,
                    "chunk length in tokens, at least 4: the second half\n"
                    "is scored (default 512)"),
        ELM_OPT_INT("--batch", "-b", "N", &a->n_batch, 1, 1 << 20,
                    "most tokens per forward pass (default 512)"),
        ELM_OPT_FLAG("--json", NULL, &a->json, "print one JSON object instead of the text report"),
        STORE_OPTS(&a->c),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "eval ppl", .head = ppl_head, .opts = opts, .tail = ppl_tail};
    int rc = elm_cli_parse(&spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    if ((rc = common_check(spec.cmd, &a->c)) != ELM_CLI_GO) return rc;
    if (!a->file) return elm_cli_usage_error(spec.cmd, "no text given (-f FILE)");
    return ELM_CLI_GO;
}

/* Returns ELM_CLI_GO, or the exit status of --help or a usage error. */
static int gsm8k_parse(gsm8k_args_t *a, int argc, char **argv)
{
    *a = (gsm8k_args_t){.c = common_defaults(0), .p = elm_gsm8k_default_params()};
    a->n_strata = (int)a->p.n_strata;
    a->shots = (int)a->p.shots;
    a->max_tokens = (int)a->p.max_tokens;
    elm_opt_t opts[] = {
        MODEL_OPTS(&a->c),
        ELM_OPT_FN("-n", NULL, "N|all", parse_count, &a->p.n,
                   "a length-stratified sample of N questions, or all\n(default 100)"),
        ELM_OPT_INT("--strata", NULL, "K", &a->n_strata, 1, 1000,
                    "length strata for the sample (default 4: quartiles)"),
        ELM_OPT_I64("--seed", NULL, "S", &a->seed, 0, INT64_MAX, "seed of the sample (default 0)"),
        ELM_OPT_INT("--shots", NULL, "K", &a->shots, 0, 64,
                    "worked examples before the question, the first K of\n--train (default 0)"),
        ELM_OPT_STR("--data", NULL, "FILE", &a->data,
                    "questions, JSON lines with \"question\" and \"answer\"\n"
                    "(default $XDG_DATA_HOME/edgelm/gsm8k/test.jsonl, else\n"
                    "~/.local/share/edgelm/gsm8k/test.jsonl)"),
        ELM_OPT_STR("--train", NULL, "FILE", &a->train,
                    "worked examples (default: train.jsonl beside --data)"),
        ELM_OPT_INT("--max-tokens", NULL, "N", &a->max_tokens, 1, INT32_MAX,
                    "most tokens generated per answer (default 256)"),
        ELM_OPT_STR("--json", NULL, "FILE", &a->json,
                    "write one JSON record per question, then a summary line"),
        ELM_OPT_STR("--chat-template", NULL, "NAME", &a->tmpl_name,
                    "use this template family instead of the model's"),
        ELM_OPT_INT("--ctx", "-c", "N", &a->c.n_ctx, 1, 1 << 24,
                    "context size (default: the trained context, at most 4096)"),
        STORE_OPTS(&a->c),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "eval gsm8k", .head = gsm8k_head, .opts = opts,
                           .tail = gsm8k_tail};
    int rc = elm_cli_parse(&spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    if ((rc = common_check(spec.cmd, &a->c)) != ELM_CLI_GO) return rc;
    a->p.n_strata = (size_t)a->n_strata;
    a->p.shots = (size_t)a->shots;
    a->p.max_tokens = (uint32_t)a->max_tokens;
    a->p.seed = (uint64_t)a->seed;
    return ELM_CLI_GO;
}

/* ---- results store ---- */

/* Open the store c names (--db, else the default path) into *st and its path into path; *st
 * stays NULL with --no-db. Opened before the run, so a bad path fails before the work. */
static int store_open(const common_args_t *c, elm_store_t **st, char *path, size_t cap,
                      elm_diag_t *d)
{
    int rc;
    *st = NULL;
    if (c->no_db) return 0;
    if (c->db)
        snprintf(path, cap, "%s", c->db);
    else if ((rc = elm_store_default_path(getenv("XDG_DATA_HOME"), getenv("HOME"), path, cap, d)))
        return rc;
    return elm_store_open(path, st, d);
}

/* Append e (its model's size and quant filled in here from m) with config (a record; may be
 * NULL) and items to st, when open. */
static int store_result(elm_store_t *st, const char *path, elm_eval_rec_t *e, const elm_model_t *m,
                        const cJSON *config, const elm_eval_item_t *items, size_t n_items,
                        elm_diag_t *d)
{
    char quant[16];
    char *cfg = NULL;
    struct stat sb;
    int rc = 0;
    if (!st) return 0;
    elm_bench_quant_name(m, quant, sizeof quant);
    e->quant = quant;
    e->model_bytes = stat(e->model, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    if (config && !(cfg = cJSON_PrintUnformatted(config)))
        return elm_diag(d, ELM_ENOMEM, "out of memory");
    e->config = cfg;
    if ((rc = elm_store_add_eval(st, e, items, n_items, NULL, d))) goto fail;
    fprintf(stderr, "edgelm eval %s: result%s appended to %s\n", elm_eval_kind_name(e->kind),
            n_items ? " and question records" : "", path);
fail:
    cJSON_free(cfg);
    return rc;
}

/* ---- ppl ---- */

static bool print_chunk(void *user, const elm_ppl_chunk_t *c)
{
    cJSON *chunks = user;
    if (!chunks) {
        printf("[%" PRIu32 "]%.4f,", c->chunk + 1, c->cum_ppl);
        fflush(stdout);
        return true;
    }
    cJSON *o = elm_ppl_chunk_record(c);
    if (o && cJSON_AddItemToArray(chunks, o)) return true;
    cJSON_Delete(o);
    return false;
}

/* The result on stdout: the record with its chunks (taken) as JSON, or the text report. */
static int print_ppl(const ppl_args_t *a, cJSON *rec, cJSON *chunks, const elm_ppl_result_t *res,
                     double secs, elm_diag_t *d)
{
    if (!a->json) {
        printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", res->ppl, res->ppl_err);
        fprintf(stderr,
                "edgelm eval ppl: %" PRIu32 " tokens, %" PRIu32 " chunks, %" PRIu64
                " scored, %.2f s\n",
                res->n_tokens, res->n_chunks, res->n_scored, secs);
        return 0;
    }
    if (!cJSON_AddItemToObject(rec, "chunks", chunks)) {
        cJSON_Delete(chunks);
        return elm_diag(d, ELM_ENOMEM, "out of memory");
    }
    char *s = cJSON_Print(rec);
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "chunks"); /* the store keeps the record only */
    if (!s) return elm_diag(d, ELM_ENOMEM, "out of memory");
    printf("%s\n", s);
    cJSON_free(s);
    return 0;
}

static int cmd_ppl(int argc, char **argv)
{
    ppl_args_t a;
    int status = ppl_parse(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;
    int rc;
    elm_diag_t d;
    elm_model_t *m = NULL;
    elm_store_t *store = NULL;
    char db_path[1024];
    cJSON *rec = NULL, *chunks = NULL;
    size_t len = 0;
    char *text = NULL;
    elm_ppl_params_t pp = elm_ppl_default_params();
    pp.n_ctx = (uint32_t)a.c.n_ctx;
    pp.n_batch = (uint32_t)a.n_batch;
    pp.n_threads = a.c.n_threads;
    pp.kv_type = a.c.kv_type;

    if ((rc = elm_file_read(a.file, 0, &text, &len, &d))) goto fail;
    if ((rc = store_open(&a.c, &store, db_path, sizeof db_path, &d))) goto fail;
    if ((rc = elm_model_load(a.c.model, NULL, NULL, &m, &d))) goto fail;
    if (a.json && !(chunks = cJSON_CreateArray())) {
        rc = elm_diag(&d, ELM_ENOMEM, "out of memory");
        goto fail;
    }
    if (!a.json)
        fprintf(stderr,
                "edgelm eval ppl: %s on %s, n_ctx=%d, batch %d, %d threads, %s KV cache\n",
                a.c.model, a.file, a.c.n_ctx, a.n_batch, a.c.n_threads,
                a.c.kv_type == ELM_TYPE_F32 ? "f32" : "f16");
    elm_ppl_result_t res;
    uint64_t t0 = elm_time_ns();
    rc = elm_ppl_text(m, text, len, &pp, print_chunk, chunks, &res, &d);
    double secs = (double)(elm_time_ns() - t0) / 1e9;
    if (rc) {
        if (!a.json) printf("\n");
        goto fail;
    }
    if (!(rec = elm_ppl_record(a.c.model, a.file, &pp, &res, secs))) {
        rc = elm_diag(&d, ELM_ENOMEM, "out of memory");
        goto fail;
    }
    rc = print_ppl(&a, rec, chunks, &res, secs, &d);
    chunks = NULL; /* print_ppl took them */
    if (rc) goto fail;
    elm_eval_rec_t e = {.kind = ELM_EVAL_PPL,
                        .model = a.c.model,
                        .n = pp.n_ctx,
                        .value = res.ppl,
                        .err = res.ppl_err};
    if ((rc = store_result(store, db_path, &e, m, rec, NULL, 0, &d))) goto fail;
    status = 0;
    goto done;
fail:
    status = elm_cli_fail(&d, rc);
done:
    cJSON_Delete(chunks);
    cJSON_Delete(rec);
    elm_store_close(store);
    elm_model_free(m);
    free(text);
    return status;
}

/* ---- gsm8k ---- */

/* Where each question's record goes: the --json file and the store's items (their texts owned
 * here). */
typedef struct {
    FILE *jf;
    const char *json_path;
    elm_eval_item_t *items; /* (n) when the store is open, else NULL */
    size_t n_items;
} sink_t;

static int print_item(void *user, const elm_gsm8k_step_t *st, elm_diag_t *d)
{
    sink_t *k = user;
    const elm_gsm8k_answer_t *ans = st->answer;
    char got[64] = "none";
    if (ans->has_answer) snprintf(got, sizeof got, "%.15g", ans->extracted);
    printf("[%zu/%zu] id %zu: expected %.15g, extracted %s, %s | %" PRIu32 " tokens, %.0f ms\n",
           st->i + 1, st->n, st->id, st->item->expected, got, ans->correct ? "correct" : "wrong",
           ans->n_tokens, ans->time_ms);
    fflush(stdout);
    if (!k->jf && !k->items) return 0;
    cJSON *r = elm_gsm8k_item_record(st);
    char *line = r ? cJSON_PrintUnformatted(r) : NULL;
    cJSON_Delete(r);
    if (!line) return elm_diag(d, ELM_ENOMEM, "out of memory");
    bool written = !k->jf || fprintf(k->jf, "%s\n", line) >= 0;
    if (k->items)
        k->items[k->n_items++] = (elm_eval_item_t){.item = (int64_t)st->id, .json = line};
    else
        cJSON_free(line);
    return written ? 0 : elm_diag(d, ELM_EIO, "%s: write failed", k->json_path);
}

static void print_sample(const elm_gsm8k_summary_t *sum, uint64_t seed)
{
    if (sum->n < sum->n_total) {
        printf("sample: %zu of %zu questions, %zu length strata (", sum->n, sum->n_total,
               sum->n_strata);
        for (size_t k = 0; k < sum->n_strata; k++)
            printf("%s%zu", k ? "/" : "", sum->per_stratum[k]);
        printf("), seed %" PRIu64 "\n", seed);
    } else {
        printf("all %zu questions\n", sum->n);
    }
    printf("ids:");
    for (size_t i = 0; i < sum->n; i++)
        printf("%s%zu", i ? "," : " ", sum->ids[i]);
    printf("\n");
    fflush(stdout);
}

/* The questions (--data, else the user's default) and, with --shots, the worked examples. */
static int gsm8k_load(const gsm8k_args_t *a, elm_gsm8k_set_t **set, elm_gsm8k_set_t **shots,
                      elm_diag_t *d)
{
    char def[4096];
    const char *data = a->data;
    int rc = 0;
    if (!data && (rc = elm_gsm8k_default_path(getenv("XDG_DATA_HOME"), getenv("HOME"), def,
                                              sizeof def, d)))
        return rc;
    if ((rc = elm_gsm8k_load(data ? data : def, set, d))) return rc;
    return a->p.shots ? elm_gsm8k_load_shots(*set, a->train, shots, d) : 0;
}

/* The summary on stdout, in the --json file (closed here) and in the store. */
static int gsm8k_finish(const gsm8k_args_t *a, const elm_gsm8k_set_t *set, elm_chat_tmpl_t tmpl,
                        const elm_gsm8k_summary_t *sum, sink_t *k, elm_store_t *store,
                        const char *db_path, const elm_model_t *m, elm_diag_t *d)
{
    printf("accuracy: %zu/%zu = %.1f%% (95%% CI %.1f-%.1f%%, Wilson) | %" PRIu64
           " tokens, %.1f s\n",
           sum->correct, sum->n, 100 * sum->accuracy, 100 * sum->ci95_low, 100 * sum->ci95_high,
           sum->tokens, sum->time_ms / 1e3);
    if (!k->jf && !store) return 0;
    cJSON *r = elm_gsm8k_summary_record(a->c.model, set, &a->p, tmpl, sum);
    char *line = r ? cJSON_PrintUnformatted(r) : NULL;
    int rc = line ? 0 : elm_diag(d, ELM_ENOMEM, "out of memory");
    if (k->jf) {
        bool ok = line && fprintf(k->jf, "%s\n", line) >= 0;
        if (fclose(k->jf) != 0) ok = false;
        k->jf = NULL;
        if (!rc && !ok) rc = elm_diag(d, ELM_EIO, "%s: write failed", k->json_path);
    }
    elm_eval_rec_t e = {.kind = ELM_EVAL_GSM8K,
                        .model = a->c.model,
                        .n = (uint32_t)sum->n,
                        .value = sum->accuracy,
                        .err = (sum->ci95_high - sum->ci95_low) / 2};
    if (!rc) rc = store_result(store, db_path, &e, m, r, k->items, k->n_items, d);
    cJSON_free(line);
    cJSON_Delete(r);
    return rc;
}

static int cmd_gsm8k(int argc, char **argv)
{
    gsm8k_args_t a;
    int status = gsm8k_parse(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;
    int rc;
    elm_diag_t d;
    elm_model_t *m = NULL;
    elm_session_t *s = NULL;
    elm_tokenizer_t *tok = NULL;
    elm_gsm8k_set_t *set = NULL, *shots = NULL;
    elm_gsm8k_summary_t sum = {0};
    elm_store_t *store = NULL;
    char db_path[1024];
    sink_t sink = {.json_path = a.json};
    elm_chat_tmpl_t tmpl;

    if ((rc = gsm8k_load(&a, &set, &shots, &d))) goto fail;
    if ((rc = store_open(&a.c, &store, db_path, sizeof db_path, &d))) goto fail;
    if ((rc = elm_gsm8k_plan(set, &a.p, &sum, &d))) goto fail;
    if (store && !(sink.items = calloc(sum.n, sizeof *sink.items))) {
        rc = elm_diag(&d, ELM_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = elm_model_load(a.c.model, NULL, NULL, &m, &d))) goto fail;
    if ((rc = elm_tokenizer_from_gguf(elm_model_gguf(m), &tok, &d))) goto fail;
    if ((rc = elm_chat_pick(tok, a.tmpl_name, &tmpl, &d))) goto fail;
    elm_session_params_t sp = elm_session_default_params();
    sp.n_ctx = (uint32_t)a.c.n_ctx;
    sp.n_threads = a.c.n_threads;
    sp.kv_type = a.c.kv_type;
    if ((rc = elm_session_create(m, &sp, &s, &d))) goto fail;
    if (a.json && !(sink.jf = fopen(a.json, "w"))) {
        int err = errno;
        rc = elm_diag(&d, elm_from_errno(err), "%s: cannot write (%s)", a.json, strerror(err));
        goto fail;
    }
    print_sample(&sum, a.p.seed);
    if ((rc = elm_gsm8k_run(s, tok, tmpl, set, shots, &a.p, print_item, &sink, &sum, &d)))
        goto fail;
    if ((rc = gsm8k_finish(&a, set, tmpl, &sum, &sink, store, db_path, m, &d))) goto fail;
    status = 0;
    goto done;
fail:
    status = elm_cli_fail(&d, rc);
done:
    if (sink.jf) fclose(sink.jf);
    for (size_t i = 0; i < sink.n_items; i++)
        cJSON_free((void *)sink.items[i].json);
    free(sink.items);
    elm_store_close(store);
    elm_gsm8k_summary_free(&sum);
    elm_gsm8k_free(shots);
    elm_gsm8k_free(set);
    elm_session_free(s);
    elm_tokenizer_free(tok);
    elm_model_free(m);
    return status;
}

/* ---- the command ---- */

/* `eval --help`: both subcommands' help, printed by their parsers from their tables. */
static void print_help(void)
{
    char name[] = "eval", help[] = "--help";
    char *argv[] = {name, help, NULL};
    ppl_args_t pa;
    gsm8k_args_t ga;
    ppl_parse(&pa, 2, argv);
    fputc('\n', stdout);
    gsm8k_parse(&ga, 2, argv);
}

int elm_cmd_eval(int argc, char **argv)
{
    if (argc < 2) return elm_cli_usage_error("eval", "say what to evaluate: ppl or gsm8k");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        print_help();
        return 0;
    }
    if (!strcmp(argv[1], "ppl")) return cmd_ppl(argc - 1, argv + 1);
    if (!strcmp(argv[1], "gsm8k")) return cmd_gsm8k(argc - 1, argv + 1);
    return elm_cli_usage_error("eval", "unknown evaluation '%s' (ppl or gsm8k)", argv[1]);
}
