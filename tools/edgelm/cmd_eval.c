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

#include "cmd_eval.h"
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

/* ---- arguments shared with gsm8k (cmd_eval.h) ---- */

int elm__eval_kv_type(const char *v, void *dst, char *err, size_t err_len)
{
    if (!strcmp(v, "f16") || !strcmp(v, "f32")) {
        *(elm_type_t *)dst = strcmp(v, "f32") ? ELM_TYPE_F16 : ELM_TYPE_F32;
        return 0;
    }
    snprintf(err, err_len, "must be f16 or f32");
    return -1;
}

elm__eval_args_t elm__eval_defaults(int n_ctx)
{
    return (elm__eval_args_t){
        .n_threads = elm_cli_default_threads(), .n_ctx = n_ctx, .kv_type = ELM_TYPE_F16};
}

int elm__eval_check(const char *cmd, const elm__eval_args_t *c)
{
    if (!c->model) return elm_cli_usage_error(cmd, "no model given (-m MODEL)");
    if (c->no_db && c->db)
        return elm_cli_usage_error(cmd, "--db and --no-db go against each other");
    return ELM_CLI_GO;
}

typedef struct {
    elm__eval_args_t c;
    const char *file;
    int n_batch;
    bool json;
} ppl_args_t;

/* Returns ELM_CLI_GO, or the exit status of --help or a usage error. */
static int ppl_parse(ppl_args_t *a, int argc, char **argv)
{
    *a = (ppl_args_t){.c = elm__eval_defaults(512), .n_batch = 512};
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
    if ((rc = elm__eval_check(spec.cmd, &a->c)) != ELM_CLI_GO) return rc;
    if (!a->file) return elm_cli_usage_error(spec.cmd, "no text given (-f FILE)");
    return ELM_CLI_GO;
}

/* ---- results store ---- */

int elm__eval_store_result(elm_store_t *st, const char *path, elm_eval_rec_t *e,
                           const elm_model_t *m, const cJSON *config, const elm_eval_item_t *items,
                           size_t n_items, elm_diag_t *d)
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
    if ((rc = elm_cli_store_open(a.c.db, a.c.no_db, &store, db_path, sizeof db_path, &d)))
        goto fail;
    if ((rc = elm_model_load(a.c.model, NULL, NULL, &m, &d))) goto fail;
    if (a.json && !(chunks = cJSON_CreateArray())) {
        rc = elm_diag(&d, ELM_ENOMEM, "out of memory");
        goto fail;
    }
    if (!a.json)
        fprintf(stderr, "edgelm eval ppl: %s on %s, n_ctx=%d, batch %d, %d threads, %s KV cache\n",
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
    if ((rc = elm__eval_store_result(store, db_path, &e, m, rec, NULL, 0, &d))) goto fail;
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

/* ---- the command ---- */

/* `eval --help`: both subcommands' help, printed by their parsers from their tables. */
static void print_help(void)
{
    char name[] = "eval", help[] = "--help";
    char *argv[] = {name, help, NULL};
    ppl_args_t pa;
    ppl_parse(&pa, 2, argv);
    fputc('\n', stdout);
    elm__eval_gsm8k(2, argv);
}

int elm_cmd_eval(int argc, char **argv)
{
    if (argc < 2) return elm_cli_usage_error("eval", "say what to evaluate: ppl or gsm8k");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        print_help();
        return 0;
    }
    if (!strcmp(argv[1], "ppl")) return cmd_ppl(argc - 1, argv + 1);
    if (!strcmp(argv[1], "gsm8k")) return elm__eval_gsm8k(argc - 1, argv + 1);
    return elm_cli_usage_error("eval", "unknown evaluation '%s' (ppl or gsm8k)", argv[1]);
}
