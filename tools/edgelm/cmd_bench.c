/* `edgelm bench`: expand the plan (models × threads × prompt and generation lengths × contexts),
 * run each point with the in-process engine for -r repetitions (the first a warm-up), print a
 * row per point as it finishes (markdown like llama-bench, JSON, JSON lines or CSV) and append
 * every record to the SQLite results store. EDGELM_SYSFS_ROOT and EDGELM_VCGENCMD are read here,
 * as in `edgelm probe`. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "edgelm/bench.h"
#include "edgelm/pool.h"
#include "edgelm/store.h"

static const char head_text[] =
    "usage: edgelm bench -m MODEL[,MODEL...] [-t LIST] [-tb LIST] [-p LIST] [-n LIST] [options]\n"
    "       edgelm bench --synthetic SHAPE:QUANT[,SHAPE:QUANT...] [options]\n"
    "       edgelm bench --target http://HOST:PORT[/path] -m NAME [--concurrency LIST]\n"
    "                    [--requests K] [--arrival closed|poisson:RATE|bursty:B/S] [-n LIST]\n"
    "\n"
    "Measure models on this device the way the papers do: load time (cold and warm), prefill\n"
    "tokens/s, time to first token (warm: prefill; cold: load + prefill), generation tokens/s\n"
    "excluding the first token, end-to-end time, energy per phase (J, J/token, average and peak\n"
    "W) when a power source is available, action per token S = E/t, peak RSS, perf counters per\n"
    "token, and whether generation beats reading speed (5.3 tok/s). Each point of the plan runs\n"
    "-r times; the first run is a warm-up and is discarded; figures are mean ± sd. A figure that\n"
    "cannot be measured here is printed as unavailable with the reason, never as 0.\n"
    "\n"
    "LIST is like llama-bench's: 1,2,4 or 1-4 or 1-8+2 (step), or a mix (1,4-6).\n";

static const char tail_text[] =
    "environment:\n" ELM_CLI_PROBE_ENV_HELP
    "  XDG_CACHE_HOME       synthetic models and model sha256s are cached under it/edgelm\n"
    "  EDGELM_NO_REPACK=1   keep Q4_0, Q5_0, Q8_0, Q4_K and Q6_K matrices as in the file (on\n"
    "                       AVX-512 the load repacks them into the panels their fastest\n"
    "                       kernels read; load ms includes it)\n"
    "\n"
    "examples:\n"
    "  edgelm bench -m qwen2.5-0.5b-q4_0.gguf -t 1,2 -p 64 -n 32 -r 2 --no-db\n"
    "  edgelm bench -m a.gguf,b.gguf -t 1-4 -o csv --watts 6.5\n"
    "  edgelm bench --synthetic qwen2.5-0.5b:q4_0,qwen2.5-0.5b:q4_k_m -t 1,2 -r 3\n"
    "  edgelm bench --target http://127.0.0.1:8080 -m qwen --concurrency 1,4 --requests 16\n";

static const char CMD[] = "bench";

typedef struct {
    elm_bench_spec_t spec;
    elm_bench_opts_t opts;
    elm_probe_ctx_t probe;
    elm_bench_format_t fmt;
    const char *db, *prompt_file, *synthetic;
    bool no_db;
    elm_target_opts_t target; /* target.url set: measure an HTTP server */
    elm_bench_list_t concurrency;
    int reps, interval_ms, n_requests;
    int64_t seed;
    char cache[1024]; /* $XDG_CACHE_HOME/edgelm, else ~/.cache/edgelm; "" when neither is set */
} args_t;

/* -m: the models of the list appended to the spec (and, for --target, the request's model). */
static int parse_models(const char *value, void *dst, char *err, size_t err_len)
{
    args_t *a = dst;
    elm_diag_t d;
    char *list = (char *)value; /* an argv string, which the list cuts at its commas */
    size_t len = strlen(list);
    a->target.model = value;
    int rc = elm_bench_parse_models(list, &a->spec, &d);
    for (size_t i = 0; rc && i < len; i++)
        if (!list[i]) list[i] = ','; /* the error quotes the value as given */
    return elm_cli_reason(rc, &d, err, err_len);
}

/* Read argv against the table; returns ELM_CLI_GO, or the exit status of --help or a usage
 * error. The rules between options are parse_args()'s. */
static int parse_table(args_t *a, int argc, char **argv, bool *power_given,
                       const char **engine_only)
{
    elm_opt_t opts[] = {
        ELM_OPT_FN("--model", "-m", "LIST", parse_models, a,
                   "GGUF models, comma-separated (with --target: the request's model\nname)"),
        ELM_OPT_FN("--synthetic", NULL, "LIST", elm_cli_parse_synthetic, &a->synthetic,
                   "synthetic models SHAPE:QUANT (see 'edgelm synth --list'), made once\n"
                   "and cached under $XDG_CACHE_HOME/edgelm/synth/"),
        ELM_OPT_LIST("--threads", "-t", &a->spec.threads, 1, ELM_POOL_MAX_THREADS,
                     "generation threads (default: the number of CPUs)"),
        ELM_OPT_LIST("--threads-batch", "-tb", &a->spec.threads_batch, 1, ELM_POOL_MAX_THREADS,
                     "prefill threads (default: the same as -t)"),
        ELM_OPT_LIST("--n-prompt", "-p", &a->spec.n_prompt, 1, 1 << 20,
                     "prompt tokens: the prompt's tokens repeated or cut to this length\n"
                     "(default: the prompt as tokenized, about 80 tokens)"),
        ELM_OPT_LIST("--n-gen", "-n", &a->spec.n_gen, 1, 1 << 20,
                     "generated tokens, never stopping at end-of-sequence (default 100);\n"
                     "with --target: max_tokens of each request"),
        ELM_OPT_LIST("--ctx", NULL, &a->spec.n_ctx, 1, 1 << 24,
                     "context size (default: prompt + generated tokens)"),
        ELM_OPT_INT("--repetitions", "-r", "N", &a->reps, 2, 1000,
                    "runs per point including the warm-up (default 5, at least 2)"),
        ELM_OPT_NUM("--cooldown", NULL, "S", &a->opts.cooldown_s, 0, 3600,
                    "seconds to wait between runs (default 0)"),
        ELM_OPT_FLAG("--drop-caches", NULL, &a->opts.drop_caches,
                     "before each point's first load, evict the model file's pages\n"
                     "(posix_fadvise; no root needed) and, as root, drop the page cache;\n"
                     "the output says which was done"),
        ELM_OPT_FLAG("--no-mmap", NULL, &a->opts.no_mmap,
                     "read each model into memory instead of mapping it (llama-bench's\n"
                     "-mmp 0): load time grows, decode is steadier where a mapped file\n"
                     "streams slowly"),
        ELM_OPT_STR("--prompt-file", NULL, "FILE", &a->prompt_file,
                    "prompt text instead of the built-in summarize-a-story prompt"),
        ELM_OPT_FN("--output", "-o", "FMT", elm_cli_parse_format, &a->fmt,
                   "md (default), json, jsonl, csv"),
        ELM_OPT_STR("--db", NULL, "FILE", &a->db,
                    "results store (default $XDG_DATA_HOME/edgelm/results.db, else\n"
                    "~/.local/share/edgelm/results.db; schema in docs/store.md)"),
        ELM_OPT_FLAG("--no-db", NULL, &a->no_db, "do not append to the results store"),
        ELM_CLI_POWER_OPTS(&a->opts.power_kind, &a->probe,
                           "rapl, hwmon, jetson, rpi5, nvml, cmd, constant, estimate (default:\n"
                           "the first sensor available, see 'edgelm probe')"),
        ELM_OPT_INT("--interval", NULL, "MS", &a->interval_ms, ELM_PROBE_INTERVAL_MIN_MS, 3600000,
                    "power sampling interval (default: the source's, 50 ms; >= 10)"),
        ELM_OPT_TEXT("\nHTTP target (an OpenAI-compatible streaming server: llama-server, "
                     "Ollama's /v1, ...):"),
        ELM_OPT_FN("--target", NULL, "URL", elm_cli_parse_url, &a->target.url,
                   "http://HOST:PORT[/path]; POST PATH (default /v1/chat/completions)"),
        ELM_OPT_LIST("--concurrency", NULL, &a->concurrency, 1, 4096,
                     "requests in flight at most (default 1)"),
        ELM_OPT_INT("--requests", NULL, "K", &a->n_requests, 1, 1000000,
                    "requests per point (default 8)"),
        ELM_OPT_FN("--arrival", NULL, "A", elm_cli_parse_arrival, &a->target.arrival,
                   "closed (default: each user sends its next request when the last\n"
                   "ends), poisson:RATE (requests/s, seeded), bursty:B/S (B requests\n"
                   "at once every S seconds)"),
        ELM_OPT_I64("--seed", NULL, "N", &a->seed, 0, INT64_MAX,
                    "poisson arrival seed (default 1)"),
        ELM_OPT_POS("--timeout", NULL, "S", &a->target.timeout_s, 0, 86400,
                    "per request, connect to last byte (default 120)"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = CMD, .head = head_text, .opts = opts, .tail = tail_text};
    int rc = elm_cli_parse(&spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    *power_given = elm_cli_given(&spec, "--power");
    static const char *const engine[] = {"--threads",   "--threads-batch", "--n-prompt", "--ctx",
                                         "--synthetic", "--drop-caches",   "--no-mmap"};
    for (size_t k = 0; k < sizeof engine / sizeof engine[0] && !*engine_only; k++)
        if (elm_cli_given(&spec, engine[k])) *engine_only = engine[k];
    return ELM_CLI_GO;
}
/* The defaults that depend on the machine, the environment or the mode. */
static void set_defaults(args_t *a)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN), most = ELM_POOL_MAX_THREADS;
    if (a->spec.threads.n == 0)
        a->spec.threads.v[a->spec.threads.n++] = ncpu < 1 ? 1 : ncpu < most ? ncpu : most;
    if (a->spec.n_gen.n == 0) a->spec.n_gen.v[a->spec.n_gen.n++] = 100;
    elm_cli_probe_env(&a->probe);
    a->opts.probe = &a->probe;
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (x && *x)
        snprintf(a->cache, sizeof a->cache, "%s/edgelm", x);
    else if (h && *h)
        snprintf(a->cache, sizeof a->cache, "%s/.cache/edgelm", h);
    a->opts.cache_dir = a->cache[0] ? a->cache : NULL;
    if (a->target.url) {
        if (a->concurrency.n == 0) a->concurrency.v[a->concurrency.n++] = 1;
        if (!a->target.n_requests) a->target.n_requests = 8;
        if (!(a->target.timeout_s > 0)) a->target.timeout_s = 120;
    }
}

/* Returns ELM_CLI_GO with every default set, or the exit status of --help or a usage error. */
static int parse_args(args_t *a, int argc, char **argv)
{
    bool power_given = false;
    const char *engine_only = NULL;
    *a = (args_t){.opts = elm_bench_default_opts(), .seed = 1};
    a->reps = (int)a->opts.reps;
    int rc = parse_table(a, argc, argv, &power_given, &engine_only);
    if (rc != ELM_CLI_GO) return rc;
    a->opts.reps = (uint32_t)a->reps;
    a->opts.interval_ms = (uint32_t)a->interval_ms;
    a->target.n_requests = (uint32_t)a->n_requests;
    a->target.seed = (uint64_t)a->seed;
    if (a->target.url) {
        if (engine_only)
            return elm_cli_usage_error(CMD, "%s is for the in-process engine, not --target",
                                       engine_only);
        if (a->spec.n_models != 1)
            return elm_cli_usage_error(CMD, "--target needs the request's model name (-m NAME; "
                                            "llama-server accepts any name)");
    } else if (a->concurrency.n || a->target.n_requests || a->target.arrival.kind ||
               a->target.timeout_s > 0) {
        return elm_cli_usage_error(CMD, "--concurrency, --requests, --arrival and --timeout "
                                        "need --target URL");
    } else if (a->spec.n_models == 0 && !a->synthetic) {
        return elm_cli_usage_error(CMD, "no model given (-m MODEL or --synthetic SHAPE:QUANT)");
    }
    if (a->no_db && a->db)
        return elm_cli_usage_error(CMD, "--db and --no-db go against each other");
    rc = elm_cli_power_pick(CMD, &power_given, &a->opts.power_kind, &a->probe);
    if (rc != ELM_CLI_GO) return rc;
    a->opts.power_auto = !power_given;
    set_defaults(a);
    return ELM_CLI_GO;
}

/* ---- progress ---- */

typedef struct {
    size_t n_points;
    uint32_t reps;
    uint64_t t0;
    bool tty;
} progress_t;

static void progress(void *user, size_t point, uint32_t rep)
{
    progress_t *p = user;
    if (!p->tty) return;
    uint64_t done = (uint64_t)point * p->reps + rep, total = (uint64_t)p->n_points * p->reps;
    double el = (double)(elm_time_ns() - p->t0) / 1e9;
    char eta[32] = "?";
    if (done > 0) snprintf(eta, sizeof eta, "%.0f s", el / (double)done * (double)(total - done));
    fprintf(stderr, "\r\033[Kbench: point %zu/%zu, run %" PRIu32 "/%" PRIu32 "%s, ETA %s",
            point + 1, p->n_points, rep + 1, p->reps, rep == 0 ? " (warm-up)" : "", eta);
    fflush(stderr);
}

/* ---- running ---- */

/* Where finished records go: a row on stdout as each comes, the results store (when open), and
 * the footer at the end. */
typedef struct {
    elm_bench_format_t fmt;
    elm_store_t *store;
    const char *db_path;
    elm_record_t *recs;
    size_t n;
} sink_t;

static void emit(elm_bench_format_t fmt, const elm_record_t *r, size_t n, unsigned flags,
                 bool first)
{
    char *s;
    if (elm_bench_format(fmt, r, n, flags, first, &s, NULL) == 0) {
        fputs(s, stdout);
        fflush(stdout);
        free(s);
    }
}

/* The record at recs[n], just measured: its row, then the store. */
static int sink_add(sink_t *s, elm_diag_t *d)
{
    size_t i = s->n++;
    emit(s->fmt, &s->recs[i], 1, ELM_BENCH_ROWS | (i == 0 ? ELM_BENCH_HEADER : 0), i == 0);
    return s->store ? elm_store_add(s->store, &s->recs[i], NULL, d) : 0;
}

/* The footer (after a failure, only under rows already printed) and where the records went. */
static void sink_end(const sink_t *s, bool ok)
{
    if (ok || s->n) emit(s->fmt, s->recs, s->n, ELM_BENCH_FOOTER, false);
    if (ok && s->store)
        fprintf(stderr, "edgelm bench: %zu record%s appended to %s\n", s->n, s->n == 1 ? "" : "s",
                s->db_path);
}

/* --synthetic: each SHAPE:QUANT made (once) under the cache and added to the models. */
static int add_synthetic(args_t *a, char (*paths)[1024], elm_diag_t *d)
{
    char list[1024], dir[sizeof a->cache + 8];
    if (!a->cache[0])
        return elm_diag(d, ELM_ENOENT,
                        "--synthetic: neither XDG_CACHE_HOME nor HOME is set: set "
                        "one (the models are cached there)");
    snprintf(list, sizeof list, "%s", a->synthetic);
    snprintf(dir, sizeof dir, "%s/synth", a->cache);
    char *save = NULL;
    for (char *spec = strtok_r(list, ",", &save); spec; spec = strtok_r(NULL, ",", &save)) {
        if (a->spec.n_models >= ELM_BENCH_MAX_LIST)
            return elm_diag(d, ELM_ERANGE, "more than %d models", ELM_BENCH_MAX_LIST);
        char *path = paths[a->spec.n_models];
        bool made;
        if (isatty(STDERR_FILENO)) fprintf(stderr, "edgelm bench: synthetic %s ...\r", spec);
        int rc = elm_bench_synthetic(spec, dir, 0, path, 1024, &made, d);
        if (rc) return rc;
        fprintf(stderr, "edgelm bench: synthetic %s: %s %s\n", spec, path,
                made ? "(written now)" : "(cached)");
        a->spec.models[a->spec.n_models++] = path;
    }
    return 0;
}

/* The plan's points with the in-process engine, one record each into s->recs. */
static int run_points(elm_bench_t *b, const elm_bench_point_t *pts, size_t n, sink_t *s,
                      const progress_t *pr, elm_diag_t *d)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = elm_bench_run(b, &pts[i], i, &s->recs[i], d);
        if (pr->tty) fprintf(stderr, "\r\033[K"); /* the progress line goes */
        if (!rc) rc = sink_add(s, d);
    }
    return rc;
}

/* --target: one record per (max_tokens, concurrency) into s->recs. */
static int run_target(const args_t *a, elm_bench_t *b, sink_t *s, elm_diag_t *d)
{
    int rc = 0;
    for (int g = 0; g < a->spec.n_gen.n && !rc; g++)
        for (int c = 0; c < a->concurrency.n && !rc; c++) {
            elm_target_opts_t t = a->target;
            t.max_tokens = (uint32_t)a->spec.n_gen.v[g];
            t.concurrency = (uint32_t)a->concurrency.v[c];
            rc = elm_bench_target(b, &t, &s->recs[s->n], d);
            if (!rc) rc = sink_add(s, d);
        }
    return rc;
}

/* Reported and stored, but a --target point where nothing completed fails the command. */
static int target_check(const args_t *a, const sink_t *s, elm_diag_t *d)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->recs[i].target.n_ok == 0)
            return elm_diag(d, ELM_EIO,
                            "%s: none of the %" PRIu32 " requests at concurrency %" PRIu32
                            " completed: %s",
                            a->target.url, s->recs[i].target.n_requests,
                            s->recs[i].target.concurrency, s->recs[i].target.errors);
    return 0;
}

/* ---- main ---- */

/* --prompt-file: the whole file (malloc'd; caller frees), which must not be empty. */
static char *read_prompt(const char *path, elm_diag_t *d)
{
    char *buf;
    size_t len;
    if (elm_file_read(path, 16u << 20, &buf, &len, d)) return NULL;
    if (len) return buf;
    free(buf);
    elm_diag(d, ELM_EINVAL, "%s: the prompt file is empty", path);
    return NULL;
}

int elm_cmd_bench(int argc, char **argv)
{
    args_t a;
    int status = parse_args(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;

    static char synth_paths[ELM_BENCH_MAX_LIST][1024];
    int rc = 0;
    elm_diag_t d = {0};
    char *prompt = NULL, db_path[1024];
    elm_bench_point_t *pts = NULL;
    size_t n_pts = 0;
    elm_bench_t *b = NULL;
    sink_t sink = {.fmt = a.fmt, .db_path = db_path};
    progress_t pr = {.reps = a.opts.reps, .t0 = elm_time_ns(), .tty = isatty(STDERR_FILENO)};

    if (a.synthetic && (rc = add_synthetic(&a, synth_paths, &d))) goto fail;
    if (!a.target.url && elm_bench_plan(&a.spec, &pts, &n_pts, &d)) {
        status = elm_cli_usage_error(CMD, "%s", d.msg);
        goto done;
    }
    if (a.prompt_file && !(prompt = read_prompt(a.prompt_file, &d))) goto fail;
    a.opts.prompt = a.target.prompt = prompt;
    if ((rc = elm_cli_store_open(a.db, a.no_db, &sink.store, db_path, sizeof db_path, &d)))
        goto fail;
    pr.n_points = n_pts;
    size_t n_recs = a.target.url ? (size_t)a.spec.n_gen.n * (size_t)a.concurrency.n : n_pts;
    if (!(sink.recs = calloc(n_recs, sizeof *sink.recs))) {
        rc = elm_diag(&d, ELM_ENOMEM, "out of memory for %zu records", n_recs);
        goto fail;
    }
    a.opts.progress = progress;
    a.opts.progress_user = &pr;
    if ((rc = elm_bench_create(&a.opts, &b, &d))) goto fail;
    rc = a.target.url ? run_target(&a, b, &sink, &d) : run_points(b, pts, n_pts, &sink, &pr, &d);
    sink_end(&sink, rc == 0);
    if (!rc && a.target.url) rc = target_check(&a, &sink, &d);
    if (rc) goto fail;
    status = 0;
    goto done;
fail:
    status = elm_cli_fail(&d, rc);
done:
    elm_bench_free(b);
    elm_store_close(sink.store);
    free(sink.recs);
    free(pts);
    free(prompt);
    return status;
}
