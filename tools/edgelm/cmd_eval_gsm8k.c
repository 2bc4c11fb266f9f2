/* `edgelm eval gsm8k`: GSM8K pass@1 on this device — the sample and the question loop are
 * src/eval's (elm_gsm8k_plan, elm_gsm8k_run); this file parses, prints each question's line, writes
 * the --json records and appends the result to the results store. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_eval.h"
#include "edgelm/tokenizer.h"

static const char gsm8k_head[] =
    "usage: edgelm eval gsm8k -m MODEL [-n N|all] [--shots K] [--seed S] [--data FILE]\n"
    "                         [--max-tokens N] [--json FILE] [--db FILE | --no-db] [options]\n"
    "\n"
    "GSM8K pass@1 with greedy decoding in the model's chat template; the answer is the number\n"
    "after \"####\", else after \"The answer is\", else the last number, compared exactly.\n";

static const char gsm8k_tail[] =
    "example:\n"
    "  edgelm eval gsm8k -m qwen2.5-0.5b-instruct-q4_k_m.gguf -n 100 --json gsm8k.jsonl\n";

typedef struct {
    elm__eval_args_t c;
    const char *data, *train, *json, *tmpl_name;
    int64_t seed;
    int n_strata, shots, max_tokens;
    elm_gsm8k_params_t p;
} gsm8k_args_t;

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

/* Returns ELM_CLI_GO, or the exit status of --help or a usage error. */
static int gsm8k_parse(gsm8k_args_t *a, int argc, char **argv)
{
    *a = (gsm8k_args_t){.c = elm__eval_defaults(0), .p = elm_gsm8k_default_params()};
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
    elm_cli_spec_t spec = {
        .cmd = "eval gsm8k", .head = gsm8k_head, .opts = opts, .tail = gsm8k_tail};
    int rc = elm_cli_parse(&spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    if ((rc = elm__eval_check(spec.cmd, &a->c)) != ELM_CLI_GO) return rc;
    a->p.n_strata = (size_t)a->n_strata;
    a->p.shots = (size_t)a->shots;
    a->p.max_tokens = (uint32_t)a->max_tokens;
    a->p.seed = (uint64_t)a->seed;
    return ELM_CLI_GO;
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
    if (!data &&
        (rc = elm_gsm8k_default_path(getenv("XDG_DATA_HOME"), getenv("HOME"), def, sizeof def, d)))
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
    if (!rc) rc = elm__eval_store_result(store, db_path, &e, m, r, k->items, k->n_items, d);
    cJSON_free(line);
    cJSON_Delete(r);
    return rc;
}

int elm__eval_gsm8k(int argc, char **argv)
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
    if ((rc = elm_cli_store_open(a.c.db, a.c.no_db, &store, db_path, sizeof db_path, &d)))
        goto fail;
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
