/* Bench records as text: a markdown table like llama-bench's (mean ± sd per figure, unavailable
 * figures spelled out, notes on power and counters below), a JSON array, JSON lines, and CSV
 * with one flat column per figure. */
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/bench.h"

int elm_bench_format_parse(const char *name, elm_bench_format_t *out, elm_diag_t *d)
{
    static const char *const names[] = {"md", "json", "jsonl", "csv"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) {
            *out = (elm_bench_format_t)i;
            return 0;
        }
    return elm_diag(d, ELM_EINVAL, "unknown output format '%s' (md, json, jsonl, csv)", name);
}

/* ---- markdown ---- */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* "12.34 ± 0.56" with prec decimals, or "unavailable". */
static void md_stat(elm_sbuf_t *b, const elm_stat_t *s, int prec, double scale, bool estimated)
{
    if (!s->valid) {
        elm_sbuf_printf(b, " unavailable |");
        return;
    }
    elm_sbuf_printf(b, " %.*f ± %.*f%s |", prec, s->mean * scale, prec, s->sd * scale,
              estimated ? " (estimated)" : "");
}

/* " 1.234 |" (the mean alone), or " unavailable |". */
static void md_stat_value(elm_sbuf_t *b, const elm_stat_t *s, int prec, bool estimated)
{
    if (s->valid)
        elm_sbuf_printf(b, " %.*f%s |", prec, s->mean, estimated ? " (estimated)" : "");
    else
        elm_sbuf_printf(b, " unavailable |");
}

static void md_header(elm_sbuf_t *b)
{
    elm_sbuf_printf(b, "| model | quant | size | th | tb | pp | tg | load ms | TTFT ms | TTFT cold ms "
                 "| pp t/s | tg t/s | tg J/tok | peak RSS MiB | > reading |\n"
                 "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
                 "---: | ---: | ---: | :---: |\n");
}

static void md_row(elm_sbuf_t *b, const elm_record_t *r)
{
    double mib = (double)r->model_bytes / (1024.0 * 1024.0);
    elm_sbuf_printf(b, "| %s | %s | %.1f MiB | %d | %d | %" PRIu32 " | %" PRIu32 " |",
              base_name(r->model), r->quant, mib, r->threads, r->threads_batch, r->n_prompt,
              r->n_gen);
    md_stat(b, &r->load_ms, 1, 1, false);
    md_stat(b, &r->ttft_ms, 1, 1, false);
    md_stat(b, &r->ttft_cold_ms, 1, 1, false);
    md_stat(b, &r->prefill_tps, 2, 1, false);
    md_stat(b, &r->gen_tps, 2, 1, false);
    md_stat(b, &r->energy[ELM_REC_GEN].j_per_token, 4, 1, r->power_estimated);
    if (r->peak_rss_bytes.valid)
        elm_sbuf_printf(b, " %.1f |", r->peak_rss_bytes.mean / (1024.0 * 1024.0));
    else
        elm_sbuf_printf(b, " unavailable |");
    if (r->gen_tps.valid)
        elm_sbuf_printf(b, " %s (%.1fx) |\n", r->reading_fast ? "yes" : "no", r->reading_ratio);
    else
        elm_sbuf_printf(b, " unavailable |\n");
}

/* ---- markdown: HTTP target ---- */

static void md_target_header(elm_sbuf_t *b)
{
    elm_sbuf_printf(b, "| target | model | arrival | conc | req | ok | err | max tok | TTFT p50 ms "
                       "| TTFT p90 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | tok/s p50 "
                       "| e2e p50 ms | e2e p99 ms | out tok/s | J/req |\n"
                       "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                       "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
}

static void md_pct(elm_sbuf_t *b, const elm_dist_t *x, double v, int prec)
{
    if (x->valid)
        elm_sbuf_printf(b, " %.*f |", prec, v);
    else
        elm_sbuf_printf(b, " unavailable |");
}

static void md_target_row(elm_sbuf_t *b, const elm_record_t *r)
{
    const elm_rec_target_t *t = &r->target;
    elm_sbuf_printf(b, "| %s | %s | %s | %" PRIu32 " | %" PRIu32 " | %" PRIu32 " | %" PRIu32
                       " | %" PRIu32 " |",
                    t->url, t->model, t->arrival, t->concurrency, t->n_requests, t->n_ok,
                    t->n_errors, t->max_tokens);
    md_pct(b, &t->ttft_ms, t->ttft_ms.p50, 1);
    md_pct(b, &t->ttft_ms, t->ttft_ms.p90, 1);
    md_pct(b, &t->ttft_ms, t->ttft_ms.p99, 1);
    md_pct(b, &t->itl_ms, t->itl_ms.p50, 1);
    md_pct(b, &t->itl_ms, t->itl_ms.p99, 1);
    md_pct(b, &t->tps, t->tps.p50, 2);
    md_pct(b, &t->e2e_ms, t->e2e_ms.p50, 1);
    md_pct(b, &t->e2e_ms, t->e2e_ms.p99, 1);
    if (t->window_s > 0)
        elm_sbuf_printf(b, " %.2f |", t->throughput_tps);
    else
        elm_sbuf_printf(b, " unavailable |");
    md_stat_value(b, &t->energy_per_req_j, 3, r->power_estimated);
    elm_sbuf_printf(b, "\n");
}

static void md_target_notes(elm_sbuf_t *b, const elm_record_t *recs, size_t n)
{
    const elm_record_t *r = &recs[0];
    elm_sbuf_printf(b, "\npercentiles over the completed requests (ITL over all their chunk gaps); "
                       "TTFT = send .. first content chunk; tok/s per request excludes the first "
                       "token; out tok/s = output tokens / window.\n");
    if (strcmp(r->power_source, "none"))
        elm_sbuf_printf(b, "power: %s%s (%s), integrated over each window\n", r->power_source,
                        r->power_estimated ? ", estimated" : "", r->power_detail);
    else
        elm_sbuf_printf(b, "energy: unavailable: %s\n", r->power_detail);
    for (size_t i = 0; i < n; i++) {
        const elm_rec_target_t *t = &recs[i].target;
        elm_sbuf_printf(b, "conc %" PRIu32 ": tokens counted from %s; %" PRIu64 " tokens in %.2f s,"
                           " %.2f req/s", t->concurrency, t->token_source, t->tokens, t->window_s,
                        t->req_per_s);
        if (t->ttft_ms.valid)
            elm_sbuf_printf(b, "; TTFT mean %.1f ms", t->ttft_ms.mean);
        if (t->itl_ms.valid)
            elm_sbuf_printf(b, ", ITL mean %.1f ms p90 %.1f ms", t->itl_ms.mean, t->itl_ms.p90);
        elm_sbuf_printf(b, "\n");
        if (t->n_errors) elm_sbuf_printf(b, "conc %" PRIu32 " errors: %s\n", t->concurrency, t->errors);
    }
}

/* " label 1.23 unit", or " label unavailable: why". */
static void note_stat(elm_sbuf_t *b, const char *label, const elm_stat_t *s, const char *unit)
{
    if (s->valid)
        elm_sbuf_printf(b, "%s %.4g %s", label, s->mean, unit);
    else
        elm_sbuf_printf(b, "%s unavailable: %s", label, s->why);
}

static void md_notes(elm_sbuf_t *b, const elm_record_t *recs, size_t n)
{
    if (n == 0) return;
    const elm_record_t *r = &recs[0];
    elm_sbuf_printf(b, "\nmean ± sd over %" PRIu32 " repetition%s after one warm-up; TTFT = prefill + "
                 "first token (warm), cold adds the load; tg t/s excludes the first token; "
                 "reading speed 5.3 tok/s.\n",
              r->reps, r->reps == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        if (!strcmp(recs[i].arch, "t5")) {
            elm_sbuf_printf(b, "t5 (encoder-decoder): its prefill is the encoder pass over the "
                               "pp prompt tokens; TTFT adds the decoder's first step.\n");
            break;
        }
    if (strcmp(r->power_source, "none"))
        elm_sbuf_printf(b, "power: %s%s (%s)\n", r->power_source,
                  r->power_estimated ? ", estimated" : "", r->power_detail);
    else
        elm_sbuf_printf(b, "energy: unavailable: %s\n", r->power_detail);
    elm_sbuf_printf(b, "cold load: %s\n", r->cold_note);
    elm_sbuf_printf(b, "build: edgelm %s (%s); cpufreq: %s\n", r->version, r->git_hash, r->cpufreq);
    for (size_t i = 0; i < n; i++) {
        r = &recs[i];
        if (strcmp(r->power_source, "none")) {
            elm_sbuf_printf(b, "%s th %d energy%s:", base_name(r->model), r->threads,
                      r->power_estimated ? " (estimated)" : "");
            note_stat(b, " prefill", &r->energy[ELM_REC_PREFILL].j_per_token, "J/tok");
            note_stat(b, ",", &r->energy[ELM_REC_PREFILL].avg_w, "W avg");
            note_stat(b, "; generation", &r->energy[ELM_REC_GEN].j_per_token, "J/tok");
            note_stat(b, ",", &r->energy[ELM_REC_GEN].avg_w, "W avg");
            note_stat(b, ",", &r->energy[ELM_REC_GEN].peak_w, "W peak");
            note_stat(b, "; load", &r->energy[ELM_REC_LOAD].energy_j, "J");
            note_stat(b, "; action per token S =", &r->action_s, "J");
            elm_sbuf_printf(b, "\n");
        }
        elm_sbuf_printf(b, "%s th %d perf per token:", base_name(r->model), r->threads);
        bool any = false;
        const char *why = NULL;
        for (int e = 0; e < ELM_PERF_COUNT; e++) {
            const elm_stat_t *s = &r->perf_per_token[e];
            if (s->valid) {
                elm_sbuf_printf(b, " %s %.3g", elm_perf_event_name((elm_perf_event_t)e), s->mean);
                any = true;
            } else if (!why) {
                why = s->why;
            }
        }
        if (why) {
            elm_sbuf_printf(b, "%s", any ? ";" : "");
            for (int e = 0; e < ELM_PERF_COUNT; e++)
                if (!r->perf_per_token[e].valid)
                    elm_sbuf_printf(b, " %s", elm_perf_event_name((elm_perf_event_t)e));
            elm_sbuf_printf(b, ": %s", why);
        }
        elm_sbuf_printf(b, "\n");
    }
}

/* ---- CSV ---- */

typedef struct {
    const char *name;
    size_t off;
} stat_col_t;

static const stat_col_t csv_stats[] = {
    {"load_cold_ms", offsetof(elm_record_t, load_cold_ms)},
    {"load_ms", offsetof(elm_record_t, load_ms)},
    {"prefill_tps", offsetof(elm_record_t, prefill_tps)},
    {"ttft_ms", offsetof(elm_record_t, ttft_ms)},
    {"ttft_cold_ms", offsetof(elm_record_t, ttft_cold_ms)},
    {"gen_tps", offsetof(elm_record_t, gen_tps)},
    {"e2e_ms", offsetof(elm_record_t, e2e_ms)},
    {"energy_j", offsetof(elm_record_t, energy_j)},
    {"action_per_token_j", offsetof(elm_record_t, action_s)},
    {"peak_rss_bytes", offsetof(elm_record_t, peak_rss_bytes)},
};
#define N_CSV_STATS (sizeof csv_stats / sizeof csv_stats[0])

static const char *const energy_fields[4] = {"j", "j_per_token", "avg_w", "peak_w"};

/* CSV cells are split on commas by simple readers: text never holds a comma or a quote. */
static void csv_text(elm_sbuf_t *b, const char *s)
{
    for (; *s; s++) elm_sbuf_printf(b, "%c", *s == ',' ? ';' : *s == '"' ? '\'' : *s == '\n' ? ' ' : *s);
}

static void csv_stat(elm_sbuf_t *b, const elm_stat_t *s)
{
    if (s->valid) {
        elm_sbuf_printf(b, ",%.9g,%.9g", s->mean, s->sd);
        return;
    }
    elm_sbuf_printf(b, ",unavailable: ");
    csv_text(b, s->why);
    elm_sbuf_printf(b, ",");
}

static void csv_header(elm_sbuf_t *b)
{
    elm_sbuf_printf(b, "timestamp,edgelm_version,device,cpu_model,model,model_bytes,quant,arch,threads,"
                 "threads_batch,n_prompt,n_gen,n_ctx,reps,power_source,power_estimated");
    for (size_t i = 0; i < N_CSV_STATS; i++)
        elm_sbuf_printf(b, ",%s,%s_sd", csv_stats[i].name, csv_stats[i].name);
    for (int p = 0; p < ELM_REC_PHASES; p++)
        for (int k = 0; k < 4; k++) {
            const char *ph = p == ELM_REC_GEN ? "gen" : elm_rec_phase_name((elm_rec_phase_t)p);
            elm_sbuf_printf(b, ",%s_%s,%s_%s_sd", ph, energy_fields[k], ph, energy_fields[k]);
        }
    for (int e = 0; e < ELM_PERF_COUNT; e++) {
        char name[64];
        snprintf(name, sizeof name, "%s", elm_perf_event_name((elm_perf_event_t)e));
        for (char *c = name; *c; c++)
            if (*c == '-') *c = '_';
        elm_sbuf_printf(b, ",%s_per_token,%s_per_token_sd", name, name);
    }
    elm_sbuf_printf(b, ",reading_fast,git_hash,model_sha256,cpufreq,cold_load\n");
}

static void csv_row(elm_sbuf_t *b, const elm_record_t *r)
{
    const char *text[] = {r->timestamp, r->version, r->device, r->cpu_model, r->model};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        if (i) elm_sbuf_printf(b, ",");
        csv_text(b, text[i]);
    }
    elm_sbuf_printf(b, ",%" PRIu64 ",", r->model_bytes);
    csv_text(b, r->quant);
    elm_sbuf_printf(b, ",");
    csv_text(b, r->arch);
    elm_sbuf_printf(b, ",%d,%d,%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",", r->threads,
              r->threads_batch, r->n_prompt, r->n_gen, r->n_ctx, r->reps);
    csv_text(b, r->power_source);
    elm_sbuf_printf(b, ",%d", r->power_estimated);
    for (size_t i = 0; i < N_CSV_STATS; i++)
        csv_stat(b, (const elm_stat_t *)((const char *)r + csv_stats[i].off));
    for (int p = 0; p < ELM_REC_PHASES; p++) {
        csv_stat(b, &r->energy[p].energy_j);
        csv_stat(b, &r->energy[p].j_per_token);
        csv_stat(b, &r->energy[p].avg_w);
        csv_stat(b, &r->energy[p].peak_w);
    }
    for (int e = 0; e < ELM_PERF_COUNT; e++) csv_stat(b, &r->perf_per_token[e]);
    if (r->gen_tps.valid)
        elm_sbuf_printf(b, ",%d", r->reading_fast);
    else
        elm_sbuf_printf(b, ",unavailable");
    const char *prov[] = {r->git_hash, r->model_sha256, r->cpufreq, r->cold_note};
    for (size_t i = 0; i < sizeof prov / sizeof prov[0]; i++) {
        elm_sbuf_printf(b, ",");
        csv_text(b, prov[i]);
    }
    elm_sbuf_printf(b, "\n");
}

/* ---- CSV: HTTP target ---- */

static const struct {
    const char *name;
    size_t off;
} csv_dists[] = {
    {"ttft_ms", offsetof(elm_rec_target_t, ttft_ms)},
    {"itl_ms", offsetof(elm_rec_target_t, itl_ms)},
    {"tps", offsetof(elm_rec_target_t, tps)},
    {"e2e_ms", offsetof(elm_rec_target_t, e2e_ms)},
};
#define N_CSV_DISTS (sizeof csv_dists / sizeof csv_dists[0])

static void csv_target_header(elm_sbuf_t *b)
{
    elm_sbuf_printf(b, "timestamp,edgelm_version,git_hash,device,cpu_model,target,model,arrival,"
                       "concurrency,requests,ok,errors,max_tokens,tokens,token_count");
    for (size_t i = 0; i < N_CSV_DISTS; i++)
        elm_sbuf_printf(b, ",%s_mean,%s_p50,%s_p90,%s_p99", csv_dists[i].name, csv_dists[i].name,
                        csv_dists[i].name, csv_dists[i].name);
    elm_sbuf_printf(b, ",window_s,throughput_tps,req_per_s,power_source,energy_j,"
                       "energy_per_request_j,error_detail\n");
}

static void csv_target_row(elm_sbuf_t *b, const elm_record_t *r)
{
    const elm_rec_target_t *t = &r->target;
    const char *text[] = {r->timestamp, r->version, r->git_hash, r->device, r->cpu_model, t->url,
                          t->model, t->arrival};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        if (i) elm_sbuf_printf(b, ",");
        csv_text(b, text[i]);
    }
    elm_sbuf_printf(b, ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu64 ",",
                    t->concurrency, t->n_requests, t->n_ok, t->n_errors, t->max_tokens, t->tokens);
    csv_text(b, t->token_source);
    for (size_t i = 0; i < N_CSV_DISTS; i++) {
        const elm_dist_t *x = (const elm_dist_t *)((const char *)t + csv_dists[i].off);
        if (x->valid) {
            elm_sbuf_printf(b, ",%.9g,%.9g,%.9g,%.9g", x->mean, x->p50, x->p90, x->p99);
        } else {
            elm_sbuf_printf(b, ",unavailable: ");
            csv_text(b, x->why);
            elm_sbuf_printf(b, ",,,");
        }
    }
    elm_sbuf_printf(b, ",%.9g,%.9g,%.9g,", t->window_s, t->throughput_tps, t->req_per_s);
    csv_text(b, r->power_source);
    const elm_stat_t *e[] = {&r->energy_j, &t->energy_per_req_j};
    for (int i = 0; i < 2; i++) {
        if (e[i]->valid) {
            elm_sbuf_printf(b, ",%.9g", e[i]->mean);
        } else {
            elm_sbuf_printf(b, ",unavailable: ");
            csv_text(b, e[i]->why);
        }
    }
    elm_sbuf_printf(b, ",");
    csv_text(b, t->errors);
    elm_sbuf_printf(b, "\n");
}

/* ---- JSON ---- */

static void json_row(elm_sbuf_t *b, const elm_record_t *r, bool pretty)
{
    cJSON *j = elm_record_to_json(r);
    char *s = j ? (pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j)) : NULL;
    if (s)
        elm_sbuf_printf(b, "%s", s);
    else
        b->oom = 1;
    free(s);
    cJSON_Delete(j);
}

int elm_bench_format(elm_bench_format_t fmt, const elm_record_t *recs, size_t n, unsigned flags,
                     bool first, char **out, elm_diag_t *d)
{
    elm_sbuf_t b = {0};
    *out = NULL;
    bool rows = flags & ELM_BENCH_ROWS;
    /* Records of one call are all HTTP-target ones or all in-process ones (cmd_bench's runs). */
    bool tg = n > 0 && recs[0].is_target;
    switch (fmt) {
    case ELM_BENCH_MD:
        if (flags & ELM_BENCH_HEADER) tg ? md_target_header(&b) : md_header(&b);
        for (size_t i = 0; rows && i < n; i++) tg ? md_target_row(&b, &recs[i]) : md_row(&b, &recs[i]);
        if ((flags & ELM_BENCH_FOOTER) && n) tg ? md_target_notes(&b, recs, n) : md_notes(&b, recs, n);
        break;
    case ELM_BENCH_JSON:
        if (flags & ELM_BENCH_HEADER) elm_sbuf_printf(&b, "[");
        for (size_t i = 0; rows && i < n; i++) {
            elm_sbuf_printf(&b, "%s\n", first && i == 0 ? "" : ",");
            json_row(&b, &recs[i], true);
        }
        if (flags & ELM_BENCH_FOOTER) elm_sbuf_printf(&b, "\n]\n");
        break;
    case ELM_BENCH_JSONL:
        for (size_t i = 0; rows && i < n; i++) {
            json_row(&b, &recs[i], false);
            elm_sbuf_printf(&b, "\n");
        }
        break;
    case ELM_BENCH_CSV:
        if (flags & ELM_BENCH_HEADER) tg ? csv_target_header(&b) : csv_header(&b);
        for (size_t i = 0; rows && i < n; i++) tg ? csv_target_row(&b, &recs[i]) : csv_row(&b, &recs[i]);
        break;
    default:
        return elm_diag(d, ELM_EINVAL, "unknown output format %d", (int)fmt);
    }
    if (!b.p && !b.oom) elm_sbuf_printf(&b, "%s", "");
    if (b.oom) {
        free(b.p);
        return elm_diag(d, ELM_ENOMEM, "out of memory formatting bench records");
    }
    *out = b.p;
    return 0;
}
