/* A whole GSM8K run for any caller (the command, a report, a server): where the user's data lives,
 * the sample, the question loop with a per-question callback, the score, and the JSON records. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgelm/eval.h"
#include "edgelm/store.h"

int elm_gsm8k_default_path(const char *xdg_data_home, const char *home, char *buf, size_t cap,
                           elm_diag_t *diag)
{
    /* the store's folder rule, so the data sits beside results.db and both move together */
    char db[4096];
    int rc = elm_store_default_path(xdg_data_home, home, db, sizeof db, diag);
    if (cap > 0) buf[0] = '\0';
    if (rc == ELM_ENOENT)
        return elm_diag(diag, rc, "no default GSM8K data: neither XDG_DATA_HOME nor HOME is set "
                                  "(give --data FILE)");
    if (rc) return rc;
    const char *slash = strrchr(db, '/'); /* before "results.db": never NULL, the rule adds it */
    int n = snprintf(buf, cap, "%.*s/gsm8k/test.jsonl", (int)(slash - db), db);
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0) buf[0] = '\0';
        return elm_diag(diag, ELM_ERANGE, "GSM8K data path too long");
    }
    if (access(buf, F_OK) != 0)
        return elm_diag(diag, ELM_ENOENT,
                        "%s: no GSM8K questions there (%s): give --data FILE, or copy GSM8K's "
                        "test.jsonl (and train.jsonl for --shots) there",
                        buf, strerror(errno));
    return 0;
}

int elm_gsm8k_load_shots(const elm_gsm8k_set_t *set, const char *train, elm_gsm8k_set_t **out,
                         elm_diag_t *diag)
{
    *out = NULL;
    if (train) return elm_gsm8k_load(train, out, diag);
    const char *slash = strrchr(set->name, '/');
    int dir = slash ? (int)(slash - set->name) + 1 : 0;
    size_t cap = (size_t)dir + sizeof "train.jsonl";
    char *path = malloc(cap);
    if (!path) return elm_diag(diag, ELM_ENOMEM, "%s: out of memory", set->name);
    snprintf(path, cap, "%.*strain.jsonl", dir, set->name);
    int rc = elm_gsm8k_load(path, out, diag);
    free(path);
    return rc;
}

elm_gsm8k_params_t elm_gsm8k_default_params(void)
{
    return (elm_gsm8k_params_t){.n = 100, .n_strata = 4, .seed = 0, .shots = 0, .max_tokens = 256};
}

void elm_gsm8k_summary_free(elm_gsm8k_summary_t *sum)
{
    if (!sum) return;
    free(sum->ids);
    free(sum->per_stratum);
    memset(sum, 0, sizeof *sum);
}

int elm_gsm8k_plan(const elm_gsm8k_set_t *set, const elm_gsm8k_params_t *p,
                   elm_gsm8k_summary_t *sum, elm_diag_t *diag)
{
    memset(sum, 0, sizeof *sum);
    if (p->n_strata == 0)
        return elm_diag(diag, ELM_EINVAL, "GSM8K sample: give at least one length stratum");
    sum->n = p->n && p->n < set->n ? p->n : set->n;
    sum->n_total = set->n;
    sum->n_strata = p->n_strata;
    sum->ids = malloc(sum->n * sizeof *sum->ids);
    sum->per_stratum = calloc(p->n_strata, sizeof *sum->per_stratum);
    if (!sum->ids || !sum->per_stratum)
        return elm_diag(diag, ELM_ENOMEM, "GSM8K sample: out of memory");
    return elm_gsm8k_sample(set, sum->n, p->seed, p->n_strata, sum->ids, sum->per_stratum, diag);
}

int elm_gsm8k_run(elm_session_t *s, const elm_tokenizer_t *tok, elm_chat_tmpl_t tmpl,
                  const elm_gsm8k_set_t *set, const elm_gsm8k_set_t *shots,
                  const elm_gsm8k_params_t *p, elm_gsm8k_item_fn on_item, void *user,
                  elm_gsm8k_summary_t *sum, elm_diag_t *diag)
{
    int rc = 0;
    char *prompt = NULL;
    elm_gsm8k_answer_t ans = {0};
    sum->correct = 0;
    sum->tokens = 0;
    sum->time_ms = 0;
    for (size_t i = 0; i < sum->n; i++) {
        const size_t id = sum->ids[i];
        const elm_gsm8k_item_t *it = &set->items[id];
        free(prompt);
        prompt = NULL;
        if ((rc = elm_gsm8k_prompt(shots, p->shots, it->question, tmpl, &prompt, diag))) goto done;
        elm_gsm8k_answer_clear(&ans);
        if ((rc = elm_gsm8k_answer(s, tok, prompt, p->max_tokens, it->expected, &ans, diag))) {
            char why[sizeof diag->msg];
            snprintf(why, sizeof why, "%s", diag->msg);
            rc = elm_diag(diag, rc, "%s: question %zu (line %" PRIu32 "): %s", set->name, id,
                          it->line, why);
            goto done;
        }
        sum->correct += ans.correct;
        sum->tokens += ans.n_tokens;
        sum->time_ms += ans.time_ms;
        const elm_gsm8k_step_t step = {
            .i = i, .n = sum->n, .id = id, .item = it, .prompt = prompt, .answer = &ans};
        if (on_item && (rc = on_item(user, &step, diag))) goto done;
    }
    sum->accuracy = sum->n ? (double)sum->correct / (double)sum->n : 0;
    elm_stats_wilson95(sum->correct, sum->n, &sum->ci95_low, &sum->ci95_high);
done:
    elm_gsm8k_answer_clear(&ans);
    free(prompt);
    return rc;
}

/* ---- records ---- */

cJSON *elm_gsm8k_item_record(const elm_gsm8k_step_t *step)
{
    const elm_gsm8k_answer_t *a = step->answer;
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    bool ok = cJSON_AddStringToObject(r, "type", "question") &&
              cJSON_AddNumberToObject(r, "id", (double)step->id) &&
              cJSON_AddNumberToObject(r, "line", step->item->line) &&
              cJSON_AddStringToObject(r, "prompt", step->prompt) &&
              cJSON_AddStringToObject(r, "response", a->response ? a->response : "") &&
              (a->has_answer ? cJSON_AddNumberToObject(r, "extracted", a->extracted)
                             : cJSON_AddNullToObject(r, "extracted")) &&
              cJSON_AddNumberToObject(r, "expected", step->item->expected) &&
              cJSON_AddBoolToObject(r, "correct", a->correct) &&
              cJSON_AddNumberToObject(r, "prompt_tokens", a->n_prompt) &&
              cJSON_AddNumberToObject(r, "tokens", a->n_tokens) &&
              cJSON_AddNumberToObject(r, "time_ms", a->time_ms);
    if (ok) return r;
    cJSON_Delete(r);
    return NULL;
}

cJSON *elm_gsm8k_summary_record(const char *model, const elm_gsm8k_set_t *set,
                                const elm_gsm8k_params_t *p, elm_chat_tmpl_t tmpl,
                                const elm_gsm8k_summary_t *sum)
{
    cJSON *r = cJSON_CreateObject(), *ids = NULL;
    if (!r) return NULL;
    bool ok = cJSON_AddStringToObject(r, "type", "summary") &&
              cJSON_AddStringToObject(r, "model", model) &&
              cJSON_AddStringToObject(r, "data", set->name) &&
              cJSON_AddNumberToObject(r, "n", (double)sum->n) &&
              cJSON_AddNumberToObject(r, "n_total", (double)sum->n_total) &&
              cJSON_AddNumberToObject(r, "correct", (double)sum->correct) &&
              cJSON_AddNumberToObject(r, "accuracy", sum->accuracy) &&
              cJSON_AddNumberToObject(r, "ci95_low", sum->ci95_low) &&
              cJSON_AddNumberToObject(r, "ci95_high", sum->ci95_high) &&
              cJSON_AddNumberToObject(r, "shots", (double)p->shots) &&
              cJSON_AddNumberToObject(r, "seed", (double)p->seed) &&
              cJSON_AddNumberToObject(r, "max_tokens", p->max_tokens) &&
              cJSON_AddStringToObject(r, "chat_template", elm_chat_name(tmpl)) &&
              cJSON_AddNumberToObject(r, "tokens", (double)sum->tokens) &&
              cJSON_AddNumberToObject(r, "time_ms", sum->time_ms) &&
              (ids = cJSON_AddArrayToObject(r, "ids"));
    for (size_t i = 0; ok && i < sum->n; i++) {
        cJSON *v = cJSON_CreateNumber((double)sum->ids[i]);
        ok = v && cJSON_AddItemToArray(ids, v);
        if (!ok) cJSON_Delete(v);
    }
    if (ok) return r;
    cJSON_Delete(r);
    return NULL;
}
