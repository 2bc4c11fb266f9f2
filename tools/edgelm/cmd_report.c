/* `edgelm report`: the papers' figures from the results store, simulator JSON and gateway access
 * logs as one self-contained HTML file. The page is the library's (edgelm/report.h); this file
 * parses, opens the inputs, calls and writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "edgelm/report.h"

static const char head_text[] =
    "usage: edgelm report [OPTIONS]\n"
    "\n"
    "Write the papers' figures (speed, TTFT, energy, memory, threads and governors, perf\n"
    "counters, quality, quantization factors, cost, routing) from your own measurements as one\n"
    "HTML file: inline SVG and CSS, no script, nothing fetched; open it, print it, attach it.\n"
    "A figure the inputs hold no data for names the command that produces it.\n";

static const char tail_text[] =
    "\n"
    "Example:\n"
    "  edgelm bench -m qwen2.5-0.5b-q4_0.gguf -t 1,2 -r 3\n"
    "  edgelm simulate --json sim.json\n"
    "  edgelm report --sim sim.json -o report.html\n";

static const char CMD[] = "report";

#define MAX_FILES 16

typedef struct {
    const char *p[MAX_FILES];
    size_t n;
} file_list_t;

/* A repeatable option: each use adds one file. */
static int add_file(const char *value, void *dst, char *err, size_t err_len)
{
    file_list_t *l = dst;
    if (l->n == MAX_FILES) {
        snprintf(err, err_len, "at most %d files", MAX_FILES);
        return -1;
    }
    if (!*value) {
        snprintf(err, err_len, "needs a file name");
        return -1;
    }
    l->p[l->n++] = value;
    return 0;
}

/* --since: a date or a date and time in UTC ISO 8601, compared as text with the timestamps. */
static int check_since(const char *value, void *dst, char *err, size_t err_len)
{
    int y, mo, da, n = 0;
    if (sscanf(value, "%4d-%2d-%2d%n", &y, &mo, &da, &n) != 3 || n != 10 || mo < 1 || mo > 12 ||
        da < 1 || da > 31 || (value[10] && value[10] != 'T')) {
        snprintf(err, err_len, "'%s' is not a date: give YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)",
                 value);
        return -1;
    }
    *(const char **)dst = value;
    return 0;
}

typedef struct {
    const char *db, *out, *title, *model, *since, *prices;
    file_list_t sims, logs;
    double alpha, cents_per_kwh;
} report_args_t;

static int parse_args(report_args_t *a, int argc, char **argv)
{
    *a = (report_args_t){.out = "report.html", .alpha = 0.5, .cents_per_kwh = 25};
    elm_opt_t opts[] = {
        ELM_OPT_STR("--db", NULL, "FILE", &a->db,
                    "results store (default $XDG_DATA_HOME/edgelm/results.db, else\n"
                    "~/.local/share/edgelm/results.db); never created by report"),
        ELM_OPT_FN("--sim", NULL, "FILE", add_file, &a->sims,
                   "an `edgelm simulate --json` document (repeatable)"),
        ELM_OPT_FN("--gateway-log", NULL, "FILE", add_file, &a->logs,
                   "an `edgelm gateway --log` access log (repeatable)"),
        ELM_OPT_STR("--output", "-o", "FILE", &a->out, "the HTML file (default report.html)"),
        ELM_OPT_STR("--title", NULL, "T", &a->title, "the page's title (default edgelm report)"),
        ELM_OPT_STR("--model", NULL, "SUBSTR", &a->model,
                    "only models whose path contains SUBSTR"),
        ELM_OPT_FN("--since", NULL, "DATE", check_since, &a->since,
                   "only data measured on or after DATE (YYYY-MM-DD, UTC)"),
        ELM_OPT_NUM("--alpha", NULL, "A", &a->alpha, 0, 1,
                    "weight of quality in U = aQ + (1-a)R (default 0.5, Edge-First)"),
        ELM_OPT_NUM("--cents-per-kwh", NULL, "C", &a->cents_per_kwh, 0, 1e6,
                    "electricity price for edge cost figures (default 25)"),
        ELM_OPT_STR("--prices", NULL, "FILE", &a->prices,
                    "cloud price table (default: built in; the same table as\n"
                    "share/edgelm/prices.json)"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = CMD, .head = head_text, .opts = opts, .tail = tail_text};
    return elm_cli_parse(&spec, argc, argv, NULL);
}

/* The store to read: --db (which must exist) or the default path (which may not: the report then
 * says what to run). Never creates a store. */
static int open_store(const report_args_t *a, elm_store_t **st, char *path, size_t cap,
                      char *why, size_t why_cap, elm_diag_t *d)
{
    int rc;
    *st = NULL;
    if (a->db)
        snprintf(path, cap, "%s", a->db);
    else if ((rc = elm_store_default_path(getenv("XDG_DATA_HOME"), getenv("HOME"), path, cap, d)))
        return rc;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (a->db)
            return elm_diag(d, ELM_ENOENT,
                            "%s: no results store there (%s); run `edgelm bench --db %s ...` first "
                            "or drop --db",
                            path, strerror(errno), path);
        snprintf(why, why_cap, "no results store at %s yet", path);
        return 0;
    }
    return elm_store_open(path, st, d);
}

int elm_cmd_report(int argc, char **argv)
{
    report_args_t a;
    int rc = parse_args(&a, argc, argv);
    if (rc != ELM_CLI_GO) return rc;
    elm_diag_t d = {0};
    elm_store_t *st = NULL;
    elm_price_table_t loaded = {0};
    char path[1024], why[1200] = "", when[32], version[64];
    char *html = NULL;
    size_t len = 0;
    int status = 1;
    if ((rc = open_store(&a, &st, path, sizeof path, why, sizeof why, &d))) goto fail;
    const elm_price_table_t *prices = elm_prices_default();
    if (a.prices) {
        if ((rc = elm_prices_load(a.prices, &loaded, &d))) goto fail;
        prices = &loaded;
    }
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    snprintf(version, sizeof version, "%s", ELM_VERSION);
    elm_cost_opts_t cost = elm_cost_opts_default();
    cost.alpha = a.alpha, cost.has_alpha = true;
    cost.cents_per_kwh = a.cents_per_kwh, cost.has_kwh = true;
    elm_report_opts_t o = {
        .title = a.title,
        .store = st,
        .store_path = st ? path : NULL,
        .store_why = why,
        .filter = {.match = a.model, .since = a.since},
        .sim_paths = a.sims.p,
        .n_sim = a.sims.n,
        .log_paths = a.logs.p,
        .n_log = a.logs.n,
        .cost = cost,
        .prices = prices,
        .generated = when,
        .version = version,
    };
    if ((rc = elm_report_html(&o, &html, &len, &d))) goto fail;
    FILE *f = fopen(a.out, "wb");
    if (!f) {
        rc = elm_diag(&d, ELM_EIO, "%s: cannot write the report: %s", a.out, strerror(errno));
        goto fail;
    }
    bool ok = fwrite(html, 1, len, f) == len;
    if (fclose(f) != 0 || !ok) {
        rc = elm_diag(&d, ELM_EIO, "%s: error writing the report: %s", a.out, strerror(errno));
        goto fail;
    }
    printf("report: wrote %s (%zu KB)%s%s\n", a.out, (len + 1023) / 1024, why[0] ? "; " : "",
           why);
    status = 0;
fail:
    if (rc) status = elm_cli_fail(&d, rc);
    free(html);
    elm_prices_free(&loaded);
    elm_store_close(st);
    return status;
}
