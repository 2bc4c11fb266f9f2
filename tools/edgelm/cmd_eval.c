/* `edgelm eval`: model quality on this device. `eval ppl` prints perplexity over a text the way
 * llama-perplexity does; `eval gsm8k` answers GSM8K questions greedily and scores pass@1, with one
 * JSON record per question. Final results (and GSM8K's records) are appended to the results
 * store. */
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

static const char usage_text[] =
    "usage: edgelm eval ppl -m MODEL -f TEXT [-c N] [-b N] [-t N] [--kv-type f16|f32] [--json]\n"
    "                       [--db FILE | --no-db]\n"
    "       edgelm eval gsm8k -m MODEL [-n N|all] [--shots K] [--seed S] [--data FILE]\n"
    "                         [--max-tokens N] [--json FILE] [--db FILE | --no-db] [options]\n"
    "\n"
    "ppl: perplexity by llama-perplexity's method. The file (one trailing newline dropped) is\n"
    "tokenized once with BOS, cut into chunks of -c tokens (the tail is unused), the first\n"
    "token of each chunk replaced by BOS, and the second half of each chunk scored. Prints the\n"
    "running estimate after each chunk ([1]x,[2]y,...) and the final PPL +/- its error.\n"
    "  -m, --model FILE       GGUF model\n"
    "  -f, --file FILE        text file (at least 2 x N tokens)\n"
    "  -c, --ctx N            chunk length in tokens (default 512)\n"
    "  -b, --batch N          most tokens per forward pass (default 512)\n"
    "  -t, --threads N        threads (default: the number of CPUs)\n"
    "  --kv-type f16|f32      KV cache type (default f16, as llama-perplexity)\n"
    "  --json                 print one JSON object instead of the text report\n"
    "\n"
    "gsm8k: pass@1 with greedy decoding in the model's chat template; the answer is the number\n"
    "after \"####\", else after \"The answer is\", else the last number, compared exactly.\n"
    "  -m, --model FILE       GGUF model\n"
    "  -n N|all               a length-stratified sample of N questions, or all (default 100)\n"
    "  --strata K             length strata for the sample (default 4: quartiles)\n"
    "  --seed S               seed of the sample (default 0)\n"
    "  --shots K              worked examples before the question, the first K of --train\n"
    "                         (default 0)\n"
    "  --data FILE            questions, JSON lines with \"question\" and \"answer\"\n"
    "                         (default $EDGELM_TEST_DATA/gsm8k/test.jsonl, else\n"
    "                         ../shared/data/gsm8k/test.jsonl)\n"
    "  --train FILE           worked examples (default: train.jsonl beside --data)\n"
    "  --max-tokens N         most tokens generated per answer (default 256)\n"
    "  --json FILE            write one JSON record per question, then a summary line\n"
    "  --chat-template NAME   use this template family instead of the model's\n"
    "  --ctx N                context size (default: the trained context, at most 4096)\n"
    "  -t, --threads N        threads (default: the number of CPUs)\n"
    "  --kv-type f16|f32      KV cache type (default f16)\n"
    "\n"
    "both:\n"
    "  --db FILE              results store the final result is appended to (gsm8k: with every\n"
    "                         question's record); default $XDG_DATA_HOME/edgelm/results.db, else\n"
    "                         ~/.local/share/edgelm/results.db; schema in docs/store.md\n"
    "  --no-db                do not append to the results store\n"
    "\n"
    "examples:\n"
    "  edgelm eval ppl -m stories260K.gguf -f tinystories_sample.txt -c 128 --kv-type f32\n"
    "  edgelm eval gsm8k -m qwen2.5-0.5b-instruct-q4_k_m.gguf -n 100 --json gsm8k.jsonl\n";

static const char CMD[] = "eval";

static int64_t default_threads(void)
{
    int64_t n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    return n > ELM_POOL_MAX_THREADS ? ELM_POOL_MAX_THREADS : n;
}

/* The options both subcommands share; returns 1 when a was one of them (*i advanced), 0 when
 * not, or the usage-error status (2) for a bad value. */
typedef struct {
    const char *model;
    int64_t n_threads, n_ctx;
    elm_type_t kv_type;
    const char *db;
    bool no_db;
} common_opts_t;

static int common_opt(common_opts_t *o, const char *a, const char *v)
{
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        o->model = v;
    } else if (!strcmp(a, "--db")) {
        o->db = v;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        if (!elm_cli_parse_i64(v, 1, ELM_POOL_MAX_THREADS, &o->n_threads))
            return elm_cli_usage_error(CMD, "-t must be a thread count in 1..%d, not '%s'",
                                       ELM_POOL_MAX_THREADS, v);
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
        if (!elm_cli_parse_i64(v, 1, 1 << 24, &o->n_ctx))
            return elm_cli_usage_error(CMD, "%s must be a context size >= 1, not '%s'", a, v);
    } else if (!strcmp(a, "--kv-type")) {
        if (!strcmp(v, "f16"))
            o->kv_type = ELM_TYPE_F16;
        else if (!strcmp(v, "f32"))
            o->kv_type = ELM_TYPE_F32;
        else
            return elm_cli_usage_error(CMD, "--kv-type must be f16 or f32, not '%s'", v);
    } else {
        return 0;
    }
    return 1;
}

/* Check what both subcommands take after parsing; returns -1 to go on, or the exit status. */
static int common_check(const common_opts_t *o)
{
    if (!o->model) return elm_cli_usage_error(CMD, "no model given (-m MODEL)");
    if (o->no_db && o->db)
        return elm_cli_usage_error(CMD, "--db and --no-db go against each other");
    return -1;
}

/* ---- results store ---- */

/* Open the store o names (--db, else the default path) into *st and its path into path; *st
 * stays NULL with --no-db. Opened before the run, so a bad path fails before the work. */
static int store_open(const common_opts_t *o, elm_store_t **st, char *path, size_t cap,
                      elm_diag_t *d)
{
    int rc;
    *st = NULL;
    if (o->no_db) return 0;
    if (o->db)
        snprintf(path, cap, "%s", o->db);
    else if ((rc = elm_store_default_path(getenv("XDG_DATA_HOME"), getenv("HOME"), path, cap, d)))
        return rc;
    return elm_store_open(path, st, d);
}

/* Append e (its model's size and quant filled in here from m) and its items to st, when open;
 * config (consumed, may be NULL) becomes the row's config JSON. */
static int store_result(elm_store_t *st, const char *path, elm_eval_rec_t *e, const elm_model_t *m,
                        cJSON *config, const elm_eval_item_t *items, size_t n_items, elm_diag_t *d)
{
    char quant[16];
    char *cfg = NULL;
    struct stat sb;
    int rc = 0;
    if (!st) goto done;
    elm_bench_quant_name(m, quant, sizeof quant);
    e->quant = quant;
    e->model_bytes = stat(e->model, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    if (config && !(cfg = cJSON_PrintUnformatted(config))) {
        rc = elm_diag(d, ELM_ENOMEM, "out of memory");
        goto done;
    }
    e->config = cfg;
    if ((rc = elm_store_add_eval(st, e, items, n_items, NULL, d))) goto done;
    fprintf(stderr, "edgelm eval %s: result%s appended to %s\n", elm_eval_kind_name(e->kind),
            n_items ? " and question records" : "", path);
done:
    cJSON_free(cfg);
    cJSON_Delete(config);
    return rc;
}

/* ---- ppl ---- */

static bool print_chunk(void *user, const elm_ppl_chunk_t *c)
{
    cJSON *chunks = user;
    if (chunks) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "chunk", c->chunk + 1);
        cJSON_AddNumberToObject(o, "ppl", c->ppl);
        cJSON_AddNumberToObject(o, "cumulative_ppl", c->cum_ppl);
        cJSON_AddNumberToObject(o, "cumulative_err", c->cum_err);
        cJSON_AddItemToArray(chunks, o);
        return true;
    }
    printf("[%" PRIu32 "]%.4f,", c->chunk + 1, c->cum_ppl);
    fflush(stdout);
    return true;
}

static int cmd_ppl(int argc, char **argv)
{
    common_opts_t o = {.n_threads = default_threads(), .n_ctx = 512, .kv_type = ELM_TYPE_F16};
    const char *file = NULL;
    int64_t n_batch = 512;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            json = true;
            continue;
        }
        if (!strcmp(a, "--no-db")) {
            o.no_db = true;
            continue;
        }
        if (a[0] != '-') return elm_cli_usage_error(CMD, "unexpected argument '%s'", a);
        if (i + 1 >= argc) return elm_cli_usage_error(CMD, "option '%s' needs a value", a);
        const char *v = argv[++i];
        int r = common_opt(&o, a, v);
        if (r == 2) return r;
        if (r) continue;
        if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            file = v;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) {
            if (!elm_cli_parse_i64(v, 1, 1 << 20, &n_batch))
                return elm_cli_usage_error(CMD, "-b must be a batch size >= 1, not '%s'", v);
        } else {
            return elm_cli_usage_error(CMD, "unknown option '%s'", a);
        }
    }
    int st0 = common_check(&o);
    if (st0 >= 0) return st0;
    if (!file) return elm_cli_usage_error(CMD, "no text given (-f FILE)");
    if (o.n_ctx < 4)
        return elm_cli_usage_error(CMD, "-c must be at least 4 (the second half is scored)");

    int status = 1, rc;
    elm_diag_t d;
    elm_model_t *m = NULL;
    elm_store_t *store = NULL;
    char db_path[1024];
    cJSON *root = NULL, *chunks = NULL;
    size_t len = 0;
    char *text = NULL;
    if ((rc = elm_eval_read_file(file, &text, &len, &d))) goto fail;
    if ((rc = store_open(&o, &store, db_path, sizeof db_path, &d))) goto fail;
    if ((rc = elm_model_load(o.model, NULL, NULL, &m, &d))) goto fail;
    elm_ppl_params_t pp = elm_ppl_default_params();
    pp.n_ctx = (uint32_t)o.n_ctx;
    pp.n_batch = (uint32_t)n_batch;
    pp.n_threads = (int)o.n_threads;
    pp.kv_type = o.kv_type;
    if (json && (!(root = cJSON_CreateObject()) || !(chunks = cJSON_CreateArray()))) {
        rc = elm_diag(&d, ELM_ENOMEM, "out of memory");
        goto fail;
    }
    if (!json)
        fprintf(stderr,
                "edgelm eval ppl: %s on %s, n_ctx=%" PRId64 ", batch %" PRId64 ", %" PRId64
                " threads, %s KV cache\n",
                o.model, file, o.n_ctx, n_batch, o.n_threads,
                o.kv_type == ELM_TYPE_F32 ? "f32" : "f16");
    elm_ppl_result_t res;
    uint64_t t0 = elm_time_ns();
    rc = elm_ppl_text(m, text, len, &pp, print_chunk, chunks, &res, &d);
    double secs = (double)(elm_time_ns() - t0) / 1e9;
    if (rc) {
        if (!json) printf("\n");
        goto fail;
    }
    if (json) {
        cJSON_AddStringToObject(root, "model", o.model);
        cJSON_AddStringToObject(root, "file", file);
        cJSON_AddNumberToObject(root, "n_ctx", (double)o.n_ctx);
        cJSON_AddStringToObject(root, "kv_type", o.kv_type == ELM_TYPE_F32 ? "f32" : "f16");
        cJSON_AddNumberToObject(root, "n_tokens", res.n_tokens);
        cJSON_AddNumberToObject(root, "n_chunks", res.n_chunks);
        cJSON_AddNumberToObject(root, "n_scored", (double)res.n_scored);
        cJSON_AddNumberToObject(root, "mean_nll", res.mean_nll);
        cJSON_AddNumberToObject(root, "ppl", res.ppl);
        cJSON_AddNumberToObject(root, "ppl_err", res.ppl_err);
        cJSON_AddNumberToObject(root, "seconds", secs);
        cJSON_AddItemToObject(root, "chunks", chunks);
        chunks = NULL;
        char *s = cJSON_Print(root);
        if (!s) {
            rc = elm_diag(&d, ELM_ENOMEM, "out of memory");
            goto fail;
        }
        printf("%s\n", s);
        cJSON_free(s);
    } else {
        printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_err);
        fprintf(stderr,
                "edgelm eval ppl: %" PRIu32 " tokens, %" PRIu32 " chunks, %" PRIu64
                " scored, %.2f s\n",
                res.n_tokens, res.n_chunks, res.n_scored, secs);
    }
    if (store) {
        elm_eval_rec_t e = {.kind = ELM_EVAL_PPL,
                            .model = o.model,
                            .n = (uint32_t)o.n_ctx,
                            .value = res.ppl,
                            .err = res.ppl_err};
        cJSON *cfg = cJSON_CreateObject();
        if (cfg) {
            cJSON_AddStringToObject(cfg, "file", file);
            cJSON_AddNumberToObject(cfg, "n_batch", (double)n_batch);
            cJSON_AddNumberToObject(cfg, "threads", (double)o.n_threads);
            cJSON_AddStringToObject(cfg, "kv_type", o.kv_type == ELM_TYPE_F32 ? "f32" : "f16");
            cJSON_AddNumberToObject(cfg, "n_tokens", res.n_tokens);
            cJSON_AddNumberToObject(cfg, "n_chunks", res.n_chunks);
            cJSON_AddNumberToObject(cfg, "n_scored", (double)res.n_scored);
            cJSON_AddNumberToObject(cfg, "mean_nll", res.mean_nll);
            cJSON_AddNumberToObject(cfg, "seconds", secs);
        }
        if ((rc = store_result(store, db_path, &e, m, cfg, NULL, 0, &d))) goto fail;
    }
    status = 0;
    goto done;
fail:
    status = elm_cli_fail(&d, rc);
done:
    cJSON_Delete(chunks);
    cJSON_Delete(root);
    elm_store_close(store);
    elm_model_free(m);
    free(text);
    return status;
}

/* ---- gsm8k ---- */

/* The file called name in the folder of data (malloc'd; caller frees). */
static char *beside(const char *data, const char *name)
{
    const char *slash = strrchr(data, '/');
    size_t dir = slash ? (size_t)(slash - data) + 1 : 0;
    char *p = malloc(dir + strlen(name) + 1);
    if (!p) return NULL;
    memcpy(p, data, dir);
    strcpy(p + dir, name);
    return p;
}

/* j as one line of text (malloc'd, caller frees with cJSON_free), j freed; NULL when out of
 * memory. */
static char *line_text(cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return s;
}

/* Write j as one line of f and free it; false on a failed write. */
static bool write_line(FILE *f, cJSON *j)
{
    char *s = line_text(j);
    if (!s) return false;
    bool ok = fprintf(f, "%s\n", s) >= 0;
    cJSON_free(s);
    return ok;
}

typedef struct {
    const char *model, *data, *train, *json, *tmpl_name;
    size_t n, n_strata, shots;
    uint64_t seed;
    int64_t max_tokens;
} gsm8k_opts_t;

static int gsm8k_run(const gsm8k_opts_t *g, const common_opts_t *o)
{
    int status = 1, rc;
    elm_diag_t d;
    elm_model_t *m = NULL;
    elm_session_t *s = NULL;
    elm_tokenizer_t *tok = NULL;
    elm_gsm8k_set_t *set = NULL, *shots = NULL;
    size_t *ids = NULL, *per = NULL;
    char *train = NULL, *prompt = NULL;
    FILE *jf = NULL;
    elm_gsm8k_answer_t ans = {0};
    elm_store_t *store = NULL;
    char db_path[1024];
    elm_eval_item_t *items = NULL; /* their json texts are owned here */
    size_t n_items = 0;

    if ((rc = elm_gsm8k_load(g->data, &set, &d))) goto fail;
    if ((rc = store_open(o, &store, db_path, sizeof db_path, &d))) goto fail;
    if (g->shots > 0) {
        if (!g->train && !(train = beside(g->data, "train.jsonl"))) {
            rc = elm_diag(&d, ELM_ENOMEM, "out of memory");
            goto fail;
        }
        if ((rc = elm_gsm8k_load(g->train ? g->train : train, &shots, &d))) goto fail;
    }
    size_t n = g->n && g->n < set->n ? g->n : set->n;
    ids = malloc(n * sizeof *ids);
    per = calloc(g->n_strata, sizeof *per);
    if (store) items = calloc(n, sizeof *items);
    if (!ids || !per || (store && !items)) {
        rc = elm_diag(&d, ELM_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = elm_gsm8k_sample(set, n, g->seed, g->n_strata, ids, per, &d))) goto fail;

    if ((rc = elm_model_load(g->model, NULL, NULL, &m, &d))) goto fail;
    if ((rc = elm_tokenizer_from_gguf(elm_model_gguf(m), &tok, &d))) goto fail;
    elm_chat_tmpl_t tmpl;
    if ((rc = elm_chat_pick(tok, g->tmpl_name, &tmpl, &d))) goto fail;
    elm_session_params_t sp = elm_session_default_params();
    sp.n_ctx = (uint32_t)o->n_ctx;
    sp.n_threads = (int)o->n_threads;
    sp.kv_type = o->kv_type;
    if ((rc = elm_session_create(m, &sp, &s, &d))) goto fail;
    if (g->json && !(jf = fopen(g->json, "w"))) {
        int err = errno;
        rc = elm_diag(&d, elm_from_errno(err), "%s: cannot write (%s)", g->json, strerror(err));
        goto fail;
    }

    if (n < set->n) {
        printf("sample: %zu of %zu questions, %zu length strata (", n, set->n, g->n_strata);
        for (size_t k = 0; k < g->n_strata; k++)
            printf("%s%zu", k ? "/" : "", per[k]);
        printf("), seed %" PRIu64 "\n", g->seed);
    } else {
        printf("all %zu questions\n", n);
    }
    printf("ids:");
    for (size_t i = 0; i < n; i++)
        printf("%s%zu", i ? "," : " ", ids[i]);
    printf("\n");
    fflush(stdout);

    size_t n_correct = 0;
    double total_ms = 0;
    uint64_t total_tokens = 0;
    for (size_t i = 0; i < n; i++) {
        const elm_gsm8k_item_t *it = &set->items[ids[i]];
        free(prompt);
        prompt = NULL;
        if ((rc = elm_gsm8k_prompt(shots, g->shots, it->question, tmpl, &prompt, &d))) goto fail;
        elm_gsm8k_answer_clear(&ans);
        rc = elm_gsm8k_answer(s, tok, prompt, (uint32_t)g->max_tokens, it->expected, &ans, &d);
        if (rc) {
            char why[sizeof d.msg];
            snprintf(why, sizeof why, "%s", d.msg);
            rc = elm_diag(&d, rc, "%s: question %zu (line %" PRIu32 "): %s", g->data, ids[i],
                          it->line, why);
            goto fail;
        }
        n_correct += ans.correct;
        total_ms += ans.time_ms;
        total_tokens += ans.n_tokens;
        char got[64] = "none";
        if (ans.has_answer) snprintf(got, sizeof got, "%.15g", ans.extracted);
        printf("[%zu/%zu] id %zu: expected %.15g, extracted %s, %s | %" PRIu32 " tokens, %.0f ms\n",
               i + 1, n, ids[i], it->expected, got, ans.correct ? "correct" : "wrong", ans.n_tokens,
               ans.time_ms);
        fflush(stdout);
        if (jf || store) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "type", "question");
            cJSON_AddNumberToObject(r, "id", (double)ids[i]);
            cJSON_AddNumberToObject(r, "line", it->line);
            cJSON_AddStringToObject(r, "prompt", prompt);
            cJSON_AddStringToObject(r, "response", ans.response);
            if (ans.has_answer)
                cJSON_AddNumberToObject(r, "extracted", ans.extracted);
            else
                cJSON_AddNullToObject(r, "extracted");
            cJSON_AddNumberToObject(r, "expected", it->expected);
            cJSON_AddBoolToObject(r, "correct", ans.correct);
            cJSON_AddNumberToObject(r, "prompt_tokens", ans.n_prompt);
            cJSON_AddNumberToObject(r, "tokens", ans.n_tokens);
            cJSON_AddNumberToObject(r, "time_ms", ans.time_ms);
            char *line = line_text(r);
            if (!line) {
                rc = elm_diag(&d, ELM_ENOMEM, "out of memory");
                goto fail;
            }
            bool written = !jf || fprintf(jf, "%s\n", line) >= 0;
            if (store)
                items[n_items++] = (elm_eval_item_t){.item = (int64_t)ids[i], .json = line};
            else
                cJSON_free(line);
            if (!written) {
                rc = elm_diag(&d, ELM_EIO, "%s: write failed", g->json);
                goto fail;
            }
        }
    }
    double lo, hi, acc = (double)n_correct / (double)n;
    elm_eval_wilson95(n_correct, n, &lo, &hi);
    printf("accuracy: %zu/%zu = %.1f%% (95%% CI %.1f-%.1f%%, Wilson) | %" PRIu64
           " tokens, %.1f s\n",
           n_correct, n, 100 * acc, 100 * lo, 100 * hi, total_tokens, total_ms / 1e3);
    cJSON *r = jf || store ? cJSON_CreateObject() : NULL;
    if (r) {
        cJSON_AddStringToObject(r, "type", "summary");
        cJSON_AddStringToObject(r, "model", g->model);
        cJSON_AddStringToObject(r, "data", g->data);
        cJSON_AddNumberToObject(r, "n", (double)n);
        cJSON_AddNumberToObject(r, "n_total", (double)set->n);
        cJSON_AddNumberToObject(r, "correct", (double)n_correct);
        cJSON_AddNumberToObject(r, "accuracy", acc);
        cJSON_AddNumberToObject(r, "ci95_low", lo);
        cJSON_AddNumberToObject(r, "ci95_high", hi);
        cJSON_AddNumberToObject(r, "shots", (double)g->shots);
        cJSON_AddNumberToObject(r, "seed", (double)g->seed);
        cJSON_AddNumberToObject(r, "max_tokens", (double)g->max_tokens);
        cJSON_AddStringToObject(r, "chat_template", elm_chat_name(tmpl));
        cJSON_AddNumberToObject(r, "tokens", (double)total_tokens);
        cJSON_AddNumberToObject(r, "time_ms", total_ms);
        cJSON *id_list = cJSON_AddArrayToObject(r, "ids");
        for (size_t i = 0; id_list && i < n; i++)
            cJSON_AddItemToArray(id_list, cJSON_CreateNumber((double)ids[i]));
    }
    if (jf) {
        bool ok = write_line(jf, cJSON_Duplicate(r, true));
        if (fclose(jf) != 0) ok = false;
        jf = NULL;
        if (!ok) {
            cJSON_Delete(r);
            rc = elm_diag(&d, ELM_EIO, "%s: write failed", g->json);
            goto fail;
        }
    }
    if (store) {
        elm_eval_rec_t e = {.kind = ELM_EVAL_GSM8K,
                            .model = g->model,
                            .n = (uint32_t)n,
                            .value = acc,
                            .err = (hi - lo) / 2};
        if ((rc = store_result(store, db_path, &e, m, r, items, n_items, &d))) goto fail;
    } else {
        cJSON_Delete(r);
    }
    status = 0;
    goto done;
fail:
    status = elm_cli_fail(&d, rc);
done:
    if (jf) fclose(jf);
    for (size_t i = 0; i < n_items; i++)
        cJSON_free((void *)items[i].json);
    free(items);
    elm_store_close(store);
    elm_gsm8k_answer_clear(&ans);
    free(prompt);
    free(train);
    free(ids);
    free(per);
    elm_gsm8k_free(shots);
    elm_gsm8k_free(set);
    elm_session_free(s);
    elm_tokenizer_free(tok);
    elm_model_free(m);
    return status;
}

static int cmd_gsm8k(int argc, char **argv)
{
    common_opts_t o = {.n_threads = default_threads(), .n_ctx = 0, .kv_type = ELM_TYPE_F16};
    gsm8k_opts_t g = {.n = 100, .n_strata = 4, .max_tokens = 256};
    int64_t iv;
    char def_data[4096];
    const char *root = getenv("EDGELM_TEST_DATA");
    snprintf(def_data, sizeof def_data, "%s/gsm8k/test.jsonl",
             root && *root ? root : "../shared/data");
    g.data = def_data;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(a, "--no-db")) {
            o.no_db = true;
            continue;
        }
        if (a[0] != '-') return elm_cli_usage_error(CMD, "unexpected argument '%s'", a);
        if (i + 1 >= argc) return elm_cli_usage_error(CMD, "option '%s' needs a value", a);
        const char *v = argv[++i];
        int r = common_opt(&o, a, v);
        if (r == 2) return r;
        if (r) continue;
        if (!strcmp(a, "-n")) {
            if (!strcmp(v, "all"))
                g.n = 0;
            else if (elm_cli_parse_i64(v, 1, INT32_MAX, &iv))
                g.n = (size_t)iv;
            else
                return elm_cli_usage_error(CMD,
                                           "-n must be a question count >= 1 or 'all', not "
                                           "'%s'",
                                           v);
        } else if (!strcmp(a, "--strata")) {
            if (!elm_cli_parse_i64(v, 1, 1000, &iv))
                return elm_cli_usage_error(CMD, "--strata must be in 1..1000, not '%s'", v);
            g.n_strata = (size_t)iv;
        } else if (!strcmp(a, "--shots")) {
            if (!elm_cli_parse_i64(v, 0, 64, &iv))
                return elm_cli_usage_error(CMD, "--shots must be in 0..64, not '%s'", v);
            g.shots = (size_t)iv;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long sv = strtoull(v, &end, 10);
            if (errno || *end || !*v || v[0] == '-')
                return elm_cli_usage_error(CMD, "--seed must be a whole number >= 0, not '%s'", v);
            g.seed = sv;
        } else if (!strcmp(a, "--max-tokens")) {
            if (!elm_cli_parse_i64(v, 1, INT32_MAX, &g.max_tokens))
                return elm_cli_usage_error(CMD, "--max-tokens must be >= 1, not '%s'", v);
        } else if (!strcmp(a, "--data")) {
            g.data = v;
        } else if (!strcmp(a, "--train")) {
            g.train = v;
        } else if (!strcmp(a, "--json")) {
            g.json = v;
        } else if (!strcmp(a, "--chat-template")) {
            g.tmpl_name = v;
        } else {
            return elm_cli_usage_error(CMD, "unknown option '%s'", a);
        }
    }
    int st0 = common_check(&o);
    if (st0 >= 0) return st0;
    g.model = o.model;
    return gsm8k_run(&g, &o);
}

int elm_cmd_eval(int argc, char **argv)
{
    if (argc < 2) return elm_cli_usage_error(CMD, "say what to evaluate: ppl or gsm8k");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "ppl")) return cmd_ppl(argc - 1, argv + 1);
    if (!strcmp(argv[1], "gsm8k")) return cmd_gsm8k(argc - 1, argv + 1);
    return elm_cli_usage_error(CMD, "unknown evaluation '%s' (ppl or gsm8k)", argv[1]);
}
