/* Shared pieces of the edgelm command: the subcommand table entry, error printing, progress. */
#ifndef ELM_CLI_H
#define ELM_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "edgelm/base.h"
#include "edgelm/bench.h"
#include "edgelm/engine.h"
#include "edgelm/pool.h"
#include "edgelm/probe.h"
#include "edgelm/route.h"

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns the exit status */
} elm_cmd_t;

int elm_cmd_info(int argc, char **argv);
int elm_cmd_synth(int argc, char **argv);
int elm_cmd_quantize(int argc, char **argv);
int elm_cmd_cost(int argc, char **argv);
int elm_cmd_simulate(int argc, char **argv);
int elm_cmd_report(int argc, char **argv);
int elm_cmd_tokenize(int argc, char **argv);
int elm_cmd_run(int argc, char **argv);
int elm_cmd_bench(int argc, char **argv);
int elm_cmd_eval(int argc, char **argv);
int elm_cmd_probe(int argc, char **argv);
int elm_cmd_serve(int argc, char **argv);
int elm_cmd_gateway(int argc, char **argv);
int elm_cmd_chat(int argc, char **argv);

/* Install the log hook that prints library messages to stderr ("edgelm: warning: ..."). */
void elm_cli_init(void);

/* Print "edgelm: <diag message>" (or the code's message when the diag is empty) to stderr and
 * return exit status 1. */
int elm_cli_fail(const elm_diag_t *d, int code);

/* Print a usage error ("edgelm CMD: <what>", then "see 'edgelm CMD --help'") and return 2. */
int elm_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- the option table ----
 *
 * Every command describes its options once, in a table; elm_cli_parse() reads argv against it
 * and elm_cli_help() prints the options section of --help from it, so the help cannot drift
 * from what is parsed. A table is a local array (entries point at the command's variables),
 * built with the ELM_OPT_* macros below and closed by ELM_OPT_END. */

typedef enum {
    ELM_OPT_K_END = 0, /* closes the table */
    ELM_OPT_K_TEXT,    /* no option: a line of help text among the options */
    ELM_OPT_K_FLAG,    /* no value: *(bool *)dst = true */
    ELM_OPT_K_STR,     /* *(const char **)dst = the value (points into argv) */
    ELM_OPT_K_INT,     /* *(int *)dst = a whole number in [min, max] */
    ELM_OPT_K_I64,     /* *(int64_t *)dst = a whole number in [min, max] */
    ELM_OPT_K_NUM,     /* *(double *)dst = a finite number in [min, max] */
    ELM_OPT_K_F32,     /* *(float *)dst = the same, for parameter structs that hold floats */
    ELM_OPT_K_FN,      /* fn(value, dst, err, err_len) parses the value */
} elm_opt_kind_t;

/* A custom value parser: 0, or -1 with err set to what is wrong ("expected SHAPE:QUANT"),
 * printed as "OPTION 'VALUE': err". */
typedef int (*elm_opt_fn)(const char *value, void *dst, char *err, size_t err_len);

typedef struct {
    elm_opt_kind_t kind;
    const char *name;  /* "--threads" */
    const char *alias; /* "-t", or NULL */
    const char *arg;   /* the value's name in help and errors: "N", "FILE" */
    void *dst;
    double min, max; /* ELM_OPT_K_INT, _I64, _NUM, _F32: the range, both ends included ... */
    bool above_min;  /* ... except min itself when this is set: (min, max] */
    elm_opt_fn fn;
    const char *help; /* one or more lines, '\n'-separated; the help's right-hand column */
    bool seen;        /* set by elm_cli_parse() when the option was given */
} elm_opt_t;

/* Type-checked destination: a compile error when p is not a pointer to type. */
#define ELM__OPT_DST(type, p) _Generic((p), type * : (void *)(p))
#define ELM_OPT_END           \
    {                         \
        .kind = ELM_OPT_K_END \
    }
#define ELM_OPT_TEXT(text)                     \
    {                                          \
        .kind = ELM_OPT_K_TEXT, .help = (text) \
    }
#define ELM_OPT_FLAG(name_, alias_, p, help_)                                                     \
    {                                                                                             \
        .kind = ELM_OPT_K_FLAG, .name = (name_), .alias = (alias_), .dst = ELM__OPT_DST(bool, p), \
        .help = (help_)                                                                           \
    }
#define ELM_OPT_STR(name_, alias_, arg_, p, help_)                                \
    {                                                                             \
        .kind = ELM_OPT_K_STR, .name = (name_), .alias = (alias_), .arg = (arg_), \
        .dst = ELM__OPT_DST(const char *, p), .help = (help_)                     \
    }
#define ELM_OPT_INT(name_, alias_, arg_, p, lo, hi, help_)                        \
    {                                                                             \
        .kind = ELM_OPT_K_INT, .name = (name_), .alias = (alias_), .arg = (arg_), \
        .dst = ELM__OPT_DST(int, p), .min = (lo), .max = (hi), .help = (help_)    \
    }
#define ELM_OPT_I64(name_, alias_, arg_, p, lo, hi, help_)                                         \
    {                                                                                              \
        .kind = ELM_OPT_K_I64, .name = (name_), .alias = (alias_), .arg = (arg_),                  \
        .dst = ELM__OPT_DST(int64_t, p), .min = (double)(lo), .max = (double)(hi), .help = (help_) \
    }
#define ELM_OPT_NUM(name_, alias_, arg_, p, lo, hi, help_)                        \
    {                                                                             \
        .kind = ELM_OPT_K_NUM, .name = (name_), .alias = (alias_), .arg = (arg_), \
        .dst = ELM__OPT_DST(double, p), .min = (lo), .max = (hi), .help = (help_) \
    }
#define ELM_OPT_F32(name_, alias_, arg_, p, lo, hi, help_)                        \
    {                                                                             \
        .kind = ELM_OPT_K_F32, .name = (name_), .alias = (alias_), .arg = (arg_), \
        .dst = ELM__OPT_DST(float, p), .min = (lo), .max = (hi), .help = (help_)  \
    }
/* A number in (lo, hi]: a rate, a size, a time that must be positive. */
#define ELM_OPT_POS(name_, alias_, arg_, p, lo, hi, help_)                           \
    {                                                                                \
        .kind = ELM_OPT_K_NUM, .name = (name_), .alias = (alias_), .arg = (arg_),    \
        .dst = ELM__OPT_DST(double, p), .min = (lo), .max = (hi), .above_min = true, \
        .help = (help_)                                                              \
    }
#define ELM_OPT_FN(name_, alias_, arg_, fn_, p, help_)                                       \
    {                                                                                        \
        .kind = ELM_OPT_K_FN, .name = (name_), .alias = (alias_), .arg = (arg_), .dst = (p), \
        .fn = (fn_), .help = (help_)                                                         \
    }

/* A command's (or subcommand's) interface: its name in messages ("cost breakeven"), the text
 * --help prints before the options ("usage: ..." and what it does), the table, the text after
 * (notes, examples; may be NULL), and how many positional arguments it takes. */
typedef struct {
    const char *cmd;
    const char *head;
    elm_opt_t *opts;
    const char *tail;
    int min_pos, max_pos; /* max_pos < 0: any number */
} elm_cli_spec_t;

#define ELM_CLI_GO (-1)

/* Parse argv[1..argc) (argv[0] is the command's name) against spec. Options come in any order
 * as "--name VALUE", "--name=VALUE" or "ALIAS VALUE"; the last one given wins; "--" ends the
 * options, so every later argument is positional even when it starts with '-'; a lone "-" is
 * positional. Positional arguments are moved, in order, to argv[1..*n_pos] (n_pos may be NULL
 * when spec takes none). -h/--help prints elm_cli_help() on stdout. Returns ELM_CLI_GO to go
 * on, or the exit status to return: 0 after --help, 2 after a usage error, which it printed
 * ("edgelm CMD: --threads 'x': not a whole number", then the pointer to --help). */
int elm_cli_parse(elm_cli_spec_t *spec, int argc, char **argv, int *n_pos);

/* Print spec's --help to f: head, "options:" with one entry per option (and -h, --help), tail. */
void elm_cli_help(const elm_cli_spec_t *spec, FILE *f);

/* Whether the option named name (its long name) was given in the last elm_cli_parse(). */
bool elm_cli_given(const elm_cli_spec_t *spec, const char *name);

/* The usage error for a required option that was not given: "missing --model (FILE)"; 2. */
int elm_cli_missing(const elm_cli_spec_t *spec, const char *name);

/* ---- option values shared by several commands ---- */

/* An elm_opt_fn's result from a library parser's: 0 when rc is 0; otherwise -1 with d's message
 * in err, less the option name it opens with ("-t: values must ...") since the table's error
 * names the option and the value itself. */
int elm_cli_reason(int rc, const elm_diag_t *d, char *err, size_t err_len);

/* Where a list option lands and the range of its values. */
typedef struct {
    elm_bench_list_t *list;
    int64_t min, max;
} elm_cli_list_t;

/* An elm_opt_fn for llama-bench's lists ("1,2,4", "1-4", "1-8+2"): dst is an elm_cli_list_t. */
int elm_cli_parse_list(const char *value, void *dst, char *err, size_t err_len);

/* A list option whose values lie in [lo, hi], stored in *p (an elm_bench_list_t); the table
 * must live in the same block as the macro's compound literal. */
#define ELM_OPT_LIST(name_, alias_, p, lo, hi, help_)                                           \
    ELM_OPT_FN(name_, alias_, "LIST", elm_cli_parse_list, (&(elm_cli_list_t){(p), (lo), (hi)}), \
               help_)

/* An elm_opt_fn for --power SOURCE: dst is an elm_power_kind_t. */
int elm_cli_parse_power(const char *value, void *dst, char *err, size_t err_len);

/* elm_opt_fns over the library's parsers, each storing into dst: -o/--output (an
 * elm_bench_format_t), --arrival (an elm_arrival_t), --target (the URL as given, a const char *,
 * once it parses as http://HOST:PORT[/path]) and --synthetic (the list as given, a const char *,
 * once every SHAPE:QUANT in it passes elm_cli_synth_spec_valid()). */
int elm_cli_parse_format(const char *value, void *dst, char *err, size_t err_len);
int elm_cli_parse_arrival(const char *value, void *dst, char *err, size_t err_len);
int elm_cli_parse_url(const char *value, void *dst, char *err, size_t err_len);
int elm_cli_parse_synthetic(const char *value, void *dst, char *err, size_t err_len);

/* Whether spec "SHAPE:QUANT" names a known synthetic shape and a type (F32 included): when it
 * does, a failure to build the model is about files, not usage. */
bool elm_cli_synth_spec_valid(const char *spec);

/* Threads for the engine by default: the CPUs online, at most ELM_POOL_MAX_THREADS. */
int elm_cli_default_threads(void);

/* The options of the commands that load a model and generate (run, chat): the file, how it
 * loads, and its session. */
typedef struct {
    const char *model, *kv_name;
    bool no_mmap;
    int n_threads, n_threads_batch, n_ctx, n_batch;
} elm_cli_engine_t;

/* Default threads, batch 512, F16 cache, the trained context (0), mapped. */
elm_cli_engine_t elm_cli_engine_defaults(void);

#define ELM_CLI_ENGINE_OPTS(e)                                                                     \
    ELM_OPT_STR("--model", "-m", "FILE", &(e)->model,                                              \
                "GGUF model (architectures: llama, qwen2, internlm2, phi3, gemma2, t5)"),          \
        ELM_OPT_INT("--threads", "-t", "N", &(e)->n_threads, 1, ELM_POOL_MAX_THREADS,              \
                    "threads for generation (default: the number of CPUs)"),                       \
        ELM_OPT_INT("--threads-batch", "-tb", "N", &(e)->n_threads_batch, 1, ELM_POOL_MAX_THREADS, \
                    "threads for the prompt's batches (default: -t)"),                             \
        ELM_OPT_INT("--ctx", "-c", "N", &(e)->n_ctx, 1, 1 << 24,                                   \
                    "context size (default: the trained context, at most 4096)"),                  \
        ELM_OPT_INT("--batch", NULL, "N", &(e)->n_batch, 1, 1 << 20,                               \
                    "most prompt tokens per forward pass (default 512)"),                          \
        ELM_OPT_STR("--kv-type", NULL, "f16|f32", &(e)->kv_name, "KV cache type (default f16)"),   \
        ELM_OPT_FLAG("--no-mmap", NULL, &(e)->no_mmap,                                             \
                     "read the model into memory instead of mapping it: slower to load,\n"         \
                     "steadier decode where a mapped file streams slowly")

/* The usage errors of those options: no model, a bad --kv-type. Returns ELM_CLI_GO or 2. */
int elm_cli_engine_check(const char *cmd, const elm_cli_engine_t *e);

/* Load the model (calling hooks' load events; hooks may be NULL) and create its session. The
 * caller frees both, also on failure (each is NULL or what was made). */
int elm_cli_engine_open(const elm_cli_engine_t *e, const elm_hooks_t *hooks, elm_model_t **m,
                        elm_session_t **s, elm_diag_t *d);

/* The sampler chain's options (llama.cpp's names and defaults), landing in *sp (an
 * elm_sampler_params_t). */
#define ELM_CLI_SAMPLER_OPTS(sp)                                                                  \
    ELM_OPT_F32("--temp", NULL, "T", &(sp)->temp, 0, 1e6,                                         \
                "temperature; 0 is greedy (default 0.8)"),                                        \
        ELM_OPT_INT("--top-k", NULL, "K", &(sp)->top_k, 0, INT32_MAX,                             \
                    "keep the K most likely tokens; 0 is off (default 40)"),                      \
        ELM_OPT_F32("--top-p", NULL, "P", &(sp)->top_p, 0, 1,                                     \
                    "keep the smallest set with probability >= P; 1 is off (default 0.95)"),      \
        ELM_OPT_F32("--min-p", NULL, "P", &(sp)->min_p, 0, 1,                                     \
                    "drop tokens below P x the best one's probability; 0 is off (default 0.05)"), \
        ELM_OPT_F32("--repeat-penalty", NULL, "R", &(sp)->repeat_penalty, 1e-6, 1e6,              \
                    "penalize the last --repeat-last-n tokens; 1 is off (default 1)"),            \
        ELM_OPT_INT("--repeat-last-n", NULL, "N", &(sp)->penalty_last_n, 0, 1 << 20,              \
                    "window of the penalties (default 64)"),                                      \
        ELM_OPT_F32("--freq-penalty", NULL, "F", &(sp)->freq_penalty, -1e6, 1e6,                  \
                    "subtract F per occurrence in the window (default 0)"),                       \
        ELM_OPT_F32("--presence-penalty", NULL, "F", &(sp)->presence_penalty, -1e6, 1e6,          \
                    "subtract F once if in the window (default 0)")

/* --power (with its help text), --watts, --power-cmd and --tdp, landing in *kind_p and *ctx_p
 * (an elm_probe_ctx_t). */
#define ELM_CLI_POWER_OPTS(kind_p, ctx_p, power_help)                                   \
    ELM_OPT_FN("--power", NULL, "SOURCE", elm_cli_parse_power, (kind_p), power_help),   \
        ELM_OPT_POS("--watts", NULL, "W", &(ctx_p)->watts, 0, 1e6,                      \
                    "a known constant draw (the constant source)"),                     \
        ELM_OPT_STR("--power-cmd", NULL, "CMD", &(ctx_p)->command,                      \
                    "a shell command that prints watts (a USB meter); the cmd source"), \
        ELM_OPT_POS("--tdp", NULL, "W", &(ctx_p)->tdp_w, 0, 1e6,                        \
                    "with --power estimate: the TDP CPU utilization is scaled by")

/* The --help lines of the environment elm_cli_probe_env() reads. */
#define ELM_CLI_PROBE_ENV_HELP                                                          \
    "  EDGELM_SYSFS_ROOT    read /sys and /proc under this root instead of /\n"         \
    "  EDGELM_VCGENCMD      the vcgencmd binary for the Pi 5 PMIC (default vcgencmd)\n" \
    "  EDGELM_NVPMODEL      the nvpmodel binary for the Jetson power mode (default\n"   \
    "                       nvpmodel; `nvpmodel -q`)\n"

/* The rules between --power (given: whether it was) and the values its source needs: the
 * constant source needs --watts, cmd --power-cmd, estimate --tdp, and --tdp only goes with
 * estimate. Returns ELM_CLI_GO, or 2 after printing the usage error. */
int elm_cli_power_check(const char *cmd, bool given, elm_power_kind_t kind,
                        const elm_probe_ctx_t *ctx);

/* elm_cli_power_check(), then a value the user gave picks its source unless --power said
 * otherwise: --power-cmd the cmd source, --watts the constant one (*given becomes true). */
int elm_cli_power_pick(const char *cmd, bool *given, elm_power_kind_t *kind,
                       const elm_probe_ctx_t *ctx);

/* Open the power source for energy figures: the one the user named (given), which must open,
 * else the first sensor found here. *src is NULL when none was found; label then says why
 * ("unavailable: no power sensor ..."), else names the source ("rapl, package-0 ..."). Fails
 * only when a named source does not open. */
int elm_cli_power_open(bool given, elm_power_kind_t kind, const elm_probe_ctx_t *ctx,
                       elm_power_source_t **src, char *label, size_t cap, elm_diag_t *d);

/* EDGELM_SYSFS_ROOT, EDGELM_VCGENCMD and EDGELM_NVPMODEL into ctx: the command reads the
 * environment, never the library. */
void elm_cli_probe_env(elm_probe_ctx_t *ctx);

/* Open the results store for a command that appends to it: db (--db), else the default path
 * ($XDG_DATA_HOME/edgelm/results.db, else ~/.local/share/edgelm/results.db), its path written to
 * path; *st stays NULL with no_db (--no-db). Opened before the work, so a bad path fails first. */
struct elm_store;
int elm_cli_store_open(const char *db, bool no_db, struct elm_store **st, char *path, size_t cap,
                       elm_diag_t *d);

/* A progress bar on stderr when it is a TTY; silent otherwise. done <= total. */
void elm_cli_progress(const char *label, uint64_t done, uint64_t total);

/* Print o as one line of JSON on stdout and free it (o may be NULL after a failed build).
 * Returns the exit status: 0, or 1 with a message when printing runs out of memory. */
struct cJSON;
int elm_cli_print_json(struct cJSON *o);

/* "1.23 GiB", "352.2 MiB", "912 B" into buf. */
const char *elm_cli_bytes(uint64_t n, char *buf, int len);

/* Read and parse the cluster file at path (docs/cluster-config.md) into *cfg; errors name the file
 * and the key. */
int elm_cli_read_cluster(const char *path, elm_cluster_config_t *cfg, elm_diag_t *d);

/* The servers' log hook: line on stderr. */
void elm_cli_log_line(void *user, const char *line);

/* Until elm_cli_stop_signals_reset(), SIGINT and SIGTERM call stop(arg) (async-signal-safe, as
 * elm_server_stop and elm_gateway_stop are). */
void elm_cli_stop_on_signals(void (*stop)(void *arg), void *arg);
void elm_cli_stop_signals_reset(void);

#endif
