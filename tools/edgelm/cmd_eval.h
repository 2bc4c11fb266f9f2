/* What the two halves of `edgelm eval` share (cmd_eval.c: the command, its common options and
 * ppl; cmd_eval_gsm8k.c: gsm8k): the options every evaluation takes and the store append. */
#ifndef ELM_CMD_EVAL_H
#define ELM_CMD_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "edgelm/engine.h"
#include "edgelm/eval.h"
#include "edgelm/pool.h"
#include "edgelm/store.h"

#define DB_HELP                                                             \
    "results store the final result is appended to (gsm8k: with\n"          \
    "every question's record); default $XDG_DATA_HOME/edgelm/results.db,\n" \
    "else ~/.local/share/edgelm/results.db; schema in docs/store.md"

/* The options both subcommands take, c pointing at a elm__eval_args_t: the model's first, the
 * store's last. */
#define MODEL_OPTS(c)                                                                 \
    ELM_OPT_STR("--model", "-m", "FILE", &(c)->model, "GGUF model"),                  \
        ELM_OPT_INT("--threads", "-t", "N", &(c)->n_threads, 1, ELM_POOL_MAX_THREADS, \
                    "threads (default: the number of CPUs)"),                         \
        ELM_OPT_FN("--kv-type", NULL, "f16|f32", elm__eval_kv_type, &(c)->kv_type,    \
                   "KV cache type (default f16)")
#define STORE_OPTS(c)                                     \
    ELM_OPT_STR("--db", NULL, "FILE", &(c)->db, DB_HELP), \
        ELM_OPT_FLAG("--no-db", NULL, &(c)->no_db, "do not append to the results store")

typedef struct {
    const char *model, *db;
    int n_threads, n_ctx;
    elm_type_t kv_type;
    bool no_db;
} elm__eval_args_t;

/* --kv-type's value parser (an ELM_OPT_FN). */
int elm__eval_kv_type(const char *v, void *dst, char *err, size_t err_len);

/* The common options' defaults with the given context size (0: the model's). */
elm__eval_args_t elm__eval_defaults(int n_ctx);

/* What every subcommand checks after parsing; ELM_CLI_GO or the usage error's status. */
int elm__eval_check(const char *cmd, const elm__eval_args_t *c);

/* Append e (its model's size and quant filled in here from m) with config (a record; may be
 * NULL) and items to st, when open; says where on stderr. */
int elm__eval_store_result(elm_store_t *st, const char *path, elm_eval_rec_t *e,
                           const elm_model_t *m, const cJSON *config, const elm_eval_item_t *items,
                           size_t n_items, elm_diag_t *d);

/* `edgelm eval gsm8k ARGS` (argv[0] is "gsm8k"); returns the exit status. */
int elm__eval_gsm8k(int argc, char **argv);

#endif
