/* `edgelm bench`: expand the plan (models × threads × prompt and generation lengths × contexts),
 * run each point with the in-process engine for -r repetitions (the first a warm-up), print a
 * row per point as it finishes (markdown like llama-bench, JSON, JSON lines or CSV) and append
 * every record to the SQLite results store. EDGELM_SYSFS_ROOT and EDGELM_VCGENCMD are read here,
 * as in `edgelm probe`. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "edgelm/bench.h"
#include "edgelm/convert.h"
#include "edgelm/pool.h"
#include "edgelm/store.h"

static const char usage_text[] =
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
    "LIST is like llama-bench's: 1,2,4 or 1-4 or 1-8+2 (step), or a mix (1,4-6).\n"
    "\n"
    "options:\n"
    "  -m, --model LIST     GGUF models, comma-separated (with --target: the request's model\n"
    "                       name)\n"
    "  --synthetic LIST     synthetic models SHAPE:QUANT (see 'edgelm synth --list'), made once\n"
    "                       and cached under $XDG_CACHE_HOME/edgelm/synth/\n"
    "  -t, --threads LIST   generation threads (default: the number of CPUs)\n"
    "  -tb, --threads-batch LIST\n"
    "                       prefill threads (default: the same as -t)\n"
    "  -p, --n-prompt LIST  prompt tokens: the prompt's tokens repeated or cut to this length\n"
    "                       (default: the prompt as tokenized, about 80 tokens)\n"
    "  -n, --n-gen LIST     generated tokens, never stopping at end-of-sequence (default 100)\n"
    "  --ctx LIST           context size (default: prompt + generated tokens)\n"
    "  -r, --repetitions N  runs per point including the warm-up (default 5, at least 2)\n"
    "  --cooldown S         seconds to wait between runs (default 0)\n"
    "  --drop-caches        before each point's first load, evict the model file's pages\n"
    "                       (posix_fadvise; no root needed) and, as root, drop the page cache;\n"
    "                       the output says which was done\n"
    "  --no-mmap            read each model into memory instead of mapping it (llama-bench's\n"
    "                       -mmp 0): load time grows, decode is steadier where a mapped file\n"
    "                       streams slowly\n"
    "  --prompt-file FILE   prompt text instead of the built-in summarize-a-story prompt\n"
    "  -o, --output FMT     md (default), json, jsonl, csv\n"
    "  --db FILE            results store (default $XDG_DATA_HOME/edgelm/results.db, else\n"
    "                       ~/.local/share/edgelm/results.db; schema in docs/store.md)\n"
    "  --no-db              do not append to the results store\n"
    "  --power SOURCE       rapl, hwmon, jetson, rpi5, nvml, cmd, constant, estimate (default:\n"
    "                       the first sensor available, see 'edgelm probe')\n"
    "  --watts W            a known constant draw (the constant source)\n"
    "  --power-cmd CMD      a shell command that prints watts (the cmd source)\n"
    "  --tdp W              with --power estimate: the TDP utilization is scaled by\n"
    "  --interval MS        power sampling interval (default: the source's, 50 ms; >= 10)\n"
    "  -h, --help           this text\n"
    "\n"
    "HTTP target (an OpenAI-compatible streaming server: llama-server, Ollama's /v1, ...):\n"
    "  --target URL         http://HOST:PORT[/path]; POST PATH (default /v1/chat/completions)\n"
    "  --concurrency LIST   requests in flight at most (default 1)\n"
    "  --requests K         requests per point (default 8)\n"
    "  --arrival A          closed (default: each user sends its next request when the last\n"
    "                       ends), poisson:RATE (requests/s, seeded), bursty:B/S (B requests\n"
    "                       at once every S seconds)\n"
    "  --seed N             poisson arrival seed (default 1)\n"
    "  --timeout S          per request, connect to last byte (default 120)\n"
    "  -n LIST              max_tokens of each request (default 100)\n"
    "\n"
    "environment:\n"
    "  EDGELM_SYSFS_ROOT    read /sys and /proc under this root instead of /\n"
    "  EDGELM_VCGENCMD      the vcgencmd binary for the Pi 5 PMIC\n"
    "  EDGELM_NVPMODEL      the nvpmodel binary (Jetson power mode, `nvpmodel -q`)\n"
    "  XDG_CACHE_HOME       synthetic models and model sha256s are cached under it/edgelm\n"
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
    bool no_db, power_given;
    elm_target_opts_t target; /* target.url set: measure an HTTP server */
    elm_bench_list_t concurrency;
    bool in_process_flag;     /* a flag only the in-process engine takes was given */
    const char *in_process_name;
} args_t;

static bool parse_pos(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < min || v > max) return false;
    *out = v;
    return true;
}

/* A list flag: usage error naming the flag. */
static int list_arg(const char *flag, const char *v, int64_t min, int64_t max,
                    elm_bench_list_t *out)
{
    elm_diag_t d;
    if (elm_bench_parse_list(flag, v, min, max, out, &d)) return elm_cli_usage_error(CMD, "%s", d.msg);
    return -1;
}

/* Every SHAPE:QUANT of the comma-separated list names a known shape and type. */
static bool synthetic_valid(const char *list)
{
    char buf[1024], *save = NULL;
    if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf || !*list) return false;
    for (char *spec = strtok_r(buf, ",", &save); spec; spec = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(spec, ':');
        elm_ftype_t ft;
        if (!colon) return false;
        *colon = '\0';
        if (!elm_synth_shape_find(spec) ||
            (elm_ftype_from_name(colon + 1, &ft) && strcasecmp(colon + 1, "f32")))
            return false;
    }
    return true;
}

/* Returns an exit status, or -1 to go on. */
static int parse_args(args_t *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(f, "--no-db")) {
            a->no_db = true;
            continue;
        }
        if (!strcmp(f, "--drop-caches")) {
            a->opts.drop_caches = true;
            a->in_process_flag = true;
            a->in_process_name = f;
            continue;
        }
        if (!strcmp(f, "--no-mmap")) {
            a->opts.no_mmap = true;
            a->in_process_flag = true;
            a->in_process_name = f;
            continue;
        }
        if (f[0] != '-') return elm_cli_usage_error(CMD, "unexpected argument '%s'", f);
        static const char *const valued[] = {
            "-m", "--model", "-t", "--threads", "-tb", "--threads-batch", "-p", "--n-prompt",
            "-n", "--n-gen", "--ctx", "-r", "--repetitions", "--cooldown", "--prompt-file", "-o",
            "--output", "--db", "--power", "--watts", "--power-cmd", "--tdp", "--interval",
            "--synthetic", "--target", "--concurrency", "--requests", "--arrival", "--seed",
            "--timeout"};
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= !strcmp(f, valued[k]);
        if (!known) return elm_cli_usage_error(CMD, "unknown option '%s'", f);
        if (i + 1 >= argc) return elm_cli_usage_error(CMD, "option '%s' needs a value", f);
        char *v = argv[++i];
        int64_t iv;
        int st = -1;
        elm_diag_t d;
        static const char *const engine_only[] = {"-t", "--threads", "-tb", "--threads-batch",
                                                  "-p", "--n-prompt", "--ctx", "--synthetic"};
        for (size_t k = 0; k < sizeof engine_only / sizeof engine_only[0]; k++)
            if (!strcmp(f, engine_only[k])) a->in_process_flag = true, a->in_process_name = f;
        if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            a->target.model = v;
            if (elm_bench_parse_models(v, &a->spec, &d)) return elm_cli_usage_error(CMD, "%s", d.msg);
        } else if (!strcmp(f, "--synthetic")) {
            if (!synthetic_valid(v))
                return elm_cli_usage_error(CMD, "--synthetic '%s': expected SHAPE:QUANT[,...] with "
                                                "a shape from 'edgelm synth --list' and a quant "
                                                "type (q4_0, q4_k_m, q8_0, f16, ...)", v);
            a->synthetic = v;
        } else if (!strcmp(f, "--target")) {
            elm_http_url_t u;
            if (elm_http_url_parse(v, &u, &d)) return elm_cli_usage_error(CMD, "%s", d.msg);
            a->target.url = v;
        } else if (!strcmp(f, "--concurrency")) {
            st = list_arg(f, v, 1, 4096, &a->concurrency);
        } else if (!strcmp(f, "--requests")) {
            if (!elm_cli_parse_i64(v, 1, 1000000, &iv))
                return elm_cli_usage_error(CMD, "--requests wants 1..1000000, not '%s'", v);
            a->target.n_requests = (uint32_t)iv;
        } else if (!strcmp(f, "--arrival")) {
            if (elm_arrival_parse(v, &a->target.arrival, &d))
                return elm_cli_usage_error(CMD, "%s", d.msg);
        } else if (!strcmp(f, "--seed")) {
            if (!elm_cli_parse_i64(v, 0, INT64_MAX, &iv))
                return elm_cli_usage_error(CMD, "--seed wants a non-negative integer, not '%s'", v);
            a->target.seed = (uint64_t)iv;
        } else if (!strcmp(f, "--timeout")) {
            if (!parse_pos(v, 0.001, 86400, &a->target.timeout_s))
                return elm_cli_usage_error(CMD, "--timeout wants seconds in (0, 86400], not '%s'", v);
        } else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) {
            st = list_arg(f, v, 1, ELM_POOL_MAX_THREADS, &a->spec.threads);
        } else if (!strcmp(f, "-tb") || !strcmp(f, "--threads-batch")) {
            st = list_arg(f, v, 1, ELM_POOL_MAX_THREADS, &a->spec.threads_batch);
        } else if (!strcmp(f, "-p") || !strcmp(f, "--n-prompt")) {
            st = list_arg(f, v, 1, 1 << 20, &a->spec.n_prompt);
        } else if (!strcmp(f, "-n") || !strcmp(f, "--n-gen")) {
            st = list_arg(f, v, 1, 1 << 20, &a->spec.n_gen);
        } else if (!strcmp(f, "--ctx")) {
            st = list_arg(f, v, 1, 1 << 24, &a->spec.n_ctx);
        } else if (!strcmp(f, "-r") || !strcmp(f, "--repetitions")) {
            if (!elm_cli_parse_i64(v, 2, 1000, &iv))
                return elm_cli_usage_error(CMD, "%s wants 2..1000 runs (the first is a warm-up), "
                                                "not '%s'", f, v);
            a->opts.reps = (uint32_t)iv;
        } else if (!strcmp(f, "--cooldown")) {
            if (!parse_pos(v, 0, 3600, &a->opts.cooldown_s))
                return elm_cli_usage_error(CMD, "--cooldown wants seconds in [0, 3600], not '%s'", v);
        } else if (!strcmp(f, "--prompt-file")) {
            a->prompt_file = v;
        } else if (!strcmp(f, "-o") || !strcmp(f, "--output")) {
            if (elm_bench_format_parse(v, &a->fmt, &d))
                return elm_cli_usage_error(CMD, "%s: %s", f, d.msg);
        } else if (!strcmp(f, "--db")) {
            a->db = v;
        } else if (!strcmp(f, "--power")) {
            if (elm_power_kind_parse(v, &a->opts.power_kind, &d))
                return elm_cli_usage_error(CMD, "--power: %s", d.msg);
            a->power_given = true;
        } else if (!strcmp(f, "--watts")) {
            if (!parse_pos(v, 1e-9, 1e6, &a->probe.watts))
                return elm_cli_usage_error(CMD, "--watts wants a positive number of watts, not '%s'", v);
        } else if (!strcmp(f, "--power-cmd")) {
            a->probe.command = v;
        } else if (!strcmp(f, "--tdp")) {
            if (!parse_pos(v, 1e-9, 1e6, &a->probe.tdp_w))
                return elm_cli_usage_error(CMD, "--tdp wants a positive number of watts, not '%s'", v);
        } else {
            if (!elm_cli_parse_i64(v, ELM_PROBE_INTERVAL_MIN_MS, 3600000, &iv))
                return elm_cli_usage_error(CMD, "--interval wants milliseconds >= %d, not '%s'",
                                           ELM_PROBE_INTERVAL_MIN_MS, v);
            a->opts.interval_ms = (uint32_t)iv;
        }
        if (st >= 0) return st;
    }
    if (a->target.url) {
        if (a->in_process_flag)
            return elm_cli_usage_error(CMD, "%s is for the in-process engine, not --target",
                                       a->in_process_name);
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
    if (a->no_db && a->db) return elm_cli_usage_error(CMD, "--db and --no-db go against each other");
    elm_power_kind_t k = a->opts.power_kind;
    if (a->power_given && k == ELM_POWER_CONSTANT && a->probe.watts == 0)
        return elm_cli_usage_error(CMD, "--power constant needs --watts W");
    if (a->power_given && k == ELM_POWER_CMD && !a->probe.command)
        return elm_cli_usage_error(CMD, "--power cmd needs --power-cmd COMMAND");
    if (a->power_given && k == ELM_POWER_ESTIMATE && a->probe.tdp_w == 0)
        return elm_cli_usage_error(CMD, "--power estimate needs --tdp W");
    if (a->probe.tdp_w > 0 && !(a->power_given && k == ELM_POWER_ESTIMATE))
        return elm_cli_usage_error(CMD, "--tdp is only for --power estimate");
    /* A value the user gave picks its source unless --power says otherwise. */
    if (!a->power_given && (a->probe.watts > 0 || a->probe.command)) {
        a->power_given = true;
        a->opts.power_kind = a->probe.command ? ELM_POWER_CMD : ELM_POWER_CONSTANT;
    }
    a->opts.power_auto = !a->power_given;
    return -1;
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

static void progress_clear(const progress_t *p)
{
    if (p->tty) fprintf(stderr, "\r\033[K");
}

/* ---- main ---- */

static char *read_file(const char *path, elm_diag_t *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        elm_diag(d, elm_from_errno(errno), "%s: cannot open the prompt file (%s)", path,
                 strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *q = realloc(buf, cap);
            if (!q) {
                free(buf);
                fclose(f);
                elm_diag(d, ELM_ENOMEM, "%s: out of memory", path);
                return NULL;
            }
            buf = q;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!len) {
        free(buf);
        elm_diag(d, ELM_EINVAL, "%s: the prompt file is empty", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

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

/* $XDG_CACHE_HOME/edgelm, else ~/.cache/edgelm, into buf; "" when neither is set. */
static void cache_dir(char *buf, size_t cap)
{
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (x && *x) snprintf(buf, cap, "%s/edgelm", x);
    else if (h && *h) snprintf(buf, cap, "%s/.cache/edgelm", h);
    else buf[0] = '\0';
}

/* --synthetic: each SHAPE:QUANT made (once) under the cache and added to the models. */
static int add_synthetic(args_t *a, const char *cache, char (*paths)[1024], elm_diag_t *d)
{
    char list[1024], dir[1024];
    if (!*cache)
        return elm_diag(d, ELM_ENOENT, "--synthetic: neither XDG_CACHE_HOME nor HOME is set: set "
                                       "one (the models are cached there)");
    snprintf(list, sizeof list, "%s", a->synthetic);
    snprintf(dir, sizeof dir, "%s/synth", cache);
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

/* --target: one record per (max_tokens, concurrency). */
static int run_target(args_t *a, elm_bench_t *b, elm_store_t *store, const char *db_path,
                      elm_diag_t *d)
{
    size_t n = (size_t)a->spec.n_gen.n * (size_t)a->concurrency.n, done = 0;
    elm_record_t *recs = calloc(n, sizeof *recs);
    int rc = 0;
    if (!recs) return elm_diag(d, ELM_ENOMEM, "out of memory for %zu records", n);
    for (int g = 0; g < a->spec.n_gen.n; g++)
        for (int c = 0; c < a->concurrency.n; c++) {
            elm_target_opts_t t = a->target;
            t.max_tokens = (uint32_t)a->spec.n_gen.v[g];
            t.concurrency = (uint32_t)a->concurrency.v[c];
            if ((rc = elm_bench_target(b, &t, &recs[done], d))) goto fail;
            emit(a->fmt, &recs[done], 1, ELM_BENCH_ROWS | (done == 0 ? ELM_BENCH_HEADER : 0),
                 done == 0);
            if (store && (rc = elm_store_add(store, &recs[done], NULL, d))) goto fail;
            done++;
        }
    emit(a->fmt, recs, done, ELM_BENCH_FOOTER, false);
    if (store)
        fprintf(stderr, "edgelm bench: %zu record%s appended to %s\n", done, done == 1 ? "" : "s",
                db_path);
    /* Reported and stored, but a point where nothing completed fails the command. */
    for (size_t i = 0; i < done && !rc; i++)
        if (recs[i].target.n_ok == 0)
            rc = elm_diag(d, ELM_EIO, "%s: none of the %" PRIu32 " requests at concurrency %" PRIu32
                                      " completed: %s", a->target.url, recs[i].target.n_requests,
                          recs[i].target.concurrency, recs[i].target.errors);
    free(recs);
    return rc;
fail:
    if (done) emit(a->fmt, recs, done, ELM_BENCH_FOOTER, false);
    free(recs);
    return rc;
}

int elm_cmd_bench(int argc, char **argv)
{
    args_t a = {.opts = elm_bench_default_opts(),
                .target = {.n_requests = 0, .seed = 1, .timeout_s = 0}};
    static char synth_paths[ELM_BENCH_MAX_LIST][1024];
    char cache[1024];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int st = parse_args(&a, argc, argv);
    if (st >= 0) return st;
    if (a.spec.threads.n == 0) {
        a.spec.threads.v[0] = ncpu < 1 ? 1 : ncpu > ELM_POOL_MAX_THREADS ? ELM_POOL_MAX_THREADS
                                                                          : ncpu;
        a.spec.threads.n = 1;
    }
    if (a.spec.n_gen.n == 0) {
        a.spec.n_gen.v[0] = 100;
        a.spec.n_gen.n = 1;
    }
    a.probe.sysfs_root = getenv("EDGELM_SYSFS_ROOT");
    a.probe.vcgencmd = getenv("EDGELM_VCGENCMD");
    a.probe.nvpmodel = getenv("EDGELM_NVPMODEL");
    a.opts.probe = &a.probe;
    cache_dir(cache, sizeof cache);
    a.opts.cache_dir = cache[0] ? cache : NULL;
    if (a.target.url) {
        if (a.concurrency.n == 0) a.concurrency.v[a.concurrency.n++] = 1;
        if (!a.target.n_requests) a.target.n_requests = 8;
        if (!(a.target.timeout_s > 0)) a.target.timeout_s = 120;
    }

    int status = 1, rc = 0;
    elm_diag_t d = {0};
    char *prompt = NULL;
    elm_bench_point_t *pts = NULL;
    size_t n_pts = 0, n_done = 0;
    elm_record_t *recs = NULL;
    elm_bench_t *b = NULL;
    elm_store_t *store = NULL;
    char db_path[1024];

    if (a.synthetic && (rc = add_synthetic(&a, cache, synth_paths, &d))) goto fail;
    if (a.target.url) {
        n_pts = 0;
    } else if ((rc = elm_bench_plan(&a.spec, &pts, &n_pts, &d))) {
        status = elm_cli_usage_error(CMD, "%s", d.msg);
        goto done;
    }
    if (a.prompt_file && !(prompt = read_file(a.prompt_file, &d))) goto fail;
    a.opts.prompt = prompt;
    if (!a.no_db) {
        if (a.db)
            snprintf(db_path, sizeof db_path, "%s", a.db);
        else if ((rc = elm_store_default_path(getenv("XDG_DATA_HOME"), getenv("HOME"), db_path,
                                              sizeof db_path, &d)))
            goto fail;
        if ((rc = elm_store_open(db_path, &store, &d))) goto fail;
    }
    progress_t pr = {.n_points = n_pts, .reps = a.opts.reps, .t0 = elm_time_ns(),
                     .tty = isatty(STDERR_FILENO)};
    a.opts.progress = progress;
    a.opts.progress_user = &pr;
    if ((rc = elm_bench_create(&a.opts, &b, &d))) goto fail;
    if (a.target.url) {
        a.target.prompt = prompt;
        if ((rc = run_target(&a, b, store, db_path, &d))) goto fail;
        status = 0;
        goto done;
    }
    if (!(recs = calloc(n_pts, sizeof *recs))) {
        rc = elm_diag(&d, ELM_ENOMEM, "out of memory for %zu records", n_pts);
        goto fail;
    }
    for (size_t i = 0; i < n_pts; i++) {
        rc = elm_bench_run(b, &pts[i], i, &recs[i], &d);
        progress_clear(&pr);
        if (rc) goto fail;
        n_done++;
        emit(a.fmt, &recs[i], 1, ELM_BENCH_ROWS | (i == 0 ? ELM_BENCH_HEADER : 0), i == 0);
        if (store && (rc = elm_store_add(store, &recs[i], NULL, &d))) goto fail;
    }
    emit(a.fmt, recs, n_done, ELM_BENCH_FOOTER, false);
    if (store)
        fprintf(stderr, "edgelm bench: %zu record%s appended to %s\n", n_done,
                n_done == 1 ? "" : "s", db_path);
    status = 0;
    goto done;
fail:
    if (n_done) emit(a.fmt, recs, n_done, ELM_BENCH_FOOTER, false);
    status = elm_cli_fail(&d, rc);
done:
    elm_bench_free(b);
    elm_store_close(store);
    free(recs);
    free(pts);
    free(prompt);
    return status;
}
